//! Scheduled jobs and polling triggers, on real parts: SQLite files shared by several engines,
//! wall-clock schedules, and a polling trigger against an HTTP service on loopback.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use connector_runtime::prelude::*;
use connector_runtime::store::RunFilter;
use connector_runtime::{EngineError, Job, ScheduledJob, TriggerRef};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Scheduled jobs

/// Runs five times a second.
#[job(id = "heartbeat", name = "Heartbeat", version = "1.0.0", every = "200ms")]
async fn heartbeat(tick: Tick, _io: HeartbeatIo<'_>) -> Result<String, JobError> {
    Ok(tick.scheduled_at.to_rfc3339())
}

/// Runs every second (a cron expression with seconds).
#[job(id = "every-second", name = "Every second", version = "1.0.0", cron = "* * * * * *")]
async fn every_second(tick: Tick, _io: EverySecondIo<'_>) -> Result<(), JobError> {
    assert_eq!(tick.scheduled_at.timestamp_subsec_millis(), 0);
    Ok(())
}

/// Cleans up every five minutes.
#[job(id = "cleanup", name = "Cleanup", version = "1.0.0", cron = "*/5 * * * *")]
async fn cleanup(_tick: Tick, _io: CleanupIo<'_>) -> Result<(), JobError> {
    Ok(())
}

#[job(id = "broken-cron", name = "Broken cron", version = "1.0.0", cron = "61 * * * *")]
async fn broken_cron(_tick: Tick, _io: BrokenCronIo<'_>) -> Result<(), JobError> {
    Ok(())
}

#[job(id = "never", name = "Never", version = "1.0.0", cron = "0 0 30 2 *")]
async fn never(_tick: Tick, _io: NeverIo<'_>) -> Result<(), JobError> {
    Ok(())
}

fn scheduled_engine(path: &Path) -> Engine {
    Engine::builder().sqlite(path).job(HeartbeatJob).job(EverySecondJob).build().expect("the engine builds")
}

/// The `scheduledAt` of every run of `job`, counted.
async fn ticks(engine: &Engine, job: &str) -> BTreeMap<String, usize> {
    let filter = RunFilter { job_id: Some(job.to_owned()), ..RunFilter::default() };
    let mut ticks = BTreeMap::new();
    for run in engine.runs(&filter).await.expect("runs list") {
        let at = run.payload["scheduledAt"].as_str().expect("a tick payload").to_owned();
        *ticks.entry(at).or_insert(0) += 1;
    }
    ticks
}

#[tokio::test(flavor = "multi_thread")]
async fn start_resumes_unfinished_runs_and_starts_the_schedules_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.sqlite3");
    // A tick an earlier process accepted but never ran.
    let left = {
        let store = connector_runtime::store::SqliteStore::open(&path).unwrap();
        let mut run = connector_runtime::store::conformance::sample_run("heartbeat");
        run.payload = json!({ "scheduledAt": "2026-01-01T00:00:00Z" });
        connector_runtime::store::RunStore::create_run(&store, &run).await.unwrap();
        run.id
    };
    let engine = scheduled_engine(&path);
    let running = engine.start(connector_runtime::StartOptions::default()).await.unwrap();
    assert_eq!(running.recovered(), std::slice::from_ref(&left), "the unfinished run is resumed");
    assert_eq!(running.triggers().len(), 2, "one task per scheduled job");
    assert!(running.subscriptions().is_empty(), "no webhook URL, nothing registered");
    assert_eq!(engine.wait(&left).await.unwrap().status, RunStatus::Succeeded);
    let deadline = Instant::now() + Duration::from_secs(10);
    while ticks(&engine, "heartbeat").await.len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ticks(&engine, "heartbeat").await.len() >= 3, "the schedule ticks");
    running.stop().await;
    let after_stop = ticks(&engine, "heartbeat").await.len();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ticks(&engine, "heartbeat").await.len(), after_stop, "no tick after stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_engines_on_one_file_start_each_tick_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.sqlite3");
    let (first, second) = (scheduled_engine(&path), scheduled_engine(&path));
    let (first_tasks, second_tasks) = (first.start_triggers(), second.start_triggers());
    assert_eq!(first_tasks.len(), 2, "one task per scheduled job");
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    first_tasks.stop().await;
    second_tasks.stop().await;

    // A restart: a third engine on the same file goes on with the ticks still to come.
    let third = scheduled_engine(&path);
    let third_tasks = third.start_triggers();
    tokio::time::sleep(Duration::from_millis(700)).await;
    third_tasks.stop().await;

    let heartbeats = ticks(&third, "heartbeat").await;
    let repeated: Vec<_> = heartbeats.iter().filter(|(_, count)| **count > 1).collect();
    assert!(repeated.is_empty(), "ticks started twice: {repeated:?}");
    // 3 s at 5 ticks a second is 15 ticks; a loaded machine may skip a few, never repeat one.
    assert!(heartbeats.len() >= 8, "the heartbeat ran {} times: {heartbeats:?}", heartbeats.len());
    for at in heartbeats.keys() {
        let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
        assert_eq!(at.timestamp_millis() % 200, 0, "{at} is not on the 200 ms grid");
    }
    let seconds = ticks(&third, "every-second").await;
    assert!(seconds.values().all(|count| *count == 1), "{seconds:?}");
    assert!(seconds.len() >= 2, "the cron job ran {} times", seconds.len());

    // Every run of a tick executes, once; the job's output is the tick it got.
    let runs = third.runs(&RunFilter { job_id: Some("heartbeat".into()), ..RunFilter::default() }).await.unwrap();
    for run in &runs {
        let run = third.wait(&run.id).await.unwrap();
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
        assert_eq!(run.executions, 1);
        let due = chrono::DateTime::parse_from_rfc3339(run.payload["scheduledAt"].as_str().unwrap()).unwrap();
        let output = chrono::DateTime::parse_from_rfc3339(run.output.as_ref().unwrap().as_str().unwrap()).unwrap();
        assert_eq!(due, output);
        assert!(matches!(&run.trigger, TriggerRef::Schedule { job, .. } if job == "heartbeat"));
    }
}

