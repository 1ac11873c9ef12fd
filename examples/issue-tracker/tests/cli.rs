//! The example's command line, run as a process: the same commands as every app's, the demo as
//! the default, and `--json` documents that parse.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Runs `issue-tracker ARGS` in `dir`, for at most 30 s.
fn issue_tracker(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_issue-tracker"))
        .args(args)
        .current_dir(dir)
        .env_remove("CONNECTOR_RUNTIME_DB")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("issue-tracker starts");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("issue-tracker {args:?} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn json(output: &Output) -> Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
}

#[test]
fn help_lists_the_commands_and_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let help = issue_tracker(dir.path(), &["--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for command in ["serve", "runs", "resume", "cancel", "send", "complete", "call", "check", "manifest", "demo"] {
        assert!(help.lines().any(|line| line.trim_start().starts_with(command)), "`{command}` is listed:\n{help}");
    }
}

#[test]
fn the_demo_is_the_default_and_reports_in_json() {
    let dir = tempfile::tempdir().unwrap();
    let demo = json(&issue_tracker(dir.path(), &["--json"]));
    let runs = demo["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4, "two filed, two triaged: {demo}");
    assert!(runs.iter().all(|run| run["status"] == "succeeded"), "{demo}");
    assert_eq!(demo["tokenGrants"], 1);
    assert!(!dir.path().join(".connector-runtime").exists(), "the demo keeps its runs in memory");
}

#[test]
fn commands_work_through_the_setup() {
    let dir = tempfile::tempdir().unwrap();
    let check = json(&issue_tracker(dir.path(), &["check", "issue-tracker", "--json"]));
    assert_eq!(check["connectors"][0]["status"], "ok");
    let manifest = json(&issue_tracker(dir.path(), &["manifest", "--json"]));
    assert_eq!(manifest["connectors"][0]["id"], "issue-tracker");
    let sent = json(&issue_tracker(
        dir.path(),
        &["send", "bug.reported", r#"{"title":"Broken link","details":"404 on /docs"}"#, "--json"],
    ));
    assert_eq!(sent["runs"][0]["output"]["number"], 1);
    assert!(!dir.path().join(".connector-runtime").exists(), "the app keeps its runs in memory");
}
