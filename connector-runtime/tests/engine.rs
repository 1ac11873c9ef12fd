//! The engine's contract: registration checks, runs and steps recorded, step keys, outcomes,
//! logs that carry run/job/step, and secrets that never show.

use std::sync::Arc;

use connector_runtime::prelude::*;
use connector_runtime::store::MemoryStore;
use connector_runtime::{EngineError, StepStatus};

#[path = "support/captured_logs.rs"]
mod captured_logs;
use captured_logs::Captured;

#[derive(Deserialize, JsonSchema)]
struct CounterConfig {
    token: Secret,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Add {
    amount: i64,
}

#[derive(Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
struct Total {
    total: i64,
}

/// A connector that adds numbers in memory (the engine, not HTTP, is under test here).
struct Counter;

#[connector(id = "counter", name = "Counter", version = "0.1.0", config = CounterConfig)]
impl Counter {
    /// Adds `amount` to 100.
    #[action(id = "add", name = "Add")]
    async fn add(ctx: &ActionContext<CounterConfig>, input: Add) -> Result<Total, ActionError> {
        ctx.logger().info(format!("adding {} with token {:?}", input.amount, ctx.config().token));
        if input.amount < 0 {
            return Err(ActionError::Rejected { status: 400, message: "negative amount".into() });
        }
        Ok(Total { total: 100 + input.amount })
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "numbers.added")]
struct Numbers {
    amounts: Vec<i64>,
}

#[job(id = "sum", name = "Sum", version = "1.0.0", event = Numbers, integrations(counter = Counter))]
async fn sum(payload: Numbers, io: SumIo<'_>) -> Result<i64, JobError> {
    let mut total = 0;
    for (i, amount) in payload.amounts.into_iter().enumerate() {
        total += io.counter.add(&format!("add-{i}"), Add { amount }).await?.total;
    }
    Ok(total)
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "twice")]
struct Twice {}

#[job(id = "same-key", name = "Same key twice", version = "1.0.0", event = Twice, integrations(counter = Counter))]
async fn same_key(_payload: Twice, io: SameKeyIo<'_>) -> Result<(), JobError> {
    io.counter.add("once", Add { amount: 1 }).await?;
    io.counter.add("once", Add { amount: 2 }).await?;
    Ok(())
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "boom")]
struct Boom {}

#[job(id = "panics", name = "Panics", version = "1.0.0", event = Boom)]
async fn panics(_payload: Boom, _io: PanicsIo<'_>) -> Result<(), JobError> {
    panic!("the job lost its mind")
}

const TOKEN: &str = "tok_9d8e7f_super_secret";

fn engine() -> Engine {
    Engine::builder()
        .store(MemoryStore::new())
        .connector(Counter::init(CounterConfig { token: Secret::new(TOKEN) }))
        .job(SumJob)
        .job(SameKeyJob)
        .job(PanicsJob)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_sent_event_runs_its_job_and_records_every_step() {
    let runs = engine().send(Numbers { amounts: vec![1, 2, 3] }).await.unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.job_id, "sum");
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.output, Some(serde_json::json!(306)));
    let keys: Vec<&str> = run.steps.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["add-0", "add-1", "add-2"]);
    assert!(run.steps.iter().all(|s| s.status == StepStatus::Succeeded && s.attempts == 1));
    assert_eq!(run.steps[1].input, serde_json::json!({"amount": 2}));
    assert_eq!(run.steps[1].output, Some(serde_json::json!({"total": 102})));
}

#[tokio::test]
async fn a_failing_action_fails_the_step_and_the_run() {
    let run = engine().send(Numbers { amounts: vec![5, -1, 7] }).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.steps.len(), 2, "the step after the failure never ran");
    assert_eq!(run.steps[1].status, StepStatus::Failed);
    let error = run.error.unwrap();
    assert!(error.contains("step `add-1` (counter.add) failed") && error.contains("negative amount"), "{error}");
}

#[tokio::test]
async fn a_step_key_used_twice_is_an_error() {
    let run = engine().send(Twice {}).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.as_deref().unwrap().contains("step key `once` is used twice"), "{:?}", run.error);
    assert_eq!(run.steps.len(), 1);
}

