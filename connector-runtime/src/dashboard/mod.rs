//! The run dashboard (feature `dashboard`): server-rendered pages of the runs, a run's steps,
//! output and log, with cancel and retry, served by the same server at `/`, behind the same API
//! key as `/api`. No JavaScript build: a few lines of plain JavaScript refresh the live parts
//! when the server announces, as server-sent events, that a run changed.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | the runs, newest first, filtered by status, job and id prefix, 50 a page |
//! | `GET /runs/{id}` | a run: payload, steps with their inputs and outputs, output or error, log |
//! | `POST /runs/{id}/cancel`, `POST /runs/{id}/resume` | cancel, or retry from the failed step |
//! | `POST /runs/{id}/replay` | start a new run of its job with the same payload |
//! | `POST /runs/{id}/complete` | complete the token it waits for with a JSON payload (checked against its type) |
//! | `GET /connectors`, `POST /connectors/{id}/check` | the manifest as a page; a credential check |
//! | `GET /events` (`?run=..`) | server-sent events: `run` with a run's id each time it changes (only that run's with `run`), `missed` when some were missed |
//! | `GET /login`, `POST /login`, `POST /logout` | the API key, once, for a session cookie |

mod events;
mod forms;
mod pages;
mod schema;
mod session;

use std::sync::Arc;

use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use tokio::sync::watch;

use crate::engine::Engine;
use crate::model::{RunId, Secret};
use crate::store::RunFilter;
use forms::{Action, Checked, Completion};

/// How many runs one page lists.
const PAGE: usize = 50;

/// The dashboard's routes, for the server to mount (their state is the engine): every page
/// needs `api_key` (as the session cookie the login form sets, or a bearer token); without a
/// key the dashboard is closed. `stopping` turns true when the server shuts down: the event
/// streams, which would otherwise keep their connections open, end then.
pub fn router(api_key: Option<Secret>, stopping: Option<watch::Receiver<bool>>) -> Router<Engine> {
    let key = Arc::new(api_key);
    let pages = Router::new()
        .route("/", get(runs))
        .route("/events", get(events::stream).layer(Extension(events::Stopping(stopping))))
        .route("/runs/{id}", get(run))
        .route("/runs/{id}/cancel", post(cancel))
        .route("/runs/{id}/resume", post(resume))
        .route("/runs/{id}/replay", post(replay))
        .route("/runs/{id}/complete", post(complete))
        .route("/connectors", get(connectors))
        .route("/connectors/{id}/check", post(check))
        .route("/logout", post(logout))
        .route_layer(middleware::from_fn(require_session));
    Router::new().merge(pages).route("/login", get(login_form).post(login)).layer(Extension(key))
}

type Key = Extension<Arc<Option<Secret>>>;

/// Lets signed-in requests through; sends others to the login form (a GET) or refuses them.
async fn require_session(Extension(key): Key, request: Request, next: Next) -> Response {
    let signed_in = key.as_ref().as_ref().is_some_and(|key| session::signed_in(request.headers(), key));
    if signed_in {
        return next.run(request).await;
    }
    if request.method() == axum::http::Method::GET {
        let next = request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into());
        return Redirect::to(&format!("/login?next={}", encode(&next))).into_response();
    }
    (StatusCode::FORBIDDEN, "sign in first").into_response()
}

/// `text` percent-encoded for a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The CSRF token of forms, for a signed-in request.
fn csrf(key: &Key) -> String {
    key.as_ref().as_ref().map(session::csrf).unwrap_or_default()
}

fn html(markup: maud::Markup) -> Response {
    let mut response = Html(markup.into_string()).into_response();
    // The pages show payloads: never cached, never framed.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, "no-store".parse().expect("a header value"));
    headers.insert("x-frame-options", "DENY".parse().expect("a header value"));
    headers.insert(
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:; form-action 'self'; frame-ancestors 'none'"
            .parse()
            .expect("a header value"),
    );
    response
}

