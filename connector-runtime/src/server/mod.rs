//! The HTTP server: webhook deliveries and events in, runs out.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /webhooks/{connector}/{trigger}` | a connector trigger's webhook, authenticated by its signature scheme |
//! | `POST /api/events` | `{"name": .., "payload": .., "id": ..}`: sends an event by name |
//! | `GET /api/runs` | a page of runs, newest first (`?status=failed,running&job=..&since=..&until=..&id=..&delivery=..&limit=..&before=..`; `next` is the next page's `before`) |
//! | `GET /api/runs/{id}` | one run with its steps |
//! | `GET /api/runs/{id}/logs` | the lines its job and actions logged (`{"lines": [..], "dropped": n}`) |
//! | `POST /api/runs/{id}/cancel` | cancels a run (409 if it has finished) |
//! | `POST /api/runs/{id}/resume` | retries a failed or cancelled run from its failed step, completed steps kept (409 if it succeeded) |
//! | `POST /api/runs/{id}/replay` | starts a new run of its job with the same payload (`{"id": new, "replayOf": id}`) |
//! | `POST /api/tokens/{token}/complete` | completes a token a run waits for; the body is its payload (404 unknown, 409 closed) |
//! | `GET /api/manifest` | every connector and job, with their schemas |
//! | `POST /api/connectors/{id}/check` | a connector's credential check (`{"connector": .., "ok": .., "error": ..}`) |
//! | `GET /api/openapi.json` | this API as an OpenAPI 3.1 document (no key needed) |
//! | `GET /healthz` | `{"status":"ok"}` |
//! | `POST`/`GET`/`DELETE /mcp` | the MCP server over streamable HTTP (feature `mcp`): every action as a tool |
//!
//! The `/api` routes (but the document) and `/mcp` need `Authorization: Bearer <api key>`. Every accepted delivery is in the
//! run store before the answer is sent. Bad input gets a JSON error and starts nothing: 413 for a
//! body over the limit, 415 for a body that is not JSON, 401 for a bad signature or key, 404 for
//! an unknown trigger or event, 422 for a payload that does not fit (naming the field). Every
//! error of the API and the webhooks is one JSON shape, [`ErrorBody`]: `{"error": "..", "path": ".."}`.
//!
//! # Limits
//!
//! So that slow, idle or too many clients cannot hold the server (each is a [`ServerConfig`]
//! field):
//!
//! | limit | default | past it |
//! | --- | --- | --- |
//! | [`header_timeout`](ServerConfig::header_timeout): a request's head must arrive within | 10 s | the connection is closed |
//! | [`body_timeout`](ServerConfig::body_timeout): the whole body must arrive within | 30 s | 408, and the connection is closed |
//! | [`idle_timeout`](ServerConfig::idle_timeout): a keep-alive connection may wait for its next request | 60 s | the connection is closed |
//! | [`max_connections`](ServerConfig::max_connections): connections served at once | 512 | new connections wait, unaccepted, in the listen backlog |
//! | [`body_limit`](ServerConfig::body_limit): the largest body | 1 MiB | 413 (at once when `Content-Length` says so) |
//!
//! At the cap, idle connections do not starve new ones: the server closes the connection that
//! has waited longest for a request (after at least a second) to accept the next one. Requests
//! in flight are never cut. A failure to accept (say, out of file descriptors) pauses the server
//! briefly; it does not stop it.
//!
//! [`router`] keeps the body limits (size and time) when embedded in another application; the
//! header and idle timeouts and the cap are the listener's, [`start`] and [`serve`].

mod api_key;
mod body;
mod body_limits;
mod connections;
mod error;
mod events;
mod manifest;
mod openapi;
mod runs;
mod tokens;
mod webhooks;

pub use error::{ApiError, ErrorBody};

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use aide::axum::ApiRouter;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router, middleware};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::engine::{Engine, EngineError, Receipt, StartOptions};
use crate::model::Secret;

/// The port the server listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 8787;

