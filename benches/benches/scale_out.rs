//! (8) Scale-out on PostgreSQL: the three-step run of (7), accepted by an engine that executes
//! nothing and executed by 1, 2 and 3 worker processes on one database.
//!
//! For each worker count: runs/s at 32 clients (each starting a run and awaiting its end), the
//! p50 of one run at a time, the pickup latency (from the start being accepted to the first
//! step reaching the echo service, from another process), and PostgreSQL's own counters per run:
//! transactions committed and WAL flushes. Then a worker is killed with SIGKILL under load and
//! the time until its runs are finished elsewhere is measured.
//!
//! The workers are this bench binary again (`BENCH_SCALE_WORKER` set). PostgreSQL comes from
//! `CONNECTOR_RUNTIME_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/test`); each
//! worker count gets a schema of its own, dropped at the end. Without a server the bench says
//! so and measures nothing.
//!
//! `cargo bench -p connector-benches --bench scale_out` (`BENCH_SECONDS`, `BENCH_WORKERS=1,2,3`,
//! `BENCH_WORKER_THREADS`, `BENCH_PG_CONNECTIONS`: each process's `max_connections`, 4).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use connector_benches::three_step::{Echo, EchoConfig, Note, Three, ThreeJob};
use connector_benches::{Percentiles, Table, fmt_duration, met, per_second};
use connector_runtime::StartOptions;
use connector_runtime::prelude::*;
use connector_runtime::store::{PostgresOptions, PostgresStore};
use tokio_postgres::NoTls;

/// Concurrent clients for the throughput phase.
const CLIENTS: usize = 32;
/// Sequential runs for latency.
const SEQUENTIAL: usize = 200;
/// Runs each worker process executes at once.
const WORKER_CONCURRENCY: usize = 64;

async fn engine(url: &str, schema: &str, executes: bool, echo: &str) -> Engine {
    // Few connections per process: on 2 cores, more backends measured more CPU per run (16: 4.0 ms
    // and 461 runs/s at one worker; 4: 3.1 ms and 544/s), in switching between them.
    let connections = std::env::var("BENCH_PG_CONNECTIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(4);
    let options =
        PostgresOptions { schema: Some(schema.to_owned()), max_connections: connections, ..PostgresOptions::default() };
    let store = PostgresStore::connect_with(url, options).await.expect("the store");
    Engine::builder()
        .store(store)
        .execute_runs(executes)
        .worker_concurrency(WORKER_CONCURRENCY)
        .check_typed_sends(false)
        .connector(Echo::init(EchoConfig { url: echo.to_owned() }))
        .job(ThreeJob)
        .build()
        .expect("the engine")
}

/// A worker process: claims runs until its stdin closes.
fn worker_main(url: String, schema: String, echo: String) {
    let threads = std::env::var("BENCH_WORKER_THREADS").ok().and_then(|n| n.parse().ok()).unwrap_or(2);
    let runtime = connector_benches::runtime(threads);
    runtime.block_on(async {
        let engine = engine(&url, &schema, true, &echo).await;
        let running = engine.start(StartOptions::default().without_triggers()).await.expect("the worker starts");
        println!("ready");
        // The parent ends a worker by closing its stdin (or killing it).
        tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {}
        })
        .await
        .ok();
        running.stop().await;
    });
}

/// Spawns one of `workers` worker processes. Each gets a share of the 2 cores' threads (2 for
/// one worker, 1 each for more), unless `BENCH_WORKER_THREADS` says: more threads than cores
/// across processes measured 2.7x worse at 3 workers, and unsteadily.
fn spawn_worker(url: &str, schema: &str, echo: &str, workers: usize) -> Child {
    let threads = std::env::var("BENCH_WORKER_THREADS").unwrap_or_else(|_| (2 / workers).max(1).to_string());
    let mut child = Command::new(std::env::current_exe().expect("the bench binary"))
        .env("BENCH_SCALE_WORKER", "1")
        .env("BENCH_WORKER_THREADS", threads)
        .env("BENCH_PG_URL", url)
        .env("BENCH_PG_SCHEMA", schema)
        .env("BENCH_ECHO_URL", echo)
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("a worker");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("ready");
    assert_eq!(line.trim(), "ready");
    child
}

/// When the first step of each run reached the service, by run id.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// PostgreSQL's own counters: transactions committed in the database, WAL flushes.
async fn counters(client: &tokio_postgres::Client) -> (i64, i64) {
    // Statistics reach the views up to a second late.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    client.batch_execute("SELECT pg_stat_clear_snapshot()").await.expect("clear");
    let commits: i64 = client
        .query_one("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()", &[])
        .await
        .expect("commits")
        .get(0);
    let flushes: i64 = client.query_one("SELECT wal_sync FROM pg_stat_wal", &[]).await.expect("flushes").get(0);
    (commits, flushes)
}

