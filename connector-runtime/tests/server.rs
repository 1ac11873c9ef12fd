//! The webhook and API server over real HTTP on loopback: every status a bad request can get,
//! signatures, dedupe of repeated deliveries, and a load test.

use std::sync::Arc;
use std::time::SystemTime;

use connector_runtime::RunId;
use connector_runtime::prelude::*;
use connector_runtime::server::{self, RunningServer, ServerConfig};
use connector_runtime::store::{MemoryStore, RunFilter, RunStore};
use connector_runtime::webhook::signature::SignatureScheme;
use serde_json::{Value, json};

const WEBHOOK_SECRET: &str = "chat-webhook-secret";
const API_KEY: &str = "api-key-for-tests";

#[derive(Deserialize, JsonSchema)]
struct ChatConfig {
    webhook_secret: Secret,
}

/// A message as the chat service delivers it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct Posted {
    channel: String,
    sender: String,
    text: String,
}

/// A chat connector with one signed webhook trigger.
struct Chat;

#[connector(id = "chat", name = "Chat", version = "1.0.0", config = ChatConfig)]
impl Chat {
    /// A message was posted; messages from bots are ignored.
    #[trigger(
        id = "message.posted",
        name = "Message posted",
        webhook(hmac_sha256(header = "X-Signature", prefix = "sha256=", secret = webhook_secret, delivery_id = "X-Delivery"))
    )]
    async fn message_posted(_ctx: &TriggerContext<ChatConfig>, payload: Posted) -> Result<Option<Posted>, ActionError> {
        Ok((payload.sender != "bot").then_some(payload))
    }
}

#[job(id = "on-message", name = "On message", version = "1.0.0", trigger = Chat::message_posted)]
async fn on_message(payload: Posted, _io: OnMessageIo<'_>) -> Result<String, JobError> {
    Ok(payload.text)
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "order.placed")]
struct OrderPlaced {
    order: u64,
    customer: Customer,
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Customer {
    email: String,
}

#[job(id = "on-order", name = "On order", version = "1.0.0", event = OrderPlaced)]
async fn on_order(payload: OrderPlaced, _io: OnOrderIo<'_>) -> Result<u64, JobError> {
    Ok(payload.order)
}

#[derive(Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "approval.wanted")]
struct ApprovalWanted {}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Verdict {
    approved: bool,
}

#[job(id = "approver", name = "Approver", version = "1.0.0", event = ApprovalWanted)]
async fn approver(_payload: ApprovalWanted, io: ApproverIo<'_>) -> Result<bool, JobError> {
    let verdict: Verdict = io.wait_for_token("verdict", std::time::Duration::from_secs(600)).await?;
    Ok(verdict.approved)
}

struct Harness {
    server: RunningServer,
    store: Arc<dyn RunStore>,
    http: reqwest::Client,
    scheme: SignatureScheme,
}

async fn harness(body_limit: usize) -> Harness {
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    let engine = Engine::builder()
        .shared_store(Arc::clone(&store))
        .connector(Chat::init(ChatConfig { webhook_secret: Secret::new(WEBHOOK_SECRET) }))
        .job(OnMessageJob)
        .job(OnOrderJob)
        .job(ApproverJob)
        .build()
        .unwrap();
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        api_key: Some(Secret::new(API_KEY)),
        body_limit,
        ..ServerConfig::default()
    };
    let server = server::start(engine, config).await.unwrap();
    let scheme = SignatureScheme::HmacSha256 {
        header: "X-Signature",
        prefix: "sha256=",
        secret: Secret::new(WEBHOOK_SECRET),
        delivery_id_header: Some("X-Delivery"),
    };
    Harness { server, store, http: reqwest::Client::new(), scheme }
}

impl Harness {
    fn webhook_url(&self) -> String {
        format!("{}/webhooks/chat/message.posted", self.server.url())
    }

