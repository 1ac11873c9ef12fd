//! The Simple Chat HTTP service: a small but real chat API on loopback for the connector to talk
//! to.
//!
//! Start one with [`ChatService::start`]; the returned [`ChatServiceHandle`] knows the service's
//! base URL, shows what it stored, counts requests, injects failures and shuts the service down.
//!
//! # API
//!
//! Every `/v1` route needs `Authorization: Bearer <api key>`; a wrong or missing key answers
//! `401 {"error":"invalid API key"}`. Errors are JSON objects `{"error": "..."}`.
//!
//! | Route | Answer |
//! |---|---|
//! | `POST /v1/messages` `{"channel","message"}` | `201 {"messageId","channel","message","timestamp"}`; 400 for a malformed body or an empty message, 404 for an unknown channel. An `Idempotency-Key` header makes a repeated POST answer the first response again without posting twice (422 if the key was used with a different body). |
//! | `GET /v1/channels/{channelId}` | `200 {"channelId","name","memberCount","topic"}`, 404 `{"error":"channel not found"}` |
//! | `GET /v1/channels/{channelId}/messages` | `200 {"messages":[{"messageId","channel","sender","text","timestamp"}]}` |
//! | `POST /v1/webhooks` `{"url","secret"}` | `201 {"id":"wh_<n>"}` |
//! | `DELETE /v1/webhooks/{id}` | 204, or 404 |
//!
//! Every stored message is delivered, in the background and in order, to every subscribed
//! webhook as `{"channel","sender","text","timestamp"}` with the headers
//! `X-Chat-Signature: sha256=<hex HMAC-SHA256 of the raw body with the webhook's secret>` (see
//! [`signature`] and [`verify_signature`]) and `X-Chat-Delivery: <unique delivery id>`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::IntoFuture;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use chrono::{DateTime, SubsecRound, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The header a client sets to make a `POST /v1/messages` safe to repeat.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// The header carrying a webhook delivery's signature, `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-chat-signature";
/// The header carrying a webhook delivery's unique id.
pub const DELIVERY_HEADER: &str = "x-chat-delivery";
/// The sender of messages posted through the API.
pub const API_SENDER: &str = "api";

/// The longest `Idempotency-Key` the service accepts.
const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// How long one webhook delivery may take before it is given up.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// The Simple Chat service. [`ChatService::start`] runs one on loopback.
#[derive(Debug, Clone, Copy)]
pub struct ChatService;

impl ChatService {
    /// Starts the service on `127.0.0.1` on a free port, accepting `api_key` as its only bearer
    /// token.
    ///
    /// Fails if `api_key` is empty, if no port can be bound, or if it is not called from within
    /// a Tokio runtime.
    pub async fn start(api_key: impl Into<String>) -> io::Result<ChatServiceHandle> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), api_key).await
    }

    /// Starts the service on `addr` (port 0 picks a free port), accepting `api_key` as its only
    /// bearer token.
    ///
    /// Fails if `api_key` is empty, if `addr` cannot be bound, or if it is not called from
    /// within a Tokio runtime.
    pub async fn start_on(addr: SocketAddr, api_key: impl Into<String>) -> io::Result<ChatServiceHandle> {
        let api_key = api_key.into();
        if api_key.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the API key must not be empty"));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        let http = reqwest::Client::builder().timeout(DELIVERY_TIMEOUT).no_proxy().build().map_err(io::Error::other)?;

        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let listener = listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY on a chat connection");
            }
        });

        let (deliveries, queue) = mpsc::unbounded_channel();
        runtime.spawn(deliver_webhooks(http, queue));

        let shared = Arc::new(Shared {
            api_key,
            store: Mutex::new(Store::seeded()),
            requests: AtomicUsize::new(0),
            keyed_requests: Mutex::new(HashMap::new()),
            deliveries_made: Arc::new(AtomicUsize::new(0)),
            fault: Mutex::new(None),
            deliveries,
        });

        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(listener, router(shared.clone())).with_graceful_shutdown(async move {
            // Either a shutdown request or a dropped handle stops the server.
            let _ = stopped.await;
        });
        let server = runtime.spawn(server.into_future());
        tracing::info!(%addr, "Simple Chat service listening");

        Ok(ChatServiceHandle { addr, shared, stop: Some(stop), server: Some(server) })
    }
}

