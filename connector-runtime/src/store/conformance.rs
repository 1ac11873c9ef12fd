//! The contract every [`RunStore`] keeps, as a test suite: call [`run_all`] from a test of each
//! store (the memory, SQLite and PostgreSQL stores do; [`run_all_async`] for a store that is made
//! asynchronously).
//!
//! Each check panics with a message naming what the store got wrong.

use chrono::{Duration, Utc};
use serde_json::json;

use super::{Delivery, DeliveryOutcome, RunFilter, RunStore, RunUpdate, StoreError};
use crate::model::{
    FailedAttempt, LogLevel, LogLine, MAX_LOG_LINES_PER_RUN, Retries, RetryPolicy, Run, RunId, RunLog, RunStatus,
    StepKind, StepRecord, StepStatus, TriggerRef,
};

/// Runs every check against stores made by `make` (one fresh store per check).
pub async fn run_all<S: RunStore, F: Fn() -> S>(make: F) {
    run_all_async(|| std::future::ready(make())).await;
}

/// [`run_all`], for stores made asynchronously (one that connects to a server, say): `make`
/// returns a future of a fresh store, one per check.
pub async fn run_all_async<S: RunStore, F: Fn() -> Fut, Fut: std::future::Future<Output = S>>(make: F) {
    created_runs_read_back(&make().await).await;
    duplicate_run_ids_are_refused(&make().await).await;
    updates_change_status_output_error_and_wake_time(&make().await).await;
    steps_are_upserted_by_key_in_start_order(&make().await).await;
    unknown_runs_are_reported(&make().await).await;
    listing_filters_and_orders_newest_first(&make().await).await;
    schemas_are_kept_by_fingerprint(&make().await).await;
    concurrent_writers_lose_nothing(make().await).await;
    deliveries_are_accepted_once_with_their_runs(&make().await).await;
    a_duplicate_run_id_rejects_the_whole_delivery(&make().await).await;
    cursors_are_kept_by_key(&make().await).await;
    a_run_is_claimed_only_from_the_status_named(make().await).await;
    tokens_are_kept_apart_from_cursors(&make().await).await;
    log_lines_are_kept_in_order_up_to_the_cap(&make().await).await;
    listing_pages_and_narrows_by_time_and_id(&make().await).await;
}

async fn listing_pages_and_narrows_by_time_and_id(store: &impl RunStore) {
    let start = Utc::now() - Duration::hours(1);
    let mut made = Vec::new();
    for minute in 0..5 {
        let mut run = sample_run("paged");
        run.created_at = start + Duration::minutes(minute);
        store.create_run(&run).await.unwrap();
        made.push(run.id);
    }
    let ids = |runs: Vec<Run>| runs.into_iter().map(|run| run.id).collect::<Vec<_>>();
    let page = |before: Option<RunId>| RunFilter { limit: Some(2), before, ..RunFilter::default() };
    let first = ids(store.list_runs(&page(None)).await.unwrap());
    assert_eq!(first, [made[4].clone(), made[3].clone()], "the newest first");
    let second = ids(store.list_runs(&page(first.last().cloned())).await.unwrap());
    assert_eq!(second, [made[2].clone(), made[1].clone()], "the next page starts after the last one");
    let last = ids(store.list_runs(&page(second.last().cloned())).await.unwrap());
    assert_eq!(last, [made[0].clone()], "the last page");

    let window = RunFilter {
        created_after: Some(start + Duration::minutes(1)),
        created_before: Some(start + Duration::minutes(3)),
        ..RunFilter::default()
    };
    assert_eq!(ids(store.list_runs(&window).await.unwrap()), [made[2].clone(), made[1].clone()], "a time range");
    let prefix = made[3].as_str()[..made[3].as_str().len() - 2].to_owned();
    let by_prefix = RunFilter { id_prefix: Some(prefix), ..RunFilter::default() };
    assert!(ids(store.list_runs(&by_prefix).await.unwrap()).contains(&made[3]), "an id prefix");
    let exact = RunFilter { id_prefix: Some(made[3].to_string()), ..RunFilter::default() };
    assert_eq!(ids(store.list_runs(&exact).await.unwrap()), [made[3].clone()], "a whole id");
}

fn log_line(n: usize, step: Option<&str>) -> LogLine {
    LogLine {
        at: Utc::now(),
        level: if n.is_multiple_of(2) { LogLevel::Info } else { LogLevel::Warn },
        source: "job".to_owned(),
        step: step.map(str::to_owned),
        message: format!("line {n} ✓"),
    }
}

