//! The PostgreSQL store's work queue: stores on one database claim disjoint runs, a lease fences
//! out every other store until it lapses, a lapsed lease moves its run to another store, a
//! queued run wakes a listening store at once, and engines that only accept runs hand them to
//! engines that execute them, each step called once.
//!
//! Needs a PostgreSQL server (see `support/postgres.rs`).
#![cfg(feature = "postgres")]

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use connector_runtime::client::OAuth2;
use connector_runtime::prelude::*;
use connector_runtime::store::conformance::{sample_run, sample_step};
use connector_runtime::store::{PostgresOptions, PostgresStore, RunQueue, RunStore, RunUpdate, StoreError};
use connector_runtime::{Integration, RateLimit, RunStatus, StartOptions};

#[path = "support/postgres.rs"]
mod postgres;

use postgres::{Schemas, server};

/// Two stores on one fresh schema, as two processes would have, with `lease`.
async fn two_stores(schemas: &Schemas, lease: Duration) -> (PostgresStore, PostgresStore) {
    let schema = schemas.fresh();
    let options = PostgresOptions { lease, ..schemas.options(&schema) };
    let a = PostgresStore::connect_with(schemas.url(), options.clone()).await.unwrap();
    let b = PostgresStore::connect_with(schemas.url(), options).await.unwrap();
    (a, b)
}

fn queued_run() -> connector_runtime::Run {
    let mut run = sample_run("job");
    run.status = RunStatus::Queued;
    run.executions = 0;
    run
}

#[tokio::test(flavor = "multi_thread")]
async fn stores_claim_disjoint_runs_and_a_lease_fences_the_others_out() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let (a, b) = two_stores(&schemas, Duration::from_secs(30)).await;
    let mut created = HashSet::new();
    for _ in 0..20 {
        let run = queued_run();
        created.insert(run.id.clone());
        a.create_run(&run).await.unwrap();
    }
    let (from_a, from_b) = tokio::join!(a.claim(12), b.claim(12));
    let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
    let ids_a: HashSet<_> = from_a.iter().map(|run| run.id.clone()).collect();
    let ids_b: HashSet<_> = from_b.iter().map(|run| run.id.clone()).collect();
    assert!(ids_a.is_disjoint(&ids_b), "no run is claimed twice");
    assert_eq!(ids_a.len() + ids_b.len(), 20, "every queued run is claimed once");
    assert!(from_a.iter().chain(&from_b).all(|run| run.status == RunStatus::Running && run.executions == 1));
    assert!(a.claim(5).await.unwrap().is_empty(), "nothing is left to claim");

    // A holds its runs: B can neither record a step nor an outcome on one, but may cancel it.
    let held = from_a[0].id.clone();
    let step = sample_step("one");
    assert!(matches!(b.save_step(&held, &step).await, Err(StoreError::LeaseLost(_))));
    let done = RunUpdate::status(RunStatus::Succeeded);
    assert!(matches!(b.update_run(&held, &done).await, Err(StoreError::LeaseLost(_))));
    a.save_step(&held, &step).await.expect("the holder records its step");
    assert!(a.renew(std::slice::from_ref(&held)).await.unwrap().is_empty(), "the holder keeps its lease");
    b.update_run(&held, &RunUpdate::status(RunStatus::Cancelled)).await.expect("any process may cancel");
    assert_eq!(a.renew(std::slice::from_ref(&held)).await.unwrap(), vec![held.clone()], "the lease is gone");
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lapsed_lease_moves_its_run_to_another_store_with_its_steps() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let (a, b) = two_stores(&schemas, Duration::from_millis(300)).await;
    let run = queued_run();
    a.create_run(&run).await.unwrap();
    let claimed = a.claim(1).await.unwrap();
    assert_eq!(claimed.len(), 1);
    a.save_step(&run.id, &sample_step("one")).await.unwrap();
    assert!(b.sweep(1).await.unwrap().is_empty(), "a live lease is not claimed");

    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(b.claim(1).await.unwrap().is_empty(), "a plain claim takes queued runs only");
    let taken = b.sweep(1).await.unwrap();
    assert_eq!(taken.len(), 1, "a sweep claims a lapsed lease");
    assert_eq!(taken[0].executions, 2, "the resumption counts as an execution");
    assert_eq!(taken[0].steps.len(), 1, "with the steps the first holder completed");
    // The first holder, waking from its stall, is fenced out.
    assert!(matches!(a.save_step(&run.id, &sample_step("two")).await, Err(StoreError::LeaseLost(_))));
    assert!(matches!(
        a.update_run(&run.id, &RunUpdate::status(RunStatus::Succeeded)).await,
        Err(StoreError::LeaseLost(_))
    ));
    b.update_run(&run.id, &RunUpdate::status(RunStatus::Succeeded)).await.unwrap();
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queued_run_wakes_a_listening_store() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let (a, b) = two_stores(&schemas, Duration::from_secs(30)).await;
    // Other schemas' runs (other tests') wake nothing here.
    let (other, _) = two_stores(&schemas, Duration::from_secs(30)).await;
    let mut work = b.work_signal();
    // The listener may still be connecting: queue runs until one is announced.
    let connected = async {
        loop {
            work.borrow_and_update();
            a.create_run(&queued_run()).await.unwrap();
            if tokio::time::timeout(Duration::from_millis(200), work.changed()).await.is_ok() {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), connected).await.expect("the listener connects");
    tokio::time::sleep(Duration::from_millis(100)).await;
    work.borrow_and_update();
    other.create_run(&queued_run()).await.unwrap();
    let foreign = tokio::time::timeout(Duration::from_millis(500), work.changed()).await;
    assert!(foreign.is_err(), "a run queued in another schema is not announced here");
    let started = Instant::now();
    a.create_run(&queued_run()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), work.changed()).await.expect("notified").unwrap();
    assert!(started.elapsed() < Duration::from_millis(500), "notified, not polled: {:?}", started.elapsed());
    schemas.drop_all().await;
}

