//! The HTTP helper actions use: one pooled reqwest client per connector instance, the step's
//! idempotency key on every request, and responses classified into [`ActionError`]s.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::auth::Auth;
use super::limiter::Limiter;
use crate::model::{ActionError, RateLimit, Secret};

/// The header that carries a step's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// How much of an error body is kept in an error message.
const ERROR_BODY_LIMIT: usize = 512;

/// A connector instance's HTTP client: one connection pool, one rate limiter and one set of
/// credentials shared by all its calls.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    limiter: Arc<Limiter>,
    auth: Arc<Auth>,
}

impl HttpClient {
    pub(crate) fn new(limit: RateLimit, auth: Auth) -> Self {
        let client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(10))
            .build()
            // Building fails only when the TLS backend or system config cannot load; with the
            // features this crate enables there is none, so the default client is equivalent.
            .unwrap_or_default();
        HttpClient { client, limiter: Arc::new(Limiter::new(limit)), auth: Arc::new(auth) }
    }

    /// Keeps the client's OAuth2 tokens in `store`, and counts its limits there when the store
    /// is shared between processes, under `key` (the connector's id).
    pub(crate) fn attach_store(&self, store: Arc<dyn super::TokenStore>, key: String) {
        self.auth.attach_token_store(Arc::clone(&store), key.clone());
        self.limiter.attach_store(store, key);
    }
}

/// The HTTP client as an action sees it: unsafe requests it builds carry an idempotency key
/// derived from the step's (see [`ConnectorContext::http`](crate::ConnectorContext::http)).
#[derive(Debug, Clone, Copy)]
pub struct StepHttp<'a> {
    client: &'a HttpClient,
    idempotency_key: Option<&'a str>,
    unsafe_requests: &'a AtomicU32,
}

impl<'a> StepHttp<'a> {
    pub(crate) fn new(
        client: &'a HttpClient,
        idempotency_key: Option<&'a str>,
        unsafe_requests: &'a AtomicU32,
    ) -> Self {
        StepHttp { client, idempotency_key, unsafe_requests }
    }

    /// A request with any method.
    pub fn request(&self, method: Method, url: impl reqwest::IntoUrl) -> Request {
        let key = self.idempotency_key.filter(|_| !is_safe(&method)).map(|key| {
            // Numbered in the order the attempt builds them, which a retry repeats.
            match self.unsafe_requests.fetch_add(1, Ordering::Relaxed) {
                0 => key.to_owned(),
                n => format!("{key}.{}", n + 1),
            }
        });
        let mut builder = self.client.client.request(method, url);
        if let Some(key) = key {
            builder = builder.header(IDEMPOTENCY_KEY, key);
        }
        Request { builder, client: self.client.clone() }
    }

    /// A `GET` request.
    pub fn get(&self, url: impl reqwest::IntoUrl) -> Request {
        self.request(Method::GET, url)
    }

    /// A `POST` request.
    pub fn post(&self, url: impl reqwest::IntoUrl) -> Request {
        self.request(Method::POST, url)
    }

    /// A `PUT` request.
    pub fn put(&self, url: impl reqwest::IntoUrl) -> Request {
        self.request(Method::PUT, url)
    }

    /// A `PATCH` request.
    pub fn patch(&self, url: impl reqwest::IntoUrl) -> Request {
        self.request(Method::PATCH, url)
    }

    /// A `DELETE` request.
    pub fn delete(&self, url: impl reqwest::IntoUrl) -> Request {
        self.request(Method::DELETE, url)
    }

    /// The underlying reqwest client, for what this helper does not cover.
    pub fn client(&self) -> &reqwest::Client {
        &self.client.client
    }
}

/// Safe methods (RFC 9110, 9.2.1) change nothing on the service, so there is nothing for a key
/// to make idempotent; a service that replays answers by key would replay stale reads.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// A request being built; `send_json` sends it and classifies the answer.
#[derive(Debug)]
#[must_use = "a request does nothing until it is sent"]
pub struct Request {
    builder: reqwest::RequestBuilder,
    client: HttpClient,
}

impl Request {
    fn map(self, f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder) -> Self {
        Request { builder: f(self.builder), client: self.client }
    }

    /// Sets a JSON body.
    pub fn json<T: Serialize + ?Sized>(self, body: &T) -> Self {
        self.map(|builder| builder.json(body))
    }

    /// Sets a form body (`application/x-www-form-urlencoded`) from `(name, value)` pairs or a
    /// flat struct, as serde_urlencoded writes it. Nested keys (`metadata[order]=..`) are the
    /// caller's to spell out as names.
    pub fn form<T: Serialize + ?Sized>(self, body: &T) -> Self {
        self.map(|builder| builder.form(body))
    }

    /// Adds query parameters.
    pub fn query<T: Serialize + ?Sized>(self, query: &T) -> Self {
        self.map(|builder| builder.query(query))
    }

