//! The HTTP server: webhook deliveries and events in, runs out.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /webhooks/{connector}/{trigger}` | a connector trigger's webhook, authenticated by its signature scheme |
//! | `POST /api/events` | `{"name": .., "payload": .., "id": ..}`: sends an event by name |
//! | `GET /api/runs` | runs, newest first (`?status=failed&job=..&limit=..`) |
//! | `GET /api/runs/{id}` | one run with its steps |
//! | `GET /healthz` | `{"status":"ok"}` |
//!
//! The `/api` routes need `Authorization: Bearer <api key>`. Every accepted delivery is in the
//! run store before the answer is sent. Bad input gets a JSON error and starts nothing: 413 for a
//! body over the limit, 415 for a body that is not JSON, 401 for a bad signature or key, 404 for
//! an unknown trigger or event, 422 for a payload that does not fit (naming the field).

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::engine::Engine;
use crate::ingest::{DeliveryError, Subscriptions};
use crate::run::{RunId, RunStatus};
use crate::secret::Secret;
use crate::store::RunFilter;
use crate::tasks::TriggerTasks;
use crate::trigger::parse_payload;

/// The port the server listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8787;

/// The largest body accepted unless told otherwise: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// How the server listens and whom it lets in.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (default `127.0.0.1:8787`: loopback only).
    pub bind: SocketAddr,
    /// The key `/api` routes require as a bearer token; without one they refuse every request.
    pub api_key: Option<Secret>,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// The URL services reach this server at, for registering webhooks (default: `http://{bind}`).
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            api_key: None,
            body_limit: DEFAULT_BODY_LIMIT,
            public_url: None,
        }
    }
}

#[derive(Clone)]
struct AppState {
    engine: Engine,
    api_key: Option<Secret>,
}

/// The server's routes, for embedding in a larger axum application.
pub fn router(engine: Engine, config: &ServerConfig) -> Router {
    let state = Arc::new(AppState { engine, api_key: config.api_key.clone() });
    Router::new()
        .route("/webhooks/{connector}/{trigger}", post(webhook))
        .route("/api/events", post(event))
        .route("/api/runs", get(list_runs))
        .route("/api/runs/{id}", get(show_run))
        .route("/healthz", get(|| async { axum::Json(json!({ "status": "ok" })) }))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route".to_owned(), None) })
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            error(StatusCode::INTERNAL_SERVER_ERROR, "the server failed on this request".to_owned(), None)
        }))
        .with_state(state)
}

/// A running server: its address, and a handle to stop it.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl RunningServer {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets requests in flight finish, removes registered webhooks, and waits.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.map_err(io::Error::other)?
    }
}

/// Binds `config.bind` (port 0 picks a free port), registers the webhooks of triggers that
/// subscribe themselves, and serves until [`RunningServer::shutdown`].
pub async fn start(engine: Engine, config: ServerConfig) -> io::Result<RunningServer> {
    let listener = TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    // Ready when this returns: webhooks registered and triggers started, so a delivery the
    // caller provokes next is not missed.
    let ready = Ready::prepare(&engine, &config, addr).await;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(ready.serve(listener, engine, config, async move {
        let _ = stopped.await;
    }));
    Ok(RunningServer { addr, stop: Some(stop), task })
}

/// Serves on `config.bind` until `shutdown` completes (say, on Ctrl-C).
pub async fn serve(
    engine: Engine,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = TcpListener::bind(config.bind).await?;
    let ready = Ready::prepare(&engine, &config, listener.local_addr()?).await;
    ready.serve(listener, engine, config, shutdown).await
}

/// What runs beside the routes: webhooks registered with their services, schedule and poll tasks.
struct Ready {
    subscriptions: Subscriptions,
    triggers: TriggerTasks,
}

impl Ready {
    async fn prepare(engine: &Engine, config: &ServerConfig, addr: SocketAddr) -> Self {
        let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        // The listener is bound already: a delivery sent as soon as a webhook is registered
        // waits in its backlog until the routes serve it.
        let subscriptions = engine.subscribe_webhooks(&public_url).await;
        Ready { subscriptions, triggers: engine.start_triggers() }
    }

    async fn serve(
        self,
        listener: TcpListener,
        engine: Engine,
        config: ServerConfig,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let addr = listener.local_addr()?;
        let app = router(engine.clone(), &config);
        // Small answers on keep-alive connections: without TCP_NODELAY each waits on a delayed ACK.
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        tracing::info!(%addr, "serving webhooks and the API");
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
        self.triggers.stop().await;
        engine.unsubscribe_webhooks(self.subscriptions).await;
        served
    }
}

