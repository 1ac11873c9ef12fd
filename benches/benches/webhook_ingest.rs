//! (3) Webhook ingest — verify the signature, parse the payload, persist the delivery and its run,
//! enqueue the run — against a bare axum handler that only parses the same JSON, under the same
//! load generator: 64 concurrent workers on loopback, each sending one signed request at a time
//! (a closed loop) for a fixed window, each request with a new delivery id.
//!
//! Both servers and the load generator share one 2-worker tokio runtime (the machine has 2
//! cores), so the load generator's own cost is in both figures. The runs the webhook starts
//! execute too (a job that returns at once): their cost is part of ours. Between phases the
//! engine is left to finish its runs, so a phase never pays for the one before.
//!
//! `cargo bench -p connector-benches --bench webhook_ingest` (`BENCH_SECONDS`, `BENCH_ROUNDS`)

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Json;
use axum::http::StatusCode;
use axum::routing::post;
use connector_benches::{Load, Table, median, met, micros, per_second, sync_name};
use connector_runtime::prelude::*;
use connector_runtime::server::{self, ServerConfig};
use connector_runtime::store::{MemoryStore, RunFilter, RunStore, SqliteOptions, SqliteStore, Synchronous};
use connector_runtime::webhook::signature::SignatureScheme;

const WEBHOOK_SECRET: &str = "bench-webhook-secret";
/// Concurrent senders.
const CONCURRENCY: usize = 64;
/// The target: at least this share of the bare handler's throughput.
const TARGET: f64 = 0.5;

#[derive(Deserialize, JsonSchema)]
struct ChatConfig {
    webhook_secret: Secret,
}

/// A message as the chat service delivers it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Posted {
    channel: String,
    sender: String,
    text: String,
}

/// A chat connector with one signed webhook trigger.
struct Chat;

#[connector(id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig)]
impl Chat {
    /// A message was posted.
    #[trigger(
        id = "message.posted",
        name = "Message posted",
        webhook(hmac_sha256(header = "X-Signature", prefix = "sha256=", secret = webhook_secret, delivery_id = "X-Delivery"))
    )]
    async fn message_posted(_ctx: &TriggerContext<ChatConfig>, payload: Posted) -> Result<Option<Posted>, ActionError> {
        Ok(Some(payload))
    }
}

#[job(id = "on-message", name = "On message", version = "1.0.0", trigger = Chat::message_posted)]
async fn on_message(payload: Posted, _io: OnMessageIo<'_>) -> Result<usize, JobError> {
    Ok(payload.text.len())
}

const BODY: &str = r#"{"channel":"general","sender":"alice","text":"Hello from the load generator: a message of about one hundred and fifty bytes, as chat messages go."}"#;

fn scheme() -> SignatureScheme {
    SignatureScheme::HmacSha256 {
        header: "X-Signature",
        prefix: "sha256=",
        secret: Secret::new(WEBHOOK_SECRET),
        delivery_id_header: Some("X-Delivery"),
    }
}

/// What a server under test is.
enum Target {
    Bare,
    Ours { store: Arc<dyn RunStore>, label: String },
}

