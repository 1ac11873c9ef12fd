//! The PostgreSQL store's work queue: stores on one database claim disjoint runs, a lease fences
//! out every other store until it lapses, a lapsed lease moves its run to another store, a
//! queued run wakes a listening store at once, and engines that only accept runs hand them to
//! engines that execute them, each step called once.
//!
//! Needs a PostgreSQL server (see `support/postgres.rs`).
#![cfg(feature = "postgres")]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use connector_runtime::prelude::*;
use connector_runtime::store::conformance::{sample_run, sample_step};
use connector_runtime::store::{PostgresOptions, PostgresStore, RunQueue, RunStore, RunUpdate, StoreError};
use connector_runtime::{RunStatus, StartOptions};

#[path = "support/postgres.rs"]
mod postgres;

use postgres::{Schemas, server};

/// Two stores on one fresh schema, as two processes would have, with `lease`.
async fn two_stores(schemas: &Schemas, lease: Duration) -> (PostgresStore, PostgresStore) {
    let schema = schemas.fresh();
    let options = PostgresOptions { lease, ..schemas.options(&schema) };
    let a = PostgresStore::connect_with(&schemas_url(schemas), options.clone()).await.unwrap();
    let b = PostgresStore::connect_with(&schemas_url(schemas), options).await.unwrap();
    (a, b)
}

fn schemas_url(_schemas: &Schemas) -> String {
    std::env::var(postgres::URL_VARIABLE).unwrap_or_else(|_| postgres::DEFAULT_URL.to_owned())
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
    assert!(b.claim(1).await.unwrap().is_empty(), "a live lease is not claimed");

    tokio::time::sleep(Duration::from_millis(400)).await;
    let taken = b.claim(1).await.unwrap();
    assert_eq!(taken.len(), 1, "a lapsed lease is claimed by another store");
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
    let mut work = b.work_signal();
    // The listener is connected once it has announced itself.
    tokio::time::timeout(Duration::from_secs(5), work.changed()).await.unwrap().unwrap();
    work.borrow_and_update();
    let started = Instant::now();
    a.create_run(&queued_run()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), work.changed()).await.expect("notified").unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "notified, not polled: {:?}", started.elapsed());
    schemas.drop_all().await;
}

/// Calls per idempotency key.
#[derive(Default)]
struct Calls(Mutex<HashMap<String, usize>>);

async fn counting_service() -> (String, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let counted = Arc::clone(&calls);
    let app = axum::Router::new().route(
        "/hit",
        axum::routing::post(move |headers: HeaderMap| {
            let calls = Arc::clone(&counted);
            async move {
                let key = headers.get("idempotency-key").and_then(|k| k.to_str().ok()).unwrap_or("none");
                *calls.0.lock().unwrap().entry(key.to_owned()).or_default() += 1;
                axum::Json(1u32)
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

#[derive(Serialize, Deserialize, JsonSchema)]
struct Hit {}

/// The counting service.
struct Hits;

#[connector(id = "hits", name = "Hits", version = "1.0.0", config = HitsConfig)]
impl Hits {
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
        total += io.hits.hit(step, Hit {}).await?;
    }
    Ok(total)
}

async fn engine_on(url: &str, schema: &str, executes: bool, config: HitsConfig) -> Engine {
    let options = PostgresOptions { schema: Some(schema.to_owned()), max_connections: 4, ..PostgresOptions::default() };
    let store = PostgresStore::connect_with(url, options).await.unwrap();
    Engine::builder()
        .store(store)
        .execute_runs(executes)
        .worker_concurrency(8)
        .connector(Hits::init(config))
        .job(ThreeJob)
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
    let calls = calls.0.lock().unwrap().clone();
    assert_eq!(calls.len(), 120, "three distinct steps per run");
    assert!(calls.values().all(|n| *n == 1), "each step called once: {calls:?}");

    for worker in workers {
        worker.stop().await;
    }
    serving.stop().await;
    schemas.drop_all().await;
}
