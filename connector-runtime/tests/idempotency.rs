//! Which requests of a step carry an `Idempotency-Key`, against a real loopback service that
//! records every request: none on reads, the step's key on the first unsafe request and numbered
//! ones after it, a key per page of a paginated `POST`, and the same keys again on a retry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use connector_runtime::client::Pages;
use connector_runtime::prelude::*;
use connector_runtime::store::MemoryStore;
use futures::TryStreamExt;
use serde_json::json;

/// Every request the service saw: method, path and `Idempotency-Key` (if any).
#[derive(Default)]
struct Seen {
    requests: Mutex<Vec<(Method, String, Option<String>)>>,
    /// The next `/second` fails once with 500, so its step is retried.
    fail_second: AtomicBool,
}

impl Seen {
    fn record(&self, method: Method, path: &str, headers: &HeaderMap) {
        let key = headers.get("idempotency-key").and_then(|key| key.to_str().ok()).map(str::to_owned);
        self.requests.lock().unwrap().push((method, path.to_owned(), key));
    }

    fn keys(&self, path: &str) -> Vec<Option<String>> {
        self.requests.lock().unwrap().iter().filter(|(_, p, _)| p == path).map(|(_, _, key)| key.clone()).collect()
    }
}

#[derive(Deserialize)]
struct Page {
    offset: Option<usize>,
}

/// Six items, two a page.
fn page(offset: usize) -> Vec<usize> {
    (offset..(offset + 2).min(6)).collect()
}

async fn serve() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let app = axum::Router::new()
        .route(
            "/items",
            get(|State(seen): State<Arc<Seen>>, headers: HeaderMap, Query(q): Query<Page>| async move {
                seen.record(Method::GET, "/items", &headers);
                Json(page(q.offset.unwrap_or(0)))
            }),
        )
        .route(
            "/search",
            post(|State(seen): State<Arc<Seen>>, headers: HeaderMap, Query(q): Query<Page>| async move {
                seen.record(Method::POST, "/search", &headers);
                let offset = q.offset.unwrap_or(0);
                let next = (offset + 2 < 6).then(|| offset + 2);
                Json(json!({"items": page(offset), "next": next}))
            }),
        )
        .route(
            "/first",
            post(|State(seen): State<Arc<Seen>>, headers: HeaderMap| async move {
                seen.record(Method::POST, "/first", &headers);
                Json(json!(1))
            }),
        )
        .route(
            "/second",
            post(|State(seen): State<Arc<Seen>>, headers: HeaderMap| async move {
                seen.record(Method::POST, "/second", &headers);
                if seen.fail_second.swap(false, Ordering::SeqCst) {
                    return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "try again"}))).into_response();
                }
                Json(json!(2)).into_response()
            }),
        )
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[derive(Deserialize, JsonSchema)]
struct ApiConfig {
    url: String,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Nothing {}

/// The recording service's API.
struct Api;

#[connector(id = "api", name = "Api", version = "1.0.0", config = ApiConfig)]
impl Api {
    /// Reads every item, a `GET` per page.
    #[action(id = "list", name = "List")]
    async fn list(ctx: &ActionContext<ApiConfig>, _input: Nothing) -> Result<Vec<usize>, ActionError> {
        let url = format!("{}/items", ctx.config().url);
        ctx.http().get(url).paginate::<usize>(Pages::offset("offset", "limit", 2)).try_collect().await
    }

    /// Searches every item, a `POST` per page.
    #[action(id = "search", name = "Search")]
    async fn search(ctx: &ActionContext<ApiConfig>, _input: Nothing) -> Result<Vec<usize>, ActionError> {
        let url = format!("{}/search", ctx.config().url);
        let pages = Pages::cursor("offset", "/next").items_at("/items");
        ctx.http().post(url).json(&json!({"query": "all"})).paginate::<usize>(pages).try_collect().await
    }

    /// Two writes in one step; the second fails once.
    #[action(id = "both", name = "Both")]
    async fn both(ctx: &ActionContext<ApiConfig>, _input: Nothing) -> Result<u32, ActionError> {
        let first: u32 = ctx.http().post(format!("{}/first", ctx.config().url)).send_json().await?;
        let second: u32 = ctx.http().post(format!("{}/second", ctx.config().url)).send_json().await?;
        Ok(first + second)
    }
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "go")]
struct Go {}

#[job(id = "calls", name = "Calls", version = "1.0.0", event = Go, integrations(api = Api))]
async fn calls(_payload: Go, io: CallsIo<'_>) -> Result<usize, JobError> {
    let listed = io.api.list("list", Nothing {}).await?;
    let found = io.api.search("search", Nothing {}).await?;
    let both = io.api.both("both", Nothing {}).await?;
    Ok(listed.len() + found.len() + both as usize)
}

#[tokio::test]
async fn reads_carry_no_key_and_every_write_and_page_its_own() {
    let (url, seen) = serve().await;
    seen.fail_second.store(true, Ordering::SeqCst);
    let engine = Engine::builder()
        .shared_store(Arc::new(MemoryStore::new()))
        .retry_policy(RetryPolicy::DEFAULT.with_delays(Duration::from_millis(5), Duration::from_millis(20)))
        .connector(Api::init(ApiConfig { url }))
        .job(CallsJob)
        .build()
        .unwrap();
    let run = engine.send(Go {}).await.unwrap().remove(0);
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!(6 + 6 + 3)));
    let key = |step: &str| format!("{}:{step}", run.id);

    assert_eq!(seen.keys("/items"), vec![None; 4], "GET pages (three full, one empty) carry no key");

    let search = seen.keys("/search");
    assert_eq!(
        search,
        vec![Some(key("search")), Some(format!("{}.page2", key("search"))), Some(format!("{}.page3", key("search")))],
        "each page of a POST has its own key"
    );

    let both = key("both");
    assert_eq!(seen.keys("/first"), vec![Some(both.clone()), Some(both.clone())], "attempt 1 and its retry");
    assert_eq!(
        seen.keys("/second"),
        vec![Some(format!("{both}.2")), Some(format!("{both}.2"))],
        "the second write of the step is numbered, the same on the retry"
    );
    let step = run.steps.iter().find(|step| step.key == "both").unwrap();
    assert_eq!(step.attempts, 2);
}
