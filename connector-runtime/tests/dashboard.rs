//! The dashboard over HTTP: the API key once for a session cookie (HttpOnly, SameSite=Strict),
//! nothing shown without it, runs listed and shown with payloads escaped, the live fragments,
//! and cancel guarded by a CSRF token.
#![cfg(feature = "dashboard")]

use std::time::Duration;

use connector_runtime::prelude::*;
use connector_runtime::server::{self, ServerConfig};
use connector_runtime::{RunStatus, StepKind};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

const KEY: &str = "dashboard-test-key";

#[path = "support/review_note.rs"]
mod review_note;
use review_note::{Approval, NoteFiled, ReviewNoteJob};

#[derive(Deserialize, JsonSchema)]
struct ProbeConfig {
    /// Whether the credentials work.
    valid: bool,
    token: Secret,
}

/// A connector whose credential check answers as its config says.
struct Probe;

#[connector(id = "probe", name = "Probe", version = "2.1.0", config = ProbeConfig, check = Self::check)]
impl Probe {
    async fn check(ctx: &ActionContext<ProbeConfig>) -> Result<(), ActionError> {
        if ctx.config().valid {
            Ok(())
        } else {
            Err(ActionError::Unauthorized {
                status: 401,
                message: format!("token {} refused", ctx.config().token.expose()),
            })
        }
    }

    /// Looks at something, changing nothing.
    #[action(id = "look", name = "Look", read_only)]
    async fn look(_ctx: &ActionContext<ProbeConfig>, input: Approval) -> Result<Approval, ActionError> {
        Ok(input)
    }
}

/// The server for `engine` on a free loopback port, behind [`KEY`], and its base URL.
async fn serve(engine: Engine) -> (server::RunningServer, String) {
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        api_key: Some(Secret::new(KEY)),
        ..ServerConfig::default()
    };
    let running = server::start(engine, config).await.unwrap();
    let base = running.url();
    (running, base)
}

