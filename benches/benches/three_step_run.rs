//! (7) A three-step durable run, started and awaited through the engine, each step a POST to a
//! loopback echo service, against two floors measured in the same run:
//!
//! - *no durability*: the same three POSTs by hand (reqwest), nothing recorded;
//! - *the physical floor*: the three POSTs plus four bare SQLite `FULL` commits (WAL,
//!   autocommit-style `BEGIN; INSERT; COMMIT`, one connection), one before the calls and one
//!   after each, as a run's creation and its three steps need.
//!
//! Sequential latency (one run at a time, p50/p99) for `FULL`, `NORMAL` and the memory store,
//! with rounds alternating floor and ours; then runs/s with 32 concurrent clients against the
//! no-durability floor; and the synced commits per run (each one WAL fsync; checkpoints add a
//! few more, which `benches/fsyncs.sh` counts with `strace`).
//!
//! `cargo bench -p connector-benches --bench three_step_run` (`BENCH_ROUNDS`, `BENCH_SECONDS`;
//! `BENCH_ONLY_FULL_RUNS=n` runs n sequential `FULL` runs and nothing else, for `fsyncs.sh`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use connector_benches::three_step::{Echo, EchoConfig, Note, Three, ThreeJob, note};
use connector_benches::{BareSqlite, Percentiles, Table, fmt_duration, median, met, per_second};
use connector_runtime::prelude::*;
use connector_runtime::store::{MemoryStore, RunStore, SqliteOptions, SqliteStore, Synchronous};

/// Sequential runs per round.
const RUNS: usize = 200;
/// Concurrent clients for the throughput phase.
const CLIENTS: usize = 32;
/// A row about as large as a step's record.
const ROW_BYTES: usize = 400;

/// The three POSTs by hand.
async fn three_calls(http: &reqwest::Client, url: &str) {
    for step in 1..=3 {
        let echoed: Note = http.post(url).json(&note(step)).send().await.expect("a call").json().await.expect("json");
        assert_eq!(echoed.step, step);
    }
}

fn engine(store: Arc<dyn RunStore>, url: &str) -> Engine {
    Engine::builder()
        .shared_store(store)
        .connector(Echo::init(EchoConfig { url: url.to_owned() }))
        .job(ThreeJob)
        .build()
        .expect("the engine")
}

fn sqlite(dir: &std::path::Path, synchronous: Synchronous) -> Arc<SqliteStore> {
    let name = connector_benches::sync_name(synchronous);
    let options = SqliteOptions { synchronous, ..Default::default() };
    Arc::new(SqliteStore::open_with(dir.join(format!("three-{name}.sqlite3")), options).expect("the store"))
}

async fn one_run(engine: &Engine) {
    let runs = engine.send(Three {}).await.expect("a run");
    assert_eq!(runs[0].status, RunStatus::Succeeded, "{:?}", runs[0].error);
}