/// A message the service stored, as `GET /v1/channels/{channelId}/messages` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostedMessage {
    /// The id the service gave the message, `msg_<n>`.
    pub message_id: String,
    /// The channel the message was posted in.
    pub channel: String,
    /// Who posted it: [`API_SENDER`] for messages posted through the API.
    pub sender: String,
    /// The message text.
    pub text: String,
    /// When the service stored it (millisecond precision).
    pub timestamp: DateTime<Utc>,
}

/// Why the service refused a message given to [`ChatServiceHandle::receive_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatError {
    /// No channel has this id.
    UnknownChannel(String),
    /// The message text is empty or only whitespace.
    EmptyMessage,
}

impl fmt::Display for ChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownChannel(channel) => write!(f, "channel {channel:?} not found"),
            Self::EmptyMessage => f.write_str("message must not be empty"),
        }
    }
}

impl std::error::Error for ChatError {}

/// A running Simple Chat service. Dropping it stops the service; [`ChatServiceHandle::shutdown`]
/// stops it gracefully and waits until it has.
#[derive(Debug)]
pub struct ChatServiceHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<io::Result<()>>>,
}

impl ChatServiceHandle {
    /// The service's base URL, like `http://127.0.0.1:41234` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message the service stored, in the order it stored them, in all channels.
    pub fn posted_messages(&self) -> Vec<PostedMessage> {
        self.shared.store().posted.clone()
    }

    /// How many `/v1` requests the service received, including rejected and failed ones.
    pub fn request_count(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// How many `/v1` requests carrying `Idempotency-Key: <key>` the service received,
    /// including rejected, failed and replayed ones: more than one means the client repeated
    /// the request.
    pub fn requests_with_idempotency_key(&self, key: &str) -> usize {
        let counts = self.shared.keyed_requests.lock();
        let counts = counts.unwrap_or_else(PoisonError::into_inner);
        counts.get(key).copied().unwrap_or(0)
    }

    /// How many webhook deliveries the service has finished (successful or not).
    pub fn delivery_count(&self) -> usize {
        self.shared.deliveries_made.load(Ordering::SeqCst)
    }

    /// How many webhooks are subscribed.
    pub fn webhook_count(&self) -> usize {
        self.shared.store().webhooks.len()
    }

    /// Makes the next `n` authenticated `/v1` requests fail with `status` and the body
    /// `{"error":"injected failure"}`, without doing anything else. Replaces any failures still
    /// pending; `n = 0` clears them. A `status` that is not a valid HTTP status code is replaced
    /// by 500.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.set_fault(n, status, None);
    }

    /// Like [`ChatServiceHandle::fail_next`], and the failures carry
    /// `Retry-After: <retry_after_secs>`.
    pub fn fail_next_with_retry_after(&self, n: usize, status: u16, retry_after_secs: u64) {
        self.set_fault(n, status, Some(retry_after_secs));
    }

    /// Stores a message as if the member `sender` had posted it in `channel` from a chat client,
    /// and delivers it to the subscribed webhooks like any other message.
    pub fn receive_message(&self, channel: &str, sender: &str, text: &str) -> Result<PostedMessage, ChatError> {
        if text.trim().is_empty() {
            return Err(ChatError::EmptyMessage);
        }
        let mut store = self.shared.store();
        let message =
            store.append(channel, sender, text).ok_or_else(|| ChatError::UnknownChannel(channel.to_owned()))?;
        self.shared.enqueue_deliveries(&store, &message);
        Ok(message)
    }

    /// Stops accepting connections, lets requests in flight finish, and waits until the server
    /// has stopped.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.server.take() {
            Some(server) => server.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }

    fn set_fault(&self, n: usize, status: u16, retry_after: Option<u64>) {
        let status = StatusCode::from_u16(status).unwrap_or_else(|_| {
            tracing::warn!(status, "not an HTTP status code; injecting 500 instead");
            StatusCode::INTERNAL_SERVER_ERROR
        });
        let fault = (n > 0).then_some(Fault { remaining: n, status, retry_after });
        *self.shared.fault.lock().unwrap_or_else(PoisonError::into_inner) = fault;
    }
}

