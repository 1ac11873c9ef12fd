//! What reaches a job from outside, over real HTTP on loopback: unsigned webhooks only when
//! declared so, trigger fns that route on a request header, and the constraints a type's JSON
//! Schema declares enforced on webhook bodies, events, calls and typed sends.

use std::sync::Arc;

use connector_runtime::prelude::*;
use connector_runtime::server::{self, RunningServer, ServerConfig};
use connector_runtime::store::{MemoryStore, RunFilter, RunStore};
use connector_runtime::{EngineError, RunStatus};
use serde_json::{Value, json};

#[path = "support/captured_logs.rs"]
mod captured_logs;
use captured_logs::Captured;

const API_KEY: &str = "api-key-for-webhook-tests";

#[derive(Deserialize, JsonSchema)]
struct HubConfig {}

/// An issue event as a code host delivers it; the kind of event is in a header, not the body.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct HubEvent {
    action: String,
    number: u64,
}

/// A code host whose one webhook carries every kind of event, told apart by `X-Hub-Event`, and
/// whose deliveries nobody signs (a test double of an internal service).
struct Hub;

#[connector(id = "hub", name = "Hub", version = "1.0.0", config = HubConfig)]
impl Hub {
    /// An issue was opened: deliveries of other kinds are ignored.
    #[trigger(id = "issue.opened", name = "Issue opened", webhook(unsigned))]
    async fn issue_opened(ctx: &TriggerContext<HubConfig>, payload: HubEvent) -> Result<Option<HubEvent>, ActionError> {
        let kind = ctx.headers().get("x-hub-event").and_then(|value| value.to_str().ok());
        Ok((kind == Some("issues") && payload.action == "opened").then_some(payload))
    }
}

#[job(id = "triage", name = "Triage", version = "1.0.0", trigger = Hub::issue_opened)]
async fn triage(payload: HubEvent, _io: TriageIo<'_>) -> Result<u64, JobError> {
    Ok(payload.number)
}

/// The same webhook without `unsigned`: the engine must refuse it.
struct Careless;

#[connector(id = "careless", name = "Careless", version = "1.0.0", config = HubConfig)]
impl Careless {
    /// Anything at all.
    #[trigger(id = "anything", name = "Anything")]
    async fn anything(_ctx: &TriggerContext<HubConfig>, payload: HubEvent) -> Result<Option<HubEvent>, ActionError> {
        Ok(Some(payload))
    }
}

#[job(id = "careless-job", name = "Careless job", version = "1.0.0", trigger = Careless::anything)]
async fn careless_job(payload: HubEvent, _io: CarelessJobIo<'_>) -> Result<u64, JobError> {
    Ok(payload.number)
}

/// An order whose constraints live on its type, as a zod user would write `.min(1)`.
#[derive(Debug, Serialize, Deserialize, JsonSchema, Event)]
#[event(name = "order.placed")]
struct OrderPlaced {
    #[schemars(range(min = 1))]
    quantity: u32,
    #[schemars(length(min = 1))]
    lines: Vec<Line>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Line {
    #[schemars(email)]
    contact: String,
}

#[job(id = "fulfil", name = "Fulfil", version = "1.0.0", event = OrderPlaced)]
async fn fulfil(payload: OrderPlaced, _io: FulfilIo<'_>) -> Result<u32, JobError> {
    Ok(payload.quantity)
}

/// Takes orders from a webhook too, and has an action whose input has a constraint.
struct Shop;

#[connector(id = "shop", name = "Shop", version = "1.0.0", config = HubConfig)]
impl Shop {
    /// An order arrived.
    #[trigger(id = "order", name = "Order", webhook(unsigned))]
    async fn order(_ctx: &TriggerContext<HubConfig>, payload: OrderPlaced) -> Result<Option<OrderPlaced>, ActionError> {
        Ok(Some(payload))
    }

