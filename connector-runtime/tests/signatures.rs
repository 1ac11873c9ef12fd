//! Webhook signature schemes, checked against the test vectors their owners publish:
//!
//! - GitHub: "Validating webhook deliveries" in GitHub's docs (section "Testing the webhook
//!   payload validation").
//! - Stripe: the fixed vector of Stripe's official .NET library (`EventUtilityTest.cs` with the
//!   fixture `Resources/event_test_signature.json`): Stripe's Node and Python libraries only sign
//!   with the current time in their tests, so they publish no fixed `Stripe-Signature`.
//! - Standard Webhooks: the `sign` tests of the reference libraries in the specification's
//!   repository (JavaScript, and Rust for the second vector).
//! - The generic HMAC-SHA256: the HMAC vectors of the crypto-provider tests of Stripe's Node
//!   library (`test/crypto/helpers.ts`), which are plain HMAC-SHA256 in hex over the payload.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use connector_runtime::Secret;
use connector_runtime::webhook::signature::{SignatureError, SignatureScheme};

/// `seconds` after 1970.
fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// A header map of `(name, value)` pairs (names in any case).
fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    map
}

/// `headers` with `name` set to `value`, replacing what was there.
fn with(mut headers: HeaderMap, name: &str, value: &str) -> HeaderMap {
    headers.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    headers
}

/// `headers` without `name`.
fn without(mut headers: HeaderMap, name: &str) -> HeaderMap {
    headers.remove(name);
    headers
}

#[track_caller]
fn assert_missing(result: Result<(), SignatureError>, expected: &str) {
    match result {
        Err(SignatureError::MissingHeader { header }) => assert!(header.eq_ignore_ascii_case(expected), "{header}"),
        other => panic!("expected MissingHeader {{ {expected} }}, got {other:?}"),
    }
}

#[track_caller]
fn assert_malformed(result: Result<(), SignatureError>, expected: &str) {
    match result {
        Err(SignatureError::Malformed { header, .. }) => assert!(header.eq_ignore_ascii_case(expected), "{header}"),
        other => panic!("expected Malformed {{ {expected} }}, got {other:?}"),
    }
}

#[track_caller]
fn assert_mismatch(result: Result<(), SignatureError>) {
    assert!(matches!(result, Err(SignatureError::Mismatch)), "expected Mismatch, got {result:?}");
}

// ---------------------------------------------------------------------------------------------
// GitHub

const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const GITHUB_PAYLOAD: &[u8] = b"Hello, World!";
const GITHUB_SIGNATURE: &str = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

fn github() -> SignatureScheme {
    SignatureScheme::github(Secret::new(GITHUB_SECRET))
}

