//! The issue-tracker HTTP service: a small but real issue API with OAuth2 client-credentials
//! tokens, on loopback, for the connector to talk to.
//!
//! Start one with [`TrackerService::start_with`]; the returned [`TrackerServiceHandle`] knows the
//! service's base URL, shows its issues, counts token grants and requests, injects failures and
//! shuts the service down.
//!
//! # API
//!
//! `POST /oauth/token` takes a form (`application/x-www-form-urlencoded`):
//!
//! * `grant_type=client_credentials&client_id=..&client_secret=..`, or
//! * `grant_type=refresh_token&refresh_token=..` (with `client_id`/`client_secret` optional, and
//!   checked when given). A refresh token is good for one refresh: the answer carries a new one.
//!
//! It answers `200 {"access_token","token_type":"Bearer","expires_in","refresh_token"}`, where
//! `expires_in` is the token lifetime in whole seconds, rounded down. Errors are RFC 6749
//! errors: `400 {"error":"invalid_request"|"invalid_grant"|"unsupported_grant_type"}` and
//! `401 {"error":"invalid_client"}`, each with an `error_description`.
//!
//! Every `/api` route needs `Authorization: Bearer <access token>` with an unexpired token;
//! anything else answers `401 {"error":"invalid_token"}`. Other errors are `{"error": "..."}`.
//!
//! | Route | Answer |
//! |---|---|
//! | `POST /api/issues` `{"title","body"?,"labels"?}` | `201` the issue; 400 for a malformed body or an empty title |
//! | `GET /api/issues/{number}` | `200` the issue, or 404 `{"error":"issue not found"}` |
//! | `PATCH /api/issues/{number}` `{"state"?,"title"?}` | `200` the changed issue, 400, or 404 |
//! | `GET /api/issues?state=open\|closed\|all&page=N&per_page=M` | `200` a JSON array of issues |
//!
//! An issue is `{"number","title","body","labels","state":"open"|"closed","createdAt"}`.
//!
//! The list is ordered by number and paginated by page number: `state` defaults to `open`,
//! `page` to 1, `per_page` to 30 (at most 100; larger values are capped). Its `Link` header has
//! `rel="next"` and `rel="last"` links while there are further pages and `rel="first"` and
//! `rel="prev"` links after the first page; `X-Total-Count` is the number of matching issues.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::future::IntoFuture;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The default number of issues on a page.
pub const DEFAULT_PER_PAGE: usize = 30;
/// The largest number of issues on a page.
pub const MAX_PER_PAGE: usize = 100;
/// The default lifetime of an access token.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// The longest title the service accepts, in characters.
const MAX_TITLE_CHARS: usize = 256;

/// How an issue tracker is set up: the one OAuth2 client it knows, and how long its access
/// tokens live.
#[derive(Clone)]
pub struct TrackerOptions {
    /// The client id that `POST /oauth/token` accepts.
    pub client_id: String,
    /// The client secret that goes with `client_id`.
    pub client_secret: String,
    /// How long an issued access token is accepted.
    pub token_ttl: Duration,
}

impl TrackerOptions {
    /// Options for the client `client_id` with `client_secret`, and tokens that live
    /// [`DEFAULT_TOKEN_TTL`].
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self { client_id: client_id.into(), client_secret: client_secret.into(), token_ttl: DEFAULT_TOKEN_TTL }
    }

    /// The same options with access tokens that live `token_ttl`.
    pub fn with_token_ttl(mut self, token_ttl: Duration) -> Self {
        self.token_ttl = token_ttl;
        self
    }
}

impl fmt::Debug for TrackerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrackerOptions")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("token_ttl", &self.token_ttl)
            .finish()
    }
}

/// The issue-tracker service. [`TrackerService::start_with`] runs one on loopback.
#[derive(Debug, Clone, Copy)]
pub struct TrackerService;