    /// Reserves stock.
    #[action(id = "reserve", name = "Reserve")]
    async fn reserve(_ctx: &ActionContext<HubConfig>, input: Reserve) -> Result<u32, ActionError> {
        Ok(input.quantity)
    }
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct Reserve {
    #[schemars(range(min = 1, max = 100))]
    quantity: u32,
}

#[job(id = "on-shop-order", name = "On shop order", version = "1.0.0", trigger = Shop::order)]
async fn on_shop_order(payload: OrderPlaced, _io: OnShopOrderIo<'_>) -> Result<u32, JobError> {
    Ok(payload.quantity)
}

/// A service that checks a new webhook URL with a handshake (as Slack's `url_verification`
/// does): the URL must answer with the challenge it was sent.
struct Handshake;

/// A delivery: the handshake carries a `challenge`, an ordinary one a `number`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
struct HandshakeBody {
    #[serde(default)]
    challenge: Option<String>,
    #[serde(default)]
    number: u64,
}

#[connector(id = "handshake", name = "Handshake", version = "1.0.0", config = HubConfig)]
impl Handshake {
    /// Answers the handshake with its challenge; hands ordinary deliveries on.
    #[trigger(id = "delivered", name = "Delivered", webhook(unsigned))]
    async fn delivered(ctx: &TriggerContext<HubConfig>, body: HandshakeBody) -> Result<Option<u64>, ActionError> {
        match body.challenge {
            Some(challenge) => {
                ctx.reply(json!({ "challenge": challenge }));
                Ok(None)
            }
            None => Ok(Some(body.number)),
        }
    }
}

#[job(id = "on-delivered", name = "On delivered", version = "1.0.0", trigger = Handshake::delivered)]
async fn on_delivered(number: u64, _io: OnDeliveredIo<'_>) -> Result<u64, JobError> {
    Ok(number)
}

/// Everything this test binary logs. One global subscriber, not one per test: a callsite first
/// reached on another test's thread would otherwise stay silent for this one's.
fn logs() -> &'static Captured {
    static LOGS: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Captured::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in this binary");
        logs
    })
}

fn engine(store: Arc<dyn RunStore>) -> Engine {
    Engine::builder()
        .shared_store(store)
        .connector(Hub::init(HubConfig {}))
        .connector(Shop::init(HubConfig {}))
        .job(TriageJob)
        .job(FulfilJob)
        .job(OnShopOrderJob)
        .build()
        .unwrap()
}

async fn serve(engine: Engine) -> RunningServer {
    let config = ServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        api_key: Some(Secret::new(API_KEY)),
        ..Default::default()
    };
    server::start(engine, config).await.unwrap()
}