fn github_delivery() -> HeaderMap {
    headers(&[("X-Hub-Signature-256", GITHUB_SIGNATURE), ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")])
}

#[test]
fn github_published_vector_verifies() {
    let scheme = github();
    scheme.verify(&github_delivery(), GITHUB_PAYLOAD).unwrap();
    assert_eq!(
        scheme.delivery_id(&github_delivery(), GITHUB_PAYLOAD).as_deref(),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    // The signature is the same whatever the time: GitHub signs no timestamp.
    scheme.verify_at(&github_delivery(), GITHUB_PAYLOAD, UNIX_EPOCH).unwrap();
}

#[test]
fn github_signs_the_published_vector() {
    let signed = github().sign_at(GITHUB_PAYLOAD, "d-1", SystemTime::now()).unwrap();
    assert_eq!(signed["x-hub-signature-256"], GITHUB_SIGNATURE);
    assert_eq!(signed["x-github-delivery"], "d-1");
}

#[test]
fn github_rejects_a_tampered_body_and_a_wrong_secret() {
    assert_mismatch(github().verify(&github_delivery(), b"Hello, World?"));
    assert_mismatch(github().verify(&github_delivery(), b""));
    let wrong = SignatureScheme::github(Secret::new("It's a Secret to Nobody"));
    assert_mismatch(wrong.verify(&github_delivery(), GITHUB_PAYLOAD));
}

#[test]
fn github_accepts_uppercase_hex() {
    let upper = GITHUB_SIGNATURE.replace("757107ea", "757107EA");
    github().verify(&with(github_delivery(), "x-hub-signature-256", &upper), GITHUB_PAYLOAD).unwrap();
}

#[test]
fn github_reports_missing_and_garbled_headers() {
    let scheme = github();
    assert_missing(
        scheme.verify(&without(github_delivery(), "x-hub-signature-256"), GITHUB_PAYLOAD),
        "x-hub-signature-256",
    );
    for garbled in [
        "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", // no `sha256=`
        "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        "sha256=",
        "sha256=757107ea",                                                           // too short
        "sha256=zz7107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",   // not hex
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1700", // too long
        "",
    ] {
        assert_malformed(
            scheme.verify(&with(github_delivery(), "x-hub-signature-256", garbled), GITHUB_PAYLOAD),
            "x-hub-signature-256",
        );
    }
    // Sent twice: which one counts is ambiguous, so neither does.
    let mut twice = github_delivery();
    twice.append("x-hub-signature-256", HeaderValue::from_static(GITHUB_SIGNATURE));
    assert_malformed(scheme.verify(&twice, GITHUB_PAYLOAD), "x-hub-signature-256");
    // Not visible ASCII.
    let mut binary = github_delivery();
    binary.insert("x-hub-signature-256", HeaderValue::from_bytes(b"sha256=\xff\xfe").unwrap());
    assert_malformed(scheme.verify(&binary, GITHUB_PAYLOAD), "x-hub-signature-256");
}

#[test]
fn github_round_trips() {
    let scheme = SignatureScheme::github(Secret::new("another github secret"));
    let body = br#"{"action":"opened","number":1}"#;
    let signed = scheme.sign_at(body, "guid-1", SystemTime::now()).unwrap();
    scheme.verify(&signed, body).unwrap();
    assert_eq!(scheme.delivery_id(&signed, body).as_deref(), Some("guid-1"));
}

// ---------------------------------------------------------------------------------------------
// Stripe

const STRIPE_SECRET: &str = "webhook_secret";
const STRIPE_TIMESTAMP: u64 = 1_533_204_620;
/// The fixture `event_test_signature.json`, byte for byte (its final newline included).
const STRIPE_PAYLOAD: &str = r#"{
  "id": "evt_123",
  "object": "event",
  "account": "acct_123",
  "api_version": "2017-05-25",
  "created": 1533204620,
  "data": {
    "object": {
      "id": "cus_123",
      "object": "customer",
      "created": 123456789,
      "email": "test@stripe.com",
      "livemode": false,
      "metadata": {}
    }
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {
    "id": "req_123",
    "idempotency_key": "idempotency-key-123"
  },
  "type": "customer.created"
}
"#;
const STRIPE_V1: &str = "2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7";
const STRIPE_HEADER: &str = "t=1533204620,\
    v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,\
    v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef";

fn stripe() -> SignatureScheme {
    SignatureScheme::stripe(Secret::new(STRIPE_SECRET))
}

fn stripe_delivery(signature: &str) -> HeaderMap {
    headers(&[("Stripe-Signature", signature)])
}

#[test]
fn stripe_published_vector_verifies() {
    let scheme = stripe();
    let delivery = stripe_delivery(STRIPE_HEADER);
    // As the .NET library's test: 100 s after the signature, with the default 300 s tolerance.
    scheme.verify_at(&delivery, STRIPE_PAYLOAD.as_bytes(), at(STRIPE_TIMESTAMP + 100)).unwrap();
    assert_eq!(scheme.delivery_id(&delivery, STRIPE_PAYLOAD.as_bytes()).as_deref(), Some("evt_123"));
}

#[test]
fn stripe_signs_the_published_vector() {
    let signed = stripe().sign_at(STRIPE_PAYLOAD.as_bytes(), "unused", at(STRIPE_TIMESTAMP)).unwrap();
    assert_eq!(signed["stripe-signature"], format!("t={STRIPE_TIMESTAMP},v1={STRIPE_V1}"));
}

#[test]
fn stripe_rejects_a_tampered_body_and_a_wrong_secret() {
    let now = at(STRIPE_TIMESTAMP);
    let delivery = stripe_delivery(STRIPE_HEADER);
    let tampered = format!("{STRIPE_PAYLOAD}this_changes_the_json");
    assert_mismatch(stripe().verify_at(&delivery, tampered.as_bytes(), now));
    assert_mismatch(stripe().verify_at(&delivery, STRIPE_PAYLOAD.trim_end().as_bytes(), now));
    let wrong = SignatureScheme::stripe(Secret::new("whsec_another_secret"));
    assert_mismatch(wrong.verify_at(&delivery, STRIPE_PAYLOAD.as_bytes(), now));
}

#[test]
fn stripe_rejects_stale_and_future_timestamps() {
    let delivery = stripe_delivery(STRIPE_HEADER);
    let body = STRIPE_PAYLOAD.as_bytes();
    // The edges of the tolerance are in.
    stripe().verify_at(&delivery, body, at(STRIPE_TIMESTAMP + 300)).unwrap();
    stripe().verify_at(&delivery, body, at(STRIPE_TIMESTAMP - 300)).unwrap();
    match stripe().verify_at(&delivery, body, at(STRIPE_TIMESTAMP + 400)) {
        Err(SignatureError::Stale { age_secs: 400 }) => {}
        other => panic!("expected Stale, got {other:?}"),
    }
    match stripe().verify_at(&delivery, body, at(STRIPE_TIMESTAMP - 301)) {
        Err(SignatureError::FromTheFuture { ahead_secs: 301 }) => {}
        other => panic!("expected FromTheFuture, got {other:?}"),
    }
    // Years out, and with a tolerance of its own.
    assert!(matches!(stripe().verify(&delivery, body), Err(SignatureError::Stale { .. })));
    let strict = SignatureScheme::Stripe { secret: Secret::new(STRIPE_SECRET), tolerance: Duration::from_secs(10) };
    assert!(matches!(
        strict.verify_at(&delivery, body, at(STRIPE_TIMESTAMP + 11)),
        Err(SignatureError::Stale { age_secs: 11 })
    ));
    // The signature is checked first: a stale forgery is a forgery.
    let forged = format!("t={STRIPE_TIMESTAMP},v1={}", "0".repeat(64));
    assert_mismatch(stripe().verify_at(&stripe_delivery(&forged), body, at(STRIPE_TIMESTAMP + 4000)));
}

#[test]
fn stripe_accepts_any_matching_v1() {
    let body = STRIPE_PAYLOAD.as_bytes();
    let now = at(STRIPE_TIMESTAMP);
    for header in [
        format!("{STRIPE_HEADER},v1=potato"),
        format!("t={STRIPE_TIMESTAMP},v1=potato,v1={STRIPE_V1}"),
        format!("t={STRIPE_TIMESTAMP},v1={},v1={STRIPE_V1}", "de".repeat(32)),
        format!("v1={STRIPE_V1},t={STRIPE_TIMESTAMP}"),
        format!("t={STRIPE_TIMESTAMP}, v1={STRIPE_V1}, scheme2=whatever"),
    ] {
        stripe().verify_at(&stripe_delivery(&header), body, now).unwrap_or_else(|e| panic!("{header}: {e}"));
    }
    // None matching.
    let header = format!("t={STRIPE_TIMESTAMP},v1=potato,v1={}", "de".repeat(32));
    assert_mismatch(stripe().verify_at(&stripe_delivery(&header), body, now));
    // v0 is not a signature this scheme accepts, even when it is right.
    let v0_only = format!("t={STRIPE_TIMESTAMP},v0={STRIPE_V1}");
    assert_malformed(stripe().verify_at(&stripe_delivery(&v0_only), body, now), "stripe-signature");
}

#[test]
fn stripe_reports_missing_and_garbled_headers() {
    let body = STRIPE_PAYLOAD.as_bytes();
    let now = at(STRIPE_TIMESTAMP);
    assert_missing(stripe().verify_at(&HeaderMap::new(), body, now), "stripe-signature");
    for garbled in [
        "bad_header",
        "I'm not even a real signature header",
        "t=,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7",
        "t,v1=,v0=",
        "t,,",
        ",,",
        "t",
        "",
        "v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7",
        "t=1533204620",
        "t=1533204620,t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7",
        "t=-1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7",
        "t=1533204620.5,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7",
        "t=99999999999999999999999999,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7",
    ] {
        assert_malformed(stripe().verify_at(&stripe_delivery(garbled), body, now), "stripe-signature");
    }
}

#[test]
fn stripe_refuses_a_secret_pasted_with_a_newline() {
    let scheme = SignatureScheme::stripe(Secret::new(format!("{STRIPE_SECRET}\n")));
    let result = scheme.verify_at(&stripe_delivery(STRIPE_HEADER), STRIPE_PAYLOAD.as_bytes(), at(STRIPE_TIMESTAMP));
    assert!(matches!(result, Err(SignatureError::InvalidSecret { .. })), "{result:?}");
}

#[test]
fn stripe_round_trips() {
    let scheme = SignatureScheme::stripe(Secret::new("whsec_round_trip_secret"));
    let body = br#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"charge.succeeded"}"#;
    let now = SystemTime::now();
    let signed = scheme.sign_at(body, "ignored", now).unwrap();
    scheme.verify_at(&signed, body, now).unwrap();
    scheme.verify(&signed, body).unwrap();
    assert_eq!(scheme.delivery_id(&signed, body).as_deref(), Some("evt_1NG8Du2eZvKYlo2CUI79vXWy"));
    // No id, or one that is not a string: none.
    assert_eq!(scheme.delivery_id(&signed, br#"{"object":"event"}"#), None);
    assert_eq!(scheme.delivery_id(&signed, br#"{"id":42}"#), None);
    assert_eq!(scheme.delivery_id(&signed, b"not json"), None);
}

// ---------------------------------------------------------------------------------------------
// Standard Webhooks

const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STANDARD_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const STANDARD_TIMESTAMP: u64 = 1_614_265_330;
const STANDARD_PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;
const STANDARD_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn standard() -> SignatureScheme {
    SignatureScheme::standard_webhooks(Secret::new(STANDARD_SECRET))
}

fn standard_delivery(signature: &str) -> HeaderMap {
    headers(&[
        ("webhook-id", STANDARD_ID),
        ("webhook-timestamp", &STANDARD_TIMESTAMP.to_string()),
        ("webhook-signature", signature),
    ])
}

#[test]
fn standard_published_vector_verifies() {
    let delivery = standard_delivery(STANDARD_SIGNATURE);
    standard().verify_at(&delivery, STANDARD_PAYLOAD, at(STANDARD_TIMESTAMP)).unwrap();
    assert_eq!(standard().delivery_id(&delivery, STANDARD_PAYLOAD).as_deref(), Some(STANDARD_ID));
    // The bare base64 key works as well as `whsec_..`.
    let bare = SignatureScheme::standard_webhooks(Secret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    bare.verify_at(&delivery, STANDARD_PAYLOAD, at(STANDARD_TIMESTAMP)).unwrap();
}

#[test]
fn standard_signs_the_published_vectors() {
    let signed = standard().sign_at(STANDARD_PAYLOAD, STANDARD_ID, at(STANDARD_TIMESTAMP)).unwrap();
    assert_eq!(signed["webhook-id"], STANDARD_ID);
    assert_eq!(signed["webhook-timestamp"], "1614265330");
    assert_eq!(signed["webhook-signature"], STANDARD_SIGNATURE);

    // The Rust reference library's `test_sign`.
    let scheme = SignatureScheme::standard_webhooks(Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"));
    let body = br#"{"email":"test@example.com","username":"test_user"}"#;
    let signed = scheme.sign_at(body, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", at(1_649_367_553)).unwrap();
    assert_eq!(signed["webhook-signature"], "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
}

#[test]
fn standard_rejects_a_tampered_body_and_a_wrong_secret() {
    let delivery = standard_delivery(STANDARD_SIGNATURE);
    let now = at(STANDARD_TIMESTAMP);
    assert_mismatch(standard().verify_at(&delivery, br#"{"test": 2432232315}"#, now));
    // The id and the timestamp are signed too.
    assert_mismatch(standard().verify_at(&with(delivery.clone(), "webhook-id", "msg_other"), STANDARD_PAYLOAD, now));
    assert_mismatch(standard().verify_at(
        &with(delivery.clone(), "webhook-timestamp", "1614265331"),
        STANDARD_PAYLOAD,
        now,
    ));
    let wrong = SignatureScheme::standard_webhooks(Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"));
    assert_mismatch(wrong.verify_at(&delivery, STANDARD_PAYLOAD, now));
    // As the JavaScript reference library's tests: an invalid and a partial signature.
    assert_mismatch(standard().verify_at(&standard_delivery("v1,dawfeoifkpqwoekfpqoekf"), STANDARD_PAYLOAD, now));
    assert_mismatch(standard().verify_at(&standard_delivery("v1,g0hM9SsE"), STANDARD_PAYLOAD, now));
    assert_mismatch(standard().verify_at(&standard_delivery("v1,"), STANDARD_PAYLOAD, now));
}

#[test]
fn standard_rejects_stale_and_future_timestamps() {
    let delivery = standard_delivery(STANDARD_SIGNATURE);
    standard().verify_at(&delivery, STANDARD_PAYLOAD, at(STANDARD_TIMESTAMP + 300)).unwrap();
    standard().verify_at(&delivery, STANDARD_PAYLOAD, at(STANDARD_TIMESTAMP - 300)).unwrap();
    match standard().verify_at(&delivery, STANDARD_PAYLOAD, at(STANDARD_TIMESTAMP + 301)) {
        Err(SignatureError::Stale { age_secs: 301 }) => {}
        other => panic!("expected Stale, got {other:?}"),
    }
    match standard().verify_at(&delivery, STANDARD_PAYLOAD, at(STANDARD_TIMESTAMP - 3600)) {
        Err(SignatureError::FromTheFuture { ahead_secs: 3600 }) => {}
        other => panic!("expected FromTheFuture, got {other:?}"),
    }
    // A far-future delivery signed with the right key (a replay saved up for later).
    let later = standard().sign_at(STANDARD_PAYLOAD, STANDARD_ID, SystemTime::now() + Duration::from_secs(86_400));
    assert!(matches!(standard().verify(&later.unwrap(), STANDARD_PAYLOAD), Err(SignatureError::FromTheFuture { .. })));
}

#[test]
fn standard_accepts_any_matching_v1() {
    let now = at(STANDARD_TIMESTAMP);
    // The JavaScript reference library's multi-signature test.
    let list = [
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        STANDARD_SIGNATURE,
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
    ]
    .join(" ");
    standard().verify_at(&standard_delivery(&list), STANDARD_PAYLOAD, now).unwrap();
    // Garbage in the list does not spoil a good signature.
    let noisy = format!("v1,!!!notbase64!!! nonsense v1a,abc {STANDARD_SIGNATURE}");
    standard().verify_at(&standard_delivery(&noisy), STANDARD_PAYLOAD, now).unwrap();
    // Without the good one: no match.
    let list = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q=";
    assert_mismatch(standard().verify_at(&standard_delivery(list), STANDARD_PAYLOAD, now));
    // Only other versions: not a signature this scheme accepts.
    let v2 = STANDARD_SIGNATURE.replace("v1,", "v2,");
    assert_malformed(standard().verify_at(&standard_delivery(&v2), STANDARD_PAYLOAD, now), "webhook-signature");
}

#[test]
fn standard_reports_missing_and_garbled_headers() {
    let now = at(STANDARD_TIMESTAMP);
    let delivery = standard_delivery(STANDARD_SIGNATURE);
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert_missing(standard().verify_at(&without(delivery.clone(), name), STANDARD_PAYLOAD, now), name);
    }
    for timestamp in ["hello", "", "-1614265330", "1614265330.0", "1e9", "999999999999999999999999999999"] {
        assert_malformed(
            standard().verify_at(&with(delivery.clone(), "webhook-timestamp", timestamp), STANDARD_PAYLOAD, now),
            "webhook-timestamp",
        );
    }
    for signature in ["", "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "v1", ","] {
        assert_malformed(
            standard().verify_at(&standard_delivery(signature), STANDARD_PAYLOAD, now),
            "webhook-signature",
        );
    }
    assert_malformed(standard().verify_at(&with(delivery, "webhook-id", ""), STANDARD_PAYLOAD, now), "webhook-id");
}

#[test]
fn standard_reports_an_unusable_secret() {
    for secret in ["whsec_not base64!", "whsec_", "", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"] {
        let scheme = SignatureScheme::standard_webhooks(Secret::new(secret));
        let result = scheme.verify_at(&standard_delivery(STANDARD_SIGNATURE), STANDARD_PAYLOAD, at(STANDARD_TIMESTAMP));
        assert!(matches!(result, Err(SignatureError::InvalidSecret { .. })), "{secret:?}: {result:?}");
        assert!(scheme.sign_at(STANDARD_PAYLOAD, STANDARD_ID, at(STANDARD_TIMESTAMP)).is_none());
    }
}

#[test]
fn standard_round_trips() {
    let scheme = SignatureScheme::StandardWebhooks {
        secret: Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
        tolerance: Duration::from_secs(30),
    };
    let body = "{\"text\":\"héllo\"}".as_bytes();
    let now = SystemTime::now();
    let signed = scheme.sign_at(body, "msg_round_trip", now).unwrap();
    scheme.verify_at(&signed, body, now).unwrap();
    scheme.verify(&signed, body).unwrap();
    assert_eq!(scheme.delivery_id(&signed, body).as_deref(), Some("msg_round_trip"));
    // The id is signed, so there must be one.
    assert!(scheme.sign_at(body, "", now).is_none());
}

// ---------------------------------------------------------------------------------------------
// Generic HMAC-SHA256

/// Stripe's Node library's HMAC-SHA256 vectors: secret `test_secret`, hex over the payload.
const HMAC_VECTORS: [(&str, &str); 3] = [
    ("", "f7f9bd47fb987337b5796fdc1fdb9ba221d0d5396814bfcaf9521f43fd8927fd"),
    (r#"{"obj1":"hello","obj2":"world"}"#, "bebb1a643997f419b315ddba19e6f5411e1ce7f810ba6d3617ce72823092f363"),
    ("\u{1F600}", "837da296d05c4fe31f61d5d7ead035099d9585a5bcde87de952012a78f0b0c43"),
];

fn generic(prefix: &'static str) -> SignatureScheme {
    SignatureScheme::HmacSha256 {
        header: "X-Signature",
        prefix,
        secret: Secret::new("test_secret"),
        delivery_id_header: Some("X-Delivery"),
    }
}

#[test]
fn hmac_published_vectors_verify_and_sign() {
    for (payload, digest) in HMAC_VECTORS {
        let bare = generic("");
        bare.verify_at(&headers(&[("X-Signature", digest)]), payload.as_bytes(), UNIX_EPOCH).unwrap();
        let signed = bare.sign_at(payload.as_bytes(), "d-1", SystemTime::now()).unwrap();
        assert_eq!(signed["x-signature"], digest);
        assert_eq!(signed["x-delivery"], "d-1");

        let prefixed = generic("sha256=");
        let header = format!("sha256={digest}");
        prefixed.verify(&headers(&[("X-Signature", &header)]), payload.as_bytes()).unwrap();
        // The prefix is matched ignoring case.
        prefixed.verify(&headers(&[("X-Signature", &header.replace("sha256", "SHA256"))]), payload.as_bytes()).unwrap();
    }
}

#[test]
fn hmac_rejects_tampering_and_garbage() {
    let (payload, digest) = HMAC_VECTORS[1];
    let scheme = generic("sha256=");
    let delivery = headers(&[("X-Signature", &format!("sha256={digest}")), ("X-Delivery", "d-7")]);
    assert_mismatch(scheme.verify(&delivery, b"{\"obj1\":\"hello\",\"obj2\":\"world!\"}"));
    let wrong = SignatureScheme::HmacSha256 {
        header: "X-Signature",
        prefix: "sha256=",
        secret: Secret::new("test_secret2"),
        delivery_id_header: None,
    };
    assert_mismatch(wrong.verify(&delivery, payload.as_bytes()));
    assert_eq!(scheme.delivery_id(&delivery, payload.as_bytes()).as_deref(), Some("d-7"));
    assert_eq!(wrong.delivery_id(&delivery, payload.as_bytes()), None);

    assert_missing(scheme.verify(&HeaderMap::new(), payload.as_bytes()), "x-signature");
    for garbled in [digest, "sha256=xyz", "sha256", "sha256=", "sha512=abcd"] {
        assert_malformed(scheme.verify(&headers(&[("X-Signature", garbled)]), payload.as_bytes()), "x-signature");
    }
}

#[test]
fn hmac_with_an_impossible_header_name_never_verifies_and_cannot_sign() {
    let scheme = SignatureScheme::HmacSha256 {
        header: "not a header name",
        prefix: "",
        secret: Secret::new("test_secret"),
        delivery_id_header: Some("nor\nthis"),
    };
    assert_missing(scheme.verify(&HeaderMap::new(), b""), "not a header name");
    assert!(scheme.sign_at(b"", "d-1", SystemTime::now()).is_none());
    assert_eq!(scheme.delivery_id(&HeaderMap::new(), b""), None);
}

#[test]
fn an_empty_secret_is_reported_not_used() {
    for scheme in [
        SignatureScheme::github(Secret::new("")),
        SignatureScheme::stripe(Secret::new("")),
        SignatureScheme::standard_webhooks(Secret::new("")),
        SignatureScheme::HmacSha256 { header: "x-sig", prefix: "", secret: Secret::new(""), delivery_id_header: None },
    ] {
        // Well-formed headers for every scheme; what they sign does not matter.
        let hex = "ab".repeat(32);
        let signed = [
            ("x-hub-signature-256", format!("sha256={hex}")),
            ("x-sig", hex.clone()),
            ("stripe-signature", format!("t=1,v1={hex}")),
            ("webhook-id", "msg_1".to_owned()),
            ("webhook-timestamp", "1".to_owned()),
            ("webhook-signature", "v1,q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=".to_owned()),
        ];
        let signed: Vec<(&str, &str)> = signed.iter().map(|(name, value)| (*name, value.as_str())).collect();
        let result = scheme.verify_at(&headers(&signed), b"", at(1));
        assert!(matches!(result, Err(SignatureError::InvalidSecret { .. })), "{scheme:?}: {result:?}");
        assert!(scheme.sign_at(b"", "d-1", at(1)).is_none(), "{scheme:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Custom

#[test]
fn custom_runs_the_users_check() {
    let scheme = SignatureScheme::Custom(Arc::new(|headers: &HeaderMap, body: &[u8]| {
        match headers.get("x-token").and_then(|v| v.to_str().ok()) {
            Some("let-me-in") if !body.is_empty() => Ok(()),
            _ => Err(SignatureError::Custom("the `x-token` header is not the one configured for this trigger".into())),
        }
    }));
    let delivery = headers(&[("X-Token", "let-me-in")]);
    scheme.verify(&delivery, b"{}").unwrap();
    match scheme.verify(&HeaderMap::new(), b"{}") {
        Err(SignatureError::Custom(message)) => assert!(message.contains("x-token")),
        other => panic!("expected Custom, got {other:?}"),
    }
    assert!(scheme.sign_at(b"{}", "d-1", SystemTime::now()).is_none());
    assert_eq!(scheme.delivery_id(&delivery, b"{}"), None);
    assert_eq!(format!("{scheme:?}"), "SignatureScheme::Custom");
}

// ---------------------------------------------------------------------------------------------
// Secrets stay secret

#[test]
fn debug_and_errors_never_show_the_secret() {
    let secret = "sUp3r-s3cret-v4lue";
    let schemes = [
        SignatureScheme::github(Secret::new(secret)),
        SignatureScheme::stripe(Secret::new(secret)),
        SignatureScheme::standard_webhooks(Secret::new(format!("whsec_{secret}"))),
        SignatureScheme::HmacSha256 {
            header: "x-signature",
            prefix: "sha256=",
            secret: Secret::new(secret),
            delivery_id_header: None,
        },
    ];
    let names = ["GitHub", "Stripe", "StandardWebhooks", "HmacSha256"];
    for (scheme, name) in schemes.iter().zip(names) {
        let debug = format!("{scheme:?} {scheme:#?}");
        assert!(!debug.contains(secret), "{debug}");
        assert!(debug.contains(name), "{debug}");
    }
    let mut messages = Vec::new();
    for scheme in &schemes {
        for delivery in [
            HeaderMap::new(),
            github_delivery(),
            stripe_delivery(STRIPE_HEADER),
            standard_delivery(STANDARD_SIGNATURE),
            headers(&[("x-signature", "sha256=00")]),
        ] {
            if let Err(error) = scheme.verify(&delivery, secret.as_bytes()) {
                messages.push(error.to_string());
            }
        }
    }
    for error in [
        SignatureError::Mismatch,
        SignatureError::Stale { age_secs: 301 },
        SignatureError::FromTheFuture { ahead_secs: 301 },
    ] {
        messages.push(error.to_string());
    }
    assert!(messages.len() > 10);
    for message in &messages {
        assert!(!message.contains(secret), "{message}");
    }
    // Each says what to do.
    assert!(SignatureError::Mismatch.to_string().contains("check the webhook secret configured for this trigger"));
    let invalid = SignatureScheme::standard_webhooks(Secret::new("whsec_???"))
        .verify(&standard_delivery(STANDARD_SIGNATURE), STANDARD_PAYLOAD)
        .unwrap_err()
        .to_string();
    assert!(invalid.contains("check the webhook secret configured for this trigger"), "{invalid}");
    assert!(!invalid.contains("???"), "{invalid}");
}

// ---------------------------------------------------------------------------------------------
// Odd inputs

/// Header values no sender should send: every scheme must answer each with an error, never a
/// panic.
#[test]
fn odd_inputs_never_panic() {
    let schemes = [
        github(),
        stripe(),
        standard(),
        generic("sha256="),
        generic(""),
        SignatureScheme::Stripe { secret: Secret::new(STRIPE_SECRET), tolerance: Duration::MAX },
        SignatureScheme::StandardWebhooks { secret: Secret::new(STANDARD_SECRET), tolerance: Duration::ZERO },
        SignatureScheme::HmacSha256 {
            header: "", prefix: "ü", secret: Secret::new("k"), delivery_id_header: Some("")
        },
    ];
    let long_digits = "9".repeat(10_000);
    let long_list = "v1,AAAA ".repeat(2_000);
    let many_commas = ",".repeat(10_000);
    let values: Vec<&[u8]> = vec![
        b"",
        b" ",
        b"=",
        b",",
        b"=,=,=",
        b"t=",
        b"v1=",
        b"t=,v1=",
        b"t=0,v1=00",
        b"t=18446744073709551615,v1=00",
        b"t=18446744073709551616,v1=00",
        b"sha256=",
        b"sha256==",
        b"v1,",
        b"v1,=",
        b"v1,====",
        b"0",
        b"18446744073709551615",
        b"-9223372036854775808",
        b"\xff\xfe\xfd",
        b"sha256=\x80\x81",
        b"t=\xc3\xa9,v1=\xe2\x82\xac",
        long_digits.as_bytes(),
        long_list.as_bytes(),
        many_commas.as_bytes(),
    ];
    let names = [
        "x-hub-signature-256",
        "x-github-delivery",
        "stripe-signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "x-signature",
        "x-delivery",
    ];
    let bodies: [&[u8]; 5] = [b"", b"\xff\xfe not utf-8", b"{\"id\":", &[0u8; 4096], b"{\"id\":\"\"}"];
    let nows = [
        UNIX_EPOCH,
        UNIX_EPOCH.checked_sub(Duration::from_secs(1_000_000)).unwrap_or(UNIX_EPOCH),
        SystemTime::now(),
        at(u64::from(u32::MAX) * 100),
    ];
    for scheme in &schemes {
        for value in &values {
            let header = HeaderValue::from_bytes(value).unwrap();
            for body in bodies {
                // One odd header alone, then with every other header present too.
                for name in names {
                    let mut alone = HeaderMap::new();
                    alone.insert(name, header.clone());
                    let mut all = HeaderMap::new();
                    for other in names {
                        all.insert(other, header.clone());
                    }
                    for delivery in [&alone, &all] {
                        for now in nows {
                            assert!(scheme.verify_at(delivery, body, now).is_err(), "{scheme:?} {name}");
                        }
                        let _ = scheme.delivery_id(delivery, body);
                    }
                }
            }
        }
        for body in bodies {
            for now in nows {
                for id in ["", "d", "not\na header value", "\u{7f}"] {
                    let _ = scheme.sign_at(body, id, now);
                }
            }
        }
    }
}