/// CPU seconds: the whole machine's busy time (from `/proc/stat`), and this process's and the
/// workers' own (from `/proc/<pid>/stat`); `None` where `/proc` cannot be read. The machine's
/// less the processes' is the database's, near enough on a machine doing nothing else.
fn cpu_seconds(workers: &[Child]) -> Option<(f64, f64)> {
    // Both files count in clock ticks; 100 a second on Linux.
    const TICKS: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<f64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|n| n.parse().ok()).collect();
    // user, nice, system, idle, iowait, irq, softirq, steal: all but idle and iowait are busy.
    let busy: f64 = [0, 1, 2, 5, 6, 7].iter().filter_map(|&i| fields.get(i)).sum();
    let process = |pid: u32| -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // After the command's name (in parentheses): utime and stime are fields 12 and 13.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?)
    };
    let ours =
        std::iter::once(std::process::id()).chain(workers.iter().map(Child::id)).map(process).sum::<Option<f64>>()?;
    Some((busy / TICKS, ours / TICKS))
}

struct Measured {
    workers: usize,
    rate: f64,
    p50: Duration,
    pickup: Duration,
    /// The slowest runs at 32 clients: a run stalled (on a lapsed lease, a lost notice) shows.
    loaded_p99: Duration,
    commits_per_run: f64,
    flushes_per_run: f64,
    /// CPU time per run at 32 clients: the machine's, and the part of it in this bench's and
    /// the workers' processes.
    cpu_per_run: Option<(Duration, Duration)>,
}

