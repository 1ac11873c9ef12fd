//! Durable steps against a real HTTP server on loopback: retries, Retry-After, credentials,
//! timeouts, idempotency keys, rate limits, output limits, resume and replay, durable waits.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use connector_runtime::prelude::*;
use connector_runtime::store::{MemoryStore, RunStore};
use connector_runtime::{RunId, StepKind, StepRecord, StepStatus};

/// What the server answers next.
#[derive(Clone)]
struct Answer {
    status: u16,
    retry_after: Option<&'static str>,
    delay: Duration,
}

fn status(status: u16) -> Answer {
    Answer { status, retry_after: None, delay: Duration::ZERO }
}

/// A scripted HTTP service: answers from the script in order, then 200.
#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    hits: AtomicUsize,
    idempotency_keys: Mutex<Vec<String>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    big: bool,
}

async fn answer(State(script): State<Arc<Script>>, headers: HeaderMap) -> Response {
    let hit = script.hits.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        script.idempotency_keys.lock().unwrap().push(key.to_owned());
    }
    let now = script.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    script.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let next = script.answers.lock().unwrap().pop_front().unwrap_or(status(200));
    tokio::time::sleep(next.delay.max(Duration::from_millis(5))).await;
    script.in_flight.fetch_sub(1, Ordering::SeqCst);
    let code = StatusCode::from_u16(next.status).unwrap();
    if !code.is_success() {
        let mut response =
            (code, axum::Json(serde_json::json!({"error": format!("scripted {}", next.status)}))).into_response();
        if let Some(wait) = next.retry_after {
            response.headers_mut().insert("retry-after", wait.parse().unwrap());
        }
        return response;
    }
    let payload = if script.big { "x".repeat(4096) } else { String::new() };
    axum::Json(serde_json::json!({"hit": hit, "payload": payload})).into_response()
}

/// Starts the scripted server on 127.0.0.1 and returns its base URL.
async fn serve(script: Arc<Script>) -> String {
    let app = axum::Router::new().route("/thing", axum::routing::get(answer).post(answer)).with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[derive(Deserialize, JsonSchema)]
struct RemoteConfig {
    url: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Fetch {}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Fetched {
    hit: usize,
    payload: String,
}

/// Posts to `/thing` on the scripted server.
struct Remote;

#[connector(id = "remote", name = "Remote", version = "1.0.0", config = RemoteConfig)]
impl Remote {
    #[action(id = "fetch", name = "Fetch")]
    async fn fetch(ctx: &ActionContext<RemoteConfig>, _input: Fetch) -> Result<Fetched, ActionError> {
        // A POST: only unsafe requests carry the step's idempotency key.
        ctx.http().post(format!("{}/thing", ctx.config().url)).send_json().await
    }
}

/// The same service, limited to 5 requests a second, one at a time.
struct Limited;

#[connector(id = "limited", name = "Limited", version = "1.0.0", config = RemoteConfig,
            rate_limit(per_second = 5, burst = 1, concurrency = 1))]
impl Limited {
    #[action(id = "fetch", name = "Fetch")]
    async fn fetch(ctx: &ActionContext<RemoteConfig>, _input: Fetch) -> Result<Fetched, ActionError> {
        ctx.http().get(format!("{}/thing", ctx.config().url)).send_json().await
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "fetch.once")]
struct FetchOnce {}

#[job(id = "fetch-once", name = "Fetch once", version = "1.0.0", event = FetchOnce, integrations(remote = Remote))]
async fn fetch_once(_payload: FetchOnce, io: FetchOnceIo<'_>) -> Result<usize, JobError> {
    Ok(io.remote.fetch("fetch", Fetch {}).await?.hit)
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "fetch.twice")]
struct FetchTwice {}

#[job(id = "fetch-twice", name = "Fetch twice", version = "1.0.0", event = FetchTwice, integrations(remote = Remote))]
async fn fetch_twice(_payload: FetchTwice, io: FetchTwiceIo<'_>) -> Result<Vec<usize>, JobError> {
    let first = io.remote.fetch("first", Fetch {}).await?.hit;
    let second = io.remote.fetch("second", Fetch {}).await?.hit;
    Ok(vec![first, second])
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "limited.fetch")]
struct LimitedFetch {
    times: usize,
}

#[job(id = "limited-fetch", name = "Limited fetch", version = "1.0.0", event = LimitedFetch, integrations(limited = Limited))]
async fn limited_fetch(payload: LimitedFetch, io: LimitedFetchIo<'_>) -> Result<(), JobError> {
    for i in 0..payload.times {
        io.limited.fetch(&format!("fetch-{i}"), Fetch {}).await?;
    }
    Ok(())
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "nap")]
struct Nap {
    millis: u64,
}

