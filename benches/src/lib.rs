//! What the bench targets share: a loopback chat API to call, the HTTP client settings the
//! runtime uses, a closed-loop load generator, a bare SQLite writer for baselines, percentiles
//! and tables. See `BENCHMARKS.md` at the workspace root for the method and the figures.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Json;
use axum::http::StatusCode;
use axum::routing::post;
use rusqlite::{Connection, params};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;

pub use connector_runtime::store::Synchronous;

pub mod three_step;

/// A multi-threaded tokio runtime with `workers` worker threads (the machine has 2 cores).
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build().expect("a tokio runtime")
}

/// How long each load phase lasts: `BENCH_SECONDS` (default `default`), so a quick look can use
/// `BENCH_SECONDS=1 cargo bench ..`.
pub fn phase_length(default: f64) -> Duration {
    let seconds = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(default);
    Duration::from_secs_f64(seconds.max(0.1))
}

/// How many rounds a bench repeats its A/B pairs: `BENCH_ROUNDS` (default `default`).
pub fn rounds(default: usize) -> usize {
    std::env::var("BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(default).max(1)
}

// ---------------------------------------------------------------------------------------------
// A loopback chat API

/// What the chat API takes (the action's input).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SendMessage {
    /// The channel.
    pub channel: String,
    /// The text.
    pub message: String,
}

/// What the chat API answers (the action's output).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    /// The new message's id.
    pub message_id: String,
    /// Its channel.
    pub channel: String,
}

/// The API key the chat API is called with (it does not check it: both sides send it).
pub const CHAT_API_KEY: &str = "bench-api-key";

/// Serves `router` on `127.0.0.1`, on a free port, with `TCP_NODELAY`; returns `http://addr`.
pub async fn serve(router: Router) -> String {
    use axum::serve::ListenerExt;
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await.expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// Starts the chat API: `POST /v1/messages` answers `201 {"messageId","channel"}`. Returns its
/// base URL.
pub async fn start_chat_api() -> String {
    async fn send(Json(input): Json<SendMessage>) -> (StatusCode, Json<SentMessage>) {
        (StatusCode::CREATED, Json(SentMessage { message_id: "m-1".to_owned(), channel: input.channel }))
    }
    serve(Router::new().route("/v1/messages", post(send))).await
}

/// A reqwest client with the settings of the runtime's HTTP helper (`TCP_NODELAY`, a 10 s
/// connect timeout, keep-alive pooling): the hand-written baselines use it.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(10))
        .build()
        .expect("a reqwest client")
}

// ---------------------------------------------------------------------------------------------
// A bare SQLite writer (the baseline of durable steps)

/// The run store and its bare baseline, side by side in `dir`, both at `synchronous`.
pub fn stores(dir: &Path, synchronous: Synchronous) -> (Arc<connector_runtime::store::SqliteStore>, BareSqlite) {
    let name = sync_name(synchronous);
    let options = connector_runtime::store::SqliteOptions { synchronous, ..Default::default() };
    let store = connector_runtime::store::SqliteStore::open_with(dir.join(format!("runs-{name}.sqlite3")), options)
        .expect("the store");
    (Arc::new(store), BareSqlite::open(&dir.join(format!("bare-{name}.sqlite3")), synchronous))
}

/// One connection writing rows of a given size, configured as the run store configures its
/// writer (WAL, the same `synchronous`), one transaction per row unless told otherwise.
pub struct BareSqlite {
    conn: Connection,
    next: u64,
}

