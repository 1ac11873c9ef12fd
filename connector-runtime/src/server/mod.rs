//! The HTTP server: webhook deliveries and events in, runs out.
//!
//! | route | what |
//! | --- | --- |
//! | `POST /webhooks/{connector}/{trigger}` | a connector trigger's webhook, authenticated by its signature scheme |
//! | `POST /api/events` | `{"name": .., "payload": .., "id": ..}`: sends an event by name |
//! | `GET /api/runs` | runs, newest first (`?status=failed&job=..&limit=..`) |
//! | `GET /api/runs/{id}` | one run with its steps |
//! | `POST /api/runs/{id}/cancel` | cancels a run (409 if it has finished) |
//! | `POST /api/tokens/{token}/complete` | completes a token a run waits for; the body is its payload (404 unknown, 409 closed) |
//! | `GET /healthz` | `{"status":"ok"}` |
//!
//! The `/api` routes need `Authorization: Bearer <api key>`. Every accepted delivery is in the
//! run store before the answer is sent. Bad input gets a JSON error and starts nothing: 413 for a
//! body over the limit, 415 for a body that is not JSON, 401 for a bad signature or key, 404 for
//! an unknown trigger or event, 422 for a payload that does not fit (naming the field).

mod api_key;
mod body;
mod error;
mod events;
mod runs;
mod tokens;
mod webhooks;

pub use error::ApiError;

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router, middleware};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::engine::{Engine, EngineError, Receipt, StartOptions};
use crate::model::Secret;

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

/// The server's routes, for embedding in a larger axum application. Serving them does not start
/// the engine's background work: [`start`] and [`serve`] do, through [`Engine::start`].
pub fn router(engine: Engine, config: &ServerConfig) -> Router {
    let api = Router::new()
        .route("/events", post(events::send))
        .route("/runs", get(runs::list))
        .route("/runs/{id}", get(runs::show))
        .route("/runs/{id}/cancel", post(runs::cancel))
        .route("/tokens/{token}/complete", post(tokens::complete))
        .route_layer(middleware::from_fn_with_state(Arc::new(config.api_key.clone()), api_key::require_api_key));
    Router::new()
        .route("/webhooks/{connector}/{trigger}", post(webhooks::receive))
        .nest("/api", api)
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the server failed on this request").into_response()
        }))
        .with_state(engine)
}

/// The answer to an accepted delivery: 202 when it started something new, 200 for a repeat or
/// a delivery the trigger ignored.
fn receipt(receipt: Receipt) -> Response {
    let status = if receipt.duplicate || receipt.ignored { StatusCode::OK } else { StatusCode::ACCEPTED };
    (status, Json(receipt)).into_response()
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
    let app = router(engine, &config);
    // Small answers on keep-alive connections: without TCP_NODELAY each waits on a delayed ACK.
    let listener = listener.tap_io(|stream| {
        let _ = stream.set_nodelay(true);
    });
    tracing::info!(%addr, "serving webhooks and the API");
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    running.stop().await;
    served
}
