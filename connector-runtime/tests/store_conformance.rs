//! Every store keeps the [`RunStore`] contract; the SQLite store also keeps runs across restarts,
//! shares them between instances, and batches concurrent writes.

use std::sync::{Arc, Mutex};

use connector_runtime::store::conformance::{run_all, sample_run, sample_step};
use connector_runtime::store::{MemoryStore, RunFilter, RunStore, RunUpdate, SqliteStore, StoreError};
use connector_runtime::{RunStatus, StepStatus};
use serde_json::json;
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread")]
async fn memory_store_keeps_the_contract() {
    run_all(MemoryStore::new).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_store_keeps_the_contract() {
    // One fresh file per store; the directories live until the end of the test.
    let dirs = Mutex::new(Vec::new());
    run_all(|| {
        let dir = TempDir::new().expect("temp dir");
        let store = SqliteStore::open(dir.path().join("runs.db")).expect("open");
        dirs.lock().unwrap().push(dir);
        store
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_file_and_its_parent_directories_are_created_on_first_use() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("state").join("nested").join("runs.db");
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.path(), path);
    assert!(path.is_file(), "the database file exists after open");
    let run = sample_run("job");
    store.create_run(&run).await.unwrap();
    assert!(store.run(&run.id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_survive_closing_and_reopening_the_file() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("runs.db");
    let run = sample_run("job");
    let mut step = sample_step("charge");
    step.status = StepStatus::Succeeded;
    step.output = Some(json!({"receipt": "r_1", "amount": 12.5}));
    step.finished_at = Some(chrono::Utc::now());
    {
        let store = SqliteStore::open(&path).unwrap();
        store.create_run(&run).await.unwrap();
        store.save_step(&run.id, &sample_step("first")).await.unwrap();
        store.save_step(&run.id, &step).await.unwrap();
        let update = RunUpdate { new_execution: true, ..RunUpdate::status(RunStatus::Running) };
        store.update_run(&run.id, &update).await.unwrap();
        store.put_schema("fp", &json!({"type": "string"})).await.unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let back = store.run(&run.id).await.unwrap().expect("the run survives a reopen");
    assert_eq!(back.status, RunStatus::Running);
    assert_eq!(back.executions, 1);
    assert_eq!(back.payload, run.payload);
    assert_eq!(back.created_at, run.created_at, "timestamps read back exactly");
    assert_eq!(back.steps.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(), ["first", "charge"]);
    assert_eq!(back.steps[1], step, "steps read back exactly");
    assert_eq!(store.schema("fp").await.unwrap(), Some(json!({"type": "string"})));

    // The order of steps carries on after a reopen.
    store.save_step(&run.id, &sample_step("after")).await.unwrap();
    let back = store.run(&run.id).await.unwrap().unwrap();
    assert_eq!(back.steps.iter().map(|s| s.key.as_str()).collect::<Vec<_>>(), ["first", "charge", "after"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_stores_on_one_file_see_each_others_writes() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("runs.db");
    let first = SqliteStore::open(&path).unwrap();
    let second = SqliteStore::open(&path).unwrap();

    let run = sample_run("job");
    first.create_run(&run).await.unwrap();
    let seen = second.run(&run.id).await.unwrap().expect("a run created by one store is visible to the other");
    assert_eq!(seen.id, run.id);

    second.save_step(&run.id, &sample_step("s")).await.unwrap();
    second.update_run(&run.id, &RunUpdate::status(RunStatus::Succeeded)).await.unwrap();
    let seen = first.run(&run.id).await.unwrap().unwrap();
    assert_eq!((seen.status, seen.steps.len()), (RunStatus::Succeeded, 1));
    let error = second.create_run(&run).await.expect_err("the id is taken in the shared file");
    assert!(matches!(error, StoreError::DuplicateRun(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_all_land_in_fewer_commits() {
    const TASKS: usize = 64;
    const STEPS: usize = 50;
    let dir = TempDir::new().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("runs.db")).unwrap());
    let before = store.commits();

    let mut tasks = Vec::new();
    for worker in 0..TASKS {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let run = sample_run(&format!("job-{}", worker % 4));
            store.create_run(&run).await.unwrap();
            for step in 0..STEPS {
                store.save_step(&run.id, &sample_step(&format!("step-{step}"))).await.unwrap();
            }
            store.update_run(&run.id, &RunUpdate::status(RunStatus::Succeeded)).await.unwrap();
            run.id
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.expect("writer task"));
    }
    let writes = (TASKS * (STEPS + 2)) as u64;
    let commits = store.commits() - before;

    for id in &ids {
        let run = store.run(id).await.unwrap().unwrap();
        assert_eq!(run.status, RunStatus::Succeeded);
        let keys: Vec<String> = run.steps.iter().map(|s| s.key.clone()).collect();
        let expected: Vec<String> = (0..STEPS).map(|step| format!("step-{step}")).collect();
        assert_eq!(keys, expected, "run {id} lost or reordered steps");
    }
    let listed =
        store.list_runs(&RunFilter { statuses: vec![RunStatus::Succeeded], ..Default::default() }).await.unwrap();
    assert_eq!(listed.len(), TASKS);
    assert!(commits < writes, "group commit batches concurrent writes: {commits} commits for {writes} writes");
}

#[tokio::test(flavor = "multi_thread")]
async fn corrupt_rows_are_errors_not_panics() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("runs.db");
    let store = SqliteStore::open(&path).unwrap();
    let run = sample_run("job");
    store.create_run(&run).await.unwrap();
    store.save_step(&run.id, &sample_step("s")).await.unwrap();

    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE runs SET payload = '{not json' WHERE id = ?1", [run.id.as_str()]).unwrap();
    let error = store.run(&run.id).await.expect_err("a corrupt payload is an error");
    let StoreError::Backend { message, source } = &error else { panic!("expected a backend error, got {error:?}") };
    assert!(source.is_some(), "the decoding error is kept as the source: {error:?}");
    assert!(message.contains(run.id.as_str()) && message.contains("payload"), "{message}");
    assert!(store.list_runs(&RunFilter::default()).await.is_err());

    raw.execute("UPDATE runs SET payload = '{}' WHERE id = ?1", [run.id.as_str()]).unwrap();
    raw.execute("UPDATE steps SET started_at = 'yesterday', status = 'bogus' WHERE run_id = ?1", [run.id.as_str()])
        .unwrap();
    let error = store.run(&run.id).await.expect_err("a corrupt step is an error");
    assert!(matches!(&error, StoreError::Backend { message, .. } if message.contains("step `s`")), "{error:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_from_a_newer_version_is_refused() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("runs.db");
    drop(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "user_version", 999).unwrap();
    let error = SqliteStore::open(&path).expect_err("an unknown schema version is refused");
    assert!(matches!(&error, StoreError::Backend { message, .. } if message.contains("999")), "{error:?}");
}

#[test]
fn the_store_works_outside_a_runtime_for_reads_and_drops_cleanly() {
    let dir = TempDir::new().unwrap();
    let store = SqliteStore::open(dir.path().join("runs.db")).unwrap();
    let run = sample_run("job");
    block_on(store.create_run(&run)).unwrap();
    let back = block_on(store.run(&run.id)).unwrap();
    assert_eq!(back.map(|r| r.id), Some(run.id));
    drop(store);
}

/// Polls `future` to completion on this thread, with no runtime around.
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn the_default_store_folder_ignores_itself_and_other_folders_are_left_alone() {
    let dir = TempDir::new().unwrap();
    let default_like = dir.path().join(".connector-runtime").join("runs.sqlite3");
    connector_runtime::Engine::builder().sqlite(&default_like).build().unwrap();
    let ignore = std::fs::read_to_string(dir.path().join(".connector-runtime/.gitignore")).unwrap();
    assert!(ignore.lines().any(|line| line == "*"), "{ignore}");
    let elsewhere = dir.path().join("data").join("runs.sqlite3");
    connector_runtime::Engine::builder().sqlite(&elsewhere).build().unwrap();
    assert!(elsewhere.exists() && !dir.path().join("data/.gitignore").exists());
}