/// The largest body accepted unless told otherwise: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// How long a request's head may take to arrive unless told otherwise: 10 s.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a request's body may take to arrive unless told otherwise: 30 s.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a keep-alive connection may wait for its next request unless told otherwise: 60 s.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How many connections are served at once unless told otherwise: 512, well under the usual
/// limit of 1,024 open files, which the run store and outgoing calls share.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// How the server listens and whom it lets in.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (default `127.0.0.1:8787`: loopback only).
    pub bind: SocketAddr,
    /// The key `/api` routes (and `/mcp`) require as a bearer token; without one they refuse
    /// every request.
    pub api_key: Option<Secret>,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// The URL services reach this server at, for registering webhooks (default: `http://{bind}`).
    pub public_url: Option<String>,
    /// How long a request's head (request line and headers) may take to arrive, counted from
    /// the accept for a connection's first request, from its first byte for later ones; then
    /// the connection is closed (default [`DEFAULT_HEADER_TIMEOUT`]).
    pub header_timeout: Duration,
    /// How long a request's whole body may take to arrive once its head has; then the answer
    /// is 408 and the connection is closed (default [`DEFAULT_BODY_TIMEOUT`]). One deadline for
    /// the whole body, so trickling it does not extend it.
    pub body_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request before it is closed
    /// (default [`DEFAULT_IDLE_TIMEOUT`]).
    pub idle_timeout: Duration,
    /// How many connections are served at once (default [`DEFAULT_MAX_CONNECTIONS`]). More
    /// wait, unaccepted, in the listen backlog; while at the cap, the connection that has
    /// waited longest for a request is closed to make room.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_PORT)),
            api_key: None,
            body_limit: DEFAULT_BODY_LIMIT,
            public_url: None,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

impl ServerConfig {
    /// This config listening on `bind`.
    pub fn bind(mut self, bind: SocketAddr) -> Self {
        self.bind = bind;
        self
    }

    /// This config with the largest request body `body_limit` bytes.
    pub fn body_limit(mut self, body_limit: usize) -> Self {
        self.body_limit = body_limit;
        self
    }

    /// This config with [`header_timeout`](Self::header_timeout) `timeout`.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// This config with [`body_timeout`](Self::body_timeout) `timeout`.
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// This config with [`idle_timeout`](Self::idle_timeout) `timeout`.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// This config serving at most `max_connections` connections at once.
    pub fn max_connections(mut self, max_connections: usize) -> Self {
        self.max_connections = max_connections;
        self
    }

    /// Refuses limits that would refuse every request.
    fn check(&self) -> io::Result<()> {
        let zero = [
            ("header_timeout", self.header_timeout.is_zero()),
            ("body_timeout", self.body_timeout.is_zero()),
            ("idle_timeout", self.idle_timeout.is_zero()),
            ("max_connections", self.max_connections == 0),
        ];
        match zero.iter().find(|(_, is_zero)| *is_zero) {
            Some((name, _)) => Err(io::Error::new(io::ErrorKind::InvalidInput, format!("the server's {name} is zero"))),
            None => Ok(()),
        }
    }
}

/// The server's routes, for embedding in a larger axum application. Serving them does not start
/// the engine's background work: [`start`] and [`serve`] do, through [`Engine::start`]. They
/// keep the body's size limit and timeout; the header and idle timeouts and the connection cap
/// are up to the server they are embedded in.
pub fn router(engine: Engine, config: &ServerConfig) -> Router {
    app(engine, config, None)
}

/// [`router`], with the signal that the server shuts down (for the answers that would last
/// until then, like the dashboard's event streams).
fn app(engine: Engine, config: &ServerConfig, stopping: Option<watch::Receiver<bool>>) -> Router {
    use aide::axum::routing::{get_with, post_with};
    use openapi::keyed;
    // Every `/api` operation needs the key (the layer below), and its document says so (`keyed`).
    let api = ApiRouter::new()
        .api_route("/events", post_with(events::send, keyed(events::send_docs)))
        .api_route("/runs", get_with(runs::list, keyed(runs::list_docs)))
        .api_route("/runs/{id}", get_with(runs::show, keyed(runs::show_docs)))
        .api_route("/runs/{id}/logs", get_with(runs::logs, keyed(runs::logs_docs)))
        .api_route("/runs/{id}/cancel", post_with(runs::cancel, keyed(runs::cancel_docs)))
        .api_route("/runs/{id}/resume", post_with(runs::resume, keyed(runs::resume_docs)))
        .api_route("/runs/{id}/replay", post_with(runs::replay, keyed(runs::replay_docs)))
        .api_route("/tokens/{token}/complete", post_with(tokens::complete, keyed(tokens::complete_docs)))
        .api_route("/manifest", get_with(manifest::show, keyed(manifest::show_docs)))
        .api_route("/connectors/{id}/check", post_with(manifest::check, keyed(manifest::check_docs)))
        .route_layer(middleware::from_fn_with_state(Arc::new(config.api_key.clone()), api_key::require_api_key));
    let documented = ApiRouter::new().nest("/api", api).api_route(
        "/healthz",
        get_with(health, |op| op.summary("Health").description("`{\"status\": \"ok\"}` while the server serves.")),
    );
    let router = Router::new();
    // The MCP server, behind the same key as `/api`.
    #[cfg(feature = "mcp")]
    let router = router.merge(
        Router::new()
            .route_service("/mcp", crate::mcp::http_service(engine.clone()))
            .route_layer(middleware::from_fn_with_state(Arc::new(config.api_key.clone()), api_key::require_api_key)),
    );
    // The dashboard's pages at `/`, behind the same key (as a session cookie).
    #[cfg(feature = "dashboard")]
    let router = router.merge(crate::dashboard::router(config.api_key.clone(), stopping));
    #[cfg(not(feature = "dashboard"))]
    let _ = stopping;
    router
        .merge(openapi::finish(documented))
        .route("/webhooks/{connector}/{trigger}", post(webhooks::receive))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "this route does not answer this method")
        })
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(middleware::from_fn_with_state(
            body_limits::BodyLimits { max: config.body_limit, timeout: config.body_timeout },
            body_limits::enforce,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the server failed on this request").into_response()
        }))
        .with_state(engine)
}

