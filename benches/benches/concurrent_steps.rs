//! (2b) Durable steps per second with 64 runs executing at once, on the SQLite store, on the
//! machine's 2 cores (a 2-worker tokio runtime; the store's writer thread and read pool besides).
//!
//! 64 runs of a job that makes local (no-HTTP) action steps in a loop are started together;
//! after a warm-up, the steps completed in a fixed window are counted. The baseline is a bare
//! SQLite writer on one connection (same file system, WAL, same `synchronous`) committing one
//! row of the same size per transaction as fast as it can, over the same window; a second
//! baseline commits 64 rows per transaction (what group commit can at best reach).
//!
//! `cargo bench -p connector-benches --bench concurrent_steps` (`BENCH_SECONDS`, `BENCH_ROUNDS`)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use connector_benches::local::{Local, LocalConfig, StepInput};
use connector_benches::{BareSqlite, Table, median, met, per_second, sync_name};
use connector_runtime::prelude::*;
use connector_runtime::store::{RunStore, Synchronous};

/// Runs executing at once.
const RUNS: usize = 64;
/// The target, in durable steps per second.
const TARGET: f64 = 10_000.0;
/// The bytes of a step's row (see the `durable_step` bench, which prints it).
const ROW_BYTES: usize = 350;

static STOP: AtomicBool = AtomicBool::new(false);
static DONE: AtomicU64 = AtomicU64::new(0);

/// Make steps until told to stop.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "bench.loop")]
struct Loop {
    run: usize,
}

#[job(id = "loop", name = "Loop", version = "1.0.0", event = Loop, integrations(local = Local))]
async fn step_loop(_payload: Loop, io: StepLoopIo<'_>) -> Result<u64, JobError> {
    let mut i = 0;
    // Reading a flag between steps breaks the determinism rule on purpose: it is how the bench
    // ends its runs.
    while !STOP.load(Ordering::Relaxed) {
        io.local.echo(&format!("step-{i}"), StepInput::sample(i)).await?;
        DONE.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
    Ok(i)
}

fn main() {
    connector_benches::wait_for_quiet_machine(Duration::from_secs(60));
    let rounds = connector_benches::rounds(3);
    let window = connector_benches::phase_length(4.0);
    let warm_up = Duration::from_secs(1);
    let runtime = connector_benches::runtime(2);
    let dir = tempfile::tempdir().expect("a temp dir");
    println!(
        "(2b) durable steps/s, {RUNS} concurrent runs, 2 cores; {rounds} rounds of {window:?} after {warm_up:?}\n"
    );
    let mut table = Table::new(&[
        "synchronous",
        "bare insert+commit (1 row/tx)",
        "bare (64 rows/tx)",
        "durable steps",
        "ratio to 1 row/tx",
        "steps/commit",
        "target",
        "met?",
    ]);
    for synchronous in [Synchronous::Full, Synchronous::Normal] {
        let name = sync_name(synchronous);
        let (store, mut bare) = connector_benches::stores(dir.path(), synchronous);
        let engine = Engine::builder()
            .shared_store(Arc::clone(&store) as Arc<dyn RunStore>)
            .connector(Local::init(LocalConfig {}))
            .job(StepLoopJob)
            .build()
            .expect("the engine");

        let (mut ours, mut singles, mut batched, mut per_commit) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            singles.push(bare_rate(&mut bare, 1, window));
            batched.push(bare_rate(&mut bare, RUNS, window));

            STOP.store(false, Ordering::Relaxed);
            let (rate, steps_per_commit) = runtime.block_on(async {
                let mut ids = Vec::new();
                for run in 0..RUNS {
                    ids.extend(engine.dispatch(Loop { run }).await.expect("a run"));
                }
                tokio::time::sleep(warm_up).await;
                let (done, commits, start) = (DONE.load(Ordering::Relaxed), store.commits(), Instant::now());
                tokio::time::sleep(window).await;
                let steps = DONE.load(Ordering::Relaxed) - done;
                let (commits, elapsed) = (store.commits() - commits, start.elapsed());
                STOP.store(true, Ordering::Relaxed);
                for run in engine.wait_all(&ids).await.expect("the runs") {
                    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
                }
                (steps as f64 / elapsed.as_secs_f64(), steps as f64 / commits.max(1) as f64)
            });
            ours.push(rate);
            per_commit.push(steps_per_commit);
        }
        let (rate, single) = (median(&ours), median(&singles));
        println!(
            "{name}: durable steps/s per round {}",
            ours.iter().map(|r| per_second(*r)).collect::<Vec<_>>().join(", ")
        );
        table.row(vec![
            name.to_owned(),
            per_second(single),
            per_second(median(&batched)),
            per_second(rate),
            format!("{:.2}x", rate / single),
            format!("{:.1}", median(&per_commit)),
            format!(">= {}", per_second(TARGET)),
            met(rate >= TARGET),
        ]);
    }
    println!();
    table.print();
}

/// Rows per second a bare writer commits, `batch` rows per transaction, for `window`.
fn bare_rate(bare: &mut BareSqlite, batch: usize, window: Duration) -> f64 {
    let start = Instant::now();
    let mut rows = 0;
    while start.elapsed() < window {
        bare.insert_commit(ROW_BYTES, batch);
        rows += batch;
    }
    rows as f64 / start.elapsed().as_secs_f64()
}
