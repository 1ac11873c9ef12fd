//! A fake Stripe API on loopback, answering as Stripe documents: form-encoded bodies with
//! bracketed keys (unknown or missing parameters refused as Stripe does), error bodies
//! `{"error": {"type", "code", "message", "param"}}` with Stripe's statuses, idempotent replays
//! of POSTs by `Idempotency-Key` (with `Idempotent-Replayed: true`, and a key reused with other
//! parameters refused), and list pages with `has_more` and `starting_after`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::{Value, json};

/// The secret key the fake accepts.
pub const KEY: &str = "sk_test_4eC39HqLyjWDarjtT1zdp7dc";
/// The customer with history: 25 charges, newest first.
pub const JENNY: &str = "cus_NffrFeUfNV2Hib";
/// How many charges Jenny has.
pub const JENNYS_CHARGES: usize = 25;
/// A customer that was deleted.
pub const DELETED: &str = "cus_NdeletedXyz";

/// A failure the next request gets, before the fake looks at it.
#[derive(Debug, Clone, Copy)]
pub enum Failure {
    /// 429 `rate_limit`.
    RateLimit,
    /// 500 `api_error`.
    ApiError,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub content_type: Option<String>,
    pub stripe_version: Option<String>,
    pub params: Vec<(String, String)>,
}

struct Saved {
    path: String,
    params: Vec<(String, String)>,
    status: StatusCode,
    body: Value,
}

#[derive(Default)]
pub struct Fake {
    pub seen: Mutex<Vec<Seen>>,
    pub customers: Mutex<BTreeMap<String, Value>>,
    intents: Mutex<HashMap<String, Value>>,
    /// Newest first.
    pub charges: Mutex<Vec<Value>>,
    pub refunds: Mutex<Vec<Value>>,
    saved: Mutex<HashMap<String, Saved>>,
    failures: Mutex<Vec<Failure>>,
    /// The next POST is executed and saved, then its answer waits this long (a lost answer).
    stall: Mutex<Option<Duration>>,
    next_id: Mutex<u64>,
}

impl Fake {
    pub fn fail_next(&self, failure: Failure) {
        self.failures.lock().unwrap().push(failure);
    }

    pub fn stall_next(&self, wait: Duration) {
        *self.stall.lock().unwrap() = Some(wait);
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen.lock().unwrap().iter().filter(|seen| seen.path == path).cloned().collect()
    }

    fn id(&self, prefix: &str) -> String {
        let mut next = self.next_id.lock().unwrap();
        *next += 1;
        format!("{prefix}_3MtwBwLkdIwHu7ix{:04}", *next)
    }
}

/// Starts the fake on 127.0.0.1; returns its base URL (as `https://api.stripe.com`) and state.
pub async fn start() -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    {
        let mut charges = fake.charges.lock().unwrap();
        for n in (1..=JENNYS_CHARGES).rev() {
            charges.push(charge(
                &format!("ch_3MmlLrLkdIwHu7ix0snN{n:04}"),
                1000 + n as u64,
                Some(JENNY),
                None,
                1679090539 + n as i64,
            ));
        }
        charges.push(charge("ch_3MmlLrLkdIwHu7ixOther001", 500, Some("cus_Other"), None, 1679000000));
        fake.customers
            .lock()
            .unwrap()
            .insert(DELETED.into(), json!({"id": DELETED, "object": "customer", "deleted": true}));
    }
    let api = Router::new()
        .route("/customers", post(create_customer))
        .route("/customers/{id}", get(retrieve_customer))
        .route("/payment_intents", post(create_intent))
        .route("/payment_intents/{id}", get(retrieve_intent))
        .route("/payment_intents/{id}/confirm", post(confirm_intent))
        .route("/refunds", post(create_refund))
        .route("/charges", get(list_charges))
        .route("/balance", get(balance))
        .with_state(Arc::clone(&fake));
    let app = Router::new().nest("/v1", api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), fake)
}