impl TrackerService {
    /// Starts the service on `127.0.0.1` on a free port.
    ///
    /// Fails if the client id or secret is empty, the token lifetime is zero, no port can be
    /// bound, or it is not called from within a Tokio runtime.
    pub async fn start_with(options: TrackerOptions) -> io::Result<TrackerServiceHandle> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), options).await
    }

    /// Starts the service on `addr` (port 0 picks a free port).
    ///
    /// Fails if the client id or secret is empty, the token lifetime is zero, `addr` cannot be
    /// bound, or it is not called from within a Tokio runtime.
    pub async fn start_on(addr: SocketAddr, options: TrackerOptions) -> io::Result<TrackerServiceHandle> {
        if options.client_id.is_empty() || options.client_secret.is_empty() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the client id and secret must not be empty"));
        }
        if options.token_ttl.is_zero() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "the token lifetime must not be zero"));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;

        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let listener = listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY on a tracker connection");
            }
        });

        let shared = Arc::new(Shared {
            options,
            base_url: format!("http://{addr}"),
            store: Mutex::new(Store::default()),
            requests: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
            grants: AtomicUsize::new(0),
            fault: Mutex::new(None),
        });

        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(listener, router(shared.clone())).with_graceful_shutdown(async move {
            // Either a shutdown request or a dropped handle stops the server.
            let _ = stopped.await;
        });
        let server = runtime.spawn(server.into_future());
        tracing::info!(%addr, "issue tracker listening");

        Ok(TrackerServiceHandle { addr, shared, stop: Some(stop), server: Some(server) })
    }
}

/// Whether an issue is open or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueState {
    /// Open: the default for a new issue.
    Open,
    /// Closed.
    Closed,
}

/// An issue as the service stores and answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// The issue's number, counting from 1.
    pub number: u64,
    /// Its title.
    pub title: String,
    /// Its description, if it has one.
    pub body: Option<String>,
    /// Its labels, in the order given.
    pub labels: Vec<String>,
    /// Open or closed.
    pub state: IssueState,
    /// When it was created (millisecond precision).
    pub created_at: DateTime<Utc>,
}

/// A running issue tracker. Dropping it stops the service;
/// [`TrackerServiceHandle::shutdown`] stops it gracefully and waits until it has.
#[derive(Debug)]
pub struct TrackerServiceHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<io::Result<()>>>,
}

impl TrackerServiceHandle {
    /// The service's base URL, like `http://127.0.0.1:41234` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The URL of the token endpoint, `<base_url>/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.shared.base_url)
    }

    /// The address the service listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many access tokens the token endpoint has issued (both grant types).
    pub fn token_grants(&self) -> usize {
        self.shared.grants.load(Ordering::SeqCst)
    }

    /// How many requests reached the token endpoint, refused ones included.
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    /// How many `/api` requests the service received, including rejected and failed ones.
    pub fn request_count(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Every issue, by number.
    pub fn issues(&self) -> Vec<Issue> {
        self.shared.store().issues.values().cloned().collect()
    }

    /// Makes every access token issued so far invalid at once, as if it had expired; refresh
    /// tokens stay valid.
    pub fn expire_tokens(&self) {
        self.shared.store().access.clear();
    }

    /// Makes the next `n` authenticated `/api` requests fail with `status` and the body
    /// `{"error":"injected failure"}`, without doing anything else. Replaces any failures still
    /// pending; `n = 0` clears them. A `status` that is not a valid HTTP status code is replaced
    /// by 500.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.set_fault(n, status, None);
    }

    /// Like [`TrackerServiceHandle::fail_next`], and the failures carry
    /// `Retry-After: <retry_after_secs>`.
    pub fn fail_next_with_retry_after(&self, n: usize, status: u16, retry_after_secs: u64) {
        self.set_fault(n, status, Some(retry_after_secs));
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

impl Drop for TrackerServiceHandle {
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
    options: TrackerOptions,
    base_url: String,
    store: Mutex<Store>,
    requests: AtomicUsize,
    token_requests: AtomicUsize,
    grants: AtomicUsize,
    fault: Mutex<Option<Fault>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never show tokens.
        f.debug_struct("Shared")
            .field("options", &self.options)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `id` and `secret` are the configured client's, compared in constant time.
    fn client_matches(&self, id: &str, secret: &str) -> bool {
        let id_ok = id.as_bytes().ct_eq(self.options.client_id.as_bytes());
        let secret_ok = secret.as_bytes().ct_eq(self.options.client_secret.as_bytes());
        bool::from(id_ok & secret_ok)
    }

    /// Whether `headers` carry `Authorization: Bearer <unexpired access token>`.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
        else {
            return false;
        };
        let now = Instant::now();
        let mut store = self.store();
        match store.access.get(token) {
            Some(&expires) if expires > now => true,
            Some(_) => {
                store.access.remove(token);
                false
            }
            None => false,
        }
    }

    /// Issues a fresh access token and refresh token.
    fn grant(&self) -> TokenResponse {
        let access_token = format!("at_{}", uuid::Uuid::new_v4().simple());
        let refresh_token = format!("rt_{}", uuid::Uuid::new_v4().simple());
        let now = Instant::now();
        let ttl = self.options.token_ttl;
        let mut store = self.store();
        store.access.retain(|_, expires| *expires > now);
        store.access.insert(access_token.clone(), now.checked_add(ttl).unwrap_or(now));
        store.refresh.insert(refresh_token.clone());
        drop(store);
        self.grants.fetch_add(1, Ordering::SeqCst);
        TokenResponse { access_token, token_type: "Bearer", expires_in: ttl.as_secs(), refresh_token }
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
}

/// Pending injected failures.
#[derive(Debug, Clone, Copy)]
struct Fault {
    remaining: usize,
    status: StatusCode,
    retry_after: Option<u64>,
}

/// Everything the service stores.
#[derive(Debug, Default)]
struct Store {
    issues: BTreeMap<u64, Issue>,
    /// Access tokens and when they expire.
    access: HashMap<String, Instant>,
    /// Refresh tokens not used yet.
    refresh: HashSet<String>,
}

/// The router: `/oauth/token`, `/api` behind the token and fault layer, JSON 404s elsewhere.
fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/issues", post(create_issue).get(list_issues))
        .route("/issues/{number}", get(get_issue).patch(update_issue))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared.clone());
    Router::new().route("/oauth/token", post(token)).with_state(shared).nest("/api", api).fallback(not_found)
}

