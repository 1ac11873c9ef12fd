//! The example's command line, run as a process: `--help` lists every command, the demo is the
//! default, `--json` prints one parseable document with the expected fields, run ids are found
//! by prefix, and exit codes say what happened.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Runs `simple-chat ARGS` in `dir` with its store there, for at most 30 s.
fn simple_chat(dir: &Path, args: &[&str]) -> Output {
    run(
        Command::new(env!("CARGO_BIN_EXE_simple-chat")).env("CONNECTOR_RUNTIME_DB", dir.join("runs.sqlite3")),
        dir,
        args,
    )
}

/// Runs `simple-chat ARGS` in `dir` with its store where it is by default.
fn simple_chat_default_store(dir: &Path, args: &[&str]) -> Output {
    run(Command::new(env!("CARGO_BIN_EXE_simple-chat")).env_remove("CONNECTOR_RUNTIME_DB"), dir, args)
}

fn run(command: &mut Command, dir: &Path, args: &[&str]) -> Output {
    let mut child = command
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .env_remove("SIMPLE_CHAT_API_KEY")
        .env_remove("SIMPLE_CHAT_WEBHOOK_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("simple-chat starts");
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("simple-chat {args:?} did not finish within 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("the process exited")
}

/// The one JSON document on stdout.
fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is one JSON document ({error}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn help_lists_every_command_and_the_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let help = simple_chat(dir.path(), &["--help"]);
    assert_eq!(code(&help), 0);
    let help = text(&help);
    for command in ["serve", "runs", "resume", "cancel", "send", "complete", "call", "check", "manifest", "mcp", "demo"]
    {
        assert!(help.lines().any(|line| line.trim_start().starts_with(command)), "`{command}` is listed:\n{help}");
    }
    assert!(help.contains("--json") && help.contains("Exit codes"), "{help}");
    assert!(!dir.path().join("runs.sqlite3").exists(), "--help opens no store");

    let unknown = simple_chat(dir.path(), &["bogus"]);
    assert_eq!(code(&unknown), 2, "a usage error");
}

#[test]
fn the_demo_is_the_default_command() {
    let dir = tempfile::tempdir().unwrap();
    let demo = simple_chat_default_store(dir.path(), &[]);
    assert_eq!(code(&demo), 0, "{}", String::from_utf8_lossy(&demo.stderr));
    let out = text(&demo);
    assert!(out.contains("All 4 runs succeeded"), "{out}");
    assert!(out.contains("send-message-action"), "each run's steps are shown:\n{out}");

    let store = dir.path().join(".connector-runtime");
    assert!(store.join("runs.sqlite3").exists(), "the runs are in the default store");
    assert!(store.join(".gitignore").exists(), "the store's folder keeps itself out of git");
    let runs = json(&simple_chat_default_store(dir.path(), &["runs", "--json"]));
    assert_eq!(runs["runs"].as_array().unwrap().len(), 4, "the demo's runs are stored: {runs}");
}

#[test]
fn json_output_parses_with_the_expected_fields() {
    let dir = tempfile::tempdir().unwrap();
    let sent =
        simple_chat(dir.path(), &["send", "manual.send.message", r#"{"channel":"general","message":"hi"}"#, "--json"]);
    assert_eq!(code(&sent), 0, "{}", String::from_utf8_lossy(&sent.stderr));
    let sent = json(&sent);
    assert!(sent["deliveryId"].is_string());
    assert_eq!(sent["runs"][0]["status"], "succeeded");
    let id = sent["runs"][0]["id"].as_str().unwrap().to_owned();

    let runs = json(&simple_chat(dir.path(), &["runs", "--json", "--job", "send-chat-message"]));
    let listed = &runs["runs"][0];
    assert_eq!(listed["id"], id);
    assert_eq!(listed["jobId"], "send-chat-message");
    assert_eq!(listed["status"], "succeeded");
    assert!(listed["createdAt"].is_string());
    let none = json(&simple_chat(dir.path(), &["runs", "--json", "--status", "failed"]));
    assert_eq!(none["runs"], serde_json::json!([]));

    let shown = json(&simple_chat(dir.path(), &["runs", "show", &id, "--json"]));
    assert_eq!(shown["id"], id);
    let step = &shown["steps"][0];
    assert_eq!(step["key"], "send-message-action");
    assert_eq!(step["kind"], "action");
    assert_eq!(step["status"], "succeeded");
    assert_eq!(step["attempts"], 1);
    assert_eq!(shown["output"]["status"], "message_processed");

    let manifest = json(&simple_chat(dir.path(), &["manifest", "--json"]));
    assert_eq!(manifest["connectors"][0]["id"], "simple-chat");
    let jobs: Vec<&str> = manifest["jobs"].as_array().unwrap().iter().map(|job| job["id"].as_str().unwrap()).collect();
    assert_eq!(jobs, ["send-chat-message", "get-chat-channel-info", "acknowledge-message"]);

    let call =
        simple_chat(dir.path(), &["call", "simple-chat", "getChannelInfo", r#"{"channelId":"dev-team"}"#, "--json"]);
    assert_eq!(code(&call), 0, "{}", String::from_utf8_lossy(&call.stderr));
    let call = json(&call);
    assert_eq!(call["connector"], "simple-chat");
    assert_eq!(call["action"], "getChannelInfo");
    assert_eq!(call["output"]["name"], "Development Team");

    let check = simple_chat(dir.path(), &["check", "--json"]);
    assert_eq!(code(&check), 0);
    assert_eq!(json(&check)["connectors"][0], serde_json::json!({ "id": "simple-chat", "status": "ok" }));
}

#[test]
fn runs_are_found_by_prefix_and_exit_codes_say_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for channel in ["general", "nowhere"] {
        let payload = format!(r#"{{"channel":"{channel}","message":"hi"}}"#);
        let sent = simple_chat(dir.path(), &["send", "manual.send.message", &payload, "--json"]);
        ids.push(json(&sent)["runs"][0]["id"].as_str().unwrap().to_owned());
        // A run that failed is a failed command.
        assert_eq!(code(&sent), if channel == "general" { 0 } else { 1 });
    }

    // The shortest prefix of the first id that the second does not share.
    let unique = (1..=ids[0].len()).map(|n| &ids[0][..n]).find(|prefix| !ids[1].starts_with(prefix)).unwrap();
    let shown = simple_chat(dir.path(), &["runs", "show", unique]);
    assert_eq!(code(&shown), 0, "{}", String::from_utf8_lossy(&shown.stderr));
    let timeline = text(&shown);
    assert!(timeline.contains(&ids[0]) && timeline.contains("send-message-action"), "{timeline}");
    assert!(timeline.contains("ATTEMPTS") && timeline.contains("DURATION"), "{timeline}");

    // Both ids start with their common part: ambiguous, and the candidates are listed.
    let common = &ids[0][..unique.len() - 1];
    let ambiguous = simple_chat(dir.path(), &["runs", "show", common, "--json"]);
    assert_eq!(code(&ambiguous), 4);
    let candidates = json(&ambiguous)["error"]["candidates"].as_array().unwrap().len();
    assert_eq!(candidates, 2);

    let unknown = simple_chat(dir.path(), &["runs", "show", "ffffffff", "--json"]);
    assert_eq!(code(&unknown), 3, "not found");
    assert_eq!(json(&unknown)["error"]["kind"], "notFound");
    assert_eq!(code(&simple_chat(dir.path(), &["resume", "ffffffff"])), 3);
    assert_eq!(code(&simple_chat(dir.path(), &["resume", &ids[0]])), 4, "a succeeded run is not resumed");

    let misfit = simple_chat(dir.path(), &["send", "manual.send.message", r#"{"channel":7}"#, "--json"]);
    assert_eq!(code(&misfit), 4);
    assert_eq!(json(&misfit)["error"]["path"], "channel");
    let not_json = simple_chat(dir.path(), &["call", "simple-chat", "sendMessage", "{"]);
    assert_eq!(code(&not_json), 4);
    assert_eq!(code(&simple_chat(dir.path(), &["call", "simple-chat", "nope", "{}"])), 3);
    assert_eq!(code(&simple_chat(dir.path(), &["send", "no.such.event", "{}"])), 3);
}