fn charge(id: &str, amount: u64, customer: Option<&str>, intent: Option<&str>, created: i64) -> Value {
    json!({
        "id": id, "object": "charge", "amount": amount, "amount_captured": amount, "amount_refunded": 0,
        "balance_transaction": "txn_3MmlLrLkdIwHu7ix0uke3Ezy", "billing_details": {"address": null, "email": null, "name": null, "phone": null},
        "captured": true, "created": created, "currency": "usd", "customer": customer, "description": null,
        "disputed": false, "failure_code": null, "failure_message": null, "livemode": false, "metadata": {},
        "outcome": {"network_status": "approved_by_network", "reason": null, "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized"},
        "paid": true, "payment_intent": intent, "payment_method": "pm_1MmlLrLkdIwHu7ixIJwEWSNR",
        "receipt_url": format!("https://pay.stripe.com/receipts/payment/{id}"), "refunded": false, "status": "succeeded"
    })
}

fn error(
    status: StatusCode,
    kind: &str,
    code: Option<&str>,
    message: &str,
    param: Option<&str>,
) -> (StatusCode, Value) {
    let mut error = json!({"type": kind, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
        error["doc_url"] = json!(format!("https://stripe.com/docs/error-codes/{}", code.replace('_', "-")));
    }
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    (status, json!({ "error": error }))
}

fn answer((status, body): (StatusCode, Value)) -> Response {
    (status, Json(body)).into_response()
}

/// What every request goes through: recorded, authenticated, maybe failed on purpose.
fn admit(
    fake: &Fake,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    params: &[(String, String)],
) -> Result<(), Box<Response>> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::to_owned);
    fake.seen.lock().unwrap().push(Seen {
        method: method.into(),
        path: path.into(),
        idempotency_key: header("idempotency-key"),
        content_type: header("content-type"),
        stripe_version: header("stripe-version"),
        params: params.to_vec(),
    });
    match header("authorization") {
        None => {
            let message = "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').";
            return Err(Box::new(answer(error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                None,
                message,
                None,
            ))));
        }
        Some(value) if value == format!("Bearer {KEY}") => {}
        Some(value) => {
            let key = value.trim_start_matches("Bearer ");
            let tail = &key[key.len().saturating_sub(4)..];
            let message = format!("Invalid API Key provided: sk_test_********************{tail}");
            return Err(Box::new(answer(error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                None,
                &message,
                None,
            ))));
        }
    }
    if let Some(failure) = fake.failures.lock().unwrap().pop() {
        return Err(Box::new(answer(match failure {
            Failure::RateLimit => error(
                StatusCode::TOO_MANY_REQUESTS,
                "invalid_request_error",
                Some("rate_limit"),
                "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                None,
            ),
            Failure::ApiError => {
                error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", None, "An unknown error occurred", None)
            }
        })));
    }
    Ok(())
}

/// Stripe's parameter checks: every parameter known (its name before any `[`), the required
/// ones there.
fn check_params(params: &[(String, String)], allowed: &[&str], required: &[&str]) -> Result<(), (StatusCode, Value)> {
    for (name, _) in params {
        let base = name.split('[').next().unwrap_or(name);
        if !allowed.contains(&base) {
            let message = format!("Received unknown parameter: {name}");
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_unknown"),
                &message,
                Some(name),
            ));
        }
    }
    for name in required {
        if !params.iter().any(|(key, _)| key == name) {
            let message = format!("Missing required param: {name}.");
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                Some("parameter_missing"),
                &message,
                Some(name),
            ));
        }
    }
    Ok(())
}

fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
}

fn metadata(params: &[(String, String)]) -> Value {
    let map: serde_json::Map<String, Value> = params
        .iter()
        .filter_map(|(key, value)| {
            let inner = key.strip_prefix("metadata[")?.strip_suffix(']')?;
            Some((inner.to_owned(), json!(value)))
        })
        .collect();
    Value::Object(map)
}

