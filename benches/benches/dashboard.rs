//! (9) The dashboard on real data: 100,000 runs and 1,000,000 steps in the store, served by the
//! real server (`server::start`, the `dashboard` feature, an API key) on loopback, timed over
//! HTTP with a bearer key.
//!
//! The store is filled through the public `RunStore` API (`create_run`, `save_step`,
//! `append_logs`), many writes at once so that the store's group commit batches them: 100,000
//! runs over 5 jobs and every status, created over 30 days, 10 steps each with a few hundred
//! bytes of JSON in and out, some steps retried, log lines for a fifth of the runs. Every run is
//! a pure function of its index, so the bench knows every id without reading them back. The
//! SQLite file is kept in the target directory, named by the fill's version, and reused by the
//! next run of the bench (`BENCH_REFILL=1` fills it again); PostgreSQL gets a schema of its own,
//! filled each time and dropped at the end.
//!
//! Each page is asked for once per sample, one request at a time, after a warm-up; the table
//! gives p50, p95 and max, and the targets of the dashboard issue: the runs page within 200 ms,
//! a run's page within 100 ms.
//!
//! `cargo bench -p connector-benches --bench dashboard` (`BENCH_SAMPLES`, default 200;
//! `BENCH_STORES=sqlite,postgres`; `BENCH_REFILL=1`; PostgreSQL from
//! `CONNECTOR_RUNTIME_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/test`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use connector_benches::{Percentiles, Table, fmt_duration, met};
use connector_runtime::model::{
    FailedAttempt, LogLevel, LogLine, Retries, RetryPolicy, Run, RunId, RunStatus, StepKind, StepRecord, StepStatus,
    TriggerRef,
};
use connector_runtime::prelude::*;
use connector_runtime::server::{self, ServerConfig};
use connector_runtime::store::{PostgresOptions, PostgresStore, RunStore, SqliteOptions, SqliteStore, Synchronous};
use serde_json::json;
use tokio_postgres::NoTls;

/// Bump when what the fill writes changes: a file of another version is not reused.
const FILL_VERSION: u32 = 1;
/// Runs in the store.
const RUNS: usize = 100_000;
/// Steps per run.
const STEPS: usize = 10;
/// Over how many days the runs were created.
const DAYS: i64 = 30;
/// Runs being written at once during the SQLite fill: enough for the store's batches (up to
/// 1,024 writes a commit) to fill up.
const SQLITE_FILL_WINDOW: usize = 2_048;
/// The same for PostgreSQL, where each write holds a pooled connection: a few per connection,
/// so none waits past the pool's timeout.
const POSTGRES_FILL_WINDOW: usize = 128;
/// Connections of the PostgreSQL store.
const POSTGRES_CONNECTIONS: usize = 32;
/// The API key the server is started with.
const API_KEY: &str = "bench-dashboard-key";

/// The jobs, with how many runs in a thousand are theirs.
const JOBS: [(&str, u32); 5] = [
    ("sync-orders", 400),
    ("send-invoices", 250),
    ("import-contacts", 150),
    ("nightly-report", 120),
    ("notify-team", 80),
];

/// The connectors and actions a job's ten steps call.
const STEP_CALLS: [(&str, &str, &str); STEPS] = [
    ("fetch-order", "shop", "get_order"),
    ("check-stock", "warehouse", "stock_level"),
    ("reserve-stock", "warehouse", "reserve"),
    ("charge", "payments", "create_charge"),
    ("invoice", "billing", "create_invoice"),
    ("email", "mail", "send_email"),
    ("crm", "crm", "update_contact"),
    ("notify", "chat", "post_message"),
    ("follow-up", "calendar", "create_event"),
    ("archive", "storage", "put_object"),
];

/// The first run's creation time: fixed, so the fill is the same on every machine and run.
fn start_of_fill() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).single().expect("a valid date")
}

/// Run `i`'s status, by its share: mostly succeeded, as on a real store, every status present.
fn status_of(roll: u32) -> RunStatus {
    match roll {
        0..850 => RunStatus::Succeeded,
        850..930 => RunStatus::Failed,
        930..950 => RunStatus::Cancelled,
        950..970 => RunStatus::Waiting,
        970..985 => RunStatus::Running,
        _ => RunStatus::Queued,
    }
}