    /// Posts `body` signed as the service would, with delivery id `id`.
    async fn deliver(&self, body: &str, id: &str) -> (u16, Value) {
        let headers = self.scheme.sign_at(body.as_bytes(), id, SystemTime::now()).unwrap();
        let response = self
            .http
            .post(self.webhook_url())
            .headers(headers)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    async fn api(&self, request: reqwest::RequestBuilder) -> (u16, Value) {
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }

    async fn run_count(&self) -> usize {
        self.store.list_runs(&RunFilter::default()).await.unwrap().len()
    }
}

fn message(text: &str) -> String {
    json!({"channel": "general", "sender": "ada", "text": text}).to_string()
}

#[tokio::test]
async fn a_signed_delivery_is_recorded_before_it_is_acknowledged() {
    let h = harness(1024 * 1024).await;
    let (status, body) = h.deliver(&message("hello"), "d-1").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["deliveryId"], "d-1");
    let runs = body["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    // The run is in the store the moment the answer arrives.
    let id = connector_runtime::RunId::from(runs[0].as_str().unwrap());
    let run = h.store.run(&id).await.unwrap().expect("recorded before the answer");
    assert_eq!(run.job_id, "on-message");
    assert_eq!(run.payload["text"], "hello");
}

#[tokio::test]
async fn a_repeated_delivery_returns_the_original_runs_and_starts_nothing() {
    let h = harness(1024 * 1024).await;
    let (first, original) = h.deliver(&message("once"), "d-7").await;
    assert_eq!(first, 202);
    let (again, repeated) = h.deliver(&message("once"), "d-7").await;
    assert_eq!(again, 200, "{repeated}");
    assert_eq!(repeated["duplicate"], true);
    assert_eq!(repeated["runs"], original["runs"]);
    assert_eq!(h.run_count().await, 1);
}

#[tokio::test]
async fn bad_signatures_are_refused_with_401() {
    let h = harness(1024 * 1024).await;
    let body = message("forged");
    let unsigned = h.http.post(h.webhook_url()).header("content-type", "application/json").body(body.clone());
    assert_eq!(h.api(unsigned).await.0, 401);
    let mut headers = h.scheme.sign_at(b"a different body", "d-2", SystemTime::now()).unwrap();
    headers.insert("content-type", "application/json".parse().unwrap());
    let tampered = h.http.post(h.webhook_url()).headers(headers).body(body);
    let (status, answer) = h.api(tampered).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("signature"), "{answer}");
    assert_eq!(h.run_count().await, 0);
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let h = harness(256).await;
    let (status, answer) = h.deliver(&message(&"x".repeat(1000)), "d-3").await;
    assert_eq!(status, 413, "{answer}");
    assert_eq!(h.run_count().await, 0);
}

#[tokio::test]
async fn a_body_that_is_not_json_gets_415() {
    let h = harness(1024 * 1024).await;
    let body = message("typed");
    let mut headers = h.scheme.sign_at(body.as_bytes(), "d-4", SystemTime::now()).unwrap();
    headers.insert("content-type", "text/plain".parse().unwrap());
    let (status, answer) = h.api(h.http.post(h.webhook_url()).headers(headers).body(body)).await;
    assert_eq!(status, 415, "{answer}");
}

#[tokio::test]
async fn malformed_json_and_misfit_payloads_get_422_naming_the_field() {
    let h = harness(1024 * 1024).await;
    let (status, answer) = h.deliver("{\"channel\": ", "d-5").await;
    assert_eq!(status, 422, "{answer}");
    let (status, answer) = h.deliver(&json!({"channel": "g", "sender": "ada", "text": 5}).to_string(), "d-6").await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["path"], "text", "{answer}");
    let (status, answer) = h.deliver(&json!({"channel": "g", "sender": "ada"}).to_string(), "d-8").await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("missing field `text`"), "{answer}");
    assert_eq!(h.run_count().await, 0);
}