/// A POST under Stripe's idempotency rules: a saved answer for the key is replayed (or refused
/// if the parameters differ); otherwise `execute` runs, and what it answers is saved unless the
/// parameters failed validation.
async fn idempotent(
    fake: &Fake,
    path: &str,
    headers: &HeaderMap,
    params: Vec<(String, String)>,
    execute: impl FnOnce(&[(String, String)]) -> Result<(StatusCode, Value), (StatusCode, Value)>,
) -> Response {
    if let Err(refused) = admit(fake, "POST", path, headers, &params) {
        return *refused;
    }
    let key = headers.get("idempotency-key").and_then(|value| value.to_str().ok()).map(str::to_owned);
    if let Some(key) = &key
        && let Some(saved) = fake.saved.lock().unwrap().get(key)
    {
        if saved.path != path || saved.params != params {
            let message = format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
            );
            return answer(error(StatusCode::BAD_REQUEST, "idempotency_error", None, &message, None));
        }
        return (saved.status, [("idempotent-replayed", "true")], Json(saved.body.clone())).into_response();
    }
    let (status, body) = match execute(&params) {
        Ok(executed) => executed,
        Err(invalid) => return answer(invalid),
    };
    if let Some(key) = key {
        let saved = Saved { path: path.to_owned(), params, status, body: body.clone() };
        fake.saved.lock().unwrap().insert(key, saved);
    }
    let stall = fake.stall.lock().unwrap().take();
    if let Some(wait) = stall {
        tokio::time::sleep(wait).await;
    }
    (status, [("request-id", "req_8Sy1ttKBK9VjHs")], Json(body)).into_response()
}

async fn create_customer(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    let state = Arc::clone(&fake);
    idempotent(&fake, "/v1/customers", &headers, params, move |params| {
        check_params(params, &["email", "name", "description", "phone", "metadata", "expand"], &[])?;
        let id = state.id("cus");
        let customer = json!({
            "id": id, "object": "customer", "address": null, "balance": 0, "created": 1680893993,
            "currency": null, "default_source": null, "delinquent": false, "description": param(params, "description"),
            "discount": null, "email": param(params, "email"), "invoice_prefix": "0759376C",
            "invoice_settings": {"custom_fields": null, "default_payment_method": null, "footer": null, "rendering_options": null},
            "livemode": false, "metadata": metadata(params), "name": param(params, "name"), "next_invoice_sequence": 1,
            "phone": param(params, "phone"), "preferred_locales": [], "shipping": null, "tax_exempt": "none", "test_clock": null
        });
        state.customers.lock().unwrap().insert(id, customer.clone());
        Ok((StatusCode::OK, customer))
    })
    .await
}

async fn retrieve_customer(State(fake): State<Arc<Fake>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&fake, "GET", &format!("/v1/customers/{id}"), &headers, &[]) {
        return *refused;
    }
    match fake.customers.lock().unwrap().get(&id) {
        Some(customer) => Json(customer.clone()).into_response(),
        None => answer(not_found("customer", &id)),
    }
}

fn not_found(kind: &str, id: &str) -> (StatusCode, Value) {
    let message = format!("No such {kind}: '{id}'");
    error(StatusCode::NOT_FOUND, "invalid_request_error", Some("resource_missing"), &message, Some("id"))
}

const INTENT_PARAMS: &[&str] = &[
    "amount",
    "currency",
    "customer",
    "description",
    "payment_method",
    "payment_method_types",
    "automatic_payment_methods",
    "confirm",
    "receipt_email",
    "metadata",
    "expand",
];

