//! How the CLI opens its store, as processes of an app on the runtime's CLI: `runs` and
//! `runs show` read a read-only copy of a store (file and directory) without touching it, and
//! do not wait for a connection holding the write lock; `serve` refuses a damaged store with
//! exit code 5 and what the integrity check found.
//!
//! Tests may run as root, where permissions stop no write: so what is asserted is what happened
//! to the files (bytes, modification time, no `-wal`/`-shm` created), besides the output.
#![cfg(unix)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use connector_runtime::store::conformance::{sample_run, sample_step};
use connector_runtime::store::{RunStore, SqliteStore};
use serde_json::Value;

#[path = "../connector-runtime/tests/support/read_only_dir.rs"]
mod read_only_dir;
use read_only_dir::{ReadOnlyDir, bytes_and_mtime, dir_mtime, files_in};

/// Runs `command` (a `cli-app` command line) for at most 30 s; returns the exit code and the
/// JSON document on stdout.
fn finish(mut command: Command, what: &str) -> (i32, Value) {
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cli-app starts");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("{what} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
    let json = serde_json::from_slice(&stdout).unwrap_or_else(|error| {
        panic!("{what}: stdout is one JSON document ({error}); stderr: {}", String::from_utf8_lossy(&stderr))
    });
    (status.code().expect("cli-app exited"), json)
}

/// `cli-app --db DB --json ARGS`. The approval job these tests run calls no action, so nothing
/// is written to the calls file.
fn cli_app(db: &Path, args: &[&str]) -> (i32, Value) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cli-app"));
    command.args(["--db", db.to_str().unwrap(), "--json"]).args(args).env("CLI_APP_CALLS", db.with_extension("calls"));
    finish(command, &format!("cli-app {args:?}"))
}