impl BareSqlite {
    /// Opens (creating) `path` in WAL mode with `synchronous`.
    pub fn open(path: &Path, synchronous: Synchronous) -> Self {
        let conn = Connection::open(path).expect("a sqlite file");
        conn.busy_timeout(Duration::from_secs(5)).expect("busy timeout");
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).expect("WAL");
        assert!(mode.eq_ignore_ascii_case("wal"), "WAL mode refused: {mode}");
        let sync = match synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync).expect("synchronous");
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS rows (
                 run_id TEXT NOT NULL,
                 key    TEXT NOT NULL,
                 data   TEXT NOT NULL,
                 PRIMARY KEY (run_id, key)
             ) STRICT;",
        )
        .expect("the table");
        BareSqlite { conn, next: 0 }
    }

    /// Inserts `batch` rows whose columns add up to `bytes` bytes, in one transaction
    /// (`BEGIN IMMEDIATE; INSERT ..; COMMIT`), and returns when the commit is done.
    pub fn insert_commit(&mut self, bytes: usize, batch: usize) {
        const RUN_ID: &str = "0195e1a2-7c3b-7d2e-9f10-123456789abc";
        let data = "x".repeat(bytes.saturating_sub(RUN_ID.len() + 8));
        self.conn.prepare_cached("BEGIN IMMEDIATE").and_then(|mut s| s.execute([])).expect("begin");
        for _ in 0..batch {
            let key = format!("s{:07}", self.next);
            self.next += 1;
            self.conn
                .prepare_cached("INSERT INTO rows (run_id, key, data) VALUES (?1, ?2, ?3)")
                .and_then(|mut s| s.execute(params![RUN_ID, key, data]))
                .expect("insert");
        }
        self.conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([])).expect("commit");
    }
}

/// The name of a `synchronous` setting, for tables.
pub fn sync_name(synchronous: Synchronous) -> &'static str {
    match synchronous {
        Synchronous::Full => "FULL",
        Synchronous::Normal => "NORMAL",
    }
}

// ---------------------------------------------------------------------------------------------
// Load generation

/// What a closed-loop load phase measured.
#[derive(Debug, Clone)]
pub struct Load {
    /// Requests that succeeded.
    pub ok: usize,
    /// Requests that failed.
    pub failed: usize,
    /// How long the phase ran.
    pub elapsed: Duration,
    /// Each successful request's latency.
    pub latencies: Vec<Duration>,
}

impl Load {
    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Latency percentiles of the successful requests.
    pub fn percentiles(&self) -> Percentiles {
        Percentiles::of(&self.latencies)
    }
}

/// Runs `concurrency` workers, each sending one request at a time (`request(worker, seq)`,
/// `true` when it succeeded) for `length`, and measures them. Bounded by time: it stops by itself.
pub async fn closed_loop<F, Fut>(concurrency: usize, length: Duration, request: F) -> Load
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (request, stop) = (Arc::clone(&request), Arc::clone(&stop));
            tokio::spawn(async move {
                let (mut ok, mut failed, mut latencies) = (0, 0, Vec::new());
                let mut seq = 0;
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    if request(worker, seq).await {
                        ok += 1;
                        latencies.push(sent.elapsed());
                    } else {
                        failed += 1;
                    }
                    seq += 1;
                }
                (ok, failed, latencies)
            })
        })
        .collect();
    tokio::time::sleep(length).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed();
    let mut load = Load { ok: 0, failed: 0, elapsed, latencies: Vec::new() };
    for worker in workers {
        let (ok, failed, latencies) = worker.await.expect("a load worker");
        load.ok += ok;
        load.failed += failed;
        load.latencies.extend(latencies);
    }
    // Requests in flight when the time ran out finished after `elapsed`: count the time they took.
    load.elapsed = start.elapsed();
    load
}

// ---------------------------------------------------------------------------------------------
// Statistics and tables

/// Latency percentiles.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    /// How many samples.
    pub count: usize,
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 95th percentile.
    pub p95: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The largest.
    pub max: Duration,
    /// The mean.
    pub mean: Duration,
}