fn main() {
    if std::env::var_os("BENCH_SCALE_WORKER").is_some() {
        let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name}"));
        return worker_main(var("BENCH_PG_URL"), var("BENCH_PG_SCHEMA"), var("BENCH_ECHO_URL"));
    }
    let runtime = connector_benches::runtime(2);
    let url = std::env::var("CONNECTOR_RUNTIME_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let Some(admin) = runtime.block_on(async {
        let (client, connection) =
            tokio::time::timeout(Duration::from_secs(5), tokio_postgres::connect(&url, NoTls)).await.ok()?.ok()?;
        tokio::spawn(connection);
        Some(client)
    }) else {
        println!("(8) skipped: no PostgreSQL server at CONNECTOR_RUNTIME_TEST_POSTGRES or the default URL");
        return;
    };
    let arrivals: Arrivals = Arc::default();
    let seen = Arc::clone(&arrivals);
    let echo = runtime.block_on(connector_benches::serve(Router::new().route(
        "/echo",
        post(move |headers: HeaderMap, axum::Json(note): axum::Json<Note>| {
            let seen = Arc::clone(&seen);
            async move {
                if note.step == 1
                    && let Some(run) = headers.get("idempotency-key").and_then(|key| key.to_str().ok())
                {
                    let run = run.split(':').next().unwrap_or_default().to_owned();
                    seen.lock().unwrap().entry(run).or_insert_with(Instant::now);
                }
                axum::Json(note)
            }
        }),
    )));
    connector_benches::wait_for_quiet_machine(Duration::from_secs(60));
    let window = connector_benches::phase_length(3.0);
    let counts: Vec<usize> = std::env::var("BENCH_WORKERS")
        .ok()
        .map(|list| list.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 3]);
    println!("(8) three-step runs on PostgreSQL: one accepting engine, N worker processes\n");

    let mut results = Vec::new();
    let mut schemas = Vec::new();
    for &workers in &counts {
        let schema = format!("bench_{:016x}", fastrand_u64());
        schemas.push(schema.clone());
        let accepting = runtime.block_on(engine(&url, &schema, false, &echo));
        let mut children: Vec<Child> = (0..workers).map(|_| spawn_worker(&url, &schema, &echo, workers)).collect();
        let measured = runtime.block_on(async {
            let send = |engine: Engine| async move {
                let ids = engine.dispatch(Three {}).await.expect("accepted");
                let runs = engine.wait_all(&ids).await.expect("finished");
                runs[0].status == RunStatus::Succeeded
            };
            for _ in 0..50 {
                assert!(send(accepting.clone()).await, "warm-up runs succeed");
            }
            // One run at a time: its latency, and how soon a worker picked it up.
            let mut latencies = Vec::with_capacity(SEQUENTIAL);
            let mut pickups = Vec::with_capacity(SEQUENTIAL);
            for _ in 0..SEQUENTIAL {
                let start = Instant::now();
                let ids = accepting.dispatch(Three {}).await.expect("accepted");
                let accepted = Instant::now();
                let runs = accepting.wait_all(&ids).await.expect("finished");
                latencies.push(start.elapsed());
                assert_eq!(runs[0].status, RunStatus::Succeeded);
                let first = arrivals.lock().unwrap().get(ids[0].as_str()).copied().expect("the first step arrived");
                pickups.push(first.saturating_duration_since(accepted));
            }
            let before = counters(&admin).await;
            let cpu_before = cpu_seconds(&children);
            let accepting = accepting.clone();
            let load = connector_benches::closed_loop(CLIENTS, window, move |_, _| send(accepting.clone())).await;
            let cpu_after = cpu_seconds(&children);
            let after = counters(&admin).await;
            assert_eq!(load.failed, 0, "every run succeeds");
            let runs = load.ok as f64;
            Measured {
                workers,
                rate: load.throughput(),
                p50: Percentiles::of(&latencies).p50,
                pickup: Percentiles::of(&pickups).p50,
                loaded_p99: Percentiles::of(&load.latencies).p99,
                // The counters' own queries are two transactions.
                commits_per_run: (after.0 - before.0 - 2) as f64 / runs,
                flushes_per_run: (after.1 - before.1) as f64 / runs,
                cpu_per_run: cpu_before.zip(cpu_after).map(|((busy0, ours0), (busy1, ours1))| {
                    let per_run = |seconds: f64| Duration::from_secs_f64(seconds.max(0.0) / runs);
                    (per_run(busy1 - busy0), per_run(ours1 - ours0))
                }),
            }
        });
        println!(
            "{workers} worker(s): {} runs/s, p50 {}, pickup p50 {}",
            per_second(measured.rate),
            fmt_duration(measured.p50),
            fmt_duration(measured.pickup)
        );
        results.push(measured);
        for mut child in children.drain(..) {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }

    // A worker dies under load: how long until its runs are finished elsewhere.
    let schema = format!("bench_{:016x}", fastrand_u64());
    schemas.push(schema.clone());
    let recovery = runtime.block_on(async {
        let accepting = engine(&url, &schema, false, &echo).await;
        // Queued first, so the worker killed holds a full batch of runs when it dies.
        let mut ids = Vec::new();
        for _ in 0..400 {
            ids.extend(accepting.dispatch(Three {}).await.expect("accepted"));
        }
        let mut children: Vec<Child> = (0..2).map(|_| spawn_worker(&url, &schema, &echo, 2)).collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        children[0].kill().expect("SIGKILL");
        let killed = Instant::now();
        let runs = accepting.wait_all(&ids).await.expect("finished");
        let took = killed.elapsed();
        assert!(runs.iter().all(|run| run.status == RunStatus::Succeeded));
        let resumed = runs.iter().filter(|run| run.executions > 1).count();
        for mut child in children.drain(..) {
            drop(child.stdin.take());
            let _ = child.kill();
            let _ = child.wait();
        }
        (took, resumed)
    });
    runtime.block_on(async {
        for schema in &schemas {
            admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await.expect("drop");
        }
    });

    println!();
    let mut table = Table::new(&[
        "workers",
        &format!("runs/s at {CLIENTS} clients"),
        "p50 of one run",
        "pickup p50",
        &format!("p99 at {CLIENTS} clients"),
        "commits per run",
        "WAL flushes per run",
        "CPU per run",
        "of it outside PostgreSQL",
    ]);
    for m in &results {
        table.row(vec![
            m.workers.to_string(),
            per_second(m.rate),
            fmt_duration(m.p50),
            fmt_duration(m.pickup),
            fmt_duration(m.loaded_p99),
            format!("{:.1}", m.commits_per_run),
            format!("{:.2}", m.flushes_per_run),
            m.cpu_per_run.map_or("-".into(), |(all, _)| fmt_duration(all)),
            m.cpu_per_run.map_or("-".into(), |(_, ours)| fmt_duration(ours)),
        ]);
    }
    table.print();
    println!(
        "a worker killed under load (2 workers, 400 runs): the rest finished {} after the kill, {} run(s) resumed elsewhere\n",
        fmt_duration(recovery.0),
        recovery.1
    );
    let best = |workers: usize| results.iter().find(|m| m.workers == workers);
    let mut table = Table::new(&["target", "measured", "met?"]);
    if let Some(three) = best(3) {
        table.row(vec!["3 workers >= 2,000 runs/s".into(), per_second(three.rate), met(three.rate >= 2_000.0)]);
    }
    if let Some(one) = best(1) {
        table.row(vec![
            "p50 of one run <= 3 ms".into(),
            fmt_duration(one.p50),
            met(one.p50 <= Duration::from_millis(3)),
        ]);
        table.row(vec![
            "pickup p50 < 5 ms".into(),
            fmt_duration(one.pickup),
            met(one.pickup < Duration::from_millis(5)),
        ]);
    }
    table.row(vec![
        "a dead worker's runs resumed within 10 s".into(),
        fmt_duration(recovery.0),
        met(recovery.0 <= Duration::from_secs(10)),
    ]);
    table.print();
}

/// A schema suffix no other run uses.
fn fastrand_u64() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}