/// One run as filled: the run, its steps, its log lines.
struct Filled {
    run: Run,
    steps: Vec<StepRecord>,
    logs: Vec<LogLine>,
}

/// Run `i` of the fill (a pure function of `i`): its id is a UUIDv7 of its creation time, as
/// the engine's are, so ids sort by creation as the store expects.
fn filled(i: usize) -> Filled {
    let mut rng = fastrand::Rng::with_seed(0xd05b_0a4d ^ i as u64);
    let spacing_ms = DAYS * 24 * 3_600 * 1_000 / RUNS as i64;
    let created_at = start_of_fill() + chrono::Duration::milliseconds(i as i64 * spacing_ms + rng.i64(0..spacing_ms));
    let mut random = [0u8; 10];
    rng.fill(&mut random);
    let millis = u64::try_from(created_at.timestamp_millis()).expect("after 1970");
    let id = RunId::from(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid().to_string());
    let roll = rng.u32(0..1000);
    let mut share = 0;
    let job = JOBS.iter().find(|(_, weight)| {
        share += weight;
        roll < share
    });
    let job = job.map_or(JOBS[0].0, |(job, _)| job);
    let status = status_of(rng.u32(0..1000));
    let order = 100_000 + i;
    let payload = json!({
        "orderId": format!("ord_{order:08}"),
        "customer": {"id": format!("cus_{:06}", rng.u32(0..50_000)), "email": format!("customer-{}@example.com", rng.u32(0..50_000)), "name": "Ada Lovelace"},
        "items": [{"sku": "SKU-1042", "quantity": rng.u32(1..5), "price": 1999}, {"sku": "SKU-2210", "quantity": 1, "price": 4500}],
        "currency": "EUR",
        "channel": "web",
    });
    let mut steps = Vec::with_capacity(STEPS);
    let mut at = created_at + chrono::Duration::milliseconds(rng.i64(5..200));
    for (seq, (key, connector, action)) in STEP_CALLS.iter().enumerate() {
        let last = seq == STEPS - 1;
        let started_at = at;
        let took = chrono::Duration::milliseconds(rng.i64(20..400));
        let mut kind = StepKind::Action { connector: (*connector).to_owned(), action: (*action).to_owned() };
        // The last step is where a run that did not succeed stopped.
        let (step_status, failed) = match status {
            RunStatus::Failed | RunStatus::Queued if last => (StepStatus::Failed, true),
            RunStatus::Running if last => (StepStatus::Running, false),
            RunStatus::Waiting if last => {
                kind = StepKind::Wait { until: started_at + chrono::Duration::hours(1) };
                (StepStatus::Running, false)
            }
            _ => (StepStatus::Succeeded, false),
        };
        // One step in twenty was retried before it ended; a failed step used all its attempts.
        let retried = if failed {
            2
        } else if rng.u32(0..20) == 0 {
            rng.u32(1..3)
        } else {
            0
        };
        let retries = (retried > 0).then(|| Retries {
            policy: RetryPolicy::DEFAULT,
            failed: (1..=retried)
                .map(|attempt| FailedAttempt {
                    attempt,
                    started_at,
                    failed_at: started_at + chrono::Duration::milliseconds(150),
                    error: format!("{connector}: 503 Service Unavailable: upstream timed out (attempt {attempt})"),
                    retry_after_ms: 200 << attempt,
                })
                .collect(),
        });
        let finished = step_status != StepStatus::Running;
        steps.push(StepRecord {
            key: (*key).to_owned(),
            kind,
            status: step_status,
            input: json!({
                "orderId": format!("ord_{order:08}"),
                "step": key,
                "idempotencyKey": format!("{id}:{key}"),
                "request": {"amount": 1999 + seq * 100, "currency": "EUR", "reference": format!("ref-{order}-{seq}")},
                "metadata": {"source": "web", "attempt": retried + 1, "note": "a short note, as a real input would carry"},
            }),
            output: (step_status == StepStatus::Succeeded).then(|| {
                json!({
                    "id": format!("{connector}_{:012x}", rng.u64(..)),
                    "status": "ok",
                    "createdAt": (started_at + took).to_rfc3339(),
                    "result": {"accepted": true, "reference": format!("ref-{order}-{seq}"), "remaining": rng.u32(0..500)},
                    "links": {"self": format!("https://{connector}.example.com/v1/{action}/{order}")},
                })
            }),
            error: failed.then(|| format!("{connector}: 422 Unprocessable Entity: the card was declined (order {order})")),
            output_schema: None,
            attempts: retried + 1,
            started_at,
            finished_at: finished.then_some(started_at + took),
            retries,
        });
        at = started_at + took + chrono::Duration::milliseconds(rng.i64(1..50));
    }
    let run = Run {
        id: id.clone(),
        job_id: job.to_owned(),
        job_version: "1.0.0".to_owned(),
        trigger: TriggerRef::Event { name: format!("{job}.requested") },
        payload,
        status,
        output: (status == RunStatus::Succeeded).then(|| json!({"orderId": format!("ord_{order:08}"), "steps": STEPS})),
        error: match status {
            RunStatus::Failed => {
                Some(format!("step `archive` failed: storage: 422 Unprocessable Entity (order {order})"))
            }
            RunStatus::Cancelled => Some("cancelled".to_owned()),
            _ => None,
        },
        created_at,
        updated_at: at,
        wake_at: (status == RunStatus::Waiting).then_some(at + chrono::Duration::hours(1)),
        executions: if status == RunStatus::Queued { 2 } else { 1 },
        steps: Vec::new(),
    };
    // A fifth of the runs logged something: a few lines of the job's and of its steps'.
    let logs = if rng.u32(0..5) == 0 {
        (0..rng.usize(4..16))
            .map(|line| LogLine {
                at: created_at + chrono::Duration::milliseconds(line as i64 * 90),
                level: if line % 7 == 6 { LogLevel::Warn } else { LogLevel::Info },
                source: if line % 2 == 0 { job.to_owned() } else { STEP_CALLS[line % STEPS].1.to_owned() },
                step: (line % 2 == 1).then(|| STEP_CALLS[line % STEPS].0.to_owned()),
                message: format!("order ord_{order:08}: line {line} of the run's log, about as long as a real one"),
            })
            .collect()
    } else {
        Vec::new()
    };
    Filled { run, steps, logs }
}