fn main() {
    let runtime = connector_benches::runtime(2);
    let dir = tempfile::tempdir().expect("a temp dir");
    let service = runtime.block_on(connector_benches::serve(
        Router::new().route("/echo", post(|axum::Json(note): axum::Json<Note>| async move { axum::Json(note) })),
    ));
    let url = format!("{service}/echo");

    if let Some(runs) = std::env::var("BENCH_ONLY_FULL_RUNS").ok().and_then(|n| n.parse::<usize>().ok()) {
        let normal = std::env::var_os("BENCH_ONLY_NORMAL").is_some();
        let store = sqlite(dir.path(), if normal { Synchronous::Normal } else { Synchronous::Full });
        let engine = engine(Arc::clone(&store) as Arc<dyn RunStore>, &service);
        runtime.block_on(async {
            for _ in 0..runs {
                one_run(&engine).await;
            }
        });
        println!("{runs} runs, {} commits, {} synced", store.commits(), store.synced_commits());
        return;
    }

    connector_benches::wait_for_quiet_machine(Duration::from_secs(60));
    let rounds = connector_benches::rounds(5);
    let window = connector_benches::phase_length(3.0);
    let http = connector_benches::http_client();
    println!("(7) a three-step durable run vs its floors; {rounds} rounds of {RUNS} sequential runs\n");

    let full = sqlite(dir.path(), Synchronous::Full);
    let normal = sqlite(dir.path(), Synchronous::Normal);
    let stores: [(&str, Arc<dyn RunStore>); 3] = [
        ("FULL", Arc::clone(&full) as Arc<dyn RunStore>),
        ("NORMAL", Arc::clone(&normal) as Arc<dyn RunStore>),
        ("memory", Arc::new(MemoryStore::new())),
    ];
    let engines: Vec<Engine> = stores.iter().map(|(_, store)| engine(Arc::clone(store), &service)).collect();
    let mut bare = BareSqlite::open(&dir.path().join("bare-FULL.sqlite3"), Synchronous::Full);

    // Warm up: connections, statement caches, schemas stored once per process.
    runtime.block_on(async {
        for engine in &engines {
            for _ in 0..20 {
                one_run(engine).await;
            }
        }
        for _ in 0..20 {
            three_calls(&http, &url).await;
        }
    });

    // Sequential latency, rounds alternating every system so drift hits them all.
    let mut floor_calls: Vec<Vec<Duration>> = Vec::new();
    let mut floor_disk: Vec<Vec<Duration>> = Vec::new();
    let mut ours: Vec<Vec<Vec<Duration>>> = vec![Vec::new(); engines.len()];
    let mut synced_per_run = Vec::new();
    for _ in 0..rounds {
        let mut times = Vec::with_capacity(RUNS);
        runtime.block_on(async {
            for _ in 0..RUNS {
                let start = Instant::now();
                three_calls(&http, &url).await;
                times.push(start.elapsed());
            }
        });
        floor_calls.push(times);

        let mut times = Vec::with_capacity(RUNS);
        runtime.block_on(async {
            for _ in 0..RUNS {
                let start = Instant::now();
                bare.insert_commit(ROW_BYTES, 1);
                for step in 1..=3 {
                    let echoed: Note =
                        http.post(&url).json(&note(step)).send().await.expect("a call").json().await.expect("json");
                    assert_eq!(echoed.step, step);
                    bare.insert_commit(ROW_BYTES, 1);
                }
                times.push(start.elapsed());
            }
        });
        floor_disk.push(times);

        for (i, engine) in engines.iter().enumerate() {
            let before = full.synced_commits();
            let mut times = Vec::with_capacity(RUNS);
            runtime.block_on(async {
                for _ in 0..RUNS {
                    let start = Instant::now();
                    one_run(engine).await;
                    times.push(start.elapsed());
                }
            });
            if i == 0 {
                synced_per_run.push((full.synced_commits() - before) as f64 / RUNS as f64);
            }
            ours[i].push(times);
        }
    }
    let p = |rounds: &[Vec<Duration>], q: fn(&Percentiles) -> Duration| {
        median(&rounds.iter().map(|times| q(&Percentiles::of(times)).as_secs_f64()).collect::<Vec<_>>())
    };
    let p50 = |rounds: &[Vec<Duration>]| p(rounds, |p| p.p50);
    let p99 = |rounds: &[Vec<Duration>]| p(rounds, |p| p.p99);
    let secs = |s: f64| fmt_duration(Duration::from_secs_f64(s));
    let (calls_p50, disk_p50) = (p50(&floor_calls), p50(&floor_disk));
    println!(
        "per-round p50, FULL: {}",
        ours[0].iter().map(|t| fmt_duration(Percentiles::of(t).p50)).collect::<Vec<_>>().join(", ")
    );
    println!(
        "per-round p50, physical floor: {}\n",
        floor_disk.iter().map(|t| fmt_duration(Percentiles::of(t).p50)).collect::<Vec<_>>().join(", ")
    );
    let mut table = Table::new(&["system", "p50 per run", "p99", "overhead per step", "ratio to the physical floor"]);
    table.row(vec![
        "3 plain calls, no durability".into(),
        secs(calls_p50),
        secs(p99(&floor_calls)),
        "0".into(),
        "-".into(),
    ]);
    table.row(vec![
        "3 plain calls + 4 bare FULL commits (physical floor)".into(),
        secs(disk_p50),
        secs(p99(&floor_disk)),
        secs((disk_p50 - calls_p50) / 3.0),
        "1.00x".into(),
    ]);
    for (i, (name, _)) in stores.iter().enumerate() {
        let ours_p50 = p50(&ours[i]);
        table.row(vec![
            format!("this project, {name}"),
            secs(ours_p50),
            secs(p99(&ours[i])),
            secs((ours_p50 - calls_p50) / 3.0),
            format!("{:.2}x", ours_p50 / disk_p50),
        ]);
    }
    table.print();
    let full_ratio = p50(&ours[0]) / disk_p50;
    let synced = median(&synced_per_run);

    // Throughput: 32 clients, each starting a run and awaiting it (or making the three calls).
    let mut floor_rates = Vec::new();
    let mut our_rates: Vec<Vec<f64>> = vec![Vec::new(); engines.len()];
    for _ in 0..rounds.min(3) {
        let (http, url) = (http.clone(), url.clone());
        let load = runtime.block_on(connector_benches::closed_loop(CLIENTS, window, move |_, _| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                three_calls(&http, &url).await;
                true
            }
        }));
        floor_rates.push(load.throughput());
        for (i, engine) in engines.iter().enumerate() {
            let engine = engine.clone();
            let load = runtime.block_on(connector_benches::closed_loop(CLIENTS, window, move |_, _| {
                let engine = engine.clone();
                async move { engine.send(Three {}).await.is_ok_and(|runs| runs[0].status == RunStatus::Succeeded) }
            }));
            assert_eq!(load.failed, 0, "every run succeeds");
            our_rates[i].push(load.throughput());
        }
    }
    let floor_rate = median(&floor_rates);
    let mut table = Table::new(&["system", &format!("runs/s at {CLIENTS} clients"), "ratio to no durability"]);
    table.row(vec!["3 plain calls, no durability".into(), per_second(floor_rate), "1.00x".into()]);
    for (i, (name, _)) in stores.iter().enumerate() {
        let rate = median(&our_rates[i]);
        table.row(vec![format!("this project, {name}"), per_second(rate), format!("{:.2}x", rate / floor_rate)]);
    }
    table.print();
    let full_rate_ratio = median(&our_rates[0]) / floor_rate;

    let mut table = Table::new(&["target", "measured", "met?"]);
    table.row(vec!["synced commits per run on FULL <= 4".into(), format!("{synced:.2}"), met(synced <= 4.0)]);
    table.row(vec![
        "p50 on FULL <= 1.15x the physical floor".into(),
        format!("{full_ratio:.2}x"),
        met(full_ratio <= 1.15),
    ]);
    table.row(vec![
        format!("{CLIENTS} clients on FULL >= 0.3x no durability"),
        format!("{full_rate_ratio:.2}x"),
        met(full_rate_ratio >= 0.3),
    ]);
    table.print();
}
