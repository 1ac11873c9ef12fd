//! `serve` stopped by SIGTERM while a run is in a slow step: the process lets the step finish,
//! leaves the run's durable wait in the store, and exits 0 within the grace period; `serve`
//! restarted on the same store finishes the run without calling the finished step again. The
//! second `serve` stops on SIGINT (Ctrl-C) the same way. A step longer than the grace period is
//! cut off, and runs again (it never finished) after the restart.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use connector_runtime::store::{RunStore, SqliteStore};
use connector_runtime::{RunId, RunStatus, StepStatus};

const API_KEY: &str = "cli-shutdown-key";
const GRACE: Duration = Duration::from_secs(10);

/// A `serve` process, killed if the test ends before it does.
struct Serve {
    child: Child,
    url: String,
    /// Kept open: the process may still write to it.
    _stdout: BufReader<ChildStdout>,
}

impl Serve {
    fn start(db: &Path, calls: &Path, grace: &str) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cli-app"))
            .args(["--db", db.to_str().unwrap(), "serve", "--port", "0", "--grace", grace, "--json"])
            .env("CLI_APP_CALLS", calls)
            .env("CONNECTOR_RUNTIME_API_KEY", API_KEY)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("cli-app starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        // Read aside, so a process that never gets ready fails the test instead of hanging it.
        let (sender, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = stdout.read_line(&mut line);
            let _ = sender.send((line, stdout));
        });
        let Ok((line, stdout)) = ready.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            panic!("serve did not get ready within 30 s");
        };
        let ready: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|error| panic!("serve prints one JSON line when ready ({error}): {line:?}"));
        let url = ready["url"].as_str().expect("the ready line has the url").to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "serve listens on loopback: {url}");
        assert!(!line.contains(API_KEY), "serve never prints its API key: {line}");
        assert_eq!(ready["api"], true, "the API is open with a key");
        Serve { child, url, _stdout: stdout }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -{name} works");
    }

    /// Waits for the process to exit, at most `limit`.
    fn exit_within(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < limit, "serve did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends `slow.requested` and returns the run it started.
    async fn send(&self, http: &reqwest::Client, step_ms: u64, pause_ms: u64) -> RunId {
        let answer = http
            .post(format!("{}/api/events", self.url))
            .bearer_auth(API_KEY)
            .json(
                &serde_json::json!({ "name": "slow.requested", "payload": { "stepMs": step_ms, "pauseMs": pause_ms } }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 202);
        let receipt: serde_json::Value = answer.json().await.unwrap();
        RunId::from(receipt["runs"][0].as_str().unwrap())
    }

    /// Waits for run `id` to finish, through the API, and returns it.
    async fn finished(&self, http: &reqwest::Client, id: &RunId) -> serde_json::Value {
        let url = format!("{}/api/runs/{id}", self.url);
        let started = Instant::now();
        loop {
            let run: serde_json::Value =
                http.get(&url).bearer_auth(API_KEY).send().await.unwrap().json().await.unwrap();
            if run["status"] == "succeeded" || run["status"] == "failed" {
                return run;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "the resumed run finishes: {run}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).no_proxy().build().unwrap()
}

fn calls(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap_or_default().lines().map(str::to_owned).collect()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_step_finish_and_the_restart_finishes_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.sqlite3");
    let calls_file = dir.path().join("calls.log");
    let http = http();

    let mut serve = Serve::start(&db, &calls_file, "10s");
    let id = serve.send(&http, 1_500, 1_500).await;

    // Mid-way through the slow step.
    wait_until("the slow step starts", Duration::from_secs(10), || calls(&calls_file) == ["start before"]);
    let stopping = Instant::now();
    serve.signal("TERM");
    let status = serve.exit_within(GRACE);
    let took = stopping.elapsed();
    assert!(status.success(), "serve exits cleanly on SIGTERM: {status}");
    assert!(took < GRACE, "serve stops within the grace period ({took:?})");
    assert_eq!(calls(&calls_file), ["start before", "end before"], "the step in progress finished");

    // The finished step is recorded, the wait is in the store, nothing after it ran.
    let store = SqliteStore::open(&db).unwrap();
    let run = store.run(&id).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Waiting, "the run was left in its durable wait");
    assert_eq!(run.step("before").map(|step| step.status), Some(StepStatus::Succeeded));
    assert!(run.step("after").is_none());
    drop(store);

    // Restarted on the same store: the run resumes and finishes, the finished step not repeated.
    let mut serve = Serve::start(&db, &calls_file, "10s");
    let run = serve.finished(&http, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["output"], "after");
    assert_eq!(calls(&calls_file), ["start before", "end before", "start after", "end after"], "every step ran once");
    assert_eq!(run["steps"][0]["attempts"], 1);

    serve.signal("INT");
    let status = serve.exit_within(GRACE);
    assert!(status.success(), "serve exits cleanly on SIGINT: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_longer_than_the_grace_period_is_cut_off_and_runs_again_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.sqlite3");
    let calls_file = dir.path().join("calls.log");
    let http = http();

    let mut serve = Serve::start(&db, &calls_file, "300ms");
    let id = serve.send(&http, 4_000, 0).await;
    wait_until("the slow step starts", Duration::from_secs(10), || calls(&calls_file) == ["start before"]);
    let stopping = Instant::now();
    serve.signal("TERM");
    let status = serve.exit_within(Duration::from_secs(5));
    assert!(status.success(), "serve exits cleanly when the grace period ends: {status}");
    assert!(stopping.elapsed() < Duration::from_secs(3), "it did not wait for the step");
    assert_eq!(calls(&calls_file), ["start before"], "the step was cut off");

    let serve = Serve::start(&db, &calls_file, "10s");
    let run = serve.finished(&http, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        calls(&calls_file),
        ["start before", "start before", "end before", "start after", "end after"],
        "the cut-off step ran again, to its end, and the rest once"
    );
}