impl Drop for ChatServiceHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            // Stop accepting at once; open connections close through the shutdown signal.
            server.abort();
        }
    }
}

/// What the handlers, the handle and the auth layer share.
struct Shared {
    api_key: String,
    store: Mutex<Store>,
    requests: AtomicUsize,
    /// Requests per `Idempotency-Key` header value.
    keyed_requests: Mutex<HashMap<String, usize>>,
    deliveries_made: Arc<AtomicUsize>,
    fault: Mutex<Option<Fault>>,
    deliveries: mpsc::UnboundedSender<Delivery>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never show the API key.
        f.debug_struct("Shared").field("requests", &self.requests).finish_non_exhaustive()
    }
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `headers` carry `Authorization: Bearer <the API key>`, compared in constant time.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return false;
        };
        let value = value.as_bytes();
        let Some(space) = value.iter().position(|&byte| byte == b' ') else {
            return false;
        };
        let (scheme, token) = (&value[..space], value[space + 1..].trim_ascii());
        scheme.eq_ignore_ascii_case(b"bearer") && bool::from(token.ct_eq(self.api_key.as_bytes()))
    }

    /// Takes one pending injected failure, if any.
    fn take_fault(&self) -> Option<(StatusCode, Option<u64>)> {
        let mut fault = self.fault.lock().unwrap_or_else(PoisonError::into_inner);
        let pending = fault.as_mut()?;
        let taken = (pending.status, pending.retry_after);
        pending.remaining -= 1;
        if pending.remaining == 0 {
            *fault = None;
        }
        Some(taken)
    }

    /// Queues `message` for every webhook subscribed in `store`. Called with the store locked,
    /// so deliveries are queued in the order messages are stored.
    fn enqueue_deliveries(&self, store: &Store, message: &PostedMessage) {
        if store.webhooks.is_empty() {
            return;
        }
        let event = WebhookEvent {
            channel: &message.channel,
            sender: &message.sender,
            text: &message.text,
            timestamp: message.timestamp,
        };
        let body = match serde_json::to_vec(&event) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, "could not encode a webhook event");
                return;
            }
        };
        for webhook in store.webhooks.values() {
            let delivery = Delivery {
                url: webhook.url.clone(),
                secret: webhook.secret.clone(),
                body: body.clone(),
                done: self.deliveries_made.clone(),
            };
            if self.deliveries.send(delivery).is_err() {
                tracing::warn!("the webhook worker has stopped; delivery dropped");
            }
        }
    }
}

/// Pending injected failures.
#[derive(Debug, Clone, Copy)]
struct Fault {
    remaining: usize,
    status: StatusCode,
    retry_after: Option<u64>,
}

/// A channel and its messages.
#[derive(Debug)]
struct Channel {
    name: String,
    member_count: u32,
    topic: Option<String>,
    messages: Vec<PostedMessage>,
}

/// A webhook subscription.
#[derive(Debug, Clone)]
struct Webhook {
    url: reqwest::Url,
    secret: String,
}

/// A message posted with an `Idempotency-Key`, and what was asked.
#[derive(Debug)]
struct IdempotentPost {
    channel: String,
    message: String,
    stored: PostedMessage,
}

/// Everything the service stores.
#[derive(Debug)]
struct Store {
    channels: HashMap<String, Channel>,
    posted: Vec<PostedMessage>,
    next_message: u64,
    idempotent: HashMap<String, IdempotentPost>,
    webhooks: BTreeMap<String, Webhook>,
    next_webhook: u64,
}

impl Store {
    /// The seed data: `general` and `dev-team`, no messages.
    fn seeded() -> Self {
        let channel = |name: &str, member_count, topic: &str| Channel {
            name: name.to_owned(),
            member_count,
            topic: Some(topic.to_owned()),
            messages: Vec::new(),
        };
        let channels = HashMap::from([
            ("general".to_owned(), channel("General Chat", 123, "Discussions about everything!")),
            ("dev-team".to_owned(), channel("Development Team", 15, "Daily standups and coding questions.")),
        ]);
        Self {
            channels,
            posted: Vec::new(),
            next_message: 1,
            idempotent: HashMap::new(),
            webhooks: BTreeMap::new(),
            next_webhook: 1,
        }
    }

