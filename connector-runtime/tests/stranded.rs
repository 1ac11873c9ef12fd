//! Runs a store failure left unfinished finish without a restart: the engine executes them again
//! once the store takes writes, with every step called once, against a real SQLite store and a
//! loopback service that counts calls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use connector_runtime::client::{TokenStore, TokenStoreError};
use connector_runtime::prelude::*;
use connector_runtime::store::{Delivery, DeliveryOutcome, RunFilter, RunStore, RunUpdate, SqliteStore, StoreError};
use connector_runtime::{Run, RunId, StepRecord, StepStatus};
use serde_json::Value;

/// A SQLite store whose writes all fail for a while after a step `three` is recorded done, as a
/// full disk would: the run's outcome cannot be recorded, and runs starting meanwhile cannot
/// record that they started. (A failure between a step's call and its record would have the
/// step called again on the retry, with the same idempotency key: steps are at least once.)
struct DiskFills {
    inner: SqliteStore,
    failing_until: Mutex<Option<Instant>>,
    failed_writes: AtomicUsize,
}

impl DiskFills {
    fn check(&self) -> Result<(), StoreError> {
        match *self.failing_until.lock().unwrap() {
            Some(until) if Instant::now() < until => {
                self.failed_writes.fetch_add(1, Ordering::SeqCst);
                Err(StoreError::backend("sqlite: database or disk is full"))
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl TokenStore for DiskFills {
    async fn tokens(&self, key: &str) -> Result<Option<Value>, TokenStoreError> {
        self.inner.tokens(key).await
    }
    async fn save_tokens(&self, key: &str, tokens: &Value) -> Result<(), TokenStoreError> {
        self.inner.save_tokens(key, tokens).await
    }
}

#[async_trait]
impl RunStore for DiskFills {
    async fn create_run(&self, run: &Run) -> Result<(), StoreError> {
        self.check()?;
        self.inner.create_run(run).await
    }
    async fn update_run(&self, id: &RunId, update: &RunUpdate) -> Result<(), StoreError> {
        self.check()?;
        self.inner.update_run(id, update).await
    }
    async fn claim_run(&self, id: &RunId, from: connector_runtime::RunStatus) -> Result<bool, StoreError> {
        self.check()?;
        self.inner.claim_run(id, from).await
    }
    async fn run(&self, id: &RunId) -> Result<Option<Run>, StoreError> {
        self.inner.run(id).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        self.inner.list_runs(filter).await
    }
    async fn save_step(&self, run: &RunId, step: &StepRecord) -> Result<(), StoreError> {
        self.check()?;
        self.inner.save_step(run, step).await?;
        if step.key == "three" && step.status == StepStatus::Succeeded {
            *self.failing_until.lock().unwrap() = Some(Instant::now() + Duration::from_millis(400));
        }
        Ok(())
    }
    async fn put_schema(&self, fingerprint: &str, schema: &Value) -> Result<(), StoreError> {
        self.inner.put_schema(fingerprint, schema).await
    }
    async fn schema(&self, fingerprint: &str) -> Result<Option<Value>, StoreError> {
        self.inner.schema(fingerprint).await
    }
    async fn accept_delivery(&self, delivery: &Delivery, runs: &[Run]) -> Result<DeliveryOutcome, StoreError> {
        self.check()?;
        self.inner.accept_delivery(delivery, runs).await
    }
    async fn cursor(&self, key: &str) -> Result<Option<Value>, StoreError> {
        self.inner.cursor(key).await
    }
    async fn save_cursor(&self, key: &str, cursor: &Value) -> Result<(), StoreError> {
        self.check()?;
        self.inner.save_cursor(key, cursor).await
    }
    async fn append_logs(&self, run: &RunId, lines: &[connector_runtime::LogLine]) -> Result<(), StoreError> {
        self.inner.append_logs(run, lines).await
    }
    async fn logs(&self, run: &RunId) -> Result<connector_runtime::RunLog, StoreError> {
        self.inner.logs(run).await
    }
}

/// Calls per idempotency key (`{run}:{step}`).
#[derive(Default)]
struct Calls(Mutex<HashMap<String, usize>>);

async fn serve() -> (String, Arc<Calls>) {
    let calls = Arc::new(Calls::default());
    let app = axum::Router::new()
        .route(
            "/{step}",
            axum::routing::post(
                |State(calls): State<Arc<Calls>>, Path(step): Path<String>, headers: HeaderMap| async move {
                    let key = headers.get("idempotency-key").and_then(|k| k.to_str().ok()).unwrap_or("none");
                    *calls.0.lock().unwrap().entry(key.to_owned()).or_default() += 1;
                    axum::Json(step.len() as u32)
                },
            ),
        )
        .with_state(Arc::clone(&calls));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, calls)
}

#[derive(Deserialize, JsonSchema)]
struct StepsConfig {
    url: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Hit {
    step: String,
}

/// The counting service.
struct Steps;

#[connector(id = "steps", name = "Steps", version = "1.0.0", config = StepsConfig)]
impl Steps {
    /// Posts to `/{step}`.
    #[action(id = "hit", name = "Hit")]
    async fn hit(ctx: &ActionContext<StepsConfig>, input: Hit) -> Result<u32, ActionError> {
        ctx.http().post(format!("{}/{}", ctx.config().url, input.step)).send_json().await
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "three.steps")]
struct ThreeSteps {}

// One run at a time, so each run's failure window is its own.
#[job(id = "three", name = "Three", version = "1.0.0", event = ThreeSteps, concurrency = 1,
      integrations(steps = Steps))]
async fn three(_payload: ThreeSteps, io: ThreeIo<'_>) -> Result<u32, JobError> {
    let mut total = 0;
    for step in ["one", "two", "three"] {
        total += io.steps.hit(step, Hit { step: step.to_owned() }).await?;
    }
    Ok(total)
}

#[tokio::test]
async fn runs_stranded_by_a_store_failure_finish_without_a_restart_each_step_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(DiskFills {
        inner: SqliteStore::open(dir.path().join("runs.sqlite3")).unwrap(),
        failing_until: Mutex::new(None),
        failed_writes: AtomicUsize::new(0),
    });
    let (url, calls) = serve().await;
    let engine = Engine::builder()
        .shared_store(Arc::clone(&store) as Arc<dyn RunStore>)
        .retry_stranded_every(Duration::from_millis(100))
        .connector(Steps::init(StepsConfig { url }))
        .job(ThreeJob)
        .build()
        .unwrap();

    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.extend(engine.dispatch(ThreeSteps {}).await.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let runs = loop {
        let runs: Vec<Run> = futures::future::try_join_all(ids.iter().map(|id| store.run(id)))
            .await
            .unwrap()
            .into_iter()
            .flatten()
            .collect();
        if runs.iter().all(|run| run.status.is_finished()) {
            break runs;
        }
        assert!(
            Instant::now() < deadline,
            "runs still unfinished: {:?}",
            runs.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    assert!(store.failed_writes.load(Ordering::SeqCst) >= 3, "every run met the full disk at least once");
    let calls = calls.0.lock().unwrap().clone();
    for run in &runs {
        assert_eq!(run.status, connector_runtime::RunStatus::Succeeded, "{:?}", run.error);
        assert_eq!(run.output, Some(serde_json::json!(3 + 3 + 5)));
        for step in ["one", "two", "three"] {
            assert_eq!(
                calls.get(&format!("{}:{step}", run.id)),
                Some(&1),
                "step {step} of {} called once: {calls:?}",
                run.id
            );
        }
    }
    assert_eq!(calls.len(), 9, "nothing else was called: {calls:?}");
}
