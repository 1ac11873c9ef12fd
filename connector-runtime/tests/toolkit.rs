//! The connector toolkit against real loopback servers: pagination in every style, rate-limit
//! headers that slow the next calls, and secrets masked everywhere — logs, errors, the store —
//! even when the service echoes them back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use connector_runtime::client::Auth;
use connector_runtime::client::Pages;
use connector_runtime::prelude::*;
use futures::TryStreamExt;
use serde_json::json;

#[path = "support/captured_logs.rs"]
mod captured_logs;
use captured_logs::Captured;

const ITEMS: u64 = 1000;

#[derive(Deserialize)]
struct ListQuery {
    filter: Option<String>,
    offset: Option<u64>,
    limit: Option<u64>,
    page: Option<u64>,
    per_page: Option<u64>,
    cursor: Option<u64>,
}

#[derive(Default)]
struct Service {
    hits: AtomicUsize,
    sent_at: Mutex<Vec<Instant>>,
}

/// Items `0..1000`, paged four ways; every style must keep the caller's `filter=all`.
async fn list(style: &str, query: ListQuery) -> Response {
    if query.filter.as_deref() != Some("all") {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "the filter parameter was lost"}))).into_response();
    }
    let size = query.limit.or(query.per_page).unwrap_or(50).min(100);
    let start = match style {
        "offset" => query.offset.unwrap_or(0),
        "page" => (query.page.unwrap_or(1).max(1) - 1) * size,
        _ => query.cursor.unwrap_or(0),
    };
    let items: Vec<u64> = (start..(start + size).min(ITEMS)).collect();
    let end = start + items.len() as u64;
    match style {
        "cursor" => {
            Json(json!({"data": items, "next": if end < ITEMS { json!(end.to_string()) } else { json!(null) }}))
                .into_response()
        }
        "link" => {
            let mut response = Json(json!(items)).into_response();
            if end < ITEMS {
                let next = format!(
                    "</link?filter=all&cursor={end}>; rel=\"next\", </link?filter=all&cursor=0>; rel=\"first\""
                );
                response.headers_mut().insert("link", next.parse().unwrap());
            }
            response
        }
        _ => Json(json!(items)).into_response(),
    }
}

async fn limited(State(service): State<Arc<Service>>) -> Response {
    service.sent_at.lock().unwrap().push(Instant::now());
    let first = service.hits.fetch_add(1, Ordering::SeqCst) == 0;
    let mut response = Json(json!({"ok": true})).into_response();
    if first {
        // Nothing left until the window resets in a second.
        response.headers_mut().insert("ratelimit-remaining", "0".parse().unwrap());
        response.headers_mut().insert("ratelimit-reset", "1".parse().unwrap());
    }
    response
}

/// Echoes the request's credentials in its error, as careless services do.
async fn echo(headers: HeaderMap) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (StatusCode::BAD_REQUEST, Json(json!({"error": format!("bad request with {auth}")}))).into_response()
}

/// Echoes a form request's content type and raw body.
async fn form(headers: HeaderMap, body: String) -> Response {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    Json(json!({"contentType": content_type, "body": body})).into_response()
}

async fn serve() -> (String, Arc<Service>) {
    let service = Arc::new(Service::default());
    let app = axum::Router::new()
        .route("/offset", get(|Query(q): Query<ListQuery>| list("offset", q)))
        .route("/page", get(|Query(q): Query<ListQuery>| list("page", q)))
        .route("/cursor", get(|Query(q): Query<ListQuery>| list("cursor", q)))
        .route("/link", get(|Query(q): Query<ListQuery>| list("link", q)))
        .route("/limited", get(limited))
        .route("/echo", get(echo))
        .route("/form", axum::routing::post(form))
        .route(
            "/refused",
            get(|| async {
                let headers = [("retry-after-ms", "1500")];
                (axum::http::StatusCode::TOO_MANY_REQUESTS, headers, r#"{"ok":false,"error":"ratelimited"}"#)
            }),
        )
        .with_state(Arc::clone(&service));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, service)
}