/// Counts every `/api` request, checks its access token, then serves any pending injected
/// failure.
async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    if !shared.authorized(request.headers()) {
        let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token").into_response();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
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

    fn issue_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "issue not found")
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

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not found")
}

/// The form of `POST /oauth/token`.
#[derive(Debug, Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
}

/// A successful answer of `POST /oauth/token`.
#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
}

/// An RFC 6749 error of the token endpoint.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn invalid_request(description: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, error: "invalid_request", description: description.into() }
    }

    fn invalid_client() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "unknown client or wrong client secret".into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response =
            (self.status, no_store(), Json(json!({ "error": self.error, "error_description": self.description })))
                .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"oauth\""));
        }
        response
    }
}

/// The headers RFC 6749 asks for on token responses.
fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// `POST /oauth/token`.
async fn token(
    State(shared): State<Arc<Shared>>,
    form: Result<Form<TokenRequest>, FormRejection>,
) -> Result<Response, OAuthError> {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let Form(request) = form.map_err(|rejection| OAuthError::invalid_request(rejection.body_text()))?;
    let client = match (&request.client_id, &request.client_secret) {
        (Some(id), Some(secret)) => Some(shared.client_matches(id, secret)),
        (None, None) => None,
        _ => return Err(OAuthError::invalid_client()),
    };
    match request.grant_type.as_deref() {
        Some("client_credentials") => {
            if client != Some(true) {
                return Err(OAuthError::invalid_client());
            }
        }
        Some("refresh_token") => {
            if client == Some(false) {
                return Err(OAuthError::invalid_client());
            }
            let refresh_token = request
                .refresh_token
                .as_deref()
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
            // Each refresh token is good for one refresh.
            if !shared.store().refresh.remove(refresh_token) {
                return Err(OAuthError {
                    status: StatusCode::BAD_REQUEST,
                    error: "invalid_grant",
                    description: "unknown or used refresh token".into(),
                });
            }
        }
        Some(other) => {
            return Err(OAuthError {
                status: StatusCode::BAD_REQUEST,
                error: "unsupported_grant_type",
                description: format!("grant type {other:?} is not supported"),
            });
        }
        None => return Err(OAuthError::invalid_request("grant_type is missing")),
    }
    Ok((no_store(), Json(shared.grant())).into_response())
}

/// The body of `POST /api/issues`.
#[derive(Debug, Deserialize)]
struct NewIssue {
    title: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
}

/// A title with its surrounding whitespace trimmed, if it is acceptable.
fn valid_title(title: &str) -> Result<String, ApiError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(ApiError::bad_request("title must not be empty"));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::bad_request(format!("title must have at most {MAX_TITLE_CHARS} characters")));
    }
    Ok(title.to_owned())
}

