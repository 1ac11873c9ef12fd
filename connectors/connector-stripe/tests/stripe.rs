//! The Stripe connector against a fake API on loopback that answers as Stripe documents, its
//! idempotency keys through real runs, and the `Stripe-Signature` webhook trigger over real HTTP.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use connector_runtime::prelude::*;
use connector_runtime::server::{self, RunningServer, ServerConfig};
use connector_runtime::store::{MemoryStore, RunFilter, RunStore};
use connector_runtime::testing::JobTest;
use connector_runtime::webhook::{SignatureError, SignatureScheme};
use connector_stripe::{
    ById, Charge, ConfirmPaymentIntent, Customer, Event, Expandable, ListCharges, NewCustomer, NewPaymentIntent,
    NewRefund, PaymentIntent, PaymentIntentStatus, RetrievePaymentIntent, Stripe, StripeConfig, StripeEvent,
};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};
use support::{DELETED, Failure, JENNY, JENNYS_CHARGES, KEY};

fn stripe(base_url: &str) -> Integration<Stripe> {
    Stripe::init(StripeConfig::new(Secret::new(KEY)).base_url(base_url))
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

// ---------------------------------------------------------------------------------------------
// Customers

#[tokio::test]
async fn create_customer_sends_a_form_with_nested_metadata() {
    let (url, fake) = support::start().await;
    let input = NewCustomer {
        email: Some("jennyrosen@example.com".into()),
        name: Some("Jenny Rosen".into()),
        metadata: BTreeMap::from([("order".into(), "6735".into()), ("channel".into(), "web shop".into())]),
        ..Default::default()
    };
    let customer: Customer = stripe(&url).call(Stripe::CREATE_CUSTOMER, input).await.unwrap();
    assert!(customer.id.starts_with("cus_"), "{customer:?}");
    assert_eq!(customer.email.as_deref(), Some("jennyrosen@example.com"));
    assert_eq!(customer.metadata["order"], "6735");
    assert_eq!(customer.metadata["channel"], "web shop");
    assert!(!customer.livemode);

    let seen = &fake.seen("/v1/customers")[0];
    assert_eq!(seen.content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    let expected = [
        ("email", "jennyrosen@example.com"),
        ("metadata[channel]", "web shop"),
        ("metadata[order]", "6735"),
        ("name", "Jenny Rosen"),
    ];
    assert_eq!(seen.params, pairs(&expected));

    let read = stripe(&url).call(Stripe::RETRIEVE_CUSTOMER, ById { id: customer.id.clone() }).await.unwrap();
    assert_eq!(read, customer);
}

#[tokio::test]
async fn missing_deleted_and_malformed_customers_are_refused() {
    let (url, fake) = support::start().await;
    let error = stripe(&url).call(Stripe::RETRIEVE_CUSTOMER, ById { id: "cus_nope".into() }).await.unwrap_err();
    assert!(
        matches!(&error, ActionError::Rejected { status: 404, message }
            if message == "No such customer: 'cus_nope' (invalid_request_error, resource_missing)"),
        "{error}"
    );
    let error = stripe(&url).call(Stripe::RETRIEVE_CUSTOMER, ById { id: DELETED.into() }).await.unwrap_err();
    assert!(matches!(&error, ActionError::Rejected { status: 404, message } if message.contains("deleted")), "{error}");
    let error = stripe(&url).call(Stripe::RETRIEVE_CUSTOMER, ById { id: "../balance".into() }).await.unwrap_err();
    assert!(matches!(error, ActionError::InvalidInput(_)), "{error}");
    assert_eq!(fake.seen.lock().unwrap().len(), 2, "a malformed id is not sent");
}

// ---------------------------------------------------------------------------------------------
// Payment intents

#[tokio::test]
async fn a_payment_intent_is_created_confirmed_and_read_back_expanded() {
    let (url, fake) = support::start().await;
    let stripe = stripe(&url);
    let customer = stripe.call(Stripe::CREATE_CUSTOMER, NewCustomer::default()).await.unwrap();
    let mut input = NewPaymentIntent::new(2000, "usd");
    input.customer = Some(customer.id.clone());
    input.automatic_payment_methods = Some(connector_stripe::AutomaticPaymentMethods { enabled: true });
    input.metadata.insert("order".into(), "6735".into());
    let intent: PaymentIntent = stripe.call(Stripe::CREATE_PAYMENT_INTENT, input).await.unwrap();
    assert_eq!(intent.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!((intent.amount, intent.currency.as_str()), (2000, "usd"));
    let sent = &fake.seen("/v1/payment_intents")[0].params;
    assert!(sent.contains(&("automatic_payment_methods[enabled]".into(), "true".into())), "{sent:?}");
    assert!(sent.contains(&("metadata[order]".into(), "6735".into())), "{sent:?}");

    let confirm =
        ConfirmPaymentIntent { id: intent.id.clone(), payment_method: Some("pm_card_visa".into()), return_url: None };
    let paid = stripe.call(Stripe::CONFIRM_PAYMENT_INTENT, confirm).await.unwrap();
    assert_eq!(paid.status, PaymentIntentStatus::Succeeded);
    assert_eq!(paid.amount_received, 2000);
    let charge_id = paid.latest_charge.as_ref().unwrap().id().to_owned();
    assert_eq!(
        fake.seen(&format!("/v1/payment_intents/{}/confirm", intent.id))[0].params,
        pairs(&[("payment_method", "pm_card_visa")]),
        "the id goes in the path, not the body"
    );

    let read = stripe
        .call(
            Stripe::RETRIEVE_PAYMENT_INTENT,
            RetrievePaymentIntent { id: intent.id.clone(), expand: vec!["customer".into(), "latest_charge".into()] },
        )
        .await
        .unwrap();
    let seen = fake.seen(&format!("/v1/payment_intents/{}", intent.id));
    assert_eq!(seen[0].params, pairs(&[("expand[]", "customer"), ("expand[]", "latest_charge")]));
    assert_eq!((seen[0].method.as_str(), seen[0].idempotency_key.as_deref()), ("GET", None), "a read carries no key");
    let Some(Expandable::Object(expanded)) = &read.customer else { panic!("customer not expanded: {read:?}") };
    assert_eq!(expanded.id, customer.id);
    let charge: &Charge = read.latest_charge.as_ref().and_then(Expandable::object).unwrap();
    assert_eq!((charge.id.as_str(), charge.amount, charge.paid), (charge_id.as_str(), 2000, true));
}

#[tokio::test]
async fn a_declined_card_is_refused_with_stripes_words_and_not_retried() {
    let (url, _fake) = support::start().await;
    let stripe = stripe(&url);
    let intent = stripe.call(Stripe::CREATE_PAYMENT_INTENT, NewPaymentIntent::new(500, "usd")).await.unwrap();
    let confirm =
        ConfirmPaymentIntent { id: intent.id, payment_method: Some("pm_card_chargeDeclined".into()), return_url: None };
    let error = stripe.call(Stripe::CONFIRM_PAYMENT_INTENT, confirm).await.unwrap_err();
    assert!(
        matches!(&error, ActionError::Rejected { status: 402, message }
            if message == "Your card was declined. (card_error, card_declined)"),
        "{error}"
    );
    assert!(!error.is_retryable());
}

#[tokio::test]
async fn credentials_rate_limits_and_api_errors_fall_in_their_classes() {
    let (url, fake) = support::start().await;
    let wrong = Stripe::init(StripeConfig::new(Secret::new("sk_test_wrongwrongwrong9876")).base_url(&url));
    let error = wrong.call(Stripe::RETRIEVE_CUSTOMER, ById { id: JENNY.into() }).await.unwrap_err();
    assert!(
        matches!(&error, ActionError::Unauthorized { status: 401, message } if message.contains("Invalid API Key")),
        "{error}"
    );
    assert!(!error.to_string().contains("wrongwrong"), "{error}");
    assert!(wrong.check().await.is_err());
    stripe(&url).check().await.unwrap();

    fake.fail_next(Failure::RateLimit);
    let error = stripe(&url).call(Stripe::RETRIEVE_CUSTOMER, ById { id: JENNY.into() }).await.unwrap_err();
    assert!(matches!(&error, ActionError::RateLimited { message, .. } if message.contains("rate_limit")), "{error}");
    assert!(error.is_retryable());

    fake.fail_next(Failure::ApiError);
    let error = stripe(&url).call(Stripe::CREATE_CUSTOMER, NewCustomer::default()).await.unwrap_err();
    assert!(matches!(&error, ActionError::Transient { message } if message.contains("api_error")), "{error}");
    assert!(error.is_retryable());
}

#[tokio::test]
async fn the_pinned_api_version_is_sent() {
    let (url, fake) = support::start().await;
    let pinned = Stripe::init(StripeConfig::new(Secret::new(KEY)).base_url(&url).api_version("2024-06-20"));
    pinned.call(Stripe::CREATE_CUSTOMER, NewCustomer::default()).await.unwrap();
    stripe(&url).call(Stripe::CREATE_CUSTOMER, NewCustomer::default()).await.unwrap();
    let versions: Vec<Option<String>> =
        fake.seen("/v1/customers").into_iter().map(|seen| seen.stripe_version).collect();
    assert_eq!(versions, [Some("2024-06-20".to_owned()), None]);
}

// ---------------------------------------------------------------------------------------------
// Refunds and charges

#[tokio::test]
async fn refunds_take_part_then_the_rest_and_no_more() {
    let (url, fake) = support::start().await;
    let stripe = stripe(&url);
    let mut input = NewPaymentIntent::new(3000, "usd");
    input.payment_method = Some("pm_card_visa".into());
    input.confirm = Some(true);
    let paid = stripe.call(Stripe::CREATE_PAYMENT_INTENT, input).await.unwrap();
    assert_eq!(paid.status, PaymentIntentStatus::Succeeded);

    let part = NewRefund {
        payment_intent: Some(paid.id.clone()),
        amount: Some(1000),
        reason: Some("requested_by_customer".into()),
        ..Default::default()
    };
    let refund = stripe.call(Stripe::CREATE_REFUND, part).await.unwrap();
    assert_eq!((refund.amount, refund.status.as_deref()), (1000, Some("succeeded")));
    assert_eq!(refund.payment_intent.as_deref(), Some(paid.id.as_str()));
    let rest = stripe
        .call(Stripe::CREATE_REFUND, NewRefund { payment_intent: Some(paid.id.clone()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(rest.amount, 2000, "the rest by default");

    let error = stripe
        .call(
            Stripe::CREATE_REFUND,
            NewRefund { payment_intent: Some(paid.id.clone()), amount: Some(1), ..Default::default() },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ActionError::Rejected { status: 400, message } if message.contains("greater than unrefunded")),
        "{error}"
    );
    let error = stripe.call(Stripe::CREATE_REFUND, NewRefund::default()).await.unwrap_err();
    assert!(matches!(error, ActionError::InvalidInput(_)), "{error}");
    assert_eq!(fake.refunds.lock().unwrap().len(), 2);

    let charges = stripe
        .call(Stripe::LIST_CHARGES, ListCharges { payment_intent: Some(paid.id), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(charges.charges.len(), 1);
    assert!(charges.charges[0].refunded);
    assert_eq!(charges.charges[0].amount_refunded, 3000);
}

fn ids(charges: &[Charge]) -> Vec<String> {
    charges.iter().map(|charge| charge.id.clone()).collect()
}

fn jennys(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.rev().map(|n| format!("ch_3MmlLrLkdIwHu7ix0snN{n:04}")).collect()
}

#[tokio::test]
async fn list_charges_follows_starting_after_until_has_more_is_false() {
    use futures::TryStreamExt;
    let (url, fake) = support::start().await;
    let integration = stripe(&url);
    let ctx = integration.context();
    let input = ListCharges { customer: Some(JENNY.into()), limit: Some(10), ..Default::default() };
    let all: Vec<Charge> = connector_stripe::charges(&ctx, input).try_collect().await.unwrap();
    assert_eq!(ids(&all), jennys(1..=JENNYS_CHARGES), "every charge of the customer once, newest first");
    let seen = fake.seen("/v1/charges");
    let after: Vec<Option<&str>> = seen
        .iter()
        .map(|seen| seen.params.iter().find(|(k, _)| k == "starting_after").map(|(_, v)| v.as_str()))
        .collect();
    assert_eq!(after, [None, Some("ch_3MmlLrLkdIwHu7ix0snN0016"), Some("ch_3MmlLrLkdIwHu7ix0snN0006")]);
    assert!(seen.iter().all(|seen| seen.params.contains(&("limit".into(), "10".into()))));
}

#[tokio::test]
async fn list_charges_stops_at_the_limit_and_says_whether_there_is_more() {
    let (url, fake) = support::start().await;
    let stripe = stripe(&url);
    let twelve = stripe
        .call(Stripe::LIST_CHARGES, ListCharges { customer: Some(JENNY.into()), limit: Some(12), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(ids(&twelve.charges), jennys(14..=JENNYS_CHARGES));
    assert!(twelve.has_more);
    assert_eq!(fake.seen("/v1/charges").len(), 1, "one page of 13 says there is more");

    let all = stripe
        .call(Stripe::LIST_CHARGES, ListCharges { customer: Some(JENNY.into()), limit: Some(30), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(all.charges.len(), JENNYS_CHARGES);
    assert!(!all.has_more);

    let everyone = stripe.call(Stripe::LIST_CHARGES, ListCharges::default()).await.unwrap();
    assert_eq!(everyone.charges.len(), JENNYS_CHARGES + 1, "no filter: every charge");
    assert!(fake.seen("/v1/charges").last().unwrap().params.contains(&("limit".into(), "100".into())));
}

// ---------------------------------------------------------------------------------------------
// Idempotency keys, through real runs

#[job(id = "onboard", name = "Onboard", version = "1.0.0", event = Signup, integrations(stripe = Stripe))]
async fn onboard(signup: Signup, io: OnboardIo<'_>) -> Result<String, JobError> {
    let customer = NewCustomer { email: Some(signup.email), ..Default::default() };
    Ok(io.stripe.create_customer("create", customer).await?.id)
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, connector_runtime::Event)]
#[event(name = "signup")]
struct Signup {
    email: String,
}

#[tokio::test]
async fn a_step_retried_after_a_lost_answer_gets_stripes_replay_not_a_second_customer() {
    let (url, fake) = support::start().await;
    // The first answer never arrives in time: Stripe has created the customer, the step times out.
    fake.stall_next(Duration::from_secs(3));
    let policy = RetryPolicy {
        max_attempts: 3,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
        jitter: false,
        attempt_timeout: Some(Duration::from_millis(300)),
        ..RetryPolicy::DEFAULT
    };
    let run = JobTest::new(OnboardJob)
        .connector(stripe(&url))
        .retry_policy(policy)
        .run(Signup { email: "ada@example.com".into() })
        .await
        .unwrap();
    assert_eq!(run.status(), RunStatus::Succeeded, "{:?}", run.error());

    let posts = fake.seen("/v1/customers");
    assert_eq!(posts.len(), 2, "the step was tried twice");
    let key = format!("{}:create", run.run().id);
    assert!(posts.iter().all(|post| post.idempotency_key.as_deref() == Some(key.as_str())), "{posts:?}");
    let customers = fake.customers.lock().unwrap().clone();
    let created: Vec<&Value> = customers.values().filter(|c| c["email"] == "ada@example.com").collect();
    assert_eq!(created.len(), 1, "one customer, not two");
    assert_eq!(run.output::<String>(), created[0]["id"].as_str().unwrap(), "the replayed answer is the first one");
}

#[tokio::test]
async fn a_rate_limited_step_is_retried_with_the_same_key_and_creates_once() {
    let (url, fake) = support::start().await;
    fake.fail_next(Failure::RateLimit);
    let policy = RetryPolicy {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(10),
        ..RetryPolicy::DEFAULT
    };
    let run = JobTest::new(OnboardJob)
        .connector(stripe(&url))
        .retry_policy(policy)
        .run(Signup { email: "di@example.com".into() })
        .await
        .unwrap();
    assert_eq!(run.status(), RunStatus::Succeeded, "{:?}", run.error());
    assert_eq!(run.steps()[0].attempts, 2);
    let keys: Vec<Option<String>> = fake.seen("/v1/customers").into_iter().map(|seen| seen.idempotency_key).collect();
    let key = Some(format!("{}:create", run.run().id));
    assert_eq!(keys, [key.clone(), key], "the retry sends the same key");
    assert_eq!(fake.customers.lock().unwrap().values().filter(|c| c["email"] == "di@example.com").count(), 1);
}

#[tokio::test]
async fn the_fake_replays_a_key_only_for_the_same_request_as_stripe_does() {
    let (url, fake) = support::start().await;
    let http = reqwest::Client::new();
    let send = |email: &str| {
        http.post(format!("{url}/v1/customers"))
            .bearer_auth(KEY)
            .header("idempotency-key", "key-1")
            .form(&[("email", email)])
            .send()
    };
    let first = send("ada@example.com").await.unwrap();
    assert_eq!(first.headers().get("idempotent-replayed"), None);
    let first: Value = first.json().await.unwrap();
    let again = send("ada@example.com").await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let other = send("bo@example.com").await.unwrap();
    assert_eq!(other.status(), 400);
    assert_eq!(other.json::<Value>().await.unwrap()["error"]["type"], "idempotency_error");
    assert_eq!(fake.customers.lock().unwrap().len(), 2, "the deleted one and Ada");
}

#[tokio::test]
async fn every_mutating_request_carries_a_key_of_its_own_and_reads_none() {
    let (url, fake) = support::start().await;
    let run =
        JobTest::new(OnboardJob).connector(stripe(&url)).run(Signup { email: "bo@example.com".into() }).await.unwrap();
    let other =
        JobTest::new(OnboardJob).connector(stripe(&url)).run(Signup { email: "cy@example.com".into() }).await.unwrap();
    let keys: Vec<Option<String>> = fake.seen("/v1/customers").into_iter().map(|seen| seen.idempotency_key).collect();
    assert_eq!(keys, [Some(format!("{}:create", run.run().id)), Some(format!("{}:create", other.run().id))]);
    assert_ne!(run.output::<String>(), other.output::<String>(), "two runs, two customers");
}

// ---------------------------------------------------------------------------------------------
// Webhook signatures

/// Computed the way Stripe's docs say ("Verify the signature manually"): HMAC-SHA256 with the
/// endpoint secret over `{t}.{raw body}`, hex-encoded, in `Stripe-Signature: t=..,v1=..`.
const DOC_SECRET: &str = "whsec_test_secret";
const DOC_TIMESTAMP: u64 = 1492774577;
const DOC_BODY: &str = r#"{"id":"evt_3MtwBwLkdIwHu7ix28a3tqPa","object":"event","type":"payment_intent.succeeded"}"#;
const DOC_V1: &str = "3bbb73f744adeae8cd303fd972cba5dfeaef84b0943ebbdd78d05c2929732dc1";

fn stripe_signature(value: &str) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert("stripe-signature", value.parse().unwrap());
    headers
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

#[test]
fn the_documented_computation_matches_and_verifies() {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(DOC_SECRET.as_bytes()).unwrap();
    mac.update(format!("{DOC_TIMESTAMP}.{DOC_BODY}").as_bytes());
    assert_eq!(hex::encode(mac.finalize().into_bytes()), DOC_V1);
    let scheme = SignatureScheme::stripe(Secret::new(DOC_SECRET));
    // A rolled secret: the old signature first, then the one that matches; `v0` is ignored.
    let header = format!(
        "t={DOC_TIMESTAMP},v1={},v1={DOC_V1},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
        "0".repeat(64)
    );
    scheme.verify_at(&stripe_signature(&header), DOC_BODY.as_bytes(), at(DOC_TIMESTAMP + 10)).unwrap();
    assert_eq!(
        scheme.delivery_id(&stripe_signature(&header), DOC_BODY.as_bytes()).as_deref(),
        Some("evt_3MtwBwLkdIwHu7ix28a3tqPa")
    );
}

#[test]
fn a_tampered_body_and_a_stale_timestamp_are_refused() {
    let scheme = SignatureScheme::stripe(Secret::new(DOC_SECRET));
    let headers = stripe_signature(&format!("t={DOC_TIMESTAMP},v1={DOC_V1}"));
    let tampered = DOC_BODY.replace("payment_intent.succeeded", "charge.refunded");
    assert!(matches!(
        scheme.verify_at(&headers, tampered.as_bytes(), at(DOC_TIMESTAMP + 10)),
        Err(SignatureError::Mismatch)
    ));
    let moved = stripe_signature(&format!("t={},v1={DOC_V1}", DOC_TIMESTAMP + 1));
    assert!(
        matches!(scheme.verify_at(&moved, DOC_BODY.as_bytes(), at(DOC_TIMESTAMP + 10)), Err(SignatureError::Mismatch)),
        "the timestamp is signed"
    );
    assert!(matches!(
        scheme.verify_at(&headers, DOC_BODY.as_bytes(), at(DOC_TIMESTAMP + 301)),
        Err(SignatureError::Stale { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// The webhook trigger, over real HTTP

const WEBHOOK_SECRET: &str = "whsec_5f3b1c2d4e6a7b8c9d0e1f2a3b4c5d6e";

#[job(id = "stripe-event-kind", name = "Stripe event kind", version = "1.0.0", trigger = Stripe::events)]
async fn stripe_event_kind(event: StripeEvent, _io: StripeEventKindIo<'_>) -> Result<String, JobError> {
    Ok(match event {
        StripeEvent::PaymentIntentSucceeded(event) => {
            format!("paid {} {}", event.object.amount_received, event.object.currency)
        }
        StripeEvent::ChargeRefunded(event) => format!("refunded {}", event.object.amount_refunded),
        StripeEvent::CustomerCreated(event) => format!("customer {}", event.object.email.unwrap_or_default()),
    })
}

async fn webhook_server(store: Arc<dyn RunStore>) -> RunningServer {
    let config =
        StripeConfig::new(Secret::new(KEY)).base_url("http://127.0.0.1:9").webhook_secret(Secret::new(WEBHOOK_SECRET));
    let engine =
        Engine::builder().shared_store(store).connector(Stripe::init(config)).job(StripeEventKindJob).build().unwrap();
    server::start(engine, ServerConfig { bind: "127.0.0.1:0".parse().unwrap(), ..Default::default() }).await.unwrap()
}

fn event(id: &str, kind: &str, object: Value) -> Value {
    json!({
        "id": id, "object": "event", "api_version": "2024-06-20", "created": 1680064028,
        "data": { "object": object }, "livemode": false, "pending_webhooks": 1,
        "request": { "id": "req_XyZ8bNqCmoC1cv", "idempotency_key": "6d6e6a6b-1d0f-4b0b-9b0d-f3a1d2b2c3d4" }, "type": kind
    })
}

/// The objects of the three kinds, as the API reference shows them.
fn intent_object() -> Value {
    json!({
        "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "object": "payment_intent", "amount": 2000, "amount_capturable": 0,
        "amount_received": 2000, "capture_method": "automatic", "client_secret": "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH",
        "confirmation_method": "automatic", "created": 1680800504, "currency": "usd", "customer": "cus_NffrFeUfNV2Hib",
        "description": null, "last_payment_error": null, "latest_charge": "ch_3MtwBwLkdIwHu7ix28a3tqPa", "livemode": false,
        "metadata": {"order": "6735"}, "payment_method": "pm_1MtwBwLkdIwHu7ixrNkpNhVP", "payment_method_types": ["card"],
        "status": "succeeded"
    })
}

fn charge_object() -> Value {
    json!({
        "id": "ch_3MtwBwLkdIwHu7ix28a3tqPa", "object": "charge", "amount": 2000, "amount_captured": 2000, "amount_refunded": 2000,
        "captured": true, "created": 1680800505, "currency": "usd", "customer": "cus_NffrFeUfNV2Hib", "description": null,
        "failure_code": null, "failure_message": null, "livemode": false, "metadata": {}, "paid": true,
        "payment_intent": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "receipt_url": "https://pay.stripe.com/receipts/payment/CAcaFwoV",
        "refunded": true, "refunds": {"object": "list", "data": [], "has_more": false}, "status": "succeeded"
    })
}

fn customer_object() -> Value {
    json!({
        "id": "cus_NffrFeUfNV2Hib", "object": "customer", "address": null, "balance": 0, "created": 1680893993, "currency": null,
        "default_source": null, "delinquent": false, "description": null, "discount": null, "email": "jennyrosen@example.com",
        "invoice_prefix": "0759376C", "livemode": false, "metadata": {}, "name": "Jenny Rosen", "phone": null,
        "preferred_locales": [], "shipping": null, "tax_exempt": "none", "test_clock": null
    })
}

fn now() -> SystemTime {
    SystemTime::now()
}

async fn deliver(server: &RunningServer, body: &str, signed_at: SystemTime) -> (u16, Value) {
    let scheme = SignatureScheme::stripe(Secret::new(WEBHOOK_SECRET));
    let headers = scheme.sign_at(body.as_bytes(), "", signed_at).unwrap();
    deliver_with(server, body, headers).await
}

async fn deliver_with(server: &RunningServer, body: &str, headers: http::HeaderMap) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/webhooks/stripe/events", server.url()))
        .headers(headers)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn each_supported_kind_starts_its_job_with_its_object_typed_once() {
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    let server = webhook_server(Arc::clone(&store)).await;
    let deliveries = [
        event("evt_1", "payment_intent.succeeded", intent_object()),
        event("evt_2", "charge.refunded", charge_object()),
        event("evt_3", "customer.created", customer_object()),
    ];
    let engine_runs = |receipt: &Value| receipt["runs"].as_array().cloned().unwrap_or_default();
    let mut outputs = Vec::new();
    for delivery in &deliveries {
        let (status, receipt) = deliver(&server, &delivery.to_string(), now()).await;
        assert_eq!(status, 202, "{receipt}");
        assert_eq!(engine_runs(&receipt).len(), 1, "{receipt}");
        outputs.push(receipt["runs"][0].as_str().unwrap().to_owned());
    }
    let (status, again) = deliver(&server, &deliveries[0].to_string(), now()).await;
    assert_eq!((status, &again["duplicate"]), (200, &json!(true)), "Stripe's retry of the same event: {again}");
    assert_eq!(again["runs"][0], outputs[0]);

    let runs = store.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), 3);
    let typed: Vec<StripeEvent> = runs.iter().map(|run| serde_json::from_value(run.payload.clone()).unwrap()).collect();
    assert!(typed.iter().any(|e| matches!(e, StripeEvent::PaymentIntentSucceeded(Event { object, .. })
        if object.status == PaymentIntentStatus::Succeeded && object.metadata["order"] == "6735"
            && object.customer.as_ref().map(Expandable::id) == Some("cus_NffrFeUfNV2Hib"))));
    assert!(typed.iter().any(|e| matches!(e, StripeEvent::ChargeRefunded(Event { object, .. }) if object.refunded && object.amount_refunded == 2000)));
    assert!(typed.iter().any(|e| matches!(e, StripeEvent::CustomerCreated(Event { id, object, .. })
        if id == "evt_3" && object.name.as_deref() == Some("Jenny Rosen"))));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn other_kinds_are_ignored_and_forged_or_stale_events_refused() {
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    let server = webhook_server(Arc::clone(&store)).await;
    let invoice = event("evt_4", "invoice.paid", json!({"id": "in_1MtHbELkdIwHu7ixl4OzzPMv", "object": "invoice"}));
    let (status, receipt) = deliver(&server, &invoice.to_string(), now()).await;
    assert_eq!((status, &receipt["ignored"]), (200, &json!(true)), "{receipt}");

    let paid = event("evt_5", "payment_intent.succeeded", intent_object()).to_string();
    let signed = SignatureScheme::stripe(Secret::new(WEBHOOK_SECRET)).sign_at(paid.as_bytes(), "", now()).unwrap();
    let tampered = paid.replace("\"amount\":2000", "\"amount\":1");
    assert_ne!(tampered, paid);
    let (status, body) = deliver_with(&server, &tampered, signed).await;
    assert_eq!(status, 401, "a tampered body: {body}");
    let (status, body) = deliver(&server, &paid, now() - Duration::from_secs(301)).await;
    assert_eq!(status, 401, "a stale timestamp: {body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("old"), "{body}");
    let (status, _) = deliver_with(&server, &paid, http::HeaderMap::new()).await;
    assert_eq!(status, 401, "an unsigned event");

    let broken = event("evt_6", "customer.created", json!({"id": "cus_1", "object": "customer"})).to_string();
    let (status, body) = deliver(&server, &broken, now()).await;
    assert_eq!(status, 502, "an object that does not fit its kind is refused (and Stripe retries it): {body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("missing field `created`"), "{body}");
    assert!(store.list_runs(&RunFilter::default()).await.unwrap().is_empty(), "nothing started");
    server.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The README's job, and the manifest

/// The README's job: refunds a payment whose metadata asks for it.
#[job(id = "refund-on-request", name = "Refund on request", version = "1.0.0",
      trigger = Stripe::events, integrations(stripe = Stripe))]
async fn refund_on_request(event: StripeEvent, io: RefundOnRequestIo<'_>) -> Result<Option<String>, JobError> {
    let StripeEvent::PaymentIntentSucceeded(succeeded) = event else { return Ok(None) };
    let intent = succeeded.object;
    if intent.metadata.get("refund").map(String::as_str) != Some("yes") {
        return Ok(None);
    }
    let refund = NewRefund { payment_intent: Some(intent.id), ..Default::default() };
    let refund = io.stripe.create_refund("refund", refund).await?;
    Ok(Some(refund.id))
}

#[tokio::test]
async fn the_readme_job_refunds_what_asks_for_it_against_the_fake() {
    let (url, fake) = support::start().await;
    let mut input = NewPaymentIntent::new(1500, "usd");
    input.payment_method = Some("pm_card_visa".into());
    input.confirm = Some(true);
    input.metadata.insert("refund".into(), "yes".into());
    let paid = stripe(&url).call(Stripe::CREATE_PAYMENT_INTENT, input).await.unwrap();

    let succeeded = |object: PaymentIntent| {
        StripeEvent::PaymentIntentSucceeded(Event { id: "evt_7".into(), created: 1680800504, livemode: false, object })
    };
    let run = JobTest::new(RefundOnRequestJob).connector(stripe(&url)).run(succeeded(paid.clone())).await.unwrap();
    assert_eq!(run.status(), RunStatus::Succeeded, "{:?}", run.error());
    let refunds = fake.refunds.lock().unwrap().clone();
    assert_eq!(refunds.len(), 1);
    assert_eq!(run.output::<Option<String>>().as_deref(), refunds[0]["id"].as_str());
    assert_eq!(refunds[0]["amount"], 1500);
    assert_eq!(fake.seen("/v1/refunds")[0].idempotency_key, Some(format!("{}:refund", run.run().id)));

    let mut kept = paid;
    kept.metadata.clear();
    let run = JobTest::new(RefundOnRequestJob).connector(stripe(&url)).run(succeeded(kept)).await.unwrap();
    assert_eq!(run.output::<Option<String>>(), None);
    assert_eq!(fake.refunds.lock().unwrap().len(), 1, "no refund without the metadata");
}

#[test]
fn connector_manifest() {
    let manifest = Stripe::manifest();
    assert_eq!(manifest.config["properties"]["secretKey"]["writeOnly"], json!(true));
    assert_eq!(manifest.config["properties"]["webhookSecret"]["writeOnly"], json!(true));
    insta::assert_json_snapshot!("stripe_connector", manifest);
}

#[test]
fn the_config_does_not_print_its_secrets() {
    let config = StripeConfig::new(Secret::new(KEY)).webhook_secret(Secret::new(WEBHOOK_SECRET));
    let printed = format!("{config:?}");
    assert!(!printed.contains("sk_test") && !printed.contains("whsec"), "{printed}");
}