#[tokio::test]
async fn unknown_connectors_triggers_and_events_get_404() {
    let h = harness(1024 * 1024).await;
    for path in ["/webhooks/nope/message.posted", "/webhooks/chat/nope"] {
        let request =
            h.http.post(format!("{}{path}", h.server.url())).header("content-type", "application/json").body("{}");
        assert_eq!(h.api(request).await.0, 404, "{path}");
    }
    let event = json!({"name": "no.such.event", "payload": {}});
    let request = h.http.post(format!("{}/api/events", h.server.url())).bearer_auth(API_KEY).json(&event);
    let (status, answer) = h.api(request).await;
    assert_eq!(status, 404, "{answer}");
    assert_eq!(h.api(h.http.get(format!("{}/nowhere", h.server.url()))).await.0, 404);
}

#[tokio::test]
async fn a_delivery_the_trigger_ignores_gets_200_and_no_run() {
    let h = harness(1024 * 1024).await;
    let body = json!({"channel": "general", "sender": "bot", "text": "beep"}).to_string();
    let (status, answer) = h.deliver(&body, "d-9").await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ignored"], true);
    assert_eq!(h.run_count().await, 0);
}

#[tokio::test]
async fn the_api_needs_the_key_and_checks_event_payloads() {
    let h = harness(1024 * 1024).await;
    let url = format!("{}/api/events", h.server.url());
    let event = json!({"name": "order.placed", "payload": {"order": 7, "customer": {"email": "a@b.c"}}, "id": "evt-1"});
    assert_eq!(h.api(h.http.post(&url).json(&event)).await.0, 401);
    assert_eq!(h.api(h.http.post(&url).bearer_auth("wrong").json(&event)).await.0, 401);

    let (status, accepted) = h.api(h.http.post(&url).bearer_auth(API_KEY).json(&event)).await;
    assert_eq!(status, 202, "{accepted}");
    let (status, again) = h.api(h.http.post(&url).bearer_auth(API_KEY).json(&event)).await;
    assert_eq!((status, &again["runs"]), (200, &accepted["runs"]), "events with an id are deduplicated");

    let misfit = json!({"name": "order.placed", "payload": {"order": 7, "customer": {"email": 42}}});
    let (status, answer) = h.api(h.http.post(&url).bearer_auth(API_KEY).json(&misfit)).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["path"], "payload.customer.email");

    let id = accepted["runs"][0].as_str().unwrap();
    let run = loop {
        let (status, run) = h.api(h.http.get(format!("{}/api/runs/{id}", h.server.url())).bearer_auth(API_KEY)).await;
        assert_eq!(status, 200);
        if run["status"] == "succeeded" {
            break run;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    assert_eq!(run["output"], 7);
    let (status, listed) =
        h.api(h.http.get(format!("{}/api/runs?status=succeeded", h.server.url())).bearer_auth(API_KEY)).await;
    assert_eq!(status, 200);
    assert_eq!(listed["runs"].as_array().unwrap().len(), 1);
    let (status, _) = h.api(h.http.get(format!("{}/api/runs/missing", h.server.url())).bearer_auth(API_KEY)).await;
    assert_eq!(status, 404);
    let (status, health) = h.api(h.http.get(format!("{}/healthz", h.server.url()))).await;
    assert_eq!((status, health), (200, json!({"status": "ok"})));
}

/// Deliveries at concurrency 64: every 2xx delivery has exactly one run.
async fn load(deliveries: usize) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn RunStore> =
        Arc::new(connector_runtime::store::SqliteStore::open(dir.path().join("load.sqlite3")).unwrap());
    let engine = Engine::builder()
        .shared_store(Arc::clone(&store))
        .connector(Chat::init(ChatConfig { webhook_secret: Secret::new(WEBHOOK_SECRET) }))
        .job(OnMessageJob)
        .build()
        .unwrap();
    let server = server::start(engine, ServerConfig { bind: "127.0.0.1:0".parse().unwrap(), ..Default::default() })
        .await
        .unwrap();
    let h = Arc::new(Harness { server, store, http: reqwest::Client::new(), scheme: harness_scheme() });
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..64 {
        let (h, next) = (Arc::clone(&h), Arc::clone(&next));
        workers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= deliveries {
                    return acknowledged;
                }
                let (status, body) = h.deliver(&message(&format!("load {n}")), &format!("load-{n}")).await;
                if (200..300).contains(&status) {
                    acknowledged.push((n, body["runs"].as_array().unwrap().len()));
                }
            }
        }));
    }
    let mut acknowledged = Vec::new();
    for worker in workers {
        acknowledged.extend(worker.await.unwrap());
    }
    assert_eq!(acknowledged.len(), deliveries, "every delivery was acknowledged");
    assert!(acknowledged.iter().all(|(_, runs)| *runs == 1));
    let runs = h.store.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), deliveries, "exactly one run per acknowledged delivery");
    let mut texts: Vec<String> = runs.iter().map(|run| run.payload["text"].as_str().unwrap().to_owned()).collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), deliveries, "no delivery started two runs");
}