#[derive(Deserialize, JsonSchema)]
struct ApiConfig {
    url: String,
    token: Secret,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Style {
    style: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Listed {
    items: Vec<u64>,
}

/// A connector to the test service, with a bearer token declared once.
struct Api;

#[connector(id = "api", name = "Api", version = "1.0.0", config = ApiConfig, auth = Self::auth)]
impl Api {
    fn auth(config: &ApiConfig) -> Auth {
        Auth::Bearer(config.token.clone())
    }

    /// Lists every item, paging in the given style.
    #[action(id = "list", name = "List")]
    async fn list(ctx: &ActionContext<ApiConfig>, input: Style) -> Result<Listed, ActionError> {
        let pages = match input.style.as_str() {
            "offset" => Pages::offset("offset", "limit", 64),
            "page" => Pages::page_number("page", "per_page", 64),
            "cursor" => Pages::cursor("cursor", "/next").items_at("/data"),
            _ => Pages::link_header(),
        };
        let url = format!("{}/{}?filter=all", ctx.config().url, input.style);
        let items = ctx.http().get(url).paginate::<u64>(pages).try_collect().await?;
        Ok(Listed { items })
    }

    /// Calls the rate-limited endpoint.
    #[action(id = "limited", name = "Limited")]
    async fn limited(ctx: &ActionContext<ApiConfig>, _input: Style) -> Result<serde_json::Value, ActionError> {
        ctx.http().get(format!("{}/limited", ctx.config().url)).send_json().await
    }

    /// Calls the endpoint that echoes credentials into its error.
    #[action(id = "echo", name = "Echo")]
    async fn echo(ctx: &ActionContext<ApiConfig>, _input: Style) -> Result<serde_json::Value, ActionError> {
        ctx.logger().info(format!("calling with {:?}", ctx.config().token));
        ctx.http().get(format!("{}/echo", ctx.config().url)).send_json().await
    }
}

const TOKEN: &str = "tok_live_8f3k2j9d7s6a5";

#[tokio::test]
async fn a_form_body_is_url_encoded_with_the_names_given() {
    let (url, _) = serve().await;
    let api = Api::init(ApiConfig { url: url.clone(), token: Secret::new(TOKEN) });
    let ctx = api.context();
    let pairs = [("amount", "2000"), ("metadata[order]", "6735"), ("expand[]", "customer"), ("note", "a&b c")];
    let echoed: serde_json::Value = ctx.http().post(format!("{url}/form")).form(&pairs).send_json().await.unwrap();
    assert_eq!(echoed["contentType"], "application/x-www-form-urlencoded");
    assert_eq!(echoed["body"], "amount=2000&metadata%5Border%5D=6735&expand%5B%5D=customer&note=a%26b+c");
}

#[tokio::test]
async fn an_unchecked_send_hands_back_the_error_answer_for_the_connector_to_read() {
    let (url, _) = serve().await;
    let api = Api::init(ApiConfig { url: url.clone(), token: Secret::new(TOKEN) });
    let ctx = api.context();
    let answer = ctx.http().get(format!("{url}/refused")).send_unchecked().await.expect("an answer, not an error");
    assert_eq!(answer.status(), 429);
    let headers = answer.headers().clone();
    assert_eq!(answer.text().await.unwrap(), r#"{"ok":false,"error":"ratelimited"}"#);
    // `retry-after-ms` is read, to the millisecond.
    assert_eq!(connector_runtime::client::http::retry_after(&headers), Some(Duration::from_millis(1500)));
    let checked = ctx.http().get(format!("{url}/refused")).send().await.unwrap_err();
    assert!(
        matches!(checked, ActionError::RateLimited { retry_after: Some(wait), .. } if wait == Duration::from_millis(1500)),
        "{checked:?}"
    );
}

#[tokio::test]
async fn every_pagination_style_yields_every_item_once() {
    let (url, _) = serve().await;
    let api = Api::init(ApiConfig { url, token: Secret::new(TOKEN) });
    for style in ["offset", "page", "cursor", "link"] {
        let listed =
            api.call(Api::LIST, Style { style: style.into() }).await.unwrap_or_else(|e| panic!("{style}: {e}"));
        assert_eq!(listed.items.len() as u64, ITEMS, "{style}");
        assert!(listed.items.iter().copied().eq(0..ITEMS), "{style}: every item once, in order");
    }
}

#[tokio::test]
async fn a_spent_rate_limit_slows_the_next_call_before_any_429() {
    let (url, service) = serve().await;
    let api = Api::init(ApiConfig { url, token: Secret::new(TOKEN) });
    api.call(Api::LIMITED, Style { style: String::new() }).await.unwrap();
    api.call(Api::LIMITED, Style { style: String::new() }).await.unwrap();
    let sent = service.sent_at.lock().unwrap().clone();
    let gap = sent[1] - sent[0];
    assert!(gap >= Duration::from_millis(900), "the second call waited only {gap:?}");
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "echo.please")]
struct EchoPlease {}

#[job(id = "echo-job", name = "Echo job", version = "1.0.0", event = EchoPlease, integrations(api = Api))]
async fn echo_job(_payload: EchoPlease, io: EchoJobIo<'_>) -> Result<(), JobError> {
    io.api.with_retry(RetryPolicy::never()).echo("echo", Style { style: String::new() }).await?;
    Ok(())
}

#[tokio::test]
async fn a_secret_is_found_nowhere_even_when_the_service_echoes_it() {
    let (url, _) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("runs.sqlite3");
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let engine = Engine::builder()
        .sqlite(&db)
        .connector(Api::init(ApiConfig { url, token: Secret::new(TOKEN) }))
        .job(EchoJobJob)
        .build()
        .unwrap();
    let run = engine.send(EchoPlease {}).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.clone().unwrap();
    assert!(error.contains("bad request with Bearer [redacted]"), "the service's words stay, masked: {error}");

    let logs = captured.text();
    assert!(logs.contains("step failed"), "{logs}");
    let stored = serde_json::to_string(&engine.run(&run.id).await.unwrap().unwrap()).unwrap();
    drop(engine);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        files.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    for (place, text) in [
        ("the logs", logs.as_bytes()),
        ("the run error", error.as_bytes()),
        ("the stored run", stored.as_bytes()),
        ("the SQLite files", &files[..]),
    ] {
        assert!(!text.windows(TOKEN.len()).any(|window| window == TOKEN.as_bytes()), "the token leaked into {place}");
    }
}

#[test]
fn basic_credentials_echoed_in_base64_are_masked() {
    use base64::Engine as _;
    let _auth = connector_runtime::client::Auth::basic("ada", Secret::new("basic-pass-7731"));
    let wire = base64::engine::general_purpose::STANDARD.encode("ada:basic-pass-7731");
    let echoed = format!("401: bad credentials in `Authorization: Basic {wire}`");
    assert_eq!(connector_runtime::redact(&echoed), "401: bad credentials in `Authorization: Basic [redacted]`");
}
