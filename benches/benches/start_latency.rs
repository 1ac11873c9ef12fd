//! (6) Start latency on the SQLite store: from sending an event to the first line of the job
//! function, one event at a time (an idle engine), p50 and p99.
//!
//! - in-process: `t0` just before `engine.dispatch(event)`; the figure includes recording the
//!   run (its commit) and starting it.
//! - HTTP: `t0` just before a reqwest `POST /api/events` on loopback (kept-alive connection);
//!   the figure includes the request, the server's checks and recording the delivery (its
//!   commit), and starting the run.
//!
//! Each run is waited for before the next event is sent. Floors measured in the same run: a bare
//! SQLite insert+commit (the one commit acceptance needs) and a bare loopback POST to an axum
//! handler that parses the same JSON.
//!
//! `cargo bench -p connector-benches --bench start_latency` (`BENCH_ROUNDS` = hundreds of events)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::routing::post;
use connector_benches::{Percentiles, Table, met, micros, sync_name};
use connector_runtime::RunId;
use connector_runtime::prelude::*;
use connector_runtime::server::{self, ServerConfig};
use connector_runtime::store::{RunStore, Synchronous};
use tokio::sync::oneshot;

const API_KEY: &str = "bench-api-key";

/// Who waits for which event's job to start.
static WAITERS: Mutex<Option<HashMap<u64, oneshot::Sender<Instant>>>> = Mutex::new(None);

/// A ping.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "bench.ping")]
struct Ping {
    seq: u64,
}

#[job(id = "on-ping", name = "On ping", version = "1.0.0", event = Ping)]
async fn on_ping(payload: Ping, _io: OnPingIo<'_>) -> Result<(), JobError> {
    let started = Instant::now();
    let waiter = WAITERS.lock().unwrap_or_else(|p| p.into_inner()).as_mut().and_then(|w| w.remove(&payload.seq));
    if let Some(waiter) = waiter {
        let _ = waiter.send(started);
    }
    Ok(())
}

fn expect_start(seq: u64) -> oneshot::Receiver<Instant> {
    let (sender, receiver) = oneshot::channel();
    WAITERS.lock().unwrap().get_or_insert_with(HashMap::new).insert(seq, sender);
    receiver
}

fn main() {
    connector_benches::wait_for_quiet_machine(Duration::from_secs(60));
    let events = connector_benches::rounds(500);
    let runtime = connector_benches::runtime(2);
    let dir = tempfile::tempdir().expect("a temp dir");
    println!("(6) start latency: send -> first line of the job, {events} events one at a time\n");
    let mut table =
        Table::new(&["path", "synchronous", "floor p50", "p50", "p99", "ratio to floor (p50)", "target (p50)", "met?"]);
    let http = connector_benches::http_client();
    let mut seq = 0;
    for synchronous in [Synchronous::Full, Synchronous::Normal] {
        let name = sync_name(synchronous);
        let (store, mut bare) = connector_benches::stores(dir.path(), synchronous);
        let engine = Engine::builder()
            .shared_store(Arc::clone(&store) as Arc<dyn RunStore>)
            .job(OnPingJob)
            .build()
            .expect("the engine");

        // The measuring task runs on a worker, as a server's or a job's code would.
        let (engine_, http_) = (engine.clone(), http.clone());
        let measured = runtime.spawn(async move {
            let (engine, http) = (engine_, http_);
            let config = ServerConfig {
                bind: "127.0.0.1:0".parse().expect("an address"),
                api_key: Some(Secret::new(API_KEY)),
                ..ServerConfig::default()
            };
            let server = server::start(engine.clone(), config).await.expect("the server");
            let events_url = format!("{}/api/events", server.url());
            let bare_url = format!("{}/events", connector_benches::serve(bare_router()).await);

            // Warm up every path (connections, statement caches, the read pool).
            for _ in 0..20 {
                seq += 1;
                in_process_once(&engine, seq).await;
                seq += 1;
                http_once(&engine, &http, &events_url, seq).await;
                bare_post(&http, &bare_url, seq).await;
            }
            let (mut in_process, mut over_http, mut bare_http) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..events {
                seq += 1;
                in_process.push(in_process_once(&engine, seq).await);
                seq += 1;
                over_http.push(http_once(&engine, &http, &events_url, seq).await);
                bare_http.push(bare_post(&http, &bare_url, seq).await);
            }
            server.shutdown().await.expect("the server stops");
            (in_process, over_http, bare_http, seq)
        });
        let (in_process, over_http, bare_http, last) = runtime.block_on(measured).expect("the measuring task");
        seq = last;
        let mut bare_commit = Vec::new();
        for _ in 0..events {
            let start = Instant::now();
            bare.insert_commit(600, 1);
            bare_commit.push(start.elapsed());
        }

        let floor_commit = Percentiles::of(&bare_commit);
        let floor_http = Percentiles::of(&bare_http);
        for (path, samples, floor, target) in [
            ("in-process `engine.dispatch`", &in_process, floor_commit, Duration::from_millis(1)),
            ("HTTP `POST /api/events`", &over_http, floor_http, Duration::from_millis(5)),
        ] {
            let p = Percentiles::of(samples);
            table.row(vec![
                path.to_owned(),
                name.to_owned(),
                micros(floor.p50),
                micros(p.p50),
                micros(p.p99),
                format!("{:.1}x", p.p50.as_secs_f64() / floor.p50.as_secs_f64()),
                format!("< {} ms", target.as_millis()),
                met(p.p50 < target),
            ]);
        }
        println!(
            "{name}: floors: bare insert+commit p50 {} p99 {}; bare loopback POST p50 {} p99 {}",
            micros(floor_commit.p50),
            micros(floor_commit.p99),
            micros(floor_http.p50),
            micros(floor_http.p99),
        );
    }
    println!();
    table.print();
}

async fn in_process_once(engine: &Engine, seq: u64) -> Duration {
    let started = expect_start(seq);
    let sent = Instant::now();
    let ids = engine.dispatch(Ping { seq }).await.expect("dispatched");
    let at = started.await.expect("the job started");
    engine.wait_all(&ids).await.expect("the run");
    at - sent
}

async fn http_once(engine: &Engine, http: &reqwest::Client, url: &str, seq: u64) -> Duration {
    let started = expect_start(seq);
    let sent = Instant::now();
    let response = http
        .post(url)
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({ "name": "bench.ping", "payload": { "seq": seq } }))
        .send()
        .await
        .expect("the request");
    assert_eq!(response.status(), 202, "accepted");
    let answer: serde_json::Value = response.json().await.expect("the answer");
    let at = started.await.expect("the job started");
    let ids: Vec<RunId> =
        answer["runs"].as_array().into_iter().flatten().filter_map(|id| id.as_str()).map(RunId::from).collect();
    engine.wait_all(&ids).await.expect("the run");
    at - sent
}

fn bare_router() -> axum::Router {
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct EventBody {
        name: String,
        payload: serde_json::Value,
    }
    axum::Router::new()
        .route("/events", post(|Json(_body): Json<EventBody>| async { (axum::http::StatusCode::ACCEPTED, "{}") }))
}

async fn bare_post(http: &reqwest::Client, url: &str, seq: u64) -> Duration {
    let sent = Instant::now();
    let response = http
        .post(url)
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({ "name": "bench.ping", "payload": { "seq": seq } }))
        .send()
        .await
        .expect("the request");
    let _ = response.bytes().await.expect("the answer");
    sent.elapsed()
}