#[job(id = "napper", name = "Napper", version = "1.0.0", event = Nap, integrations(remote = Remote))]
async fn napper(payload: Nap, io: NapperIo<'_>) -> Result<usize, JobError> {
    io.wait_for("nap", Duration::from_millis(payload.millis)).await?;
    Ok(io.remote.fetch("after-nap", Fetch {}).await?.hit)
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "one.at.a.time")]
struct OneAtATime {}

#[job(id = "one-at-a-time", name = "One at a time", version = "1.0.0", event = OneAtATime,
      integrations(remote = Remote), concurrency = 1)]
async fn one_at_a_time(_payload: OneAtATime, io: OneAtATimeIo<'_>) -> Result<usize, JobError> {
    Ok(io.remote.fetch("fetch", Fetch {}).await?.hit)
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "patient")]
struct Patient {
    per_call: bool,
}

/// Two attempts per step by the job's policy; one when the call says so.
#[job(id = "patient", name = "Patient", version = "1.0.0", event = Patient,
      integrations(remote = Remote), retry(max_attempts = 2, min_delay = "10ms", jitter = false))]
async fn patient(payload: Patient, io: PatientIo<'_>) -> Result<usize, JobError> {
    let remote = if payload.per_call { io.remote.with_retry(RetryPolicy::never()) } else { io.remote };
    Ok(remote.fetch("fetch", Fetch {}).await?.hit)
}

/// Fast retries, so the tests take milliseconds (Retry-After still rules where given).
fn quick() -> RetryPolicy {
    RetryPolicy::DEFAULT.with_delays(Duration::from_millis(10), Duration::from_millis(50)).without_jitter()
}

async fn engine_for(script: Arc<Script>, store: Arc<dyn RunStore>, policy: RetryPolicy) -> Engine {
    let url = serve(script).await;
    Engine::builder()
        .shared_store(store)
        .retry_policy(policy)
        .connector(Remote::init(RemoteConfig { url: url.clone() }))
        .connector(Limited::init(RemoteConfig { url }))
        .job(FetchOnceJob)
        .job(FetchTwiceJob)
        .job(LimitedFetchJob)
        .job(NapperJob)
        .job(OneAtATimeJob)
        .job(PatientJob)
        .build()
        .unwrap()
}

fn scripted(answers: Vec<Answer>) -> Arc<Script> {
    Arc::new(Script { answers: Mutex::new(answers.into()), ..Default::default() })
}