/// Fills `store` with every run of the fill, `window` runs' writes in flight at once (each on a
/// task of its own, so the writes of many runs share a commit).
async fn fill(store: Arc<dyn RunStore>, window: usize) -> Duration {
    let start = Instant::now();
    let window = Arc::new(tokio::sync::Semaphore::new(window));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..RUNS {
        let permit = Arc::clone(&window).acquire_owned().await.expect("the window");
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let Filled { run, steps, logs } = filled(i);
            store.create_run(&run).await.expect("create_run");
            for step in &steps {
                store.save_step(&run.id, step).await.expect("save_step");
            }
            store.append_logs(&run.id, &logs).await.expect("append_logs");
            drop(permit);
        });
        while let Some(done) = tasks.try_join_next() {
            done.expect("a run filled");
        }
        if (i + 1) % 20_000 == 0 {
            eprintln!("  filled {} runs in {:.1} s", i + 1, start.elapsed().as_secs_f64());
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a run filled");
    }
    start.elapsed()
}

/// The SQLite file of this fill version, filled once (or again with `BENCH_REFILL=1`).
async fn sqlite_store() -> (Arc<dyn RunStore>, String) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-bench");
    std::fs::create_dir_all(&dir).expect("the fill's folder");
    let path = dir.join(format!("runs-{RUNS}-v{FILL_VERSION}.sqlite3"));
    let ready = dir.join(format!("runs-{RUNS}-v{FILL_VERSION}.filled"));
    let mut how = "reused".to_owned();
    if !ready.exists() || std::env::var_os("BENCH_REFILL").is_some() {
        for stale in
            [path.clone(), path.with_extension("sqlite3-wal"), path.with_extension("sqlite3-shm"), ready.clone()]
        {
            let _ = std::fs::remove_file(stale);
        }
        // The fill is not what is measured: NORMAL (the log synced at checkpoints only).
        let options = SqliteOptions { synchronous: Synchronous::Normal, check_integrity: false };
        let store: Arc<dyn RunStore> = Arc::new(SqliteStore::open_with(&path, options).expect("the store"));
        let took = fill(Arc::clone(&store), SQLITE_FILL_WINDOW).await;
        drop(store);
        std::fs::write(&ready, format!("{RUNS} runs, fill version {FILL_VERSION}, filled in {took:?}\n"))
            .expect("the fill's mark");
        how = format!("filled in {:.1} s", took.as_secs_f64());
    }
    let size = std::fs::metadata(&path).map(|meta| meta.len()).unwrap_or(0);
    // Opened as a server would open it, with the integrity check (timed: it reads every page).
    let opened = Instant::now();
    let store = SqliteStore::open_with(&path, SqliteOptions::default()).expect("the store");
    let open = opened.elapsed();
    let note = format!("{how}; {:.0} MB; opened with its integrity check in {}", size as f64 / 1e6, fmt_duration(open));
    (Arc::new(store), note)
}