async fn log_lines_are_kept_in_order_up_to_the_cap(store: &impl RunStore) {
    let run = sample_run("job");
    store.create_run(&run).await.unwrap();
    assert_eq!(store.logs(&run.id).await.unwrap(), RunLog::default(), "a new run has an empty log");
    let first: Vec<LogLine> = (0..3).map(|n| log_line(n, None)).collect();
    store.append_logs(&run.id, &first).await.unwrap();
    store.append_logs(&run.id, &[log_line(3, Some("send"))]).await.unwrap();
    let log = store.logs(&run.id).await.unwrap();
    let messages: Vec<&str> = log.lines.iter().map(|line| line.message.as_str()).collect();
    assert_eq!(messages, ["line 0 ✓", "line 1 ✓", "line 2 ✓", "line 3 ✓"], "lines read back in the order logged");
    assert_eq!(log.lines[1].level, LogLevel::Warn);
    assert_eq!(log.lines[3].step.as_deref(), Some("send"), "a line keeps its step");
    assert_eq!(log.dropped, 0);

    let many: Vec<LogLine> = (4..MAX_LOG_LINES_PER_RUN + 10).map(|n| log_line(n, None)).collect();
    store.append_logs(&run.id, &many).await.unwrap();
    store.append_logs(&run.id, &[log_line(0, None)]).await.unwrap();
    let log = store.logs(&run.id).await.unwrap();
    assert_eq!(log.lines.len(), MAX_LOG_LINES_PER_RUN, "at most the cap is kept");
    assert_eq!(log.dropped, 11, "the lines past the cap are counted");
    assert_eq!(log.lines.last().unwrap().message, format!("line {} ✓", MAX_LOG_LINES_PER_RUN - 1));

    let unknown = store.append_logs(&RunId::new(), &first).await;
    assert!(matches!(unknown, Err(StoreError::RunNotFound(_))), "lines of an unknown run: {unknown:?}");
    assert_eq!(store.logs(&RunId::new()).await.unwrap(), RunLog::default());
}

async fn a_run_is_claimed_only_from_the_status_named<S: RunStore>(store: S) {
    let run = sample_run("job");
    store.create_run(&run).await.unwrap();
    let waiting = RunUpdate { wake_at: Some(Utc::now()), ..RunUpdate::status(RunStatus::Waiting) };
    store.update_run(&run.id, &waiting).await.unwrap();
    assert!(!store.claim_run(&run.id, RunStatus::Running).await.unwrap(), "not running: not claimed");
    assert_eq!(store.run(&run.id).await.unwrap().unwrap().status, RunStatus::Waiting, "nothing changed");
    // Two claimers at once: exactly one wins.
    let store = std::sync::Arc::new(store);
    let (a, b) =
        tokio::join!(store.claim_run(&run.id, RunStatus::Waiting), store.claim_run(&run.id, RunStatus::Waiting));
    assert!(a.unwrap() ^ b.unwrap(), "exactly one claim wins");
    let claimed = store.run(&run.id).await.unwrap().unwrap();
    assert_eq!((claimed.status, claimed.wake_at), (RunStatus::Queued, None));
    let unknown = store.claim_run(&RunId::new(), RunStatus::Waiting).await;
    assert!(matches!(unknown, Err(StoreError::RunNotFound(_))), "{unknown:?}");
}

async fn tokens_are_kept_apart_from_cursors(store: &impl RunStore) {
    assert_eq!(store.tokens("chat").await.unwrap(), None);
    store.save_tokens("chat", &json!({"access_token": "a"})).await.unwrap();
    store.save_tokens("chat", &json!({"access_token": "b"})).await.unwrap();
    assert_eq!(store.tokens("chat").await.unwrap(), Some(json!({"access_token": "b"})));
    assert_eq!(store.cursor("chat").await.unwrap(), None, "tokens are not cursors");
}

