//! (2a) One durable step on the SQLite store against a bare SQLite insert+commit of a row of
//! the same size, at the same `synchronous` setting, one at a time.
//!
//! The step is an action step of a run through the engine, with a local action (no HTTP): the
//! job times each `io.local.echo(..)` call. The baseline times `BEGIN IMMEDIATE; INSERT; COMMIT`
//! of one row as large as the step's row, on its own connection to a file in the same
//! directory, in WAL mode with the same `synchronous`. Rounds alternate the two; the figure is
//! the median over rounds of each round's median, and the ratio the median of the rounds'
//! ratios.
//!
//! `cargo bench -p connector-benches --bench durable_step` (`BENCH_ROUNDS=n` to change rounds)

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use connector_benches::local::{Local, LocalConfig, StepInput};
use connector_benches::{Percentiles, Table, median, met, micros, sync_name};
use connector_runtime::prelude::*;
use connector_runtime::store::{RunStore, Synchronous};

/// Steps per run, and inserts per round of the baseline.
const STEPS: usize = 200;
/// The target: a step costs at most this many bare inserts.
const TARGET: f64 = 1.2;

static STEP_TIMES: Mutex<Vec<Duration>> = Mutex::new(Vec::new());

/// Run `count` steps.
#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "bench.steps")]
struct Steps {
    count: usize,
}

#[job(id = "steps", name = "Steps", version = "1.0.0", event = Steps, integrations(local = Local))]
async fn steps(payload: Steps, io: StepsIo<'_>) -> Result<usize, JobError> {
    let mut times = Vec::with_capacity(payload.count);
    for i in 0..payload.count {
        let input = StepInput::sample(i as u64);
        let start = Instant::now();
        io.local.echo(&format!("step-{i}"), input).await?;
        times.push(start.elapsed());
    }
    STEP_TIMES.lock().unwrap_or_else(|p| p.into_inner()).extend(times);
    Ok(payload.count)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported here.
    connector_benches::wait_for_quiet_machine(Duration::from_secs(60));
    let rounds = connector_benches::rounds(7);
    let runtime = connector_benches::runtime(2);
    let dir = tempfile::tempdir().expect("a temp dir");
    println!("(2a) one durable step vs a bare SQLite insert+commit of the same size; {rounds} rounds of {STEPS}\n");
    let mut table = Table::new(&[
        "synchronous",
        "row bytes",
        "bare insert+commit p50",
        "durable step p50",
        "ratio",
        "bare p99",
        "step p99",
        "commits/step",
        "target",
        "met?",
    ]);
    for synchronous in [Synchronous::Full, Synchronous::Normal] {
        let name = sync_name(synchronous);
        let (store, mut bare) = connector_benches::stores(dir.path(), synchronous);
        let engine = Engine::builder()
            .shared_store(Arc::clone(&store) as Arc<dyn RunStore>)
            .connector(Local::init(LocalConfig {}))
            .job(StepsJob)
            .build()
            .expect("the engine");

        // Warm up both (and learn the size of a step's row).
        let runs = runtime.block_on(engine.send(Steps { count: STEPS })).expect("a run");
        assert_eq!(runs[0].status, RunStatus::Succeeded, "{:?}", runs[0].error);
        let bytes = row_bytes(&runs[0]);
        for _ in 0..STEPS {
            bare.insert_commit(bytes, 1);
        }
        STEP_TIMES.lock().unwrap().clear();

        let (mut step_p50s, mut bare_p50s, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let (mut all_steps, mut all_bare) = (Vec::new(), Vec::new());
        let mut commits_per_step = Vec::new();
        for _ in 0..rounds {
            let mut bare_times = Vec::with_capacity(STEPS);
            for _ in 0..STEPS {
                let start = Instant::now();
                bare.insert_commit(bytes, 1);
                bare_times.push(start.elapsed());
            }
            let commits = store.commits();
            let runs = runtime.block_on(engine.send(Steps { count: STEPS })).expect("a run");
            assert_eq!(runs[0].status, RunStatus::Succeeded, "{:?}", runs[0].error);
            commits_per_step.push((store.commits() - commits) as f64 / STEPS as f64);
            let step_times = std::mem::take(&mut *STEP_TIMES.lock().unwrap());
            let (step, base) = (Percentiles::of(&step_times), Percentiles::of(&bare_times));
            step_p50s.push(step.p50.as_secs_f64());
            bare_p50s.push(base.p50.as_secs_f64());
            ratios.push(step.p50.as_secs_f64() / base.p50.as_secs_f64());
            all_steps.extend(step_times);
            all_bare.extend(bare_times);
        }
        let ratio = median(&ratios);
        let (step, base) = (Percentiles::of(&all_steps), Percentiles::of(&all_bare));
        table.row(vec![
            name.to_owned(),
            bytes.to_string(),
            micros(Duration::from_secs_f64(median(&bare_p50s))),
            micros(Duration::from_secs_f64(median(&step_p50s))),
            format!("{ratio:.2}x"),
            micros(base.p99),
            micros(step.p99),
            format!("{:.2}", median(&commits_per_step)),
            format!("<= {TARGET}x"),
            met(ratio <= TARGET),
        ]);
        println!("{name}: per-round ratios {}", ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" "));
    }
    println!();
    table.print();
}

/// The bytes of a step's row as the store keeps it: run id, key, kind, status, input, output,
/// output schema fingerprint, attempts and two timestamps.
fn row_bytes(run: &Run) -> usize {
    let step = &run.steps[0];
    run.id.to_string().len()
        + step.key.len()
        + json_len(&step.kind)
        + "succeeded".len()
        + json_len(&step.input)
        + step.output.as_ref().map_or(0, json_len)
        + step.output_schema.as_ref().map_or(0, String::len)
        + 8
        + 2 * "2026-01-01T00:00:00.000000000Z".len()
}

/// The length of a value as compact JSON.
fn json_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(0, |bytes| bytes.len())
}