/// A fresh schema on the PostgreSQL server, filled; `None` without a server.
async fn postgres_store() -> Option<(Arc<dyn RunStore>, String, tokio_postgres::Client, String)> {
    let url = std::env::var("CONNECTOR_RUNTIME_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let (admin, connection) =
        tokio::time::timeout(Duration::from_secs(5), tokio_postgres::connect(&url, NoTls)).await.ok()?.ok()?;
    tokio::spawn(connection);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let schema = format!("bench_dashboard_{:012x}", nanos as u64 & 0xffff_ffff_ffff);
    let options = PostgresOptions {
        schema: Some(schema.clone()),
        max_connections: POSTGRES_CONNECTIONS,
        ..PostgresOptions::default()
    };
    let store: Arc<dyn RunStore> = Arc::new(PostgresStore::connect_with(&url, options).await.expect("the store"));
    let took = fill(Arc::clone(&store), POSTGRES_FILL_WINDOW).await;
    admin.batch_execute(&format!("ANALYZE {schema}.runs; ANALYZE {schema}.steps")).await.expect("analyze");
    Some((store, format!("filled in {:.1} s", took.as_secs_f64()), admin, schema))
}

/// One page asked for: what the table calls it, and its path.
struct Page {
    name: String,
    path: String,
    target: Option<Duration>,
}

/// What one page measured.
struct Measured {
    page: Page,
    percentiles: Percentiles,
    bytes: usize,
}

/// Times `GET path` `samples` times (after a warm-up), one request at a time.
async fn measure(client: &reqwest::Client, base: &str, path: &str, samples: usize) -> (Percentiles, usize) {
    let get = |path: String| async move {
        let response = client.get(format!("{base}{path}")).bearer_auth(API_KEY).send().await.expect("an answer");
        assert!(response.status().is_success(), "GET {path}: {}", response.status());
        response.bytes().await.expect("a body").len()
    };
    let mut bytes = 0;
    for _ in 0..samples.div_ceil(10).max(5) {
        bytes = get(path.to_owned()).await;
    }
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let sent = Instant::now();
        get(path.to_owned()).await;
        latencies.push(sent.elapsed());
    }
    (Percentiles::of(&latencies), bytes)
}

/// Times a run's page (and the API's run) for a different random run each sample.
async fn measure_runs(client: &reqwest::Client, base: &str, prefix: &str, samples: usize) -> (Percentiles, usize) {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut pick = || filled(rng.usize(0..RUNS)).run.id;
    let mut bytes = 0;
    for _ in 0..samples.div_ceil(10).max(5) {
        let response =
            client.get(format!("{base}{prefix}{}", pick())).bearer_auth(API_KEY).send().await.expect("an answer");
        assert!(response.status().is_success(), "{}", response.status());
        bytes = response.bytes().await.expect("a body").len();
    }
    let mut latencies = Vec::with_capacity(samples);
    for _ in 0..samples {
        let url = format!("{base}{prefix}{}", pick());
        let sent = Instant::now();
        let response = client.get(url).bearer_auth(API_KEY).send().await.expect("an answer");
        assert!(response.status().is_success(), "{}", response.status());
        response.bytes().await.expect("a body");
        latencies.push(sent.elapsed());
    }
    (Percentiles::of(&latencies), bytes)
}