/// A page saying what went wrong (the message escaped like every value), with `status`.
fn page_error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    failed(status, message, "/")
}

/// [`page_error`], with a way back to `back` (the run an action was refused on).
fn failed(status: StatusCode, message: impl std::fmt::Display, back: &str) -> Response {
    let mut response = html(pages::page("Not done", false, "", pages::refused(&message.to_string(), back)));
    *response.status_mut() = status;
    response
}

async fn runs(State(engine): State<Engine>, key: Key, Query(query): Query<pages::ListQuery>) -> Response {
    let status = query.status.as_deref().filter(|s| !s.is_empty()).map(str::parse::<crate::model::RunStatus>);
    let statuses = match status {
        Some(Ok(status)) => vec![status],
        Some(Err(error)) => return page_error(StatusCode::BAD_REQUEST, error),
        None => Vec::new(),
    };
    let filter = RunFilter {
        job_id: query.job.clone().filter(|job| !job.is_empty()),
        statuses,
        limit: Some(PAGE),
        before: query.before.as_deref().filter(|id| !id.is_empty()).map(RunId::from),
        id_prefix: query.id.clone().filter(|id| !id.is_empty()),
        delivery_id: query.delivery.clone().filter(|delivery| !delivery.is_empty()),
        created_after: match moment(query.since.as_deref()) {
            Ok(at) => at,
            Err(error) => return page_error(StatusCode::BAD_REQUEST, error),
        },
        created_before: match moment(query.until.as_deref()) {
            Ok(at) => at,
            Err(error) => return page_error(StatusCode::BAD_REQUEST, error),
        },
    };
    let runs = match engine.runs(&filter).await {
        Ok(runs) => runs,
        Err(error) => return page_error(StatusCode::SERVICE_UNAVAILABLE, error),
    };
    if query.fragment.as_deref() == Some("rows") {
        return html(pages::run_rows(&runs));
    }
    let next = filter.next_page(&runs).map(|id| id.to_string());
    html(pages::page("Runs", true, &csrf(&key), pages::runs(&runs, &query, next.as_deref())))
}

/// A time from the filter form: `2026-12-01T10:00` (a `datetime-local` input, read as UTC),
/// with seconds or an offset too (RFC 3339); empty is none.
fn moment(text: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
    let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(Some(at.with_timezone(&chrono::Utc)));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(text, format).ok())
        .map(|at| Some(at.and_utc()))
        .ok_or_else(|| format!("`{text}` is not a time: use 2026-12-01T10:00 (UTC)"))
}

#[derive(Deserialize)]
struct Fragment {
    fragment: Option<String>,
}

async fn run(
    State(engine): State<Engine>,
    key: Key,
    Path(id): Path<String>,
    Query(query): Query<Fragment>,
) -> Response {
    let id = RunId::from(id.as_str());
    let run = match engine.run(&id).await {
        Ok(Some(run)) => run,
        Ok(None) => return page_error(StatusCode::NOT_FOUND, format!("no run with id `{id}`")),
        Err(error) => return page_error(StatusCode::SERVICE_UNAVAILABLE, error),
    };
    let log = engine.logs(&id).await.unwrap_or_default();
    let csrf = csrf(&key);
    if query.fragment.as_deref() == Some("detail") {
        return html(pages::run_detail(&run, &log, &csrf));
    }
    // Kept fresh while unfinished, and while executing here with a status that does not say so
    // yet: the page a retry answers with shows the run still failed for a moment.
    let live = !run.status.is_finished() || engine.is_active(&id);
    html(pages::page(&format!("Run {id}"), true, &csrf, pages::run(&run, &log, &csrf, live)))
}

async fn cancel(State(engine): State<Engine>, Path(id): Path<String>, _: Checked<Action>) -> Response {
    let run = RunId::from(id.as_str());
    changed(&run, engine.cancel(&run).await.map(|_| ()))
}