async fn deliveries_are_accepted_once_with_their_runs(store: &impl RunStore) {
    let delivery =
        Delivery { source: "webhook:chat/message.received".into(), id: "d-1".into(), received_at: Utc::now() };
    let runs = [sample_run("a"), sample_run("b")];
    assert_eq!(store.accept_delivery(&delivery, &runs).await.unwrap(), DeliveryOutcome::New);
    for run in &runs {
        let back = store.run(&run.id).await.unwrap().expect("an accepted delivery's runs are recorded");
        assert_eq!(back.status, RunStatus::Queued);
    }
    let again = store.accept_delivery(&delivery, &[sample_run("a")]).await.unwrap();
    assert_eq!(again, DeliveryOutcome::Duplicate { runs: runs.iter().map(|r| r.id.clone()).collect() });
    assert_eq!(store.list_runs(&RunFilter::default()).await.unwrap().len(), 2, "a duplicate creates no run");
    let by_delivery = |id: &str| RunFilter { delivery_id: Some(id.to_owned()), ..RunFilter::default() };
    let mut found: Vec<RunId> = store.list_runs(&by_delivery("d-1")).await.unwrap().into_iter().map(|r| r.id).collect();
    found.sort();
    let mut expected: Vec<RunId> = runs.iter().map(|r| r.id.clone()).collect();
    expected.sort();
    assert_eq!(found, expected, "a delivery's id finds the runs it started");
    assert!(store.list_runs(&by_delivery("d-unknown")).await.unwrap().is_empty());

    let other_source = Delivery { source: "event:other".into(), ..delivery.clone() };
    assert_eq!(store.accept_delivery(&other_source, &[]).await.unwrap(), DeliveryOutcome::New, "ids are per source");
    assert_eq!(
        store.accept_delivery(&other_source, &[sample_run("c")]).await.unwrap(),
        DeliveryOutcome::Duplicate { runs: vec![] },
        "a delivery that started no run is still remembered"
    );
}

async fn a_duplicate_run_id_rejects_the_whole_delivery(store: &impl RunStore) {
    let existing = sample_run("a");
    store.create_run(&existing).await.unwrap();
    let delivery = Delivery { source: "event:e".into(), id: "d-2".into(), received_at: Utc::now() };
    let fresh = sample_run("b");
    let result = store.accept_delivery(&delivery, &[fresh.clone(), existing.clone()]).await;
    assert!(matches!(result, Err(StoreError::DuplicateRun(_))), "{result:?}");
    assert_eq!(store.run(&fresh.id).await.unwrap(), None, "all or nothing: no run of the failed delivery is kept");
    assert_eq!(
        store.accept_delivery(&delivery, &[fresh]).await.unwrap(),
        DeliveryOutcome::New,
        "the failed delivery was not remembered"
    );
}

async fn cursors_are_kept_by_key(store: &impl RunStore) {
    assert_eq!(store.cursor("poll:tracker/issue.opened").await.unwrap(), None);
    store.save_cursor("poll:tracker/issue.opened", &json!({"since": 41})).await.unwrap();
    store.save_cursor("poll:tracker/issue.opened", &json!({"since": 42})).await.unwrap();
    store.save_cursor("poll:other", &json!("x")).await.unwrap();
    assert_eq!(store.cursor("poll:tracker/issue.opened").await.unwrap(), Some(json!({"since": 42})));
}

/// A queued run of `job`, created now.
pub fn sample_run(job: &str) -> Run {
    let now = Utc::now();
    Run {
        id: RunId::new(),
        job_id: job.to_owned(),
        job_version: "1.0.0".to_owned(),
        trigger: TriggerRef::Event { name: "sample.event".to_owned() },
        payload: json!({"channel": "general", "message": "héllo ✓"}),
        status: RunStatus::Queued,
        output: None,
        error: None,
        created_at: now,
        updated_at: now,
        wake_at: None,
        executions: 0,
        steps: Vec::new(),
    }
}

/// A running action step.
pub fn sample_step(key: &str) -> StepRecord {
    let kind = StepKind::Action { connector: "simple-chat".to_owned(), action: "sendMessage".to_owned() };
    StepRecord::running(key, kind, json!({"channel": "general", "message": key}))
}

async fn created_runs_read_back(store: &impl RunStore) {
    let run = sample_run("job-a");
    store.create_run(&run).await.expect("create_run");
    let back = store.run(&run.id).await.expect("run").expect("the created run is found");
    assert_eq!(back.id, run.id);
    assert_eq!(back.job_id, run.job_id);
    assert_eq!(back.job_version, run.job_version);
    assert_eq!(back.trigger, run.trigger);
    assert_eq!(back.payload, run.payload, "the payload reads back unchanged");
    assert_eq!(back.status, RunStatus::Queued);
    assert_eq!(store.run_status(&run.id).await.expect("run_status"), Some(RunStatus::Queued), "the status alone");
    assert_eq!(store.run_status(&RunId::new()).await.expect("run_status"), None, "an unknown run has none");
    assert_eq!(back.executions, 0);
    assert!(back.steps.is_empty());
    assert_eq!(back.created_at.timestamp_millis(), run.created_at.timestamp_millis(), "millisecond precision at least");
}

async fn duplicate_run_ids_are_refused(store: &impl RunStore) {
    let run = sample_run("job-a");
    store.create_run(&run).await.expect("create_run");
    let error = store.create_run(&run).await.expect_err("a second run with the same id must be refused");
    assert!(matches!(error, StoreError::DuplicateRun(id) if id == run.id));
}