/// What the loopback service saw: calls per idempotency key, when each call came, the most
/// calls in flight at once, and how many tokens it issued.
#[derive(Default)]
struct Calls {
    by_key: Mutex<HashMap<String, usize>>,
    times: Mutex<Vec<Instant>>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    tokens: AtomicUsize,
}

async fn counting_service() -> (String, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let (hit, token) = (Arc::clone(&calls), Arc::clone(&calls));
    let app = axum::Router::new()
        .route(
            "/hit",
            axum::routing::post(move |headers: HeaderMap| {
                let calls = Arc::clone(&hit);
                async move {
                    let key = headers.get("idempotency-key").and_then(|k| k.to_str().ok()).unwrap_or("none");
                    *calls.by_key.lock().unwrap().entry(key.to_owned()).or_default() += 1;
                    calls.times.lock().unwrap().push(Instant::now());
                    let now = calls.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    calls.most_in_flight.fetch_max(now, Ordering::SeqCst);
                    if headers.contains_key("x-slow") {
                        tokio::time::sleep(Duration::from_millis(40)).await;
                    }
                    calls.in_flight.fetch_sub(1, Ordering::SeqCst);
                    axum::Json(1u32)
                }
            }),
        )
        .route(
            "/token",
            axum::routing::post(move || {
                let calls = Arc::clone(&token);
                async move {
                    let n = calls.tokens.fetch_add(1, Ordering::SeqCst);
                    // Slow enough that processes asking at once overlap.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    axum::Json(serde_json::json!({ "access_token": format!("token-{n}"), "token_type": "bearer", "expires_in": 3600 }))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

#[derive(Clone, Deserialize, JsonSchema)]
struct HitsConfig {
    url: String,
}

#[derive(Default, Serialize, Deserialize, JsonSchema)]
struct Hit {
    /// Ask the service to take its time.
    #[serde(default)]
    slow: bool,
}

/// The counting service.
struct Hits;

#[connector(id = "hits", name = "Hits", version = "1.0.0", config = HitsConfig)]
impl Hits {
    /// Posts to `/hit`.
    #[action(id = "hit", name = "Hit")]
    async fn hit(ctx: &ActionContext<HitsConfig>, input: Hit) -> Result<u32, ActionError> {
        let request = ctx.http().post(format!("{}/hit", ctx.config().url));
        let request = if input.slow {
            request.header(
                reqwest::header::HeaderName::from_static("x-slow"),
                reqwest::header::HeaderValue::from_static("1"),
            )
        } else {
            request
        };
        request.send_json().await
    }
}

/// The counting service behind OAuth2 client credentials from its `/token`.
struct Tokened;

#[connector(id = "tokened", name = "Tokened", version = "1.0.0", config = HitsConfig, auth = Self::auth)]
impl Tokened {
    fn auth(config: &HitsConfig) -> connector_runtime::client::Auth {
        let oauth = OAuth2::client_credentials(format!("{}/token", config.url), "client", Secret::new("client-secret"));
        connector_runtime::client::Auth::oauth2(oauth)
    }

    /// Posts to `/hit`.
    #[action(id = "hit", name = "Hit")]
    async fn hit(ctx: &ActionContext<HitsConfig>, _input: Hit) -> Result<u32, ActionError> {
        ctx.http().post(format!("{}/hit", ctx.config().url)).send_json().await
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "queue.three")]
struct Three {}

#[job(id = "three", name = "Three", version = "1.0.0", event = Three, integrations(hits = Hits))]
async fn three(_payload: Three, io: ThreeIo<'_>) -> Result<u32, JobError> {
    let mut total = 0;
    for step in ["one", "two", "three"] {
        total += io.hits.hit(step, Hit::default()).await?;
    }
    Ok(total)
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "queue.long")]
struct Long {}

/// Fifty slow steps: long enough to be cancelled half-way.
#[job(id = "long", name = "Long", version = "1.0.0", event = Long, integrations(hits = Hits))]
async fn long(_payload: Long, io: LongIo<'_>) -> Result<u32, JobError> {
    let mut total = 0;
    for step in 0..50 {
        total += io.hits.hit(&format!("step-{step}"), Hit { slow: true }).await?;
    }
    Ok(total)
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "queue.approval")]
struct NeedsApproval {}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Approval {
    by: String,
}

/// Waits for a token, then says who gave it.
#[job(id = "approval", name = "Approval", version = "1.0.0", event = NeedsApproval)]
async fn approval(_payload: NeedsApproval, io: ApprovalIo<'_>) -> Result<String, JobError> {
    let approval: Approval = io.wait_for_token("approval", Duration::from_secs(3600)).await?;
    Ok(approval.by)
}

/// An engine on `schema` (its own store, as another process's would be), leases of 600 ms.
async fn engine_on(url: &str, schema: &str, executes: bool, config: HitsConfig) -> Engine {
    let options = PostgresOptions {
        schema: Some(schema.to_owned()),
        max_connections: 4,
        lease: Duration::from_millis(600),
        ..PostgresOptions::default()
    };
    let store = PostgresStore::connect_with(url, options).await.unwrap();
    Engine::builder()
        .store(store)
        .execute_runs(executes)
        .worker_concurrency(8)
        .connector(Hits::init(config))
        .job(ThreeJob)
        .job(LongJob)
        .job(ApprovalJob)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_accepted_by_a_server_execute_on_workers_each_step_once() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    let (service, calls) = counting_service().await;
    let config = HitsConfig { url: service };
    // The accepting engine's service is nowhere: a run it executed would fail.
    let nowhere = HitsConfig { url: "http://127.0.0.1:9".to_owned() };
    let accepting = engine_on(&url, &schema, false, nowhere).await;
    let serving = accepting.start(StartOptions::default()).await.unwrap();
    assert!(!serving.is_worker(), "an engine that does not execute claims nothing");
    let first = engine_on(&url, &schema, true, config.clone()).await;
    let second = engine_on(&url, &schema, true, config).await;
    let workers = [
        first.start(StartOptions::default().without_triggers()).await.unwrap(),
        second.start(StartOptions::default().without_triggers()).await.unwrap(),
    ];
    assert!(workers.iter().all(|worker| worker.is_worker()));

    let mut ids = Vec::new();
    for _ in 0..40 {
        ids.extend(accepting.dispatch(Three {}).await.unwrap());
    }
    let runs = tokio::time::timeout(Duration::from_secs(30), accepting.wait_all(&ids)).await.unwrap().unwrap();
    assert!(runs.iter().all(|run| run.status == RunStatus::Succeeded && run.output == Some(serde_json::json!(3))));
    assert!(runs.iter().all(|run| run.executions == 1), "each run executed once");
    let calls = calls.by_key.lock().unwrap().clone();
    assert_eq!(calls.len(), 120, "three distinct steps per run");
    assert!(calls.values().all(|n| *n == 1), "each step called once: {calls:?}");

    for worker in workers {
        worker.stop().await;
    }
    serving.stop().await;
    schemas.drop_all().await;
}

/// Three engines (three processes' stores) on one schema, each with what `register` adds.
async fn three_engines(
    url: &str,
    schema: &str,
    register: impl Fn(connector_runtime::EngineBuilder) -> connector_runtime::EngineBuilder,
) -> Vec<Engine> {
    let mut engines = Vec::new();
    for _ in 0..3 {
        let options =
            PostgresOptions { schema: Some(schema.to_owned()), max_connections: 8, ..PostgresOptions::default() };
        let store = PostgresStore::connect_with(url, options).await.unwrap();
        engines.push(register(Engine::builder().store(store)).build().unwrap());
    }
    engines
}

/// Each engine calls `connector`'s `hit` from four tasks at once until `until`.
async fn hammer(engines: &[Engine], connector: &'static str, input: serde_json::Value, until: Instant) {
    let mut tasks = tokio::task::JoinSet::new();
    for engine in engines {
        for _ in 0..4 {
            let (engine, input) = (engine.clone(), input.clone());
            tasks.spawn(async move {
                while Instant::now() < until {
                    engine.call_action(connector, "hit", input.clone()).await.expect("the call succeeds");
                }
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_holds_across_three_processes() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    let (service, calls) = counting_service().await;
    let limit = RateLimit { per_second: Some(20), burst: Some(1), concurrency: None };
    let engines = three_engines(&url, &schema, |engine| {
        engine.connector(Integration::<Hits>::with_rate_limit(HitsConfig { url: service.clone() }, limit))
    })
    .await;
    let window = Duration::from_secs(3);
    hammer(&engines, "hits", serde_json::json!({}), Instant::now() + window + Duration::from_millis(200)).await;
    let times = calls.times.lock().unwrap().clone();
    let first = *times.iter().min().unwrap();
    let in_window = times.iter().filter(|at| at.duration_since(first) < window).count();
    // 20 a second for 3 s, within 10% (one process alone would send 60; three unshared, 180).
    assert!((54..=66).contains(&in_window), "{in_window} requests in 3 s at 20/s across three processes");
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrency_limit_holds_across_three_processes() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    let (service, calls) = counting_service().await;
    let limit = RateLimit { per_second: None, burst: None, concurrency: Some(2) };
    let engines = three_engines(&url, &schema, |engine| {
        engine.connector(Integration::<Hits>::with_rate_limit(HitsConfig { url: service.clone() }, limit))
    })
    .await;
    hammer(&engines, "hits", serde_json::json!({ "slow": true }), Instant::now() + Duration::from_secs(1)).await;
    let most = calls.most_in_flight.load(Ordering::SeqCst);
    assert_eq!(most, 2, "at most two requests in flight across the processes, and the limit is reached");
    assert!(calls.times.lock().unwrap().len() >= 10, "requests went on");
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_refresh_serves_every_process() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    let (service, calls) = counting_service().await;
    let engines =
        three_engines(&url, &schema, |engine| engine.connector(Tokened::init(HitsConfig { url: service.clone() })))
            .await;
    hammer(&engines, "tokened", serde_json::json!({}), Instant::now() + Duration::from_millis(300)).await;
    assert_eq!(calls.tokens.load(Ordering::SeqCst), 1, "one token for three processes asking at once");
    assert!(calls.times.lock().unwrap().len() >= 12, "every process called with it");
    schemas.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_and_a_token_reach_runs_executing_in_another_process() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    let (service, calls) = counting_service().await;
    let nowhere = HitsConfig { url: "http://127.0.0.1:9".to_owned() };
    let accepting = engine_on(&url, &schema, false, nowhere).await;
    let executing = engine_on(&url, &schema, true, HitsConfig { url: service }).await;
    let worker = executing.start(StartOptions::default().without_triggers()).await.unwrap();

    // Cancelled from the accepting process while a worker executes it.
    let long = accepting.dispatch(Long {}).await.unwrap().remove(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while calls.times.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "the worker started the long run");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(accepting.cancel(&long).await.unwrap(), RunStatus::Cancelled);
    let run = tokio::time::timeout(Duration::from_secs(10), accepting.wait(&long)).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let called = calls.times.lock().unwrap().len();
    assert!(called < 50, "the worker stopped at a step boundary after the cancel ({called} of 50 steps called)");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(calls.times.lock().unwrap().len(), called, "and called nothing more");
    let after = accepting.run(&long).await.unwrap().unwrap();
    assert_eq!(after.status, RunStatus::Cancelled, "the worker recorded nothing over the cancel");

    // Parked on a worker, woken by a token completed in the accepting process.
    let waiting = accepting.dispatch(NeedsApproval {}).await.unwrap().remove(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while accepting.run(&waiting).await.unwrap().unwrap().status != RunStatus::Waiting {
        assert!(Instant::now() < deadline, "the run parks on the worker");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    accepting.complete_token(&format!("{waiting}:approval"), serde_json::json!({ "by": "ada" })).await.unwrap();
    let run = tokio::time::timeout(Duration::from_secs(10), accepting.wait(&waiting)).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.output, Some(serde_json::json!("ada")));
    assert_eq!(run.executions, 2, "executed once to the wait, once after it");

    worker.stop().await;
    schemas.drop_all().await;
}

/// Five times a second.
#[job(id = "heartbeat", name = "Heartbeat", version = "1.0.0", every = "200ms")]
async fn heartbeat(tick: connector_runtime::Tick, _io: HeartbeatIo<'_>) -> Result<String, JobError> {
    Ok(tick.scheduled_at.to_rfc3339())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_scheduling_one_job_start_each_tick_once() {
    let Some(url) = server().await else { return };
    let schemas = Schemas::new(&url);
    let schema = schemas.fresh();
    let mut engines = Vec::new();
    for _ in 0..2 {
        let options =
            PostgresOptions { schema: Some(schema.to_owned()), max_connections: 4, ..PostgresOptions::default() };
        let store = PostgresStore::connect_with(&url, options).await.unwrap();
        engines.push(Engine::builder().store(store).job(HeartbeatJob).build().unwrap());
    }
    let mut running = Vec::new();
    for engine in &engines {
        running.push(engine.start(StartOptions::default()).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    for started in running {
        started.stop().await;
    }
    let runs = engines[0].runs(&connector_runtime::store::RunFilter::default()).await.unwrap();
    let mut ticks: HashMap<String, usize> = HashMap::new();
    for run in &runs {
        *ticks.entry(run.payload["scheduledAt"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    assert!(ticks.len() >= 4, "the schedule ticked: {ticks:?}");
    assert!(ticks.values().all(|n| *n == 1), "each tick started once across both processes: {ticks:?}");
    let ids: Vec<_> = runs.iter().map(|run| run.id.clone()).collect();
    // Both processes execute; every tick's run finishes on one of them.
    let worker = engines[1].start(StartOptions::default().without_triggers()).await.unwrap();
    let finished = tokio::time::timeout(Duration::from_secs(10), engines[0].wait_all(&ids)).await.unwrap().unwrap();
    assert!(finished.iter().all(|run| run.status == RunStatus::Succeeded));
    worker.stop().await;
    schemas.drop_all().await;
}