/// An engine on a memory store with the review-note job.
fn review_engine() -> Engine {
    Engine::builder().store(connector_runtime::store::MemoryStore::new()).job(ReviewNoteJob).build().unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The value of the `csrf` field in `page`.
fn csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_needs_the_key_escapes_payloads_and_guards_actions() {
    let engine = review_engine();
    let run = engine.dispatch(NoteFiled { text: "<script>alert('owned')</script>".into() }).await.unwrap().remove(0);
    // Parked on its token, with its log line kept.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while engine.run(&run).await.unwrap().unwrap().status != RunStatus::Waiting {
        assert!(std::time::Instant::now() < deadline, "the run parks");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (running, base) = serve(engine.clone()).await;
    let http = client();

    // Nothing without the key: pages send to the sign-in form, actions are refused.
    let answer = http.get(format!("{base}/runs/{run}")).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()[LOCATION], format!("/login?next=/runs/{run}").as_str());
    let answer = http.post(format!("{base}/runs/{run}/cancel")).form(&[("csrf", "x")]).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let form = http.get(format!("{base}/login")).send().await.unwrap().text().await.unwrap();
    assert!(form.contains("type=\"password\"") && form.contains("<title>Sign in"), "{form}");

    let answer = http.post(format!("{base}/login")).form(&[("key", "wrong"), ("next", "/")]).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert!(answer.headers().get(SET_COOKIE).is_none());
    let answer = http
        .post(format!("{base}/login"))
        .form(&[("key", KEY), ("next", "https://elsewhere.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()[LOCATION], "/", "no redirect off the site after signing in");
    let cookie = answer.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(!cookie.contains(KEY), "the cookie is not the key: {cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();

    // The runs list and a run, the payload escaped.
    let list = http.get(format!("{base}/")).header(COOKIE, &session).send().await.unwrap();
    assert_eq!(list.status(), StatusCode::OK);
    assert_eq!(list.headers()["x-frame-options"], "DENY");
    let list = list.text().await.unwrap();
    assert!(
        list.contains(&format!("/runs/{run}")) && list.contains("review-note") && list.contains("waiting"),
        "{list}"
    );
    let rows =
        http.get(format!("{base}/?fragment=rows")).header(COOKIE, &session).send().await.unwrap().text().await.unwrap();
    assert!(rows.trim_start().starts_with("<tr>") && rows.contains(run.as_str()), "the live rows alone: {rows}");
    let page =
        http.get(format!("{base}/runs/{run}")).header(COOKIE, &session).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains("<script>alert"), "the payload is not markup");
    assert!(page.contains("&lt;script&gt;alert('owned')&lt;/script&gt;"), "the payload is shown as text");
    assert!(page.contains("reviewing &lt;script&gt;"), "the log line, escaped");
    assert!(page.contains(">review<") || page.contains("review</code>"), "the token step is listed: {page}");
    let bearer = http.get(format!("{base}/runs/{run}")).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(bearer.status(), StatusCode::OK, "a bearer token works too");

    // Cancel: refused without the form's CSRF token, done with it.
    let forged = http
        .post(format!("{base}/runs/{run}/cancel"))
        .header(COOKIE, &session)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(engine.run(&run).await.unwrap().unwrap().status, RunStatus::Waiting, "nothing was cancelled");
    let token = csrf(&page);
    let done = http
        .post(format!("{base}/runs/{run}/cancel"))
        .header(COOKIE, &session)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let cancelled = engine.run(&run).await.unwrap().unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert!(cancelled.steps.iter().any(|step| matches!(step.kind, StepKind::Token { .. })));

    // A token completed from the page: a payload that does not fit is refused, one that does
    // resumes the run; then the finished run replayed as a new one.
    let second = engine.dispatch(NoteFiled { text: "second".into() }).await.unwrap().remove(0);
    while engine.run(&second).await.unwrap().unwrap().status != RunStatus::Waiting {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let page =
        http.get(format!("{base}/runs/{second}")).header(COOKIE, &session).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&format!("/runs/{second}/complete")), "a form for the open token");
    let complete = |payload: &'static str| {
        let (http, url, session, token) =
            (http.clone(), format!("{base}/runs/{second}/complete"), session.clone(), token.clone());
        async move {
            let form = [("csrf", token.as_str()), ("step", "review"), ("payload", payload)];
            http.post(url).header(COOKIE, session).form(&form).send().await.unwrap()
        }
    };
    let misfit = complete(r#"{"ok": "yes"}"#).await;
    assert_eq!(misfit.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(misfit.text().await.unwrap().contains("ok"), "the error names the field");
    assert_eq!(complete("not json").await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(complete(r#"{"ok": true}"#).await.status(), StatusCode::SEE_OTHER);
    let done = engine.wait(&second).await.unwrap();
    assert_eq!((done.status, done.output.clone()), (RunStatus::Succeeded, Some(serde_json::json!(true))));

    let replayed = http
        .post(format!("{base}/runs/{second}/replay"))
        .header(COOKIE, &session)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    let new = replayed.headers()[LOCATION].to_str().unwrap().trim_start_matches("/runs/").to_owned();
    assert_ne!(new, second.to_string(), "a new run");
    let new = engine.run(&connector_runtime::RunId::from(new.as_str())).await.unwrap().expect("the replay is recorded");
    assert_eq!(new.payload, done.payload, "with the same payload");
    assert_eq!(new.job_id, "review-note");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_manifest_page_lists_connectors_and_jobs_and_checks_credentials() {
    let token = "probe-token-do-not-show";
    let engine = Engine::builder()
        .store(connector_runtime::store::MemoryStore::new())
        .connector(Probe::init(ProbeConfig { valid: false, token: Secret::new(token) }))
        .job(ReviewNoteJob)
        .build()
        .unwrap();
    let (running, base) = serve(engine).await;
    let http = client();
    assert_eq!(http.get(format!("{base}/connectors")).send().await.unwrap().status(), StatusCode::SEE_OTHER);
    let page = http.get(format!("{base}/connectors")).bearer_auth(KEY).send().await.unwrap().text().await.unwrap();
    for expected in
        ["probe", "2.1.0", "look", "Looks at something, changing nothing.", "read-only", "review-note", "note.filed"]
    {
        assert!(page.contains(expected), "{expected} on the page");
    }
    // Schemas read as tables of fields (the action's input and output: `Approval { ok: bool }`).
    assert!(page.contains("<code>ok</code>") && page.contains("<td>boolean</td>"), "fields with their types: {page}");
    let forged = http
        .post(format!("{base}/connectors/probe/check"))
        .bearer_auth(KEY)
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let checked = http
        .post(format!("{base}/connectors/probe/check"))
        .bearer_auth(KEY)
        .form(&[("csrf", csrf(&page).as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(checked.contains("role=\"alert\"") && checked.contains("refused"), "the check's failure is shown");
    assert!(!checked.contains(token), "without the token");
    running.shutdown().await.unwrap();
}

/// Reads `stream` until an SSE event named `name` whose data is `data` arrives.
async fn event(stream: &mut reqwest::Response, buffer: &mut String, name: &str, data: &str) {
    let wanted = format!("event: {name}\ndata: {data}\n");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !buffer.contains(&wanted) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .unwrap_or_else(|_| panic!("no `{name}` event for {data}; got {buffer:?}"))
            .unwrap()
            .expect("the stream stays open");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_event_stream_announces_each_run_that_changes_and_ends_at_shutdown() {
    let engine = review_engine();
    let (running, base) = serve(engine.clone()).await;
    let http = client();
    assert_eq!(
        http.get(format!("{base}/events")).send().await.unwrap().status(),
        StatusCode::SEE_OTHER,
        "signed in only"
    );

    let mut all = http.get(format!("{base}/events")).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(all.headers()["content-type"], "text/event-stream");
    let mut seen = String::new();
    event(&mut all, &mut seen, "ready", "ready").await;
    let run = engine.dispatch(NoteFiled { text: "live".into() }).await.unwrap().remove(0);
    event(&mut all, &mut seen, "run", run.as_str()).await;

    // A stream for one run: another run's changes are not sent, this one's are.
    let mut one = http.get(format!("{base}/events?run={run}")).bearer_auth(KEY).send().await.unwrap();
    let mut only = String::new();
    event(&mut one, &mut only, "ready", "ready").await;
    let other = engine.dispatch(NoteFiled { text: "other".into() }).await.unwrap().remove(0);
    event(&mut all, &mut seen, "run", other.as_str()).await;
    while engine.run(&run).await.unwrap().unwrap().status != RunStatus::Waiting {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    engine.complete_token(&format!("{run}:review"), serde_json::json!({ "ok": true })).await.unwrap();
    event(&mut one, &mut only, "run", run.as_str()).await;
    assert!(!only.contains(other.as_str()), "only the run asked for: {only:?}");
    assert_eq!(engine.wait(&run).await.unwrap().status, RunStatus::Succeeded);

    // Shutdown ends the open streams instead of waiting on them.
    tokio::time::timeout(Duration::from_secs(5), running.shutdown()).await.expect("shutdown ends the streams").unwrap();
    let rest =
        tokio::time::timeout(Duration::from_secs(5), async { while let Ok(Some(_)) = all.chunk().await {} }).await;
    assert!(rest.is_ok(), "the stream ended");
}

/// Runs a job every hour; nothing to do but exist on the jobs page.
#[job(id = "hourly-digest", name = "Hourly digest", version = "1.0.0", every = "1h")]
async fn hourly_digest(tick: Tick, _io: HourlyDigestIo<'_>) -> Result<String, JobError> {
    Ok(tick.scheduled_at.to_rfc3339())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_page_shows_waits_attempts_and_policy_and_the_jobs_page_the_next_tick() {
    use connector_runtime::store::conformance::{sample_run, sample_step};
    use connector_runtime::store::{MemoryStore, RunStore};
    use connector_runtime::{FailedAttempt, Retries, RetryPolicy, StepRecord, StepStatus};

    let store = std::sync::Arc::new(MemoryStore::new());
    let run = sample_run("review-note");
    store.create_run(&run).await.unwrap();
    let created = run.created_at;
    let mut fetched = sample_step("fetch");
    fetched.started_at = created + chrono::Duration::milliseconds(1_500);
    fetched.finished_at = Some(created + chrono::Duration::milliseconds(4_000));
    fetched.status = StepStatus::Succeeded;
    fetched.attempts = 3;
    let failure = |attempt: u32, error: &str| FailedAttempt {
        attempt,
        started_at: fetched.started_at,
        failed_at: fetched.started_at + chrono::Duration::milliseconds(250),
        error: error.to_owned(),
        retry_after_ms: 1_200,
    };
    fetched.retries = Some(Retries {
        policy: RetryPolicy::DEFAULT,
        failed: vec![failure(1, "503 <b>busy</b>"), failure(2, "timed out")],
    });
    store.save_step(&run.id, &fetched).await.unwrap();
    let deadline = created + chrono::Duration::hours(2);
    let mut token = StepRecord::running("approval", StepKind::Token { deadline }, serde_json::json!(null));
    token.started_at = created + chrono::Duration::milliseconds(4_100);
    store.save_step(&run.id, &token).await.unwrap();

    let engine = Engine::builder()
        .shared_store(store as std::sync::Arc<dyn RunStore>)
        .job(ReviewNoteJob)
        .job(HourlyDigestJob)
        .build()
        .unwrap();
    let (running, base) = serve(engine.clone()).await;
    let http = client();
    let page = http.get(format!("{base}/runs/{}", run.id)).bearer_auth(KEY).send().await.unwrap().text().await.unwrap();
    for expected in [
        "waited 1.5 s",      // from the run's creation to the first step's start
        "2.5 s",             // how long it ran
        "2 failed, retried", // its failed attempts,
        "5 attempts · 1.0 s, ×1.8, up to 1 min 0 s, jittered · 1 min 0 s per attempt", // the policy,
        "retried after 1.2 s", // each delay,
        "503 &lt;b&gt;busy&lt;/b&gt;", // and each error, as text
        "waited 100 ms",     // the token step, after the first ended
        "token open until",  // and when its token times out
    ] {
        assert!(page.contains(expected), "`{expected}` on the run's page:\n{page}");
    }
    assert!(page.contains(&deadline.format("%Y-%m-%d %H:%M:%S").to_string()), "the token's deadline");

    let jobs = http.get(format!("{base}/connectors")).bearer_auth(KEY).send().await.unwrap().text().await.unwrap();
    let next = engine.next_tick("hourly-digest").expect("an hourly job ticks");
    assert!(next > chrono::Utc::now() && next <= chrono::Utc::now() + chrono::Duration::hours(1));
    assert!(jobs.contains(&format!("next tick {}", next.format("%Y-%m-%d %H:%M:%S"))), "{jobs}");
    assert_eq!(engine.next_tick("review-note"), None, "an event's job has no ticks");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_runs_list_narrows_by_delivery_id_and_time_range() {
    let engine = review_engine();
    let (running, base) = serve(engine.clone()).await;
    let http = client();
    let mut started = Vec::new();
    for id in ["order-41", "order-42"] {
        let event = serde_json::json!({ "name": "note.filed", "payload": { "text": id }, "id": id });
        let receipt: serde_json::Value = http
            .post(format!("{base}/api/events"))
            .bearer_auth(KEY)
            .json(&event)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        started.push(receipt["runs"][0].as_str().unwrap().to_owned());
    }
    let list = |query: &str| {
        let (http, url) = (http.clone(), format!("{base}/?{query}"));
        async move { http.get(url).bearer_auth(KEY).send().await.unwrap() }
    };
    let page = list("delivery=order-42").await.text().await.unwrap();
    assert!(page.contains(&started[1]) && !page.contains(&started[0]), "only the run order-42 started");
    let api: serde_json::Value = http
        .get(format!("{base}/api/runs?delivery=order-41"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(api["runs"].as_array().unwrap().len(), 1);
    assert_eq!(api["runs"][0]["id"], started[0].as_str());

    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M").to_string();
    let page = list(&format!("since={hour_ago}")).await.text().await.unwrap();
    assert!(page.contains(&started[0]) && page.contains(&started[1]), "both were created in the last hour");
    let page = list(&format!("until={hour_ago}")).await.text().await.unwrap();
    assert!(!page.contains(&started[0]) && page.contains("No runs match"), "none before it");
    let bad = list("since=yesterday").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("not a time"));
    running.shutdown().await.unwrap();
}