#[tokio::test]
async fn two_500s_then_200_succeeds_on_the_third_attempt() {
    let script = scripted(vec![status(500), status(500)]);
    let engine = engine_for(script.clone(), Arc::new(MemoryStore::new()), quick()).await;
    let run = engine.send(FetchOnce {}).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(serde_json::json!(3)));
    assert_eq!(run.steps[0].attempts, 3);
    // The two failures are kept with the step, with the policy that retried them.
    let retries = run.steps[0].retries.as_ref().expect("the failed attempts are recorded");
    assert_eq!(retries.policy, quick());
    assert_eq!(retries.failed.iter().map(|failed| failed.attempt).collect::<Vec<_>>(), [1, 2]);
    assert!(retries.failed.iter().all(|failed| failed.error.contains("500")), "{:?}", retries.failed);
    assert!(retries.failed.iter().all(|failed| failed.failed_at >= failed.started_at));
    assert_eq!(script.hits.load(Ordering::SeqCst), 3);
    let keys = script.idempotency_keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 3);
    assert!(
        keys.iter().all(|key| key == &format!("{}:fetch", run.id)),
        "one idempotency key across attempts: {keys:?}"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_waits_at_least_that_long() {
    let script = scripted(vec![Answer { retry_after: Some("1"), ..status(429) }]);
    let engine = engine_for(script.clone(), Arc::new(MemoryStore::new()), quick()).await;
    let started = Instant::now();
    let run = engine.send(FetchOnce {}).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert!(started.elapsed() >= Duration::from_secs(1), "waited only {:?}", started.elapsed());
    assert_eq!(run.steps[0].attempts, 2);
    let failed = &run.steps[0].retries.as_ref().expect("the 429 is recorded").failed;
    assert!(failed[0].retry_after_ms >= 1000, "the wait the service asked for: {failed:?}");
}

#[tokio::test]
async fn a_401_fails_at_once_and_says_to_check_the_credentials() {
    let script = scripted(vec![status(401), status(401)]);
    let engine = engine_for(script.clone(), Arc::new(MemoryStore::new()), quick()).await;
    let run = engine.send(FetchOnce {}).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(script.hits.load(Ordering::SeqCst), 1, "credentials errors are not retried");
    assert_eq!(run.steps[0].attempts, 1);
    assert_eq!(run.steps[0].retries, None, "nothing was retried");
    let error = run.error.unwrap();
    assert!(error.contains("check the connector's credentials"), "{error}");
}

#[tokio::test]
async fn other_4xx_are_not_retried() {
    let script = scripted(vec![status(422)]);
    let engine = engine_for(script.clone(), Arc::new(MemoryStore::new()), quick()).await;
    let run = engine.send(FetchOnce {}).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(script.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_hanging_server_hits_the_per_attempt_timeout() {
    let hang = Answer { delay: Duration::from_secs(30), ..status(200) };
    let script = scripted(vec![hang.clone(), hang]);
    let policy = quick().with_max_attempts(2).with_attempt_timeout(Some(Duration::from_millis(200)));
    let engine = engine_for(script.clone(), Arc::new(MemoryStore::new()), policy).await;
    let started = Instant::now();
    let run = engine.send(FetchOnce {}).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Failed);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!(run.steps[0].attempts, 2);
    assert!(run.error.as_deref().unwrap().contains("timed out after 200 ms"), "{:?}", run.error);
}

#[tokio::test]
async fn a_connector_rate_limit_spaces_and_serializes_requests() {
    let script = scripted(vec![]);
    let engine = engine_for(script.clone(), Arc::new(MemoryStore::new()), quick()).await;
    let started = Instant::now();
    let ids: Vec<RunId> = [
        engine.dispatch(LimitedFetch { times: 3 }).await.unwrap(),
        engine.dispatch(LimitedFetch { times: 3 }).await.unwrap(),
    ]
    .concat();
    for run in engine.wait_all(&ids).await.unwrap() {
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    }
    // 6 requests at 5/s with a burst of 1: the last may go 1 s after the first.
    assert!(started.elapsed() >= Duration::from_millis(950), "took {:?}", started.elapsed());
    assert_eq!(script.max_in_flight.load(Ordering::SeqCst), 1, "concurrency = 1 across both runs");
}

#[tokio::test]
async fn an_output_over_the_limit_fails_the_step() {
    let script = Arc::new(Script { big: true, ..Default::default() });
    let url = serve(script).await;
    let engine = Engine::builder()
        .store(MemoryStore::new())
        .max_step_output(1024)
        .connector(Remote::init(RemoteConfig { url }))
        .job(FetchOnceJob)
        .build()
        .unwrap();
    let run = engine.send(FetchOnce {}).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.unwrap();
    assert!(error.contains("over the limit of 1024 bytes"), "{error}");
    assert_eq!(run.steps[0].status, StepStatus::Failed);
}

#[tokio::test]
async fn a_resumed_run_does_not_repeat_completed_steps() {
    // The second step fails for good the first time (a 400); resumed, it runs again, the first does not.
    let script = scripted(vec![status(200), status(400)]);
    let engine = engine_for(script.clone(), Arc::new(MemoryStore::new()), quick()).await;
    let failed = engine.send(FetchTwice {}).await.unwrap().remove(0);
    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(script.hits.load(Ordering::SeqCst), 2);

    engine.resume(&failed.id).await.unwrap();
    let resumed = engine.wait(&failed.id).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Succeeded, "{:?}", resumed.error);
    assert_eq!(resumed.output, Some(serde_json::json!([1, 3])), "the first step's output is the stored one");
    assert_eq!(script.hits.load(Ordering::SeqCst), 3, "only the failed step ran again");
    assert_eq!(resumed.executions, 2);
    let again = engine.resume(&failed.id).await.unwrap_err();
    assert!(again.to_string().contains("it succeeded already"), "{again}");
}

#[tokio::test]
async fn a_stored_output_that_no_longer_fits_fails_with_both_schemas() {
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    let script = scripted(vec![]);
    let engine = engine_for(script.clone(), Arc::clone(&store), quick()).await;
    // A run that completed its step under an older connector whose output was `{"count": n}`.
    let run = connector_runtime::store::conformance::sample_run("fetch-once");
    store.create_run(&run).await.unwrap();
    let old_schema = serde_json::json!({"type": "object", "properties": {"count": {"type": "integer"}}});
    store.put_schema("00000000000old01", &old_schema).await.unwrap();
    let step = StepRecord {
        key: "fetch".into(),
        kind: StepKind::Action { connector: "remote".into(), action: "fetch".into() },
        status: StepStatus::Succeeded,
        input: serde_json::json!({}),
        output: Some(serde_json::json!({"count": 7})),
        error: None,
        output_schema: Some("00000000000old01".into()),
        attempts: 1,
        started_at: Utc::now(),
        finished_at: Some(Utc::now()),
        retries: None,
    };
    store.save_step(&run.id, &step).await.unwrap();

    engine.resume(&run.id).await.unwrap();
    let run = engine.wait(&run.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.unwrap();
    assert!(error.contains("step `fetch`") && error.contains("no longer fits"), "{error}");
    assert!(error.contains(r#""count""#) && error.contains(r#""hit""#), "names the old and the new schema: {error}");
    assert_eq!(script.hits.load(Ordering::SeqCst), 0, "never a silent re-run or a wrong value");
}

#[tokio::test]
async fn a_durable_wait_marks_the_run_waiting_then_goes_on() {
    let script = scripted(vec![]);
    let engine = engine_for(script, Arc::new(MemoryStore::new()), quick()).await;
    let id = engine.dispatch(Nap { millis: 400 }).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let waiting = engine.run(&id).await.unwrap().unwrap();
    assert_eq!(waiting.status, RunStatus::Waiting);
    assert!(waiting.wake_at.is_some());
    let done = engine.wait(&id).await.unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    assert_eq!(done.steps[0].key, "nap");
    assert!(matches!(done.steps[0].kind, StepKind::Wait { .. }));
}

#[tokio::test]
async fn recovery_resumes_a_waiting_run_when_its_wait_ends() {
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    // What a killed process left: a run sleeping until 300 ms from now.
    let mut run = connector_runtime::store::conformance::sample_run("napper");
    run.payload = serde_json::json!({"millis": 60_000});
    store.create_run(&run).await.unwrap();
    let until = Utc::now() + chrono::Duration::milliseconds(300);
    let wait = StepRecord {
        key: "nap".into(),
        kind: StepKind::Wait { until },
        status: StepStatus::Running,
        input: serde_json::json!({"until": until}),
        output: None,
        error: None,
        output_schema: None,
        attempts: 1,
        started_at: Utc::now(),
        finished_at: None,
        retries: None,
    };
    store.save_step(&run.id, &wait).await.unwrap();
    let waiting = connector_runtime::store::RunUpdate {
        wake_at: Some(until),
        ..connector_runtime::store::RunUpdate::status(RunStatus::Waiting)
    };
    store.update_run(&run.id, &waiting).await.unwrap();

    let engine = engine_for(scripted(vec![]), Arc::clone(&store), quick()).await;
    let started = Instant::now();
    assert_eq!(engine.recover().await.unwrap(), vec![run.id.clone()]);
    let done = engine.wait(&run.id).await.unwrap();
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(10),
        "the stored wake-up time rules, not the payload's 60 s: {waited:?}"
    );
}

#[tokio::test]
async fn a_job_concurrency_limit_runs_one_at_a_time() {
    let slow = Answer { delay: Duration::from_millis(60), ..status(200) };
    let script = scripted(vec![slow.clone(), slow.clone(), slow]);
    let engine = engine_for(script.clone(), Arc::new(MemoryStore::new()), quick()).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.extend(engine.dispatch(OneAtATime {}).await.unwrap());
    }
    let waiting = engine.runs(&Default::default()).await.unwrap();
    assert!(
        waiting.iter().filter(|run| run.status == RunStatus::Queued).count() >= 1,
        "runs over the limit wait queued"
    );
    for run in engine.wait_all(&ids).await.unwrap() {
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    }
    assert_eq!(script.max_in_flight.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_job_policy_applies_unless_the_call_sets_its_own() {
    let script = scripted(vec![status(500), status(500), status(500)]);
    let engine = engine_for(script.clone(), Arc::new(MemoryStore::new()), quick()).await;
    let by_job = engine.send(Patient { per_call: false }).await.unwrap().remove(0);
    assert_eq!(by_job.status, RunStatus::Failed);
    assert_eq!(by_job.steps[0].attempts, 2, "the job's retry(max_attempts = 2) over the engine's 5");
    let by_call = engine.send(Patient { per_call: true }).await.unwrap().remove(0);
    assert_eq!(by_call.steps[0].attempts, 1, "with_retry(never) over the job's policy");
    assert_eq!(script.hits.load(Ordering::SeqCst), 3);
}
