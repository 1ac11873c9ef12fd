//! A SQLite store opened read-only reads a file it cannot write, in a directory it cannot write,
//! without changing a byte or leaving a file behind, never waits for a writer, refuses every
//! write with `StoreError::ReadOnly`, and refuses schemas it cannot read. A store opened for
//! writing refuses a damaged file with `StoreError::Corrupt`.
//!
//! Tests may run as root, where permissions stop no write: so what is asserted is what happened
//! to the files (bytes, modification time, no `-wal`/`-shm` created), not that a write failed.
#![cfg(unix)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use connector_runtime::client::TokenStore;
use connector_runtime::store::conformance::{sample_run, sample_step};
use connector_runtime::store::{Delivery, RunFilter, RunStore, RunUpdate, SqliteOptions, SqliteStore, StoreError};
use connector_runtime::{RunId, RunStatus};
use serde_json::json;
use tempfile::TempDir;

#[path = "support/read_only_dir.rs"]
mod read_only_dir;
use read_only_dir::{ReadOnlyDir, bytes_and_mtime, dir_mtime, files_in};

/// A store with two runs (one with two steps), a schema, a cursor and tokens; closed, so that
/// everything is in the database file. Returns the file and the first run's id.
async fn store_with_runs(dir: &Path) -> (PathBuf, RunId) {
    let path = dir.join("runs.db");
    let store = SqliteStore::open(&path).unwrap();
    let first = sample_run("orders");
    store.create_run(&first).await.unwrap();
    store.save_step(&first.id, &sample_step("charge")).await.unwrap();
    store.save_step(&first.id, &sample_step("ship")).await.unwrap();
    store.create_run(&sample_run("refunds")).await.unwrap();
    store.put_schema("fp", &json!({"type": "string"})).await.unwrap();
    store.save_cursor("poll:shop/orders", &json!(7)).await.unwrap();
    store.save_tokens("shop", &json!({"access_token": "a"})).await.unwrap();
    drop(store);
    assert_eq!(files_in(dir), ["runs.db"], "closing the store checkpoints and removes its side files");
    (path, first.id)
}

