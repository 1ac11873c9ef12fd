//! Crash test: a worker process running five-step jobs on the SQLite store is killed with
//! SIGKILL at random points and restarted until it finishes. Every run completes, no step that
//! had completed is called again, and the chat service stores each message exactly once.

use std::collections::HashMap;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use connector_runtime::store::{RunFilter, RunStore, SqliteStore, conformance::sample_run};
use connector_runtime::{RunStatus, StepStatus, TriggerRef};
use simple_chat::service::ChatService;

const ROUNDS: usize = 20;
const MIN_KILLS: usize = 20;
const RUNS_PER_ROUND: usize = 8;

fn spawn_worker(db: &std::path::Path, url: &str, key: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_crash-worker"))
        .args([db.to_str().unwrap(), url, key])
        .env("RUST_LOG", "off")
        .spawn()
        .expect("the crash worker starts")
}

/// `(run id, step key)` of every step the store has as succeeded.
async fn succeeded_steps(store: &SqliteStore) -> Vec<(String, String)> {
    let mut done = Vec::new();
    for summary in store.list_runs(&RunFilter::default()).await.unwrap() {
        let run = store.run(&summary.id).await.unwrap().unwrap();
        for step in run.steps.iter().filter(|s| s.status == StepStatus::Succeeded) {
            done.push((run.id.to_string(), step.key.clone()));
        }
    }
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_workers_resume_without_repeating_completed_steps() {
    let api_key = "crash-test-key";
    let service = ChatService::start(api_key).await.unwrap();
    let url = service.base_url();
    let dir = tempfile::tempdir().unwrap();
    let mut kills = 0;
    let mut mid_run_kills = 0;

    // How long an uninterrupted worker takes, so kill points fall inside its work.
    let calibration = dir.path().join("calibration.sqlite3");
    let store = SqliteStore::open(&calibration).unwrap();
    for n in 0..RUNS_PER_ROUND {
        let mut run = sample_run("five-steps");
        run.trigger = TriggerRef::Event { name: "crash.test".into() };
        run.payload = serde_json::json!({ "tag": format!("calibration-{n}") });
        store.create_run(&run).await.unwrap();
    }
    let started = Instant::now();
    let status = spawn_worker(&calibration, &url, api_key).wait().unwrap();
    assert!(status.success(), "an uninterrupted worker finishes: {status}");
    let whole = started.elapsed().as_millis() as u64;
    let calibration_messages = RUNS_PER_ROUND * 4;

    // At least ROUNDS rounds, and more until workers were killed at least MIN_KILLS times, half
    // a round's worth of them mid-run (on a loaded machine the random points land late more often).
    let mut round = 0;
    while round < ROUNDS || kills < MIN_KILLS || mid_run_kills < ROUNDS / 2 {
        assert!(round < 10 * ROUNDS, "workers keep finishing before they can be killed");
        let db = dir.path().join(format!("round-{round}.sqlite3"));
        // The runs are accepted (recorded) before any worker starts, as an event API would.
        let store = SqliteStore::open(&db).unwrap();
        for n in 0..RUNS_PER_ROUND {
            let mut run = sample_run("five-steps");
            run.trigger = TriggerRef::Event { name: "crash.test".into() };
            run.payload = serde_json::json!({ "tag": format!("r{round}-n{n}") });
            store.create_run(&run).await.unwrap();
        }

        // Requests per idempotency key, as seen when each completed step was first seen completed.
        let mut seen_done: HashMap<(String, String), usize> = HashMap::new();
        let mut restarts = 0;
        loop {
            let mut worker = spawn_worker(&db, &url, api_key);
            // A random point of the worker's life: start-up, mid-run, or the last steps.
            let kill_after = Duration::from_millis(fastrand::u64(1..whole.max(2)));
            let started = Instant::now();
            let finished = loop {
                if let Some(status) = worker.try_wait().unwrap() {
                    break Some(status);
                }
                if started.elapsed() >= kill_after && restarts < 30 {
                    break None;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            };
            match finished {
                Some(status) => {
                    assert!(status.success(), "round {round}: the worker failed: {status}");
                    break;
                }
                None => {
                    worker.kill().unwrap(); // SIGKILL
                    worker.wait().unwrap();
                    kills += 1;
                    restarts += 1;
                    let done_now = succeeded_steps(&store).await;
                    if !done_now.is_empty() && done_now.len() < RUNS_PER_ROUND * 5 {
                        mid_run_kills += 1;
                    }
                    for done in done_now {
                        let key = format!("{}:{}", done.0, done.1);
                        seen_done.entry(done).or_insert_with(|| service.requests_with_idempotency_key(&key));
                    }
                }
            }
        }

        let runs = store.list_runs(&RunFilter::default()).await.unwrap();
        assert_eq!(runs.len(), RUNS_PER_ROUND);
        for summary in &runs {
            let run = store.run(&summary.id).await.unwrap().unwrap();
            assert_eq!(run.status, RunStatus::Succeeded, "round {round}: {:?}", run.error);
            assert_eq!(run.steps.len(), 5);
        }
        for ((run, step), requests_then) in &seen_done {
            let requests_now = service.requests_with_idempotency_key(&format!("{run}:{step}"));
            assert_eq!(
                requests_now, *requests_then,
                "round {round}: step `{step}` of run {run} was completed, then called again"
            );
        }
        round += 1;
    }

    // Idempotency: every message exactly once, even when a killed worker had sent it already.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for message in service.posted_messages() {
        *counts.entry(message.text.clone()).or_default() += 1;
    }
    assert_eq!(
        counts.len(),
        calibration_messages + round * RUNS_PER_ROUND * 4,
        "every message of every run was posted"
    );
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(repeated.is_empty(), "messages posted more than once: {repeated:?}");
    eprintln!("{kills} kills, {mid_run_kills} of them after some steps had completed and before all had");
    assert!(kills >= ROUNDS, "only {kills} kills: the test must interrupt workers");
    assert!(mid_run_kills >= ROUNDS / 2, "only {mid_run_kills} kills landed mid-run");
}