    /// Stores a message in `channel`; `None` if there is no such channel.
    fn append(&mut self, channel: &str, sender: &str, text: &str) -> Option<PostedMessage> {
        let messages = &mut self.channels.get_mut(channel)?.messages;
        let message = PostedMessage {
            message_id: format!("msg_{}", self.next_message),
            channel: channel.to_owned(),
            sender: sender.to_owned(),
            text: text.to_owned(),
            timestamp: Utc::now().trunc_subsecs(3),
        };
        self.next_message += 1;
        messages.push(message.clone());
        self.posted.push(message.clone());
        Some(message)
    }
}

/// The router: `/v1` behind the auth and fault layer, JSON 404s elsewhere.
fn router(shared: Arc<Shared>) -> Router {
    let v1 = Router::new()
        .route("/messages", post(post_message))
        .route("/channels/{channel_id}", get(get_channel))
        .route("/channels/{channel_id}/messages", get(list_messages))
        .route("/webhooks", post(subscribe))
        .route("/webhooks/{id}", delete(unsubscribe))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared);
    Router::new().nest("/v1", v1).fallback(not_found)
}

/// Counts every `/v1` request, checks its API key, then serves any pending injected failure.
async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    if let Some(key) = request.headers().get(IDEMPOTENCY_KEY_HEADER).and_then(|value| value.to_str().ok()) {
        let mut counts = shared.keyed_requests.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry(key.trim().to_owned()).or_default() += 1;
    }
    if !shared.authorized(request.headers()) {
        let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "invalid API key").into_response();
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    if let Some((status, retry_after)) = shared.take_fault() {
        let mut response = ApiError::new(status, "injected failure").into_response();
        if let Some(secs) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        return response;
    }
    next.run(request).await
}

/// `{"error": message}` with a status.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not found")
}

/// The body of `POST /v1/messages`.
#[derive(Debug, Deserialize)]
struct NewMessage {
    channel: String,
    message: String,
}

/// The answer to `POST /v1/messages`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct MessageCreated<'a> {
    message_id: &'a str,
    channel: &'a str,
    message: &'a str,
    timestamp: DateTime<Utc>,
}

impl<'a> From<&'a PostedMessage> for MessageCreated<'a> {
    fn from(stored: &'a PostedMessage) -> Self {
        Self {
            message_id: &stored.message_id,
            channel: &stored.channel,
            message: &stored.text,
            timestamp: stored.timestamp,
        }
    }
}

/// `POST /v1/messages`.
async fn post_message(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Json<NewMessage>, JsonRejection>,
) -> Result<Response, ApiError> {
    let key = match headers.get(IDEMPOTENCY_KEY_HEADER) {
        None => None,
        Some(value) => {
            let key =
                value.to_str().map_err(|_| ApiError::bad_request("Idempotency-Key must be visible ASCII"))?.trim();
            if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                return Err(ApiError::bad_request(format!(
                    "Idempotency-Key must have 1 to {MAX_IDEMPOTENCY_KEY_LEN} characters"
                )));
            }
            Some(key.to_owned())
        }
    };
    let Json(input) = body?;
    if input.message.trim().is_empty() {
        return Err(ApiError::bad_request("message must not be empty"));
    }

    // One lock from the idempotency check to the insert: concurrent retries post once.
    let mut store = shared.store();
    if let Some(key) = &key
        && let Some(earlier) = store.idempotent.get(key)
    {
        if earlier.channel != input.channel || earlier.message != input.message {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Idempotency-Key was already used with a different request",
            ));
        }
        let mut response = (StatusCode::CREATED, Json(MessageCreated::from(&earlier.stored))).into_response();
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(response);
    }
    let stored = store
        .append(&input.channel, API_SENDER, &input.message)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "channel not found"))?;
    if let Some(key) = key {
        store
            .idempotent
            .insert(key, IdempotentPost { channel: input.channel, message: input.message, stored: stored.clone() });
    }
    shared.enqueue_deliveries(&store, &stored);
    drop(store);

    tracing::debug!(message_id = %stored.message_id, channel = %stored.channel, "message stored");
    Ok((StatusCode::CREATED, Json(MessageCreated::from(&stored))).into_response())
}