fn main() {
    connector_benches::wait_for_quiet_machine(Duration::from_secs(60));
    let rounds = connector_benches::rounds(3);
    let window = connector_benches::phase_length(4.0);
    let runtime = connector_benches::runtime(2);
    let dir = tempfile::tempdir().expect("a temp dir");
    println!(
        "(3) webhook ingest vs a bare axum JSON handler: {CONCURRENCY} concurrent senders, {rounds} rounds of {window:?}\n"
    );

    // `BENCH_STORES=full,normal,memory` (the default) picks the stores measured besides the bare handler.
    let chosen = std::env::var("BENCH_STORES").unwrap_or_else(|_| "full,normal,memory".to_owned());
    let mut stores: Vec<(String, Arc<dyn RunStore>)> = Vec::new();
    for name in chosen.split(',').map(str::trim) {
        match name {
            "full" => {
                stores.push(("SQLite FULL".to_owned(), Arc::new(open(&dir.path().join("full.db"), Synchronous::Full))))
            }
            "normal" => stores
                .push(("SQLite NORMAL".to_owned(), Arc::new(open(&dir.path().join("normal.db"), Synchronous::Normal)))),
            "memory" => stores.push(("memory (not durable)".to_owned(), Arc::new(MemoryStore::new()))),
            other => panic!("BENCH_STORES: unknown store `{other}` (full, normal, memory)"),
        }
    }

    runtime.block_on(async {
        let bare_url = format!("{}/webhooks/chat/message.posted", connector_benches::serve(bare_router()).await);
        let mut targets = vec![(bare_url, Target::Bare)];
        let mut servers = Vec::new();
        for (label, store) in stores {
            let engine = Engine::builder()
                .shared_store(Arc::clone(&store))
                .connector(Chat::init(ChatConfig { webhook_secret: Secret::new(WEBHOOK_SECRET) }))
                .job(OnMessageJob)
                .build()
                .expect("the engine");
            let config = ServerConfig { bind: "127.0.0.1:0".parse().expect("an address"), ..ServerConfig::default() };
            let server = server::start(engine, config).await.expect("the server");
            targets.push((format!("{}/webhooks/chat/message.posted", server.url()), Target::Ours { store, label }));
            servers.push(server);
        }
        let http = connector_benches::http_client();

        // Warm up each target (connections, caches), then alternate them round by round.
        for (url, target) in &targets {
            let _ = load(&http, url, Duration::from_millis(500)).await;
            drain(target).await;
        }
        let mut results: Vec<Vec<Load>> = vec![Vec::new(); targets.len()];
        for _ in 0..rounds {
            for (i, (url, target)) in targets.iter().enumerate() {
                let measured = load(&http, url, window).await;
                assert_eq!(measured.failed, 0, "requests failed");
                drain(target).await;
                results[i].push(measured);
            }
        }

        let bare = &results[0];
        let bare_rate = median(&bare.iter().map(Load::throughput).collect::<Vec<_>>());
        let mut table = Table::new(&["server", "throughput", "ratio to bare", "p50", "p99", "target", "met?"]);
        table.row(vec![
            "bare axum handler (parse JSON only)".to_owned(),
            per_second(bare_rate),
            "1.00".to_owned(),
            micros(median_p(bare, |l| l.percentiles().p50)),
            micros(median_p(bare, |l| l.percentiles().p99)),
            String::new(),
            String::new(),
        ]);
        for ((_, target), loads) in targets.iter().zip(&results).skip(1) {
            let Target::Ours { label, .. } = target else { continue };
            let rate = median(&loads.iter().map(Load::throughput).collect::<Vec<_>>());
            let durable = !label.starts_with("memory");
            table.row(vec![
                format!("webhook, {label}"),
                per_second(rate),
                format!("{:.2}", rate / bare_rate),
                micros(median_p(loads, |l| l.percentiles().p50)),
                micros(median_p(loads, |l| l.percentiles().p99)),
                if durable { format!(">= {TARGET}") } else { "(diagnostic)".to_owned() },
                if durable { met(rate / bare_rate >= TARGET) } else { String::new() },
            ]);
        }
        for ((_, target), loads) in targets.iter().zip(&results) {
            let name = match target {
                Target::Bare => "bare",
                Target::Ours { label, .. } => label,
            };
            println!(
                "{name}: per round {}",
                loads.iter().map(|l| per_second(l.throughput())).collect::<Vec<_>>().join(", ")
            );
        }
        println!();
        table.print();
        for server in servers {
            server.shutdown().await.expect("the server stops");
        }
    });
}

fn open(path: &std::path::Path, synchronous: Synchronous) -> SqliteStore {
    println!("store {}: synchronous {}", path.display(), sync_name(synchronous));
    SqliteStore::open_with(path, SqliteOptions { synchronous, ..SqliteOptions::default() }).expect("the store")
}

fn bare_router() -> axum::Router {
    axum::Router::new().route(
        "/webhooks/chat/message.posted",
        post(|Json(posted): Json<Posted>| async move {
            std::hint::black_box(posted);
            StatusCode::ACCEPTED
        }),
    )
}

/// One load phase against `url`: signed requests, each with a new delivery id.
async fn load(http: &reqwest::Client, url: &str, window: Duration) -> Load {
    let (http, url, scheme) = (http.clone(), url.to_owned(), Arc::new(scheme()));
    let run = std::process::id();
    let phase = std::time::SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    connector_benches::closed_loop(CONCURRENCY, window, move |worker, seq| {
        let (http, url, scheme) = (http.clone(), url.clone(), Arc::clone(&scheme));
        async move {
            let id = format!("{run}-{phase}-{worker}-{seq}");
            let headers = scheme.sign_at(BODY.as_bytes(), &id, SystemTime::now()).expect("signed");
            let sent =
                http.post(&url).headers(headers).header("content-type", "application/json").body(BODY).send().await;
            match sent {
                Ok(response) => {
                    let ok = response.status().is_success();
                    let _ = response.bytes().await;
                    ok
                }
                Err(_) => false,
            }
        }
    })
    .await
}

/// Waits until the engine behind `target` has finished every run it accepted.
async fn drain(target: &Target) {
    let Target::Ours { store, .. } = target else { return };
    let filter = RunFilter { limit: Some(1), ..RunFilter::unfinished() };
    for _ in 0..600 {
        if store.list_runs(&filter).await.expect("listing runs").is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the engine did not finish its runs within a minute");
}

/// The median over rounds of a per-round percentile.
fn median_p(loads: &[Load], pick: impl Fn(&Load) -> Duration) -> Duration {
    Duration::from_secs_f64(median(&loads.iter().map(|l| pick(l).as_secs_f64()).collect::<Vec<_>>()))
}
