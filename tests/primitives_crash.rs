//! The durable primitives across a SIGKILL: a worker runs a job through a task, an event, a
//! child run and into a wait for a token, and is killed there; a new worker resumes the run, the
//! token is completed from outside, and the run finishes with the task, the event and the child
//! each having happened once.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use connector_runtime::store::{RunFilter, RunStore, SqliteStore};
use connector_runtime::{RunStatus, StepStatus};
use serde_json::json;

fn spawn_worker(db: &std::path::Path, log: Option<&std::path::Path>) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_primitives-worker"));
    command.arg(db);
    if let Some(log) = log {
        command.arg(log);
    }
    command.env("RUST_LOG", "off").spawn().expect("the worker starts")
}

/// The primitives run, once it satisfies `ready`.
async fn until(
    store: &SqliteStore,
    what: &str,
    ready: impl Fn(&connector_runtime::Run) -> bool,
) -> connector_runtime::Run {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let filter = RunFilter { job_id: Some("primitives".into()), ..RunFilter::default() };
        if let Some(summary) = store.list_runs(&filter).await.unwrap().into_iter().next() {
            let run = store.run(&summary.id).await.unwrap().unwrap();
            if ready(&run) {
                return run;
            }
        }
        assert!(Instant::now() < deadline, "the run never got to: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn lines(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log).unwrap_or_default().lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn primitives_survive_a_sigkill_and_a_token_completed_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (db, log) = (dir.path().join("runs.sqlite3"), dir.path().join("effects.log"));
    let mut worker = spawn_worker(&db, Some(&log));
    let store = SqliteStore::open(&db).unwrap();
    let parked = until(&store, "the wait for its token", |run| {
        run.status == RunStatus::Waiting && run.step("approval").is_some()
    })
    .await;
    worker.kill().unwrap(); // SIGKILL, while the run waits for its token
    worker.wait().unwrap();
    assert_eq!(lines(&log), ["task", "event", "child"], "each side effect happened once before the kill");

    // A new process resumes the run: it replays the steps and parks again at the token.
    let mut worker = spawn_worker(&db, None);
    until(&store, "a second execution", |run| run.executions >= 2 && run.status == RunStatus::Waiting).await;

    // The token is completed from outside, by an engine in this process.
    let engine = connector_tests::primitives::engine(&db).unwrap();
    engine.complete_token(&format!("{}:approval", parked.id), json!({ "by": "ada" })).await.unwrap();
    let done = engine.wait(&parked.id).await.unwrap();
    worker.kill().unwrap();
    worker.wait().unwrap();

    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let drawn = done.step("task").unwrap().output.clone().unwrap();
    assert_eq!(done.output, Some(json!(format!("{drawn}:42:ada"))), "the task's recorded value, the child's output");
    assert!(done.steps.iter().all(|step| step.status == StepStatus::Succeeded));
    assert_eq!(lines(&log), ["task", "event", "child"], "no side effect ran again");
}