    /// Adds a header.
    pub fn header(self, name: impl Into<HeaderName>, value: impl Into<HeaderValue>) -> Self {
        self.map(|builder| builder.header(name.into(), value.into()))
    }

    /// Sets `Authorization: Bearer <secret>`; the header is marked sensitive so it is never logged.
    pub fn bearer_auth(self, token: &Secret) -> Self {
        self.map(|builder| builder.bearer_auth(token.expose()))
    }

    /// Sets a per-request timeout.
    pub fn timeout(self, timeout: Duration) -> Self {
        self.map(|builder| builder.timeout(timeout))
    }

    /// Sends the request with the connector's credentials; a non-2xx answer becomes the
    /// matching [`ActionError`]. An OAuth2 token the service refuses is refreshed and the
    /// request sent once more.
    pub async fn send(self) -> Result<reqwest::Response, ActionError> {
        let request = self.builder.build()?;
        send_request(&self.client, request).await
    }

    /// Sends the request as [`send`](Self::send) does (credentials, the connector's limits, the
    /// step's idempotency key, one refresh of a refused OAuth2 token), but hands back every
    /// answer, 2xx or not: for a service whose errors need reading of its own (an `ok: false`
    /// body, a rate limit announced in a header of its own). Classify what is not a success
    /// with [`classify`] or by hand. The answer's rate-limit headers still pause the connector.
    pub async fn send_unchecked(self) -> Result<reqwest::Response, ActionError> {
        let request = self.builder.build()?;
        send_request_unchecked(&self.client, request).await
    }

    /// Pages through a list endpoint: the items of every page, in order, as a stream; each page
    /// is one request, retried like a step's attempts. See [`Pages`](super::paginate::Pages).
    pub fn paginate<T: DeserializeOwned + Send + 'static>(
        self,
        pages: super::paginate::Pages,
    ) -> impl futures::Stream<Item = Result<T, ActionError>> + Send + 'static {
        super::paginate::stream(self.client, self.builder.build(), pages)
    }

    /// Sends the request and reads a JSON answer of type `T`.
    pub async fn send_json<T: DeserializeOwned>(self) -> Result<T, ActionError> {
        let response = self.send().await?;
        let bytes = response.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|error| ActionError::InvalidOutput(error.to_string()))
    }
}

/// Sends a built request: credentials, limits, one reactive credential refresh, classification.
pub(crate) async fn send_request(
    client: &HttpClient,
    request: reqwest::Request,
) -> Result<reqwest::Response, ActionError> {
    checked(send_request_unchecked(client, request).await?).await
}

/// Sends a built request: credentials, limits, one reactive credential refresh; any answer.
async fn send_request_unchecked(
    client: &HttpClient,
    request: reqwest::Request,
) -> Result<reqwest::Response, ActionError> {
    // A copy to send again if the service refuses the access token (a streamed body has none).
    let again = request.try_clone();
    let (response, token) = send_with_auth(client, request).await?;
    if let Some(again) = again
        && !response.status().is_success()
        && client.auth.reject(response.status(), token.as_ref()).await
    {
        tracing::info!(status = response.status().as_u16(), "the service refused the access token; refreshing it once");
        let (response, _) = send_with_auth(client, again).await?;
        return Ok(response);
    }
    Ok(response)
}

async fn send_with_auth(
    client: &HttpClient,
    mut request: reqwest::Request,
) -> Result<(reqwest::Response, Option<Secret>), ActionError> {
    let token = client.auth.apply(&mut request).await?;
    // Held until the answer's head arrives: the connector's rate limit and concurrency.
    let admission = client.limiter.admit().await;
    let response = client.client.execute(request).await?;
    drop(admission);
    // The answer's rate-limit headers slow the calls after it, before a 429.
    client.limiter.observe(response.status(), response.headers());
    Ok((response, token))
}

async fn checked(response: reqwest::Response) -> Result<reqwest::Response, ActionError> {
    if response.status().is_success() { Ok(response) } else { Err(failure(response).await) }
}

async fn failure(response: reqwest::Response) -> ActionError {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    classify(status, &headers, &body)
}

/// Classifies a non-2xx answer: 401/403 credentials, 429 (and 503 with `Retry-After`) rate
/// limits, 408 and 5xx transient, other 4xx rejected.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> ActionError {
    let message = error_message(body, status);
    let retry_after = retry_after(headers);
    match status.as_u16() {
        401 | 403 => ActionError::Unauthorized { status: status.as_u16(), message },
        429 => ActionError::RateLimited { retry_after, message },
        503 if retry_after.is_some() => ActionError::RateLimited { retry_after, message },
        408 | 500..=599 => ActionError::Transient { message: format!("HTTP {}: {message}", status.as_u16()) },
        code => ActionError::Rejected { status: code, message },
    }
}