async fn create_intent(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    let state = Arc::clone(&fake);
    idempotent(&fake, "/v1/payment_intents", &headers, params, move |params| {
        check_params(params, INTENT_PARAMS, &["amount", "currency"])?;
        let Some(amount) = param(params, "amount").and_then(|amount| amount.parse::<u64>().ok()) else {
            return Err(error(StatusCode::BAD_REQUEST, "invalid_request_error", Some("parameter_invalid_integer"), "Invalid integer", Some("amount")));
        };
        let id = state.id("pi");
        let methods: Vec<&str> = params.iter().filter(|(key, _)| key == "payment_method_types[]").map(|(_, v)| v.as_str()).collect();
        let automatic = param(params, "automatic_payment_methods[enabled]").map(|enabled| json!({"enabled": enabled == "true"}));
        let intent = json!({
            "id": id, "object": "payment_intent", "amount": amount, "amount_capturable": 0, "amount_received": 0,
            "automatic_payment_methods": automatic, "capture_method": "automatic", "client_secret": format!("{id}_secret_YrKJUKribcBjcG8HVhfZluoGH"),
            "confirmation_method": "automatic", "created": 1680800504, "currency": param(params, "currency"),
            "customer": param(params, "customer"), "description": param(params, "description"), "last_payment_error": null,
            "latest_charge": null, "livemode": false, "metadata": metadata(params), "payment_method": param(params, "payment_method"),
            "payment_method_types": if methods.is_empty() { json!(["card", "link"]) } else { json!(methods) },
            "receipt_email": param(params, "receipt_email"), "status": if param(params, "payment_method").is_some() { "requires_confirmation" } else { "requires_payment_method" }
        });
        state.intents.lock().unwrap().insert(id.clone(), intent);
        if param(params, "confirm") == Some("true") {
            return Ok(confirm(&state, &id, None));
        }
        Ok((StatusCode::OK, state.intents.lock().unwrap()[&id].clone()))
    })
    .await
}

/// Confirms a payment intent: `pm_card_visa` pays, `pm_card_chargeDeclined` is declined.
fn confirm(fake: &Fake, id: &str, payment_method: Option<&str>) -> (StatusCode, Value) {
    let mut intents = fake.intents.lock().unwrap();
    let Some(intent) = intents.get_mut(id) else { return not_found("payment_intent", id) };
    if let Some(method) = payment_method {
        intent["payment_method"] = json!(method);
    }
    match intent["payment_method"].as_str() {
        Some("pm_card_visa") => {
            let charge_id = fake.id("ch");
            let amount = intent["amount"].as_u64().unwrap_or_default();
            let charge = charge(&charge_id, amount, intent["customer"].as_str(), Some(id), 1680800505);
            fake.charges.lock().unwrap().insert(0, charge);
            intent["status"] = json!("succeeded");
            intent["amount_received"] = json!(amount);
            intent["latest_charge"] = json!(charge_id);
            (StatusCode::OK, intent.clone())
        }
        Some("pm_card_chargeDeclined") => {
            let failure = json!({"type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined."});
            intent["status"] = json!("requires_payment_method");
            intent["last_payment_error"] = failure.clone();
            let mut body = failure;
            body["payment_intent"] = intent.clone();
            body["doc_url"] = json!("https://stripe.com/docs/error-codes/card-declined");
            (StatusCode::PAYMENT_REQUIRED, json!({ "error": body }))
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("payment_intent_unexpected_state"),
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            None,
        ),
    }
}

async fn confirm_intent(
    State(fake): State<Arc<Fake>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    let state = Arc::clone(&fake);
    let path = format!("/v1/payment_intents/{id}/confirm");
    idempotent(&fake, &path, &headers, params, move |params| {
        check_params(params, &["payment_method", "return_url", "expand"], &[])?;
        Ok(confirm(&state, &id, param(params, "payment_method")))
    })
    .await
}

async fn retrieve_intent(
    State(fake): State<Arc<Fake>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(refused) = admit(&fake, "GET", &format!("/v1/payment_intents/{id}"), &headers, &params) {
        return *refused;
    }
    if let Err(invalid) = check_params(&params, &["expand"], &[]) {
        return answer(invalid);
    }
    let Some(mut intent) = fake.intents.lock().unwrap().get(&id).cloned() else {
        return answer(not_found("payment_intent", &id));
    };
    for (_, field) in params.iter().filter(|(key, _)| key == "expand[]") {
        let related = match (field.as_str(), intent[field].as_str()) {
            ("customer", Some(customer)) => fake.customers.lock().unwrap().get(customer).cloned(),
            ("latest_charge", Some(charge)) => fake.charges.lock().unwrap().iter().find(|c| c["id"] == charge).cloned(),
            _ => None,
        };
        if let Some(related) = related {
            intent[field] = related;
        }
    }
    Json(intent).into_response()
}