async fn updates_change_status_output_error_and_wake_time(store: &impl RunStore) {
    let run = sample_run("job-a");
    store.create_run(&run).await.unwrap();
    let wake = Utc::now() + Duration::seconds(30);
    let waiting = RunUpdate { wake_at: Some(wake), new_execution: true, ..RunUpdate::status(RunStatus::Waiting) };
    store.update_run(&run.id, &waiting).await.unwrap();
    let back = store.run(&run.id).await.unwrap().unwrap();
    assert_eq!(back.status, RunStatus::Waiting);
    assert_eq!(store.run_status(&run.id).await.unwrap(), Some(RunStatus::Waiting), "the status alone follows");
    assert_eq!(back.wake_at.map(|t| t.timestamp_millis()), Some(wake.timestamp_millis()));
    assert_eq!(back.executions, 1, "new_execution counts one execution");

    let done =
        RunUpdate { output: Some(json!({"ok": true})), new_execution: true, ..RunUpdate::status(RunStatus::Succeeded) };
    store.update_run(&run.id, &done).await.unwrap();
    let back = store.run(&run.id).await.unwrap().unwrap();
    assert_eq!(back.status, RunStatus::Succeeded);
    assert_eq!(back.output, Some(json!({"ok": true})));
    assert_eq!(back.wake_at, None, "an update replaces the wake-up time");
    assert_eq!(back.executions, 2);
    assert!(back.updated_at >= back.created_at);

    let failed = RunUpdate { error: Some("boom".into()), ..RunUpdate::status(RunStatus::Failed) };
    store.update_run(&run.id, &failed).await.unwrap();
    let back = store.run(&run.id).await.unwrap().unwrap();
    assert_eq!((back.status, back.output, back.error.as_deref()), (RunStatus::Failed, None, Some("boom")));
    assert_eq!(back.executions, 2, "an update without new_execution keeps the count");
}

async fn steps_are_upserted_by_key_in_start_order(store: &impl RunStore) {
    let run = sample_run("job-a");
    store.create_run(&run).await.unwrap();
    for key in ["first", "second", "third"] {
        store.save_step(&run.id, &sample_step(key)).await.unwrap();
    }
    let mut done = sample_step("second");
    done.status = StepStatus::Succeeded;
    done.output = Some(json!({"messageId": "msg_1"}));
    done.output_schema = Some("abc123".into());
    done.attempts = 3;
    done.finished_at = Some(Utc::now());
    let mut retries = Retries { policy: RetryPolicy::DEFAULT, failed: Vec::new() };
    for attempt in 1..=2 {
        retries.push(FailedAttempt {
            attempt,
            started_at: Utc::now(),
            failed_at: Utc::now(),
            error: format!("503 on attempt {attempt}"),
            retry_after_ms: 200 * u64::from(attempt),
        });
    }
    done.retries = Some(retries);
    store.save_step(&run.id, &done).await.unwrap();

    let back = step_of(store, &run.id, "second").await.expect("the step is found by key");
    assert_eq!(back.status, StepStatus::Succeeded);
    assert_eq!(back.output, done.output);
    assert_eq!(back.output_schema.as_deref(), Some("abc123"));
    assert_eq!(back.attempts, 3);
    assert_eq!(back.retries, done.retries, "the failed attempts and their policy read back unchanged");
    assert_eq!(back.kind, done.kind);
    assert_eq!(back.input, done.input);
    assert!(back.finished_at.is_some());
    assert_eq!(
        back.started_at.timestamp_millis(),
        done.started_at.timestamp_millis(),
        "step times keep millisecond precision at least"
    );
    assert_eq!(step_of(store, &run.id, "missing").await, None);

    let mut failed = sample_step("third");
    failed.status = StepStatus::Failed;
    failed.error = Some("timed out".into());
    store.save_step(&run.id, &failed).await.unwrap();
    let back = step_of(store, &run.id, "third").await.unwrap();
    assert_eq!((back.status, back.error.as_deref()), (StepStatus::Failed, Some("timed out")));

    // Step keys belong to their run: the same key in another run is another step.
    let other = sample_run("job-a");
    store.create_run(&other).await.unwrap();
    let mut elsewhere = sample_step("first");
    elsewhere.input = json!({"other": true});
    store.save_step(&other.id, &elsewhere).await.unwrap();
    let first = step_of(store, &run.id, "first").await.unwrap();
    assert_eq!(
        first.input,
        sample_step("first").input,
        "a step of another run with the same key changed this run's step"
    );
    assert_eq!(store.run(&other.id).await.unwrap().unwrap().steps.len(), 1);

    let mut wait = sample_step("nap");
    let until = Utc::now() + Duration::minutes(5);
    wait.kind = StepKind::Wait { until };
    store.save_step(&run.id, &wait).await.unwrap();

    let run = store.run(&run.id).await.unwrap().unwrap();
    let keys: Vec<&str> = run.steps.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, ["first", "second", "third", "nap"], "steps come back in the order they started");
    match &run.steps[3].kind {
        StepKind::Wait { until: back } => {
            assert_eq!(back.timestamp_millis(), until.timestamp_millis())
        }
        other => panic!("a wait step came back as {other:?}"),
    }
}