impl Percentiles {
    /// Percentiles of `samples` (nearest rank).
    pub fn of(samples: &[Duration]) -> Self {
        if samples.is_empty() {
            return Percentiles::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let at = |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        let total: Duration = sorted.iter().sum();
        Percentiles {
            count: sorted.len(),
            p50: at(0.50),
            p90: at(0.90),
            p95: at(0.95),
            p99: at(0.99),
            max: sorted[sorted.len() - 1],
            mean: total / sorted.len() as u32,
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) { (sorted[mid - 1] + sorted[mid]) / 2.0 } else { sorted[mid] }
}

/// A duration in the unit that suits it.
pub fn fmt_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos < 10_000 {
        format!("{nanos} ns")
    } else if nanos < 10_000_000 {
        format!("{:.1} µs", nanos as f64 / 1e3)
    } else {
        format!("{:.2} ms", nanos as f64 / 1e6)
    }
}

/// Microseconds with one decimal.
pub fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}

/// A rate with a thousands separator.
pub fn per_second(rate: f64) -> String {
    let whole = rate.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}/s")
}

/// A Markdown table printed to stdout, so bench output pastes into `BENCHMARKS.md`.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    pub fn new(header: &[&str]) -> Self {
        Table { header: header.iter().map(|h| (*h).to_owned()).collect(), rows: Vec::new() }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Prints it.
    pub fn print(&self) {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|row| row.get(i))
                    .chain(std::iter::once(&self.header[i]))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let padded: Vec<String> =
                cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
            println!("| {} |", padded.join(" | "));
        };
        line(&self.header);
        println!("|{}|", widths.iter().map(|w| "-".repeat(w + 2)).collect::<Vec<_>>().join("|"));
        for row in &self.rows {
            line(row);
        }
        println!();
    }
}

/// `yes` when `met`, else `NO`.
pub fn met(met: bool) -> String {
    if met { "yes".to_owned() } else { "NO".to_owned() }
}

/// Waits until no other `cargo` or `rustc` process is running (up to `limit`), so a measurement
/// does not share the 2 cores with someone's build; says so when it gives up waiting.
pub fn wait_for_quiet_machine(limit: Duration) {
    let start = Instant::now();
    loop {
        let busy = busy_processes();
        if busy.is_empty() {
            return;
        }
        if start.elapsed() >= limit {
            eprintln!("note: measuring while other processes are busy ({}); figures are noisier", busy.join(", "));
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn busy_processes() -> Vec<String> {
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            if pid == me {
                return None;
            }
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            let comm = comm.trim();
            (comm == "rustc" || comm == "cc1" || comm == "cc1plus" || comm == "ld" || comm.starts_with("build-script"))
                .then(|| comm.to_owned())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A connector whose action answers locally (no HTTP): what a durable step costs by itself

/// A connector whose one action answers at once, without I/O, so a step's cost is the engine's
/// and the store's alone.
pub mod local {
    use connector_runtime::prelude::*;

    /// Config of the local connector: nothing.
    #[derive(Debug, Deserialize, JsonSchema)]
    pub struct LocalConfig {}

    /// What the local action takes: about 100 bytes of JSON.
    #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
    pub struct StepInput {
        /// An order number.
        pub order: u64,
        /// A customer's email.
        pub email: String,
        /// A note.
        pub note: String,
    }

    impl StepInput {
        /// The `i`th sample input.
        pub fn sample(i: u64) -> Self {
            StepInput {
                order: i,
                email: format!("customer-{i}@example.com"),
                note: "a note of about 40 bytes, ok".into(),
            }
        }
    }

    /// What the local action returns: about 100 bytes of JSON.
    #[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
    #[serde(rename_all = "camelCase")]
    pub struct StepOutput {
        /// The order number.
        pub order: u64,
        /// Whom it was sent to.
        pub sent_to: String,
        /// A status.
        pub status: String,
    }

    /// The local connector.
    pub struct Local;

    #[connector(id = "local", name = "Local", version = "1.0.0", config = LocalConfig)]
    impl Local {
        /// Answers at once.
        #[action(id = "echo", name = "Echo")]
        pub async fn echo(_ctx: &ActionContext<LocalConfig>, input: StepInput) -> Result<StepOutput, ActionError> {
            Ok(StepOutput { order: input.order, sent_to: input.email, status: "accepted-and-queued".to_owned() })
        }
    }
}