async fn create_refund(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    let state = Arc::clone(&fake);
    idempotent(&fake, "/v1/refunds", &headers, params, move |params| {
        check_params(params, &["payment_intent", "charge", "amount", "reason", "metadata", "expand"], &[])?;
        let charge_id = match (param(params, "charge"), param(params, "payment_intent")) {
            (Some(charge), _) => charge.to_owned(),
            (None, Some(intent)) => match state.intents.lock().unwrap().get(intent).and_then(|i| i["latest_charge"].as_str().map(str::to_owned)) {
                Some(charge) => charge,
                None => return Ok(error(StatusCode::BAD_REQUEST, "invalid_request_error", Some("charge_not_refundable"), &format!("PaymentIntent {intent} does not have a successful charge to refund."), None)),
            },
            (None, None) => return Err(error(StatusCode::BAD_REQUEST, "invalid_request_error", Some("parameter_missing"), "One of the following params should be provided for this request: payment_intent or charge.", None)),
        };
        let mut charges = state.charges.lock().unwrap();
        let Some(charge) = charges.iter_mut().find(|charge| charge["id"] == charge_id.as_str()) else {
            return Ok(not_found("charge", &charge_id));
        };
        let left = charge["amount"].as_u64().unwrap_or(0) - charge["amount_refunded"].as_u64().unwrap_or(0);
        let amount = param(params, "amount").and_then(|amount| amount.parse::<u64>().ok()).unwrap_or(left);
        if amount > left {
            let message = format!("Refund amount (${}) is greater than unrefunded amount on charge (${})", amount as f64 / 100.0, left as f64 / 100.0);
            return Ok(error(StatusCode::BAD_REQUEST, "invalid_request_error", None, &message, Some("amount")));
        }
        charge["amount_refunded"] = json!(charge["amount_refunded"].as_u64().unwrap_or(0) + amount);
        charge["refunded"] = json!(amount == left);
        let refund = json!({
            "id": state.id("re"), "object": "refund", "amount": amount, "balance_transaction": "txn_1Mr1ZELkdIwHu7ixkiYmfC16",
            "charge": charge_id, "created": 1680651573, "currency": charge["currency"], "metadata": metadata(params),
            "payment_intent": charge["payment_intent"], "reason": param(params, "reason"), "receipt_number": null,
            "source_transfer_reversal": null, "status": "succeeded", "transfer_reversal": null
        });
        state.refunds.lock().unwrap().push(refund.clone());
        Ok((StatusCode::OK, refund))
    })
    .await
}

async fn list_charges(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    if let Err(refused) = admit(&fake, "GET", "/v1/charges", &headers, &params) {
        return *refused;
    }
    if let Err(invalid) = check_params(
        &params,
        &["limit", "starting_after", "ending_before", "customer", "payment_intent", "created", "expand"],
        &[],
    ) {
        return answer(invalid);
    }
    let limit = param(&params, "limit").map(|limit| limit.parse::<usize>().unwrap_or(0)).unwrap_or(10);
    if !(1..=100).contains(&limit) {
        let message = "Invalid limit: must be between 1 and 100";
        return answer(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("parameter_invalid_integer"),
            message,
            Some("limit"),
        ));
    }
    let charges = fake.charges.lock().unwrap().clone();
    let matching: Vec<Value> = charges
        .into_iter()
        .filter(|charge| param(&params, "customer").is_none_or(|customer| charge["customer"] == customer))
        .filter(|charge| param(&params, "payment_intent").is_none_or(|intent| charge["payment_intent"] == intent))
        .collect();
    let start = match param(&params, "starting_after") {
        None => 0,
        Some(after) => match matching.iter().position(|charge| charge["id"] == after) {
            Some(at) => at + 1,
            None => return answer(not_found("charge", after)),
        },
    };
    let page: Vec<Value> = matching.iter().skip(start).take(limit).cloned().collect();
    let has_more = start + page.len() < matching.len();
    Json(json!({"object": "list", "url": "/v1/charges", "has_more": has_more, "data": page})).into_response()
}

async fn balance(State(fake): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    if let Err(refused) = admit(&fake, "GET", "/v1/balance", &headers, &[]) {
        return *refused;
    }
    Json(json!({"object": "balance", "available": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}], "livemode": false, "pending": []}))
        .into_response()
}