#[test]
fn a_cron_jobs_manifest_shows_its_schedule() {
    assert_eq!(CleanupJob::SCHEDULE, connector_runtime::Schedule::Cron("*/5 * * * *"));
    let manifest = serde_json::to_value(CleanupJob::manifest()).unwrap();
    assert_eq!(manifest["trigger"], json!({"kind": "schedule", "job": "cleanup", "cron": "*/5 * * * *"}));
    assert_eq!(manifest["description"], "Cleans up every five minutes.");
    let payload = &manifest["payload"];
    assert_eq!(payload["title"], "Tick");
    assert_eq!(payload["required"], json!(["scheduledAt"]));
    assert_eq!(payload["properties"]["scheduledAt"]["format"], "date-time");

    let manifest = serde_json::to_value(HeartbeatJob::manifest()).unwrap();
    assert_eq!(manifest["trigger"], json!({"kind": "schedule", "job": "heartbeat", "every": "200ms"}));
}

#[test]
fn a_bad_cron_expression_is_refused_at_build() {
    let error = Engine::builder().store(connector_runtime::store::MemoryStore::new()).job(BrokenCronJob).build();
    let error = error.expect_err("61 is no minute");
    assert!(matches!(error, EngineError::InvalidSchedule { job: "broken-cron", .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("job `broken-cron` has the schedule `cron = \"61 * * * *\"`, which is not valid"),
        "{message}"
    );

    let error = Engine::builder().store(connector_runtime::store::MemoryStore::new()).job(NeverJob).build();
    let message = error.expect_err("February 30th never comes").to_string();
    assert!(message.contains("`cron = \"0 0 30 2 *\"`") && message.contains("never fires"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// Polling triggers

/// An issue in the tracker service.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Issue {
    id: u64,
    title: String,
}

#[derive(Deserialize, JsonSchema)]
struct TrackerConfig {
    base_url: String,
}

/// An issue tracker with no webhooks: new issues are found by polling.
struct Tracker;

#[connector(id = "tracker", name = "Tracker", version = "1.0.0", config = TrackerConfig)]
impl Tracker {
    /// Issues opened since the last poll.
    #[trigger(id = "issues.new", name = "New Issues", poll(every = "100ms"))]
    async fn new_issues(
        ctx: &TriggerContext<TrackerConfig>,
        cursor: Option<u64>,
    ) -> Result<Polled<Issue, u64>, ActionError> {
        let after = cursor.unwrap_or(0);
        let issues: Vec<Issue> =
            ctx.http().get(format!("{}/issues", ctx.config().base_url)).query(&[("after", after)]).send_json().await?;
        let last = issues.iter().map(|issue| issue.id).max().map_or(after, |last| last.max(after));
        Ok(Polled::from_items(issues, |issue| issue.id).with_cursor(last))
    }
}

#[job(id = "triage", name = "Triage", version = "1.0.0", trigger = Tracker::new_issues)]
async fn triage(issue: Issue, _io: TriageIo<'_>) -> Result<u64, JobError> {
    Ok(issue.id)
}

/// The tracker service: issues with increasing ids. `GET /issues?after=N` answers the issues
/// after N — and, like many real APIs with coarse cursors, the two before it again.
#[derive(Default)]
struct Service {
    issues: Vec<Issue>,
    /// The `after` of every request, with when it came.
    requests: Vec<(u64, Instant)>,
    /// Answer the next request with 429 and this `Retry-After` (seconds).
    rate_limit_next: Option<u64>,
}

type Shared = Arc<Mutex<Service>>;

#[derive(Deserialize)]
struct After {
    after: u64,
}

async fn list_issues(State(service): State<Shared>, Query(After { after }): Query<After>) -> Response {
    let mut service = service.lock().unwrap();
    service.requests.push((after, Instant::now()));
    if let Some(seconds) = service.rate_limit_next.take() {
        let headers = [("retry-after", seconds.to_string())];
        return (StatusCode::TOO_MANY_REQUESTS, headers, axum::Json(json!({"error": "slow down"}))).into_response();
    }
    let from = after.saturating_sub(2);
    let issues: Vec<Issue> = service.issues.iter().filter(|issue| issue.id > from).cloned().collect();
    axum::Json(issues).into_response()
}

async fn start_service() -> (Shared, String) {
    let service = Shared::default();
    let app = axum::Router::new().route("/issues", get(list_issues)).with_state(Arc::clone(&service));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (service, url)
}

fn open_issues(service: &Shared, ids: std::ops::RangeInclusive<u64>) {
    let mut service = service.lock().unwrap();
    service.issues.extend(ids.map(|id| Issue { id, title: format!("issue {id}") }));
}

fn tracker_engine(path: &Path, url: &str) -> Engine {
    Engine::builder()
        .sqlite(path)
        .connector(Tracker::init(TrackerConfig { base_url: url.to_owned() }))
        .job(TriageJob)
        .build()
        .expect("the engine builds")
}

/// How many runs of `triage` each issue id started.
async fn triaged(engine: &Engine) -> BTreeMap<u64, usize> {
    let filter = RunFilter { job_id: Some("triage".to_owned()), ..RunFilter::default() };
    let mut counts = BTreeMap::new();
    for run in engine.runs(&filter).await.unwrap() {
        *counts.entry(run.payload["id"].as_u64().expect("an issue payload")).or_insert(0) += 1;
    }
    counts
}

/// Waits until `triage` has runs for issues 1..=`last`.
async fn wait_for_issues(engine: &Engine, last: u64) -> BTreeMap<u64, usize> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counts = triaged(engine).await;
        if (1..=last).all(|id| counts.contains_key(&id)) || Instant::now() > deadline {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn polled_items_start_their_jobs_once_across_a_restart() {
    let (service, url) = start_service().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("runs.sqlite3");
    open_issues(&service, 1..=3);

    let engine = tracker_engine(&path, &url);
    let tasks = engine.start_triggers();
    assert_eq!(tasks.len(), 1, "one poll task: the trigger has a job");
    wait_for_issues(&engine, 3).await;
    open_issues(&service, 4..=6);
    wait_for_issues(&engine, 6).await;
    // Several polls see issues 5 and 6 again (the service repeats the two before the cursor).
    tokio::time::sleep(Duration::from_millis(350)).await;
    tasks.stop().await;
    drop(engine);

    // While no engine runs, more issues come.
    open_issues(&service, 7..=9);
    let engine = tracker_engine(&path, &url);
    let key = "poll:tracker/issues.new";
    assert_eq!(engine.store().cursor(key).await.unwrap(), Some(json!(6)), "the cursor survived the restart");
    // As if the last process had died after starting the runs of issues 3 to 6 but before
    // saving the cursor past them: the next poll fetches them again.
    engine.store().save_cursor(key, &json!(2)).await.unwrap();
    engine.recover().await.unwrap();
    let tasks = engine.start_triggers();
    wait_for_issues(&engine, 9).await;
    open_issues(&service, 10..=11);
    let counts = wait_for_issues(&engine, 11).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    tasks.stop().await;

    let counts_after = triaged(&engine).await;
    assert_eq!(counts, counts_after, "no run started after the last issue was seen");
    let expected: BTreeMap<u64, usize> = (1..=11).map(|id| (id, 1)).collect();
    assert_eq!(counts_after, expected, "every issue triaged exactly once");
    assert_eq!(engine.store().cursor(key).await.unwrap(), Some(json!(11)));

    // The service was asked from the reset cursor, and saw items again after every cursor.
    let requests = service.lock().unwrap().requests.iter().map(|(after, _)| *after).collect::<BTreeSet<_>>();
    assert!(requests.contains(&2) && requests.contains(&0) && requests.contains(&11), "{requests:?}");

    let runs = engine.runs(&RunFilter { job_id: Some("triage".into()), ..RunFilter::default() }).await.unwrap();
    for run in runs {
        let run = engine.wait(&run.id).await.unwrap();
        assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
        assert_eq!(run.output, Some(run.payload["id"].clone()));
        assert_eq!(run.trigger, TriggerRef::Connector { connector: "tracker".into(), trigger: "issues.new".into() });
    }
}

#[tokio::test]
async fn poll_now_reports_new_and_repeated_items() {
    let (service, url) = start_service().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = tracker_engine(&dir.path().join("runs.sqlite3"), &url);
    open_issues(&service, 1..=4);

    let report = engine.poll_now(Tracker::NEW_ISSUES).await.unwrap();
    assert_eq!((report.items, report.new_items, report.runs.len()), (4, 4, 4));
    engine.wait_all(&report.runs).await.unwrap();
    // The service repeats issues 3 and 4; nothing new starts.
    let report = engine.poll_now(Tracker::NEW_ISSUES).await.unwrap();
    assert_eq!((report.items, report.new_items, report.runs.len()), (2, 0, 0));
    open_issues(&service, 5..=5);
    let report = engine.poll_now(Tracker::NEW_ISSUES).await.unwrap();
    assert_eq!((report.items, report.new_items), (3, 1));
    let run = engine.wait(&report.runs[0]).await.unwrap();
    assert_eq!(run.payload, json!({"id": 5, "title": "issue 5"}));
}

#[tokio::test]
async fn a_rate_limited_poll_waits_as_asked() {
    let (service, url) = start_service().await;
    let dir = tempfile::tempdir().unwrap();
    let engine = tracker_engine(&dir.path().join("runs.sqlite3"), &url);
    service.lock().unwrap().rate_limit_next = Some(1);

    let error = engine.poll_now(Tracker::NEW_ISSUES).await.expect_err("429");
    assert!(
        matches!(
            &error,
            connector_runtime::PollError::Poll(ActionError::RateLimited { retry_after: Some(wait), .. })
                if *wait == Duration::from_secs(1)
        ),
        "{error:?}"
    );
    assert_eq!(engine.store().cursor("poll:tracker/issues.new").await.unwrap(), None, "the cursor did not move");

    // A background poll that gets a 429 waits the second the service asked for, instead of its
    // 100 ms interval (a fresh engine, so nothing is left of the 429 above).
    drop(engine);
    let engine = tracker_engine(&dir.path().join("other.sqlite3"), &url);
    service.lock().unwrap().requests.clear();
    service.lock().unwrap().rate_limit_next = Some(1);
    let tasks = engine.start_triggers();
    tokio::time::sleep(Duration::from_millis(1_600)).await;
    tasks.stop().await;
    let requests = service.lock().unwrap().requests.clone();
    assert!(requests.len() >= 2, "{} polls in 1.6 s", requests.len());
    let (limited, next) = (requests[0].1, requests[1].1);
    assert!(next - limited >= Duration::from_millis(950), "the poll after a 429 came {:?} later", next - limited);
    // After the wait, the 100 ms interval again.
    assert!((3..=8).contains(&requests.len()), "{} polls in 1.6 s", requests.len());
}

#[test]
fn a_polling_trigger_in_the_connector_manifest() {
    let manifest = serde_json::to_value(Tracker::manifest()).unwrap();
    let trigger = &manifest["triggers"][0];
    assert_eq!(trigger["id"], "issues.new");
    assert_eq!(trigger["description"], "Issues opened since the last poll.");
    assert_eq!(trigger["poll"], json!({"every": "100ms"}));
    assert_eq!(trigger["output"]["title"], "Issue");
    assert_eq!(trigger["payload"], trigger["output"]);
    let job: Value = serde_json::to_value(TriageJob::manifest()).unwrap();
    assert_eq!(job["trigger"], json!({"kind": "connector", "connector": "tracker", "trigger": "issues.new"}));
    assert_eq!(job["payload"]["title"], "Issue");
}

#[tokio::test]
async fn a_polling_trigger_without_a_job_is_not_polled() {
    let (service, url) = start_service().await;
    let engine = Engine::builder()
        .store(connector_runtime::store::MemoryStore::new())
        .connector(Tracker::init(TrackerConfig { base_url: url }))
        .build()
        .unwrap();
    let tasks = engine.start_triggers();
    assert!(tasks.is_empty());
    tokio::time::sleep(Duration::from_millis(150)).await;
    drop(tasks);
    assert!(service.lock().unwrap().requests.is_empty());
}