async fn resume(State(engine): State<Engine>, Path(id): Path<String>, _: Checked<Action>) -> Response {
    let run = RunId::from(id.as_str());
    changed(&run, engine.resume(&run).await.map(|_| ()))
}

async fn replay(State(engine): State<Engine>, Path(id): Path<String>, _: Checked<Action>) -> Response {
    match engine.replay(&RunId::from(id.as_str())).await {
        Ok(new) => changed(&new, Ok(())),
        Err(error) => changed(&RunId::from(id.as_str()), Err(error)),
    }
}

async fn complete(
    State(engine): State<Engine>,
    Path(id): Path<String>,
    Checked(form): Checked<Completion>,
) -> Response {
    let payload: serde_json::Value = match serde_json::from_str(&form.payload) {
        Ok(payload) => payload,
        Err(error) => {
            let back = format!("/runs/{}", encode(&id));
            return failed(StatusCode::BAD_REQUEST, format!("the payload is not JSON: {error}"), &back);
        }
    };
    let run = RunId::from(id.as_str());
    changed(&run, engine.complete_token(&format!("{run}:{}", form.step), payload).await)
}

/// After an action: the run's page, or what refused the action (422 for a token payload that
/// does not fit its type, 409 for anything else the run's state refused).
fn changed(run: &RunId, outcome: Result<(), crate::engine::EngineError>) -> Response {
    let page = format!("/runs/{}", encode(run.as_str()));
    match outcome {
        Ok(()) => Redirect::to(&page).into_response(),
        Err(error @ crate::engine::EngineError::TokenPayload { .. }) => {
            failed(StatusCode::UNPROCESSABLE_ENTITY, error, &page)
        }
        Err(error) => failed(StatusCode::CONFLICT, error, &page),
    }
}

async fn connectors(State(engine): State<Engine>, key: Key) -> Response {
    let manifest = engine.manifest();
    let ticks = next_ticks(&engine, &manifest);
    html(pages::page("Connectors and jobs", true, &csrf(&key), pages::manifest(&manifest, &ticks, &csrf(&key), None)))
}

/// When each job of `manifest` next ticks, in its order (`None` for an unscheduled one).
fn next_ticks(engine: &Engine, manifest: &crate::model::Manifest) -> Vec<Option<chrono::DateTime<chrono::Utc>>> {
    manifest.jobs.iter().map(|job| engine.next_tick(&job.id)).collect()
}

async fn check(State(engine): State<Engine>, key: Key, Path(id): Path<String>, _: Checked<Action>) -> Response {
    // The check's error is the connector's own words, secrets masked by the check itself.
    let result = engine.check(&id).await.err().map(|error| error.to_string());
    let manifest = engine.manifest();
    let page = pages::manifest(&manifest, &next_ticks(&engine, &manifest), &csrf(&key), Some((id.as_str(), result)));
    html(pages::page("Connectors and jobs", true, &csrf(&key), page))
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

/// Where to go after signing in: a path of this site only.
fn local(next: Option<&str>) -> String {
    match next {
        Some(next) if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') => next.to_owned(),
        _ => "/".to_owned(),
    }
}

async fn login_form(Query(query): Query<LoginQuery>) -> Response {
    html(pages::page("Sign in", false, "", pages::login(&local(query.next.as_deref()), false)))
}

#[derive(Deserialize)]
struct Login {
    key: String,
    next: Option<String>,
}

async fn login(Extension(key): Key, Form(form): Form<Login>) -> Response {
    let next = local(form.next.as_deref());
    match key.as_ref() {
        Some(key) if session::same(&form.key, key.expose()) => {
            let mut response = Redirect::to(&next).into_response();
            let cookie = session::set_cookie(key).parse().expect("a cookie is a header value");
            response.headers_mut().insert(header::SET_COOKIE, cookie);
            response
        }
        _ => {
            let mut response = html(pages::page("Sign in", false, "", pages::login(&next, true)));
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
    }
}

async fn logout(_: Checked<Action>) -> Response {
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session::clear_cookie().parse().expect("a header value"));
    response
}