fn error(status: StatusCode, message: String, path: Option<String>) -> Response {
    let mut body = json!({ "error": message });
    if let Some(path) = path {
        body["path"] = Value::String(path);
    }
    (status, axum::Json(body)).into_response()
}

/// A body of at most the limit, declared as JSON.
// A `Response` as the error keeps the handlers' early returns plain; it is built once per request.
#[allow(clippy::result_large_err)]
fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Bytes, Response> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the body is over the size limit".to_owned()
        } else {
            format!("the body could not be read: {rejection}")
        };
        error(status, message, None)
    })?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if media_type != "application/json" && !media_type.ends_with("+json") {
        return Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("send JSON with `Content-Type: application/json` (got `{content_type}`)"),
            None,
        ));
    }
    Ok(body)
}

fn delivery_error(failure: DeliveryError) -> Response {
    match failure {
        DeliveryError::NotFound(message) => error(StatusCode::NOT_FOUND, message, None),
        DeliveryError::Signature(why) => error(StatusCode::UNAUTHORIZED, why.to_string(), None),
        DeliveryError::InvalidPayload { path, message } => error(StatusCode::UNPROCESSABLE_ENTITY, message, Some(path)),
        DeliveryError::Trigger(why) => error(StatusCode::BAD_GATEWAY, format!("the trigger failed: {why}"), None),
        other => {
            tracing::error!(error = %other, "could not accept a delivery");
            error(StatusCode::SERVICE_UNAVAILABLE, "the delivery could not be recorded; send it again".to_owned(), None)
        }
    }
}

fn accepted(acceptance: crate::Acceptance) -> Response {
    let status = if acceptance.duplicate || acceptance.ignored { StatusCode::OK } else { StatusCode::ACCEPTED };
    (status, axum::Json(acceptance)).into_response()
}

async fn webhook(
    State(state): State<Arc<AppState>>,
    Path((connector, trigger)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match json_body(&headers, body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    match state.engine.accept_webhook(&connector, &trigger, &headers, body).await {
        Ok(acceptance) => accepted(acceptance),
        Err(failure) => delivery_error(failure),
    }
}

/// `POST /api/events`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRequest {
    name: String,
    payload: Value,
    #[serde(default)]
    id: Option<String>,
}

async fn event(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(response) = authorize(&state, &headers) {
        return response;
    }
    let body = match json_body(&headers, body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let request: EventRequest = match parse_payload(&body) {
        Ok(request) => request,
        Err(crate::trigger::TriggerFailure::InvalidPayload { path, message }) => {
            return error(StatusCode::UNPROCESSABLE_ENTITY, message, Some(path));
        }
        Err(other) => return error(StatusCode::UNPROCESSABLE_ENTITY, other.to_string(), None),
    };
    match state.engine.accept_event(&request.name, request.payload, request.id).await {
        Ok(acceptance) => accepted(acceptance),
        Err(DeliveryError::InvalidPayload { path, message }) => {
            error(StatusCode::UNPROCESSABLE_ENTITY, message, Some(format!("payload.{path}")))
        }
        Err(failure) => delivery_error(failure),
    }
}

#[derive(Deserialize)]
struct RunsQuery {
    status: Option<RunStatus>,
    job: Option<String>,
    limit: Option<usize>,
}

async fn list_runs(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<RunsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(response) = authorize(&state, &headers) {
        return response;
    }
    let Ok(Query(query)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "query: `status` is one of queued, running, waiting, succeeded, failed; `limit` a number".to_owned(),
            None,
        );
    };
    let filter = RunFilter {
        job_id: query.job,
        statuses: query.status.into_iter().collect(),
        limit: Some(query.limit.unwrap_or(100)),
    };
    match state.engine.runs(&filter).await {
        Ok(runs) => axum::Json(json!({ "runs": runs })).into_response(),
        Err(failure) => error(StatusCode::SERVICE_UNAVAILABLE, failure.to_string(), None),
    }
}

async fn show_run(State(state): State<Arc<AppState>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Err(response) = authorize(&state, &headers) {
        return response;
    }
    match state.engine.run(&RunId::from(id.as_str())).await {
        Ok(Some(run)) => axum::Json(run).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no run with id `{id}`"), None),
        Err(failure) => error(StatusCode::SERVICE_UNAVAILABLE, failure.to_string(), None),
    }
}

/// `Authorization: Bearer <api key>`, compared in constant time.
#[allow(clippy::result_large_err)]
fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    let Some(key) = &state.api_key else {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "this server has no API key configured, so /api is closed".to_owned(),
            None,
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
        .unwrap_or("");
    if bool::from(presented.as_bytes().ct_eq(key.expose().as_bytes())) {
        Ok(())
    } else {
        Err(error(StatusCode::UNAUTHORIZED, "send the API key as `Authorization: Bearer <key>`".to_owned(), None))
    }
}
