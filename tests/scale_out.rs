//! Scale-out crash test: one `serve` and three `worker` processes of one app on one PostgreSQL
//! database, 1,000 three-step runs sent to the server's API. Half-way, one worker is killed with
//! SIGKILL and another is stopped with SIGTERM and started again. Every run completes, every
//! message is posted exactly once, and only the steps in flight in the killed worker reach the
//! service a second time (with the same idempotency key, so the service posts them once).
//!
//! Needs PostgreSQL: `CONNECTOR_RUNTIME_TEST_POSTGRES` (default
//! `postgres://postgres@127.0.0.1:5432/test`); under CI (`CI` set) its absence fails the test.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use simple_chat::service::ChatService;

#[path = "../connector-runtime/tests/support/postgres.rs"]
mod postgres;

use postgres::{raw_client, server};

const RUNS: usize = 1_000;
const WORKERS: usize = 3;
const CONCURRENCY: usize = 16;
const API_KEY: &str = "scale-test-api-key";
const CHAT_KEY: &str = "scale-test-chat-key";

/// A process of the app, its first stdout line (the "ready" report) read.
struct Process {
    child: Child,
    ready: serde_json::Value,
}

fn start(database_url: &str, chat_url: &str, args: &[&str]) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scale-app"))
        .args(["--json", "--database-url", database_url])
        .args(args)
        .env("SCALE_CHAT_URL", chat_url)
        .env("SCALE_CHAT_KEY", CHAT_KEY)
        .env("CONNECTOR_RUNTIME_API_KEY", API_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the app starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("a ready line");
    let ready = serde_json::from_str(&line).unwrap_or_else(|_| panic!("a JSON ready line, got {line:?}"));
    Process { child, ready }
}

fn terminate(process: &mut Process) {
    // SAFETY: signalling a child this test started and has not reaped.
    unsafe { libc::kill(process.child.id() as libc::pid_t, libc::SIGTERM) };
    let status = process.child.wait().unwrap();
    assert!(status.success(), "a worker stopped by SIGTERM exits 0: {status}");
}

async fn count(client: &tokio_postgres::Client, schema: &str, status: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {schema}.runs WHERE status = $1");
    client.query_one(&sql, &[&status]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_killed_and_restarted_finish_every_run_with_each_step_once() {
    let Some(url) = server().await else { return };
    let schema = format!("scale_{:016x}", fastrand::u64(..));
    let admin = raw_client(&url).await;
    admin.batch_execute(&format!("CREATE SCHEMA {schema}")).await.unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let database_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");

    let chat = ChatService::start(CHAT_KEY).await.unwrap();
    let chat_url = chat.base_url();
    let mut server = start(&database_url, &chat_url, &["serve", "--port", "0"]);
    let api = format!("{}/api/events", server.ready["url"].as_str().unwrap());
    let concurrency = CONCURRENCY.to_string();
    let worker_args = ["worker", "--concurrency", concurrency.as_str(), "--grace", "5s"];
    let mut workers: Vec<Process> = (0..WORKERS).map(|_| start(&database_url, &chat_url, &worker_args)).collect();
    assert!(workers.iter().all(|worker| worker.ready["worker"] == true));

    // Sent by 8 clients at once; every event is accepted (recorded) before its answer.
    let client = reqwest::Client::new();
    let sent = run_bounded(RUNS, 8, |n| {
        let (client, api) = (client.clone(), api.clone());
        async move {
            let body = serde_json::json!({ "name": "scale.test", "payload": { "tag": format!("run{n}") }, "id": format!("event-{n}") });
            let answer = client.post(&api).bearer_auth(API_KEY).json(&body).send().await.unwrap();
            assert!(answer.status().is_success(), "event {n} accepted: {}", answer.status());
        }
    })
    .await;
    assert_eq!(sent, RUNS);

    // Half-way: one worker dies, another is stopped and started again.
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&admin, &schema, "succeeded").await < (RUNS / 2) as i64 {
        assert!(Instant::now() < deadline, "half the runs did not finish in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    workers[0].child.kill().unwrap(); // SIGKILL
    workers[0].child.wait().unwrap();
    terminate(&mut workers[1]);
    workers[1] = start(&database_url, &chat_url, &worker_args);

    let killed_at = Instant::now();
    loop {
        let done = count(&admin, &schema, "succeeded").await;
        if done == RUNS as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "only {done} of {RUNS} runs finished");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("the rest finished {:?} after the kill", killed_at.elapsed());

    // Every message once; only the steps in flight in the killed worker were sent twice.
    let mut posted: HashMap<String, usize> = HashMap::new();
    for message in chat.posted_messages() {
        *posted.entry(message.text).or_default() += 1;
    }
    assert_eq!(posted.len(), RUNS * 3, "three messages per run");
    assert!(posted.values().all(|n| *n == 1), "each message posted once");
    let rows = admin
        .query(&format!("SELECT run_id, \"key\" FROM {schema}.steps WHERE status = 'succeeded'"), &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), RUNS * 3, "three completed steps per run");
    let mut again = 0;
    for row in &rows {
        let (run, key): (String, String) = (row.get(0), row.get(1));
        let requests = chat.requests_with_idempotency_key(&format!("{run}:{key}"));
        assert!(requests >= 1, "step {run}:{key} reached the service");
        again += requests - 1;
    }
    assert!(
        again <= CONCURRENCY,
        "{again} steps reached the service twice; at most the killed worker's {CONCURRENCY} in flight may"
    );
    let executions: i64 =
        admin.query_one(&format!("SELECT max(executions) FROM {schema}.runs"), &[]).await.unwrap().get(0);
    assert!(executions <= 2, "no run executed more than twice (once, or resumed once): {executions}");

    for worker in &mut workers[1..] {
        terminate(worker);
    }
    terminate(&mut server);
    admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.unwrap();
}

/// Runs `task(0..n)` with at most `width` at once; returns how many ran.
async fn run_bounded<F, Fut>(n: usize, width: usize, task: F) -> usize
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut next = 0;
    let mut running = tokio::task::JoinSet::new();
    let mut done = 0;
    while next < n || !running.is_empty() {
        while next < n && running.len() < width {
            running.spawn(task(next));
            next += 1;
        }
        if let Some(result) = running.join_next().await {
            result.unwrap();
            done += 1;
        }
    }
    done
}