fn harness_scheme() -> SignatureScheme {
    SignatureScheme::HmacSha256 {
        header: "X-Signature",
        prefix: "sha256=",
        secret: Secret::new(WEBHOOK_SECRET),
        delivery_id_header: Some("X-Delivery"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_of_1000_deliveries_at_concurrency_64() {
    load(1_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the full size; run with `cargo test --release -- --ignored`"]
async fn load_of_10000_deliveries_at_concurrency_64() {
    load(10_000).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_completed_and_runs_cancelled_through_the_api() {
    let h = harness(1024 * 1024).await;
    let url = h.server.url();
    let send = json!({"name": "approval.wanted", "payload": {}});
    let (status, accepted) = h.api(h.http.post(format!("{url}/api/events")).bearer_auth(API_KEY).json(&send)).await;
    assert_eq!(status, 202, "{accepted}");
    let first = accepted["runs"][0].as_str().unwrap().to_owned();
    let (_, accepted) = h.api(h.http.post(format!("{url}/api/events")).bearer_auth(API_KEY).json(&send)).await;
    let second = accepted["runs"][0].as_str().unwrap().to_owned();
    for id in [&first, &second] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while h.store.run(&RunId::from(id.as_str())).await.unwrap().unwrap().status != RunStatus::Waiting {
            assert!(std::time::Instant::now() < deadline, "run {id} never parked");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    let complete = |token: String| h.http.post(format!("{url}/api/tokens/{token}/complete")).bearer_auth(API_KEY);
    let (status, _) = h.api(complete(format!("{first}:verdict")).json(&json!({"approved": true}))).await;
    assert_eq!(status, 200);
    let (status, _) = h.api(complete(format!("{first}:verdict")).json(&json!({"approved": false}))).await;
    assert_eq!(status, 409, "completed twice");
    let (status, _) = h.api(complete("no-such-run:verdict".into()).json(&json!({}))).await;
    assert_eq!(status, 404);
    let (status, _) = h.api(h.http.post(format!("{url}/api/tokens/{first}:verdict/complete")).json(&json!({}))).await;
    assert_eq!(status, 401, "the API key is required");

    let (status, cancelled) = h.api(h.http.post(format!("{url}/api/runs/{second}/cancel")).bearer_auth(API_KEY)).await;
    assert_eq!(status, 200, "{cancelled}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let first_run = h.store.run(&RunId::from(first.as_str())).await.unwrap().unwrap();
        let second_run = h.store.run(&RunId::from(second.as_str())).await.unwrap().unwrap();
        if first_run.status == RunStatus::Succeeded && second_run.status == RunStatus::Cancelled {
            assert_eq!(first_run.output, Some(json!(true)));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{first_run:?} {second_run:?}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (status, _) = h.api(h.http.post(format!("{url}/api/runs/{second}/cancel")).bearer_auth(API_KEY)).await;
    assert_eq!(status, 409, "a cancelled run cannot be cancelled again");
}