#[tokio::test]
async fn a_panicking_job_fails_its_run_and_the_engine_goes_on() {
    let engine = engine();
    let run = engine.send(Boom {}).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.as_deref().unwrap().contains("the job lost its mind"));
    let next = engine.send(Numbers { amounts: vec![1] }).await.unwrap().remove(0);
    assert_eq!(next.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn an_event_no_job_listens_to_starts_nothing() {
    #[derive(Serialize, Deserialize, JsonSchema, Event)]
    #[event(name = "nobody.listens")]
    struct Ignored {}
    assert!(engine().send(Ignored {}).await.unwrap().is_empty());
}

#[test]
fn a_job_whose_integration_is_missing_is_refused_at_build() {
    let error = Engine::builder().job(SumJob).build().unwrap_err();
    assert!(matches!(error, EngineError::MissingIntegration { .. }));
    assert_eq!(
        error.to_string(),
        "job `sum` uses integration `counter` (connector `counter`), but no `counter` connector is registered: add `.connector(Counter::init(config))` to the engine builder"
    );
}

#[test]
fn a_job_registered_twice_is_refused() {
    let error = Engine::builder()
        .connector(Counter::init(CounterConfig { token: Secret::new("t") }))
        .job(SumJob)
        .job(SumJob)
        .build()
        .unwrap_err();
    assert_eq!(error.to_string(), "job `sum` is registered twice");
}

#[tokio::test]
async fn runs_are_listed_and_found_by_id() {
    let engine = engine();
    let first = engine.send(Numbers { amounts: vec![1] }).await.unwrap().remove(0);
    let second = engine.send(Twice {}).await.unwrap().remove(0);
    let listed = engine.runs(&Default::default()).await.unwrap();
    assert_eq!(listed.iter().map(|r| &r.id).collect::<Vec<_>>(), [&second.id, &first.id], "newest first");
    let found = engine.run(&first.id).await.unwrap().unwrap();
    assert_eq!(found, first);
}

#[tokio::test]
async fn an_action_can_be_called_without_a_job() {
    let counter = Counter::init(CounterConfig { token: Secret::new("t") });
    assert_eq!(counter.call(Counter::ADD, Add { amount: 5 }).await.unwrap(), Total { total: 105 });
}

#[tokio::test]
async fn every_log_line_of_a_run_carries_run_job_and_step_and_no_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let run = engine().send(Numbers { amounts: vec![4, 5] }).await.unwrap().remove(0);
    let logs = captured.text();
    let run_lines: Vec<&str> = logs.lines().filter(|line| line.contains("run{")).collect();
    assert!(run_lines.len() >= 6, "{logs}");
    for line in &run_lines {
        assert!(line.contains(&format!("run_id={}", run.id)) && line.contains("job_id=\"sum\""), "{line}");
    }
    let step_lines: Vec<&str> = run_lines.iter().copied().filter(|line| line.contains("step{")).collect();
    assert!(step_lines.iter().any(|line| line.contains("step_key=add-0") && line.contains("adding 4")), "{logs}");
    assert!(step_lines.iter().any(|line| line.contains("step_key=add-1") && line.contains("step succeeded")), "{logs}");
    assert!(!logs.contains(TOKEN), "the token leaked into the logs:\n{logs}");
    assert!(logs.contains("[redacted]"), "the action logged the redacted token:\n{logs}");
}

/// Another type given the name `numbers.added`: a sender and a job could disagree on it.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "numbers.added")]
struct NumbersAgain {
    text: String,
}

#[job(id = "sum-again", name = "Sum again", version = "1.0.0", event = NumbersAgain)]
async fn sum_again(_payload: NumbersAgain, _io: SumAgainIo<'_>) -> Result<(), JobError> {
    Ok(())
}

#[test]
fn two_jobs_whose_event_types_share_a_name_are_refused() {
    let error = Engine::builder()
        .store(MemoryStore::new())
        .connector(Counter::init(CounterConfig { token: Secret::new(TOKEN) }))
        .job(SumJob)
        .job(SumAgainJob)
        .build()
        .unwrap_err();
    let EngineError::EventTypeClash { name, first, second } = &error else { panic!("{error}") };
    assert_eq!(name, "numbers.added");
    assert!(first.ends_with("Numbers") && second.ends_with("NumbersAgain"), "{error}");
    assert!(error.to_string().contains("rename one of the events"), "{error}");
}

#[tokio::test]
async fn sending_another_type_under_a_jobs_event_name_names_both_types() {
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::builder()
        .shared_store(store.clone())
        .connector(Counter::init(CounterConfig { token: Secret::new(TOKEN) }))
        .job(SumJob)
        .build()
        .unwrap();
    let error = engine.send(NumbersAgain { text: "seven".into() }).await.unwrap_err();
    let EngineError::EventTypeClash { first, second, .. } = &error else { panic!("{error}") };
    assert!(first.ends_with("::Numbers") && second.ends_with("::NumbersAgain"), "{error}");
    let runs = connector_runtime::store::RunStore::list_runs(&*store, &Default::default()).await.unwrap();
    assert!(runs.is_empty(), "nothing was started");
    // The registered type itself still goes through.
    let runs = engine.send(Numbers { amounts: vec![1] }).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Succeeded);
}