/// The server's health.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Health {
    /// `ok`.
    status: &'static str,
}

async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The answer to an accepted delivery: 202 when it started something new, 200 for a repeat or
/// a delivery the trigger ignored.
fn receipt(receipt: Receipt) -> Response {
    let status = if receipt.duplicate || receipt.ignored { StatusCode::OK } else { StatusCode::ACCEPTED };
    // A trigger fn's own answer (a handshake's challenge, say) replaces the receipt's body.
    match receipt.reply {
        Some(reply) => (status, Json(reply)).into_response(),
        None => (status, Json(receipt)).into_response(),
    }
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

/// Binds `config.bind` (port 0 picks a free port), starts the engine (recovers unfinished runs,
/// registers the webhooks of triggers that subscribe themselves, starts schedules and polls),
/// and serves until [`RunningServer::shutdown`].
pub async fn start(engine: Engine, config: ServerConfig) -> io::Result<RunningServer> {
    config.check()?;
    let listener = TcpListener::bind(config.bind).await?;
    let addr = listener.local_addr()?;
    // Ready when this returns: webhooks registered and triggers started, so a delivery the
    // caller provokes next is not missed.
    let running = start_engine(&engine, &config, addr).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_on(listener, engine, config, running, async move {
        let _ = stopped.await;
    }));
    Ok(RunningServer { addr, stop: Some(stop), task })
}

/// Serves on `config.bind` until `shutdown` completes (say, on Ctrl-C), with the engine started
/// as [`start`] does.
pub async fn serve(
    engine: Engine,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    config.check()?;
    let listener = TcpListener::bind(config.bind).await?;
    let running = start_engine(&engine, &config, listener.local_addr()?).await?;
    serve_on(listener, engine, config, running, shutdown).await
}

async fn start_engine(engine: &Engine, config: &ServerConfig, addr: SocketAddr) -> io::Result<crate::engine::Running> {
    for ((connector, trigger), _) in engine.registry().unsigned_triggers() {
        // Declared `webhook(unsigned)` (the engine refuses undeclared ones): still worth a line
        // in the log, since anyone who reaches the route can start its jobs.
        tracing::warn!(
            %addr,
            route = %format!("/webhooks/{connector}/{trigger}"),
            "this webhook takes unsigned deliveries: anyone who can reach it can start its jobs"
        );
    }
    let public_url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    // The listener is bound already: a delivery sent as soon as a webhook is registered waits
    // in its backlog until the routes serve it.
    engine
        .start(StartOptions::default().webhook_url(public_url))
        .await
        .map_err(|error: EngineError| io::Error::other(error))
}

async fn serve_on(
    listener: TcpListener,
    engine: Engine,
    config: ServerConfig,
    running: crate::engine::Running,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let (stopping, stop) = watch::channel(false);
    let app = app(engine, &config, Some(stop));
    let limits = connections::Limits {
        header_timeout: config.header_timeout,
        idle_timeout: config.idle_timeout,
        max_connections: config.max_connections,
    };
    tracing::info!(%addr, "serving webhooks and the API");
    connections::serve(listener, app, limits, stopping, shutdown).await;
    running.stop().await;
    Ok(())
}