async fn post(request: reqwest::RequestBuilder, body: Value) -> (u16, Value) {
    let response = request.header("content-type", "application/json").body(body.to_string()).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[test]
fn a_webhook_without_a_signature_scheme_is_refused_at_build() {
    let error = Engine::builder()
        .shared_store(Arc::new(MemoryStore::new()))
        .connector(Careless::init(HubConfig {}))
        .job(CarelessJobJob)
        .build()
        .unwrap_err();
    assert!(matches!(error, EngineError::UnsignedTrigger { connector: "careless", trigger: "anything" }), "{error}");
    let message = error.to_string();
    assert!(message.contains("webhook(unsigned)"), "says how to declare it: {message}");
}

#[tokio::test]
async fn a_declared_unsigned_webhook_is_served_with_one_warning_and_routes_on_a_header() {
    let logs = logs();
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    let server = serve(engine(Arc::clone(&store))).await;
    let text = logs.text();
    let ours: Vec<&str> = text.lines().filter(|line| line.contains(&format!("addr={}", server.addr()))).collect();
    let warnings: Vec<&str> =
        ours.iter().copied().filter(|line| line.contains("WARN") && line.contains("unsigned")).collect();
    assert_eq!(warnings.len(), 2, "one warning per unsigned route: {text}");
    assert!(warnings.iter().any(|line| line.contains("route=/webhooks/hub/issue.opened")), "{text}");
    assert!(warnings.iter().any(|line| line.contains("route=/webhooks/shop/order")), "{text}");

    let http = reqwest::Client::new();
    let url = format!("{}/webhooks/hub/issue.opened", server.url());
    let opened = json!({"action": "opened", "number": 7});
    let (status, ignored) = post(http.post(&url).header("x-hub-event", "push"), opened.clone()).await;
    assert_eq!((status, &ignored["ignored"]), (200, &json!(true)), "another kind of event is ignored: {ignored}");
    let (status, started) = post(http.post(&url).header("x-hub-event", "issues"), opened).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["runs"].as_array().map(Vec::len), Some(1), "{started}");

    let runs = store.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), 1, "only the issues delivery started a run");
    assert_eq!(runs[0].payload, json!({"action": "opened", "number": 7}));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn constraints_on_a_type_are_answered_422_with_the_field_and_the_rule() {
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    let server = serve(engine(Arc::clone(&store))).await;
    let http = reqwest::Client::new();
    let zero = json!({"quantity": 0, "lines": [{"contact": "ana@shop.example"}]});

    let webhook = format!("{}/webhooks/shop/order", server.url());
    let (status, body) = post(http.post(&webhook), zero.clone()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["path"], "quantity", "names the field: {body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("minimum"), "and the rule: {body}");

    let events = format!("{}/api/events", server.url());
    let event = |payload: Value| json!({"name": "order.placed", "payload": payload});
    let (status, body) = post(http.post(&events).bearer_auth(API_KEY), event(zero)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["path"].as_str().unwrap_or_default().ends_with("quantity"), "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("minimum"), "{body}");

    let bad_email = json!({"quantity": 2, "lines": [{"contact": "ana@shop.example"}, {"contact": "not an address"}]});
    let (status, body) = post(http.post(&events).bearer_auth(API_KEY), event(bad_email)).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["path"].as_str().unwrap_or_default().ends_with("lines[1].contact"), "{body}");

    let (status, body) =
        post(http.post(&events).bearer_auth(API_KEY), event(json!({"quantity": 1, "lines": []}))).await;
    assert_eq!(status, 422, "an empty list breaks `length(min = 1)`: {body}");

    assert!(
        store.list_runs(&RunFilter::default()).await.unwrap().is_empty(),
        "nothing that broke a rule started a run"
    );

    let good = json!({"quantity": 3, "lines": [{"contact": "ana@shop.example"}]});
    let (status, body) = post(http.post(&events).bearer_auth(API_KEY), event(good.clone())).await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = post(http.post(&webhook), good).await;
    assert_eq!(status, 202, "{body}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn typed_sends_and_calls_are_checked_too_unless_turned_off() {
    let engine = engine(Arc::new(MemoryStore::new()));
    let zero = || OrderPlaced { quantity: 0, lines: vec![Line { contact: "ana@shop.example".into() }] };
    let error = engine.dispatch(zero()).await.unwrap_err();
    assert!(error.to_string().contains("quantity"), "{error}");

    let error = engine.call_action("shop", "reserve", json!({"quantity": 101})).await.unwrap_err();
    assert!(error.to_string().contains("quantity") && error.to_string().contains("maximum"), "{error}");
    assert_eq!(engine.call_action("shop", "reserve", json!({"quantity": 5})).await.unwrap(), json!(5));

    let unchecked = Engine::builder()
        .shared_store(Arc::new(MemoryStore::new()))
        .connector(Hub::init(HubConfig {}))
        .connector(Shop::init(HubConfig {}))
        .job(FulfilJob)
        .check_typed_sends(false)
        .build()
        .unwrap();
    let runs = unchecked.send(zero()).await.unwrap();
    assert_eq!(runs[0].status, RunStatus::Succeeded, "the user opted out: {:?}", runs[0].error);
    assert_eq!(runs[0].output, Some(json!(0)));
}

#[tokio::test]
async fn a_trigger_fn_can_answer_a_handshake_with_a_body_of_its_own() {
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    let engine = Engine::builder()
        .shared_store(Arc::clone(&store))
        .connector(Handshake::init(HubConfig {}))
        .job(OnDeliveredJob)
        .build()
        .unwrap();
    let server = serve(engine).await;
    let http = reqwest::Client::new();
    let url = format!("{}/webhooks/handshake/delivered", server.url());

    let (status, body) = post(http.post(&url), json!({"challenge": "3eZbrw1aBm2rZgRNFdxV"})).await;
    assert_eq!((status, body), (200, json!({"challenge": "3eZbrw1aBm2rZgRNFdxV"})), "the reply, not the receipt");
    assert!(store.list_runs(&RunFilter::default()).await.unwrap().is_empty(), "the handshake started nothing");

    let (status, receipt) = post(http.post(&url), json!({"number": 4})).await;
    assert_eq!(status, 202, "{receipt}");
    assert_eq!(receipt["runs"].as_array().map(Vec::len), Some(1), "an ordinary delivery gets its receipt: {receipt}");
    server.shutdown().await.unwrap();
}
