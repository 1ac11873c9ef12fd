//! `send`, `complete`, `cancel` and `resume` as processes of an app on the runtime's CLI, around
//! a job that waits for a token: `send` returns once the run waits, `complete` resumes it to its
//! end, a payload that does not fit leaves the token open, `cancel` stops one, and exit codes say what
//! happened.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Runs `cli-app ARGS --json` on the store `db`, for at most 30 s; returns the exit code and
/// the JSON document on stdout.
fn cli_app(db: &Path, args: &[&str]) -> (i32, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cli-app"))
        .args(["--db", db.to_str().unwrap(), "--json"])
        .args(args)
        .env("CLI_APP_CALLS", db.with_extension("calls"))
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
            panic!("cli-app {args:?} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
    let json = serde_json::from_slice(&stdout).unwrap_or_else(|error| {
        panic!("cli-app {args:?}: stdout is one JSON document ({error}); stderr: {}", String::from_utf8_lossy(&stderr))
    });
    (status.code().expect("cli-app exited"), json)
}

/// Sends `approval.requested`: the run waits for its token.
fn request_approval(db: &Path) -> String {
    let (code, sent) = cli_app(db, &["send", "approval.requested", r#"{"what":"the budget"}"#]);
    assert_eq!(code, 0, "a run waiting for a token is not a failure: {sent}");
    let run = &sent["runs"][0];
    assert_eq!(run["status"], "waiting", "send returns once the run waits: {sent}");
    assert_eq!(run["steps"][0]["kind"], "token");
    run["id"].as_str().unwrap().to_owned()
}

#[test]
fn complete_resumes_a_run_waiting_for_its_token() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.sqlite3");
    let id = request_approval(&db);
    let token = format!("{id}:approval");

    let (code, completed) = cli_app(&db, &["complete", &token, r#"{"by":"ada"}"#]);
    assert_eq!(code, 0, "{completed}");
    assert_eq!(completed["token"], token.as_str());
    assert_eq!(completed["run"]["status"], "succeeded");
    assert_eq!(completed["run"]["output"], "the budget approved by ada");

    let (code, again) = cli_app(&db, &["complete", &token, r#"{"by":"ada"}"#]);
    assert_eq!(code, 4, "a token completes once: {again}");
    assert_eq!(again["error"]["kind"], "badInput");
    let (code, unknown) = cli_app(&db, &["complete", "no-such-run:approval", "{}"]);
    assert_eq!(code, 3, "{unknown}");
}

#[test]
fn a_payload_that_does_not_fit_leaves_the_token_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.sqlite3");
    let id = request_approval(&db);
    let token = format!("{id}:approval");
    // This process never ran the wait, so it cannot check the payload first: the run takes it
    // up, finds it does not fit, and waits for the token again, saying why.
    let (code, completed) = cli_app(&db, &["complete", &token, r#"{"by":7}"#]);
    assert_eq!(code, 0, "{completed}");
    assert_eq!(completed["run"]["status"], "waiting", "{completed}");
    let steps = completed["run"]["steps"].as_array().unwrap();
    let approval = steps.iter().find(|step| step["key"] == "approval").unwrap();
    assert!(approval["error"].as_str().unwrap().contains("did not fit"), "{completed}");
    let (code, completed) = cli_app(&db, &["complete", &token, r#"{"by":"ada"}"#]);
    assert_eq!(code, 0, "{completed}");
    assert_eq!(completed["run"]["status"], "succeeded", "{completed}");
}

#[test]
fn cancel_stops_a_waiting_run_and_resume_takes_it_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.sqlite3");
    let id = request_approval(&db);

    let (code, cancelled) = cli_app(&db, &["cancel", &id[..id.len() - 4]]);
    assert_eq!(code, 0, "{cancelled}");
    assert_eq!(cancelled, serde_json::json!({ "id": id, "status": "cancelled" }));
    let (code, listed) = cli_app(&db, &["runs", "--status", "cancelled"]);
    assert_eq!(code, 0);
    assert_eq!(listed["runs"][0]["id"], id.as_str());
    let (code, again) = cli_app(&db, &["cancel", &id]);
    assert_eq!(code, 4, "a cancelled run has finished: {again}");
    assert_eq!(cli_app(&db, &["cancel", "ffffffff"]).0, 3);

    let (code, resumed) = cli_app(&db, &["resume", &id]);
    assert_eq!(code, 0, "{resumed}");
    assert_eq!(resumed["status"], "waiting", "it waits for its token again: {resumed}");
}

#[test]
fn a_worker_needs_a_shared_store() {
    let dir = tempfile::tempdir().unwrap();
    let (code, answer) = cli_app(&dir.path().join("runs.sqlite3"), &["worker"]);
    assert_eq!(code, 2, "a usage error: {answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("--database-url") && message.contains("serve"), "{message}");
}