/// `GET /v1/channels/{channelId}`.
async fn get_channel(
    State(shared): State<Arc<Shared>>,
    channel_id: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(channel_id) = channel_id?;
    let store = shared.store();
    let channel =
        store.channels.get(&channel_id).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "channel not found"))?;
    Ok(Json(json!({
        "channelId": channel_id,
        "name": channel.name,
        "memberCount": channel.member_count,
        "topic": channel.topic,
    })))
}

/// `GET /v1/channels/{channelId}/messages`.
async fn list_messages(
    State(shared): State<Arc<Shared>>,
    channel_id: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Path(channel_id) = channel_id?;
    let store = shared.store();
    let channel =
        store.channels.get(&channel_id).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "channel not found"))?;
    Ok(Json(json!({ "messages": channel.messages })))
}

/// The body of `POST /v1/webhooks`.
#[derive(Debug, Deserialize)]
struct NewWebhook {
    url: String,
    secret: String,
}

/// `POST /v1/webhooks`.
async fn subscribe(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<NewWebhook>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Json(input) = body?;
    let url = reqwest::Url::parse(&input.url)
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https"))
        .ok_or_else(|| ApiError::bad_request("url must be an absolute http or https URL"))?;
    if input.secret.is_empty() {
        return Err(ApiError::bad_request("secret must not be empty"));
    }
    let mut store = shared.store();
    let id = format!("wh_{}", store.next_webhook);
    store.next_webhook += 1;
    store.webhooks.insert(id.clone(), Webhook { url, secret: input.secret });
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// `DELETE /v1/webhooks/{id}`.
async fn unsubscribe(
    State(shared): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
) -> Result<StatusCode, ApiError> {
    let Path(id) = id?;
    match shared.store().webhooks.remove(&id) {
        Some(_) => Ok(StatusCode::NO_CONTENT),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "webhook not found")),
    }
}

/// What a webhook receives for every stored message.
#[derive(Debug, Serialize)]
struct WebhookEvent<'a> {
    channel: &'a str,
    sender: &'a str,
    text: &'a str,
    timestamp: DateTime<Utc>,
}

/// One queued webhook delivery.
struct Delivery {
    url: reqwest::Url,
    secret: String,
    body: Vec<u8>,
    done: Arc<AtomicUsize>,
}

/// Delivers queued webhook events one after another until the service is gone. Failures are
/// logged, never retried.
async fn deliver_webhooks(http: reqwest::Client, mut queue: mpsc::UnboundedReceiver<Delivery>) {
    while let Some(delivery) = queue.recv().await {
        let delivery_id = format!("dlv_{}", uuid::Uuid::new_v4().simple());
        let result = http
            .post(delivery.url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(&delivery.secret, &delivery.body))
            .header(DELIVERY_HEADER, &delivery_id)
            .body(delivery.body)
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => {
                tracing::debug!(url = %delivery.url, %delivery_id, "webhook delivered");
            }
            Ok(response) => {
                tracing::warn!(url = %delivery.url, %delivery_id, status = %response.status(), "webhook refused");
            }
            Err(error) => {
                tracing::warn!(url = %delivery.url, %delivery_id, %error, "webhook delivery failed");
            }
        }
        delivery.done.fetch_add(1, Ordering::SeqCst);
    }
}

/// The `X-Chat-Signature` value for `body` under `secret`: `sha256=<hex HMAC-SHA256>`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    match hmac(secret, body) {
        Some(mac) => format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
        // Unreachable (HMAC takes keys of any length); an empty signature never verifies.
        None => String::new(),
    }
}

/// Whether `header` is a valid `X-Chat-Signature` of `body` under `secret`, compared in constant
/// time.
pub fn verify_signature(secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_digest) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let (Ok(digest), Some(mac)) = (hex::decode(hex_digest), hmac(secret, body)) else {
        return false;
    };
    mac.verify_slice(&digest).is_ok()
}

/// HMAC-SHA256 over `body` keyed with `secret`.
fn hmac(secret: &str, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(body);
    Some(mac)
}