/// A store with two runs waiting for their tokens, made by the app itself; returns their ids.
fn store_with_runs(db: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    for what in ["the budget", "the plan"] {
        let payload = serde_json::json!({ "what": what }).to_string();
        let (code, sent) = cli_app(db, &["send", "approval.requested", &payload]);
        assert_eq!(code, 0, "{sent}");
        ids.push(sent["runs"][0]["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// `runs` lists `ids` (newest first) and `runs show` shows the first by a prefix of its id.
fn assert_runs_and_show(db: &Path, ids: &[String]) {
    let (code, listed) = cli_app(db, &["runs"]);
    assert_eq!(code, 0, "{listed}");
    let listed: Vec<&str> = listed["runs"].as_array().unwrap().iter().map(|run| run["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [ids[1].as_str(), ids[0].as_str()], "both runs, newest first");
    let (code, shown) = cli_app(db, &["runs", "show", &ids[0][..ids[0].len() - 4]]);
    assert_eq!(code, 0, "{shown}");
    assert_eq!(shown["id"], ids[0].as_str());
    assert_eq!(shown["status"], "waiting");
    assert_eq!(shown["steps"][0]["kind"], "token", "{shown}");
}

#[test]
fn runs_and_runs_show_read_a_read_only_copy_without_touching_it() {
    let source = tempfile::tempdir().unwrap();
    let original = source.path().join("runs.sqlite3");
    let ids = store_with_runs(&original);
    let copy = tempfile::tempdir().unwrap();
    for name in files_in(source.path()) {
        std::fs::copy(source.path().join(&name), copy.path().join(&name)).unwrap();
    }
    assert_eq!(files_in(copy.path()), ["runs.sqlite3"], "the app closed the store: one file holds it");
    let db = copy.path().join("runs.sqlite3");
    let _read_only = ReadOnlyDir::new(copy.path());
    let before = bytes_and_mtime(&db);
    let dir_before = dir_mtime(copy.path());

    assert_runs_and_show(&db, &ids);

    assert_eq!(files_in(copy.path()), ["runs.sqlite3"], "no -wal or -shm file was left");
    assert_eq!(dir_mtime(copy.path()), dir_before, "none was created and removed either");
    assert!(bytes_and_mtime(&db) == before, "the file's bytes and modification time are unchanged");
    let store = SqliteStore::open_read_only(&db).unwrap();
    let error = block_on(store.create_run(&sample_run("approval-job"))).expect_err("read-only");
    assert!(error.to_string().contains("opened read-only"), "{error}");
}

#[test]
fn runs_do_not_wait_for_a_connection_holding_the_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.sqlite3");
    let ids = store_with_runs(&db);
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE; UPDATE runs SET job_id = 'held';").unwrap();

    // Opening for writing would wait for the lock (5 s), then fail.
    let started = Instant::now();
    assert_runs_and_show(&db, &ids);
    assert!(started.elapsed() < Duration::from_secs(4), "read beside the writer in {:?}", started.elapsed());
    let (_, listed) = cli_app(&db, &["runs"]);
    assert_eq!(listed["runs"][0]["jobId"], "approval-job", "the uncommitted write is not seen: {listed}");
    holder.execute_batch("ROLLBACK").unwrap();
}

/// On a filesystem mounted read-only (a bind mount in a mount namespace of its own), where not
/// even root can create a file. Making one needs privileges: CI (`CI` set) has them and fails
/// without them; an unprivileged developer's machine says so and passes.
#[test]
fn runs_read_a_store_on_a_read_only_filesystem() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.sqlite3");
    let ids = store_with_runs(&db);
    let mount = dir.path().display().to_string();
    let probe = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            &format!("mount --bind '{mount}' '{mount}' && mount -o remount,ro,bind '{mount}' '{mount}'"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|status| status.success()) {
        assert!(std::env::var_os("CI").is_none(), "CI must be able to mount a read-only filesystem for this test");
        eprintln!("not run: this process cannot mount a read-only filesystem");
        return;
    }
    let before = bytes_and_mtime(&db);
    let dir_before = dir_mtime(dir.path());
    let app = env!("CARGO_BIN_EXE_cli-app");
    for args in [vec!["runs"], vec!["runs", "show", ids[0].as_str()]] {
        let script = format!(
            "mount --bind '{mount}' '{mount}' && mount -o remount,ro,bind '{mount}' '{mount}' && \
             ! touch '{mount}/probe' 2>/dev/null && exec \"$0\" \"$@\""
        );
        let mut command = Command::new("unshare");
        command.args(["-m", "sh", "-c", &script, app, "--db", db.to_str().unwrap(), "--json"]).args(&args);
        let (code, out) = finish(command, &format!("{args:?} on a read-only filesystem"));
        assert_eq!(code, 0, "{out}");
        if args.len() == 1 {
            assert_eq!(out["runs"].as_array().unwrap().len(), 2, "{out}");
        } else {
            assert_eq!(out["id"], ids[0].as_str(), "{out}");
        }
    }
    assert_eq!(files_in(dir.path()), ["runs.sqlite3"]);
    assert_eq!(dir_mtime(dir.path()), dir_before);
    assert!(bytes_and_mtime(&db) == before);
}

#[test]
fn serve_refuses_a_damaged_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.sqlite3");
    {
        let store = SqliteStore::open(&db).unwrap();
        block_on(async {
            for n in 0..300 {
                let run = sample_run(&format!("job-{}", n % 3));
                store.create_run(&run).await.unwrap();
                store.save_step(&run.id, &sample_step("step")).await.unwrap();
            }
        });
    }
    assert_eq!(files_in(dir.path()), ["runs.sqlite3"]);
    // Garbage over the third page (of dozens): a b-tree page in use.
    let mut bytes = std::fs::read(&db).unwrap();
    let page = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    assert!(bytes.len() / page > 8, "the store spans {} pages", bytes.len() / page);
    for (n, byte) in bytes[2 * page..3 * page].iter_mut().enumerate() {
        *byte = (n * 7 + 13) as u8;
    }
    std::fs::write(&db, bytes).unwrap();

    let (code, refused) = cli_app(&db, &["serve", "--port", "0"]);
    assert_eq!(code, 5, "{refused}");
    assert_eq!(refused["error"]["kind"], "unavailable");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("corrupt") && message.contains("quick_check"), "{message}");
    assert!(message.contains(db.to_str().unwrap()), "it names the file: {message}");
}

/// Drives a store future to completion outside a runtime (the store does its work on its own
/// threads).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(future)
}