/// Serves `store` with the real server and times every page.
async fn bench_store(name: &str, store: Arc<dyn RunStore>, samples: usize) -> Vec<Measured> {
    // No jobs registered: the runs were made by the fill, and none of them is to execute. On
    // SQLite the start resumes the unfinished ones, which finds their jobs missing and leaves
    // them as they are; on PostgreSQL the engine only serves (no claims from the queue).
    let engine = Engine::builder().shared_store(store).execute_runs(false).build().expect("the engine");
    let config = ServerConfig { api_key: Some(Secret::new(API_KEY)), ..ServerConfig::default() }
        .bind(std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0)));
    let started = Instant::now();
    let running = server::start(engine, config).await.expect("the server starts");
    eprintln!("{name}: the server started in {} (resuming the unfinished runs)", fmt_duration(started.elapsed()));
    // What the start spawned (a read of each unfinished run) finishes before anything is timed.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base = running.url();
    let client = connector_benches::http_client();

    let deep = filled(RUNS / 10).run.id;
    let one = filled(RUNS / 2).run.id;
    let prefix = &one.as_str()[..8];
    let runs_page = Some(Duration::from_millis(200));
    let run_page = Some(Duration::from_millis(100));
    let pages = [
        ("runs page, first page", "/".to_owned(), runs_page),
        ("runs page, failed", "/?status=failed".to_owned(), runs_page),
        ("runs page, one job", "/?job=nightly-report".to_owned(), runs_page),
        ("runs page, one job, failed", "/?job=notify-team&status=failed".to_owned(), runs_page),
        ("runs page, id prefix (8 chars)", format!("/?id={prefix}"), runs_page),
        ("runs page, id prefix matching none", "/?id=ffff".to_owned(), runs_page),
        ("runs page, 90,000 runs deep", format!("/?before={deep}"), runs_page),
        ("runs page, failed, 90,000 runs deep", format!("/?status=failed&before={deep}"), runs_page),
        ("API: runs, limit 100", "/api/runs?limit=100".to_owned(), None),
    ];
    let mut measured = Vec::new();
    for (page, path, target) in pages {
        let (percentiles, bytes) = measure(&client, &base, &path, samples).await;
        eprintln!("  {page}: p50 {}", fmt_duration(percentiles.p50));
        measured.push(Measured { page: Page { name: page.to_owned(), path, target }, percentiles, bytes });
    }
    for (page, prefix, target) in
        [("run page (10 steps), random runs", "/runs/", run_page), ("API: one run, random runs", "/api/runs/", None)]
    {
        let (percentiles, bytes) = measure_runs(&client, &base, prefix, samples).await;
        eprintln!("  {page}: p50 {}", fmt_duration(percentiles.p50));
        let path = format!("{prefix}{{id}}");
        measured.push(Measured { page: Page { name: page.to_owned(), path, target }, percentiles, bytes });
    }
    running.shutdown().await.expect("the server stops");
    measured
}

fn print(name: &str, note: &str, measured: &[Measured]) {
    println!("\n{name} ({note}):\n");
    let mut table = Table::new(&["page", "request", "bytes", "p50", "p95", "max", "target", "met?"]);
    for m in measured {
        let p95 = m.percentiles.p95;
        table.row(vec![
            m.page.name.clone(),
            format!("`GET {}`", m.page.path),
            m.bytes.to_string(),
            fmt_duration(m.percentiles.p50),
            fmt_duration(p95),
            fmt_duration(m.percentiles.max),
            m.page.target.map_or("-".to_owned(), |target| format!("< {} ms", target.as_millis())),
            m.page.target.map_or("-".to_owned(), |target| met(p95 < target)),
        ]);
    }
    table.print();
}

fn main() {
    let runtime = connector_benches::runtime(2);
    let samples: usize = std::env::var("BENCH_SAMPLES").ok().and_then(|n| n.parse().ok()).unwrap_or(200).max(1);
    let stores = std::env::var("BENCH_STORES").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    println!("(9) the dashboard on {RUNS} runs and {} steps, {samples} samples a page\n", RUNS * STEPS);
    if stores.contains("sqlite") {
        let (store, note) = runtime.block_on(sqlite_store());
        connector_benches::wait_for_quiet_machine(Duration::from_secs(60));
        let measured = runtime.block_on(bench_store("SQLite", store, samples));
        print("SQLite", &note, &measured);
    }
    if stores.contains("postgres") {
        runtime.block_on(async {
            let Some((store, note, admin, schema)) = postgres_store().await else {
                println!("PostgreSQL skipped: no server at CONNECTOR_RUNTIME_TEST_POSTGRES or the default URL");
                return;
            };
            connector_benches::wait_for_quiet_machine(Duration::from_secs(60));
            let measured = bench_store("PostgreSQL", store, samples).await;
            admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await.expect("drop");
            print("PostgreSQL", &note, &measured);
        });
    }
}