/// `POST /api/issues`.
async fn create_issue(
    State(shared): State<Arc<Shared>>,
    body: Result<Json<NewIssue>, JsonRejection>,
) -> Result<(StatusCode, Json<Issue>), ApiError> {
    let Json(input) = body?;
    let title = valid_title(&input.title)?;
    if input.labels.iter().any(|label| label.trim().is_empty()) {
        return Err(ApiError::bad_request("labels must not be empty"));
    }
    let mut store = shared.store();
    let number = store.issues.last_key_value().map_or(1, |(last, _)| last + 1);
    let issue = Issue {
        number,
        title,
        body: input.body,
        labels: input.labels,
        state: IssueState::Open,
        created_at: Utc::now().trunc_subsecs(3),
    };
    store.issues.insert(number, issue.clone());
    Ok((StatusCode::CREATED, Json(issue)))
}

/// `GET /api/issues/{number}`.
async fn get_issue(
    State(shared): State<Arc<Shared>>,
    number: Result<Path<u64>, PathRejection>,
) -> Result<Json<Issue>, ApiError> {
    let Path(number) = number?;
    let store = shared.store();
    let issue = store.issues.get(&number).ok_or_else(ApiError::issue_not_found)?;
    Ok(Json(issue.clone()))
}

/// The body of `PATCH /api/issues/{number}`.
#[derive(Debug, Deserialize)]
struct IssuePatch {
    state: Option<IssueState>,
    title: Option<String>,
}

/// `PATCH /api/issues/{number}`.
async fn update_issue(
    State(shared): State<Arc<Shared>>,
    number: Result<Path<u64>, PathRejection>,
    body: Result<Json<IssuePatch>, JsonRejection>,
) -> Result<Json<Issue>, ApiError> {
    let Path(number) = number?;
    let Json(patch) = body?;
    let title = patch.title.as_deref().map(valid_title).transpose()?;
    let mut store = shared.store();
    let issue = store.issues.get_mut(&number).ok_or_else(ApiError::issue_not_found)?;
    if let Some(title) = title {
        issue.title = title;
    }
    if let Some(state) = patch.state {
        issue.state = state;
    }
    Ok(Json(issue.clone()))
}

/// Which issues `GET /api/issues` lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StateFilter {
    /// Open issues (the default).
    #[default]
    Open,
    /// Closed issues.
    Closed,
    /// All issues.
    All,
}

impl StateFilter {
    fn matches(self, state: IssueState) -> bool {
        match self {
            Self::Open => state == IssueState::Open,
            Self::Closed => state == IssueState::Closed,
            Self::All => true,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::All => "all",
        }
    }
}

/// The query of `GET /api/issues`.
#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    state: StateFilter,
    page: Option<usize>,
    per_page: Option<usize>,
}

/// `GET /api/issues`.
async fn list_issues(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let page = query.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::bad_request("page must be at least 1"));
    }
    let per_page = query.per_page.unwrap_or(DEFAULT_PER_PAGE).min(MAX_PER_PAGE);
    if per_page == 0 {
        return Err(ApiError::bad_request("per_page must be at least 1"));
    }

    let (total, issues) = {
        let store = shared.store();
        let matching = store.issues.values().filter(|issue| query.state.matches(issue.state));
        let total = matching.clone().count();
        let skip = (page - 1).saturating_mul(per_page);
        let issues: Vec<Issue> = matching.skip(skip).take(per_page).cloned().collect();
        (total, issues)
    };
    let last_page = total.div_ceil(per_page).max(1);

    let link_to = |page: usize, rel: &str| {
        format!(
            "<{}/api/issues?state={}&page={page}&per_page={per_page}>; rel=\"{rel}\"",
            shared.base_url,
            query.state.as_str()
        )
    };
    let mut links = Vec::new();
    if page < last_page {
        links.push(link_to(page + 1, "next"));
        links.push(link_to(last_page, "last"));
    }
    if page > 1 {
        links.push(link_to(1, "first"));
        links.push(link_to((page - 1).min(last_page), "prev"));
    }

    let mut response = Json(issues).into_response();
    let headers = response.headers_mut();
    headers.insert("x-total-count", HeaderValue::from(total));
    if !links.is_empty() {
        let link = HeaderValue::from_str(&links.join(", "))
            .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "bad Link header"))?;
        headers.insert(header::LINK, link);
    }
    Ok(response)
}