/// Every write of the store is refused with `StoreError::ReadOnly`, saying which store and what.
async fn assert_every_write_is_refused(store: &SqliteStore, id: &RunId) {
    fn refused(result: Result<impl std::fmt::Debug, StoreError>, operation: &str, path: &Path) {
        match result {
            Err(error @ StoreError::ReadOnly { .. }) => {
                let message = error.to_string();
                assert!(message.contains("opened read-only"), "{message}");
                assert!(message.contains(operation), "{message}");
                assert!(message.contains(&path.display().to_string()), "{message}");
            }
            other => panic!("{operation}: expected a read-only error, got {other:?}"),
        }
    }
    let path = store.path();
    refused(store.create_run(&sample_run("orders")).await, "create a run", path);
    refused(store.update_run(id, &RunUpdate::status(RunStatus::Succeeded)).await, "update a run", path);
    refused(store.claim_run(id, RunStatus::Queued).await, "claim a run", path);
    refused(store.save_step(id, &sample_step("refund")).await, "save a step", path);
    refused(store.put_schema("fp2", &json!({})).await, "store a schema", path);
    let delivery = Delivery { source: "event:order.placed".into(), id: "d1".into(), received_at: Utc::now() };
    refused(store.accept_delivery(&delivery, &[sample_run("orders")]).await, "accept a delivery", path);
    refused(store.save_cursor("poll:shop/orders", &json!(8)).await, "save a cursor", path);
    let tokens = store.save_tokens("shop", &json!({})).await.expect_err("saving tokens is refused");
    let error = tokens.0.downcast_ref::<StoreError>().expect("a store error inside");
    assert!(matches!(error, StoreError::ReadOnly { operation: "save tokens", .. }), "{error:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_copy_in_a_read_only_directory_reads_and_stays_untouched() {
    let source = TempDir::new().unwrap();
    let (original, id) = store_with_runs(source.path()).await;
    let copy = TempDir::new().unwrap();
    let path = copy.path().join("runs.db");
    std::fs::copy(&original, &path).unwrap();
    let _read_only = ReadOnlyDir::new(copy.path());
    let before = bytes_and_mtime(&path);
    let dir_before = dir_mtime(copy.path());

    let store = SqliteStore::open_read_only(&path).unwrap();
    assert!(store.is_read_only());
    let run = store.run(&id).await.unwrap().expect("the run is read");
    assert_eq!(run.steps.iter().map(|step| step.key.as_str()).collect::<Vec<_>>(), ["charge", "ship"]);
    let runs = store.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), 2);
    let orders = RunFilter { job_id: Some("orders".into()), ..Default::default() };
    assert_eq!(store.list_runs(&orders).await.unwrap().len(), 1);
    assert_eq!(store.schema("fp").await.unwrap(), Some(json!({"type": "string"})));
    assert_eq!(store.cursor("poll:shop/orders").await.unwrap(), Some(json!(7)));
    assert_eq!(store.tokens("shop").await.unwrap(), Some(json!({"access_token": "a"})));
    assert_eq!(store.run(&RunId::new()).await.unwrap(), None);
    assert_every_write_is_refused(&store, &id).await;
    // Reads keep working after refused writes.
    assert_eq!(store.list_runs(&RunFilter::default()).await.unwrap().len(), 2);
    drop(store);

    assert_eq!(files_in(copy.path()), ["runs.db"], "no -wal or -shm file was left");
    assert_eq!(dir_mtime(copy.path()), dir_before, "none was created and removed either");
    assert!(bytes_and_mtime(&path) == before, "the file's bytes and modification time are unchanged");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_store_sees_a_writers_commits_and_never_waits_for_it() {
    let dir = TempDir::new().unwrap();
    let (path, _) = store_with_runs(dir.path()).await;
    let writer = SqliteStore::open(&path).unwrap();
    // Another connection takes the write lock and keeps it: a store opened for writing would
    // wait for it (its migration check takes the lock) and give up after its busy timeout.
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE; UPDATE runs SET job_id = 'held' WHERE job_id = 'refunds';").unwrap();

    let started = Instant::now();
    let store = SqliteStore::open_read_only(&path).unwrap();
    let runs = store.list_runs(&RunFilter::default()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(2), "opened and read in {:?}", started.elapsed());
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|run| run.job_id != "held"), "an uncommitted write is not seen");
    holder.execute_batch("ROLLBACK").unwrap();

    // The store shares the file's WAL: a commit made after it opened is seen.
    let later = sample_run("later");
    writer.create_run(&later).await.unwrap();
    assert!(store.run(&later.id).await.unwrap().is_some(), "a later commit is seen");
    assert_every_write_is_refused(&store, &later.id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_file_is_an_error_and_is_not_created() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nothing-here.db");
    let error = SqliteStore::open_read_only(&path).expect_err("no file, no store");
    assert!(error.to_string().contains("no run store at"), "{error}");
    assert!(!path.exists(), "opening read-only created nothing");
    assert!(files_in(dir.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn schemas_other_than_the_current_one_are_refused_read_only() {
    let dir = TempDir::new().unwrap();

    let newer = dir.path().join("newer.db");
    drop(SqliteStore::open(&newer).unwrap());
    rusqlite::Connection::open(&newer).unwrap().pragma_update(None, "user_version", 999).unwrap();
    let error = SqliteStore::open_read_only(&newer).expect_err("a newer schema is refused");
    assert!(error.to_string().contains("999") && error.to_string().contains("newer"), "{error}");

    // A file as version 2 left it: no tokens table yet.
    let older = dir.path().join("older.db");
    drop(SqliteStore::open(&older).unwrap());
    rusqlite::Connection::open(&older)
        .unwrap()
        .execute_batch(
            "DROP TABLE tokens; DROP TABLE run_logs; DROP TABLE run_log_drops; ALTER TABLE steps DROP COLUMN retries;
             PRAGMA user_version = 2;",
        )
        .unwrap();
    let error = SqliteStore::open_read_only(&older).expect_err("an older schema is refused");
    let message = error.to_string();
    assert!(message.contains("version 2") && message.contains("older"), "{message}");
    assert!(message.contains("open it for writing once"), "it says what to do: {message}");
    drop(SqliteStore::open(&older).unwrap());
    let store = SqliteStore::open_read_only(&older).expect("readable once migrated");
    assert_eq!(store.tokens("shop").await.unwrap(), None);

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let error = SqliteStore::open_read_only(&empty).expect_err("an empty file is no store");
    assert!(error.to_string().contains("not a run store"), "{error}");
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0, "and stays empty");
}

/// A closed store big enough to span many pages, with `page` overwritten by garbage.
async fn damaged_store(dir: &Path, page: u64) -> PathBuf {
    let path = dir.join("runs.db");
    let store = SqliteStore::open(&path).unwrap();
    for n in 0..300 {
        let run = sample_run(&format!("job-{}", n % 3));
        store.create_run(&run).await.unwrap();
        store.save_step(&run.id, &sample_step("step")).await.unwrap();
    }
    drop(store);
    assert_eq!(files_in(dir), ["runs.db"], "everything is in the database file");
    let mut bytes = std::fs::read(&path).unwrap();
    // The header's page size (big-endian, at offset 16).
    let page_size = u64::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    let pages = bytes.len() as u64 / page_size;
    assert!(pages > page + 4, "the damaged page is one in the middle of {pages}");
    let start = usize::try_from(page * page_size).unwrap();
    for (n, byte) in bytes[start..start + usize::try_from(page_size).unwrap()].iter_mut().enumerate() {
        *byte = (n * 7 + 13) as u8;
    }
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_store_is_refused_when_opened_for_writing() {
    let dir = TempDir::new().unwrap();
    let path = damaged_store(dir.path(), 2).await;
    let damaged = std::fs::read(&path).unwrap();

    let error = SqliteStore::open(&path).expect_err("a damaged store is refused");
    let StoreError::Corrupt { location, report } = &error else { panic!("expected Corrupt, got {error:?}") };
    assert_eq!(location, &path.display().to_string());
    assert!(report.contains("quick_check"), "it says which check: {report}");
    let message = error.to_string();
    assert!(message.contains("is corrupt") && message.contains(&path.display().to_string()), "{message}");
    assert_eq!(std::fs::read(&path).unwrap(), damaged, "the refused file is left as it was");

    // The check can be turned off (for a large store checked some other way).
    let unchecked = SqliteOptions { check_integrity: false, ..SqliteOptions::default() };
    drop(SqliteStore::open_with(&path, unchecked).expect("opens unchecked"));
    // Reading is allowed: what is intact can still be inspected.
    assert!(SqliteStore::open_read_only(&path).is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_intact_store_passes_the_check() {
    let dir = TempDir::new().unwrap();
    let (path, id) = store_with_runs(dir.path()).await;
    let store = SqliteStore::open(&path).unwrap();
    assert!(!store.is_read_only());
    assert_eq!(store.run(&id).await.unwrap().unwrap().steps.len(), 2);
}