/// Reads the wait a service asks for: `retry-after-ms` (milliseconds, as OpenAI and Azure send
/// it) when present, else `Retry-After` as seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let millis = headers
        .get("retry-after-ms")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<f64>().ok())
        .filter(|millis| millis.is_finite() && *millis >= 0.0);
    if let Some(millis) = millis {
        return Some(Duration::from_secs_f64(millis / 1000.0));
    }
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The service's own words: a JSON `error`/`message` field, or the start of the body.
fn error_message(body: &str, status: StatusCode) -> String {
    // The service may echo what it was sent, credentials included: masked before the body is
    // cut, so a secret across the cut leaves nothing of itself.
    // The message is masked again once taken out of the body: JSON unescaping may have turned
    // an escaped echo into one of the masked forms.
    let message = raw_error_message(&crate::model::redact(body), status);
    crate::model::redact(&message).into_owned()
}

fn raw_error_message(body: &str, status: StatusCode) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(body) {
        for field in ["error", "message", "error_description", "detail"] {
            if let Some(text) = map.get(field).and_then(|v| v.as_str()) {
                return text.to_owned();
            }
        }
        // `{"error": {"message": .., "type": .., "code": ..}}`, as Stripe and OpenAI answer.
        if let Some(error) = map.get("error").and_then(|error| error.as_object())
            && let Some(text) = error.get("message").and_then(|v| v.as_str())
        {
            let kinds: Vec<&str> = ["type", "code"].iter().filter_map(|key| error.get(*key)?.as_str()).collect();
            return match kinds.is_empty() {
                true => text.to_owned(),
                false => format!("{text} ({})", kinds.join(", ")),
            };
        }
    }
    let body = body.trim();
    if body.is_empty() {
        return status.canonical_reason().unwrap_or("no reason given").to_owned();
    }
    match body.char_indices().nth(ERROR_BODY_LIMIT) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(retry_after).unwrap());
        headers
    }

    #[test]
    fn statuses_are_classified() {
        let none = HeaderMap::new();
        assert!(matches!(classify(StatusCode::UNAUTHORIZED, &none, ""), ActionError::Unauthorized { status: 401, .. }));
        assert!(matches!(classify(StatusCode::TOO_MANY_REQUESTS, &none, ""), ActionError::RateLimited { .. }));
        assert!(matches!(classify(StatusCode::SERVICE_UNAVAILABLE, &none, ""), ActionError::Transient { .. }));
        assert!(matches!(
            classify(StatusCode::SERVICE_UNAVAILABLE, &headers("2"), ""),
            ActionError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(2)
        ));
        assert!(matches!(classify(StatusCode::REQUEST_TIMEOUT, &none, ""), ActionError::Transient { .. }));
        assert!(
            matches!(classify(StatusCode::NOT_FOUND, &none, r#"{"error":"nope"}"#), ActionError::Rejected { status: 404, message } if message == "nope")
        );
    }

    #[test]
    fn a_nested_error_object_gives_its_message_type_and_code() {
        let body = r#"{"error":{"code":"card_declined","decline_code":"generic_decline","message":"Your card was declined.","type":"card_error"}}"#;
        assert_eq!(
            error_message(body, StatusCode::PAYMENT_REQUIRED),
            "Your card was declined. (card_error, card_declined)"
        );
        let body = r#"{"error":{"message":"Rate limit reached"}}"#;
        assert_eq!(error_message(body, StatusCode::TOO_MANY_REQUESTS), "Rate limit reached");
    }

    #[test]
    fn an_echoed_secret_is_masked_before_the_body_is_cut() {
        let secret = crate::model::Secret::new("sk_live_cut_across_the_limit_0123456789");
        let body = format!("{}{}", "x".repeat(ERROR_BODY_LIMIT - 10), secret.expose());
        let message = error_message(&body, StatusCode::BAD_REQUEST);
        assert!(!message.contains("sk_live"), "{message}");
        let escaped = crate::model::Secret::new(r#"pa"ss\word-42"#);
        let json =
            serde_json::json!({ "error": format!("bad key {}", serde_json::to_string(escaped.expose()).unwrap()) });
        let message = error_message(&json.to_string(), StatusCode::BAD_REQUEST);
        assert!(!message.contains("word-42"), "{message}");
        let encoded = crate::model::Secret::new("key with spaces&more");
        let message = error_message("bad key key%20with%20spaces%26more", StatusCode::BAD_REQUEST);
        assert!(!message.contains("spaces"), "{message}: {}", encoded.expose().len());
    }

    #[test]
    fn retry_after_reads_an_http_date() {
        let later = chrono::Utc::now() + chrono::Duration::seconds(30);
        let wait = retry_after(&headers(&later.to_rfc2822())).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(retry_after(&headers("Sun, 06 Nov 1994 08:49:37 GMT")), Some(Duration::ZERO));
    }
}