/// Step `key` of run `id`, as the run reads back.
async fn step_of(store: &impl RunStore, id: &RunId, key: &str) -> Option<StepRecord> {
    store.run(id).await.unwrap().expect("the run is there").steps.into_iter().find(|step| step.key == key)
}

async fn unknown_runs_are_reported(store: &impl RunStore) {
    let id = RunId::new();
    assert_eq!(store.run(&id).await.unwrap(), None);
    let update = store.update_run(&id, &RunUpdate::status(RunStatus::Running)).await;
    assert!(matches!(update, Err(StoreError::RunNotFound(_))), "update of an unknown run: {update:?}");
    let save = store.save_step(&id, &sample_step("k")).await;
    assert!(matches!(save, Err(StoreError::RunNotFound(_))), "step of an unknown run: {save:?}");
}

async fn listing_filters_and_orders_newest_first(store: &impl RunStore) {
    let mut ids = Vec::new();
    for (job, status) in
        [("a", RunStatus::Succeeded), ("b", RunStatus::Running), ("a", RunStatus::Waiting), ("a", RunStatus::Queued)]
    {
        let run = sample_run(job);
        store.create_run(&run).await.unwrap();
        store.save_step(&run.id, &sample_step("s")).await.unwrap();
        store.update_run(&run.id, &RunUpdate::status(status)).await.unwrap();
        ids.push(run.id);
    }
    let all = store.list_runs(&RunFilter::default()).await.unwrap();
    let listed: Vec<&RunId> = all.iter().map(|r| &r.id).collect();
    assert_eq!(listed, ids.iter().rev().collect::<Vec<_>>(), "newest first");
    assert!(all.iter().all(|r| r.steps.is_empty()), "listings leave steps out");

    let of_a = store.list_runs(&RunFilter { job_id: Some("a".into()), ..Default::default() }).await.unwrap();
    assert_eq!(of_a.len(), 3);
    let unfinished = store.list_runs(&RunFilter::unfinished()).await.unwrap();
    assert_eq!(unfinished.iter().map(|r| &r.id).collect::<Vec<_>>(), [&ids[3], &ids[2], &ids[1]]);
    let limited = store.list_runs(&RunFilter { limit: Some(2), ..Default::default() }).await.unwrap();
    assert_eq!(limited.iter().map(|r| &r.id).collect::<Vec<_>>(), [&ids[3], &ids[2]]);
}

async fn schemas_are_kept_by_fingerprint(store: &impl RunStore) {
    let schema = json!({"type": "object", "properties": {"id": {"type": "string"}}});
    assert_eq!(store.schema("f1").await.unwrap(), None);
    store.put_schema("f1", &schema).await.unwrap();
    store.put_schema("f1", &schema).await.expect("putting a schema twice is fine");
    assert_eq!(store.schema("f1").await.unwrap(), Some(schema.clone()));
    store.put_schema("f1", &json!({"type": "string"})).await.unwrap();
    assert_eq!(store.schema("f1").await.unwrap(), Some(schema), "a fingerprint keeps the first schema put under it");
}

async fn concurrent_writers_lose_nothing<S: RunStore>(store: S) {
    let store = std::sync::Arc::new(store);
    let mut tasks = Vec::new();
    for worker in 0..16 {
        let store = std::sync::Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let run = sample_run(&format!("job-{worker}"));
            store.create_run(&run).await.unwrap();
            for step in 0..10 {
                store.save_step(&run.id, &sample_step(&format!("step-{step}"))).await.unwrap();
            }
            store.update_run(&run.id, &RunUpdate::status(RunStatus::Succeeded)).await.unwrap();
            run.id
        }));
    }
    for task in tasks {
        let id = task.await.expect("writer task");
        let run = store.run(&id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Succeeded);
        assert_eq!(run.steps.len(), 10, "run {id} lost steps");
    }
}
