//! The Simple Chat service over real HTTP on loopback: auth, messages, channels, idempotency,
//! injected failures, webhooks with signatures, shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use simple_chat::service::{self, ChatService, ChatServiceHandle};
use tokio::sync::mpsc;

const KEY: &str = "test-key-0123456789";

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("a reqwest client builds")
}

async fn start() -> ChatServiceHandle {
    ChatService::start(KEY).await.expect("the chat service starts")
}

/// `POST /v1/messages` with the right key and an optional idempotency key.
async fn post_message(
    http: &reqwest::Client,
    chat: &ChatServiceHandle,
    body: &Value,
    idempotency_key: Option<&str>,
) -> reqwest::Result<reqwest::Response> {
    let mut request = http.post(format!("{}/v1/messages", chat.base_url())).bearer_auth(KEY).json(body);
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await
}

#[tokio::test]
async fn base_url_is_loopback_with_the_bound_port() {
    let chat = start().await;
    assert!(chat.addr().ip().is_loopback());
    assert_ne!(chat.addr().port(), 0);
    assert_eq!(chat.base_url(), format!("http://127.0.0.1:{}", chat.addr().port()));
}

#[tokio::test]
async fn empty_api_key_is_refused() {
    let error = ChatService::start("").await.expect_err("an empty key is refused");
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

#[tokio::test]
async fn missing_or_wrong_key_is_401_and_nothing_is_posted() -> TestResult {
    let chat = start().await;
    let http = client();
    let url = format!("{}/v1/messages", chat.base_url());
    let body = json!({"channel": "general", "message": "hi"});

    let attempts = [
        http.post(&url).json(&body),
        http.post(&url).bearer_auth("wrong-key").json(&body),
        http.post(&url).bearer_auth(&KEY[..KEY.len() - 1]).json(&body),
        http.post(&url).bearer_auth(format!("{KEY}x")).json(&body),
        http.post(&url).header("Authorization", KEY).json(&body),
        http.post(&url).header("Authorization", format!("Basic {KEY}")).json(&body),
    ];
    let count = attempts.len();
    for attempt in attempts {
        let response = attempt.send().await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers().get("www-authenticate").map(|v| v.as_bytes()), Some(&b"Bearer"[..]));
        assert_eq!(response.json::<Value>().await?, json!({"error": "invalid API key"}));
    }
    let response = http.get(format!("{}/v1/channels/general", chat.base_url())).send().await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    assert!(chat.posted_messages().is_empty());
    assert_eq!(chat.request_count(), count + 1);

    // The bearer scheme is case-insensitive.
    let response = http
        .get(format!("{}/v1/channels/general", chat.base_url()))
        .header("Authorization", format!("bearer {KEY}"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    Ok(())
}

#[tokio::test]
async fn post_then_read_channel_and_messages() -> TestResult {
    let chat = start().await;
    let http = client();
    let before = Utc::now();

    let response =
        post_message(&http, &chat, &json!({"channel": "general", "message": "Hello from Rust!"}), None).await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await?;
    assert_eq!(created["messageId"], "msg_1");
    assert_eq!(created["channel"], "general");
    assert_eq!(created["message"], "Hello from Rust!");
    let timestamp: DateTime<Utc> = created["timestamp"].as_str().ok_or("timestamp is a string")?.parse()?;
    assert!(timestamp >= before - chrono::Duration::milliseconds(1));
    assert!(timestamp <= Utc::now());

    let second = post_message(&http, &chat, &json!({"channel": "dev-team", "message": "standup in 5"}), None).await?;
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_eq!(second.json::<Value>().await?["messageId"], "msg_2");

    let channel: Value = http
        .get(format!("{}/v1/channels/general", chat.base_url()))
        .bearer_auth(KEY)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(
        channel,
        json!({
            "channelId": "general",
            "name": "General Chat",
            "memberCount": 123,
            "topic": "Discussions about everything!",
        })
    );
    let dev: Value = http
        .get(format!("{}/v1/channels/dev-team", chat.base_url()))
        .bearer_auth(KEY)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(dev["name"], "Development Team");
    assert_eq!(dev["memberCount"], 15);
    assert_eq!(dev["topic"], "Daily standups and coding questions.");

    let listed: Value = http
        .get(format!("{}/v1/channels/general/messages", chat.base_url()))
        .bearer_auth(KEY)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(
        listed,
        json!({"messages": [{
            "messageId": "msg_1",
            "channel": "general",
            "sender": "api",
            "text": "Hello from Rust!",
            "timestamp": created["timestamp"],
        }]})
    );

    let posted = chat.posted_messages();
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[0].message_id, "msg_1");
    assert_eq!(posted[0].sender, service::API_SENDER);
    assert_eq!(posted[0].timestamp, timestamp);
    assert_eq!(posted[1].channel, "dev-team");
    assert_eq!(chat.request_count(), 5);
    Ok(())
}

#[tokio::test]
async fn malformed_bodies_and_empty_messages_are_400() -> TestResult {
    let chat = start().await;
    let http = client();
    let url = format!("{}/v1/messages", chat.base_url());

    let bad = [
        http.post(&url).bearer_auth(KEY).header("content-type", "application/json").body("{not json"),
        http.post(&url).bearer_auth(KEY).json(&json!({"channel": "general"})),
        http.post(&url).bearer_auth(KEY).json(&json!({"channel": "general", "message": 42})),
        http.post(&url).bearer_auth(KEY).json(&json!({"channel": "general", "message": ""})),
        http.post(&url).bearer_auth(KEY).json(&json!({"channel": "general", "message": "   "})),
        http.post(&url).bearer_auth(KEY).body("plain text"),
    ];
    for request in bad {
        let response = request.send().await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body: Value = response.json().await?;
        let error = body["error"].as_str().ok_or("error is a string")?;
        assert!(!error.is_empty());
    }
    assert!(chat.posted_messages().is_empty());
    Ok(())
}

#[tokio::test]
async fn unknown_channels_and_routes_are_404() -> TestResult {
    let chat = start().await;
    let http = client();

    for path in ["/v1/channels/random", "/v1/channels/random/messages"] {
        let response = http.get(format!("{}{path}", chat.base_url())).bearer_auth(KEY).send().await?;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(response.json::<Value>().await?, json!({"error": "channel not found"}));
    }

    let response = post_message(&http, &chat, &json!({"channel": "random", "message": "anyone?"}), None).await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.json::<Value>().await?, json!({"error": "channel not found"}));
    assert!(chat.posted_messages().is_empty());

    let response = http.get(format!("{}/v1/nothing/here", chat.base_url())).bearer_auth(KEY).send().await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.json::<Value>().await?["error"].is_string());
    Ok(())
}

#[tokio::test]
async fn same_idempotency_key_posts_once_and_replays_the_first_answer() -> TestResult {
    let chat = start().await;
    let http = client();
    let body = json!({"channel": "general", "message": "exactly once"});

    let first = post_message(&http, &chat, &body, Some("run-1/step-a")).await?;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await?;

    let again = post_message(&http, &chat, &body, Some("run-1/step-a")).await?;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.as_bytes()), Some(&b"true"[..]));
    assert_eq!(again.json::<Value>().await?, first);
    assert_eq!(chat.posted_messages().len(), 1);

    // The same key with another body is a client error, and posts nothing.
    let other_body = json!({"channel": "general", "message": "something else"});
    let conflict = post_message(&http, &chat, &other_body, Some("run-1/step-a")).await?;
    assert_eq!(conflict.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(chat.posted_messages().len(), 1);

    // Another key, or no key, posts again.
    let other = post_message(&http, &chat, &body, Some("run-1/step-b")).await?;
    assert_eq!(other.status(), StatusCode::CREATED);
    assert_ne!(other.json::<Value>().await?["messageId"], first["messageId"]);
    let unkeyed = post_message(&http, &chat, &body, None).await?;
    assert_eq!(unkeyed.status(), StatusCode::CREATED);
    assert_eq!(chat.posted_messages().len(), 3);
    assert_eq!(chat.requests_with_idempotency_key("run-1/step-a"), 3);
    assert_eq!(chat.requests_with_idempotency_key("run-1/step-b"), 1);
    assert_eq!(chat.requests_with_idempotency_key("never-sent"), 0);
    Ok(())
}

#[tokio::test]
async fn concurrent_posts_with_one_idempotency_key_store_one_message() -> TestResult {
    let chat = start().await;
    let http = client();
    let body = json!({"channel": "dev-team", "message": "racing"});

    let mut tasks = Vec::new();
    for _ in 0..16 {
        let http = http.clone();
        let url = format!("{}/v1/messages", chat.base_url());
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let response =
                http.post(url).bearer_auth(KEY).header("Idempotency-Key", "same-key").json(&body).send().await?;
            let status = response.status();
            let body: Value = response.json().await?;
            Ok::<_, reqwest::Error>((status, body["messageId"].clone()))
        }));
    }
    let mut ids = Vec::new();
    for task in tasks {
        let (status, id) = task.await??;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(id);
    }
    assert!(ids.iter().all(|id| *id == ids[0]));
    let posted = chat.posted_messages();
    assert_eq!(posted.len(), 1);
    assert_eq!(json!(posted[0].message_id), ids[0]);
    Ok(())
}

#[tokio::test]
async fn injected_failures_come_first_then_requests_succeed() -> TestResult {
    let chat = start().await;
    let http = client();
    let body = json!({"channel": "general", "message": "retry me"});

    chat.fail_next(2, 503);
    // A request without the key is refused before the failure is taken.
    let unauthorized = http.post(format!("{}/v1/messages", chat.base_url())).json(&body).send().await?;
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);

    for _ in 0..2 {
        let response = post_message(&http, &chat, &body, Some("retry-key")).await?;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().get("retry-after").is_none());
        assert_eq!(response.json::<Value>().await?, json!({"error": "injected failure"}));
        assert!(chat.posted_messages().is_empty());
    }
    let response = post_message(&http, &chat, &body, Some("retry-key")).await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(chat.posted_messages().len(), 1);
    assert_eq!(chat.request_count(), 4);
    // Refused and failed requests count for their key too.
    assert_eq!(chat.requests_with_idempotency_key("retry-key"), 3);

    chat.fail_next_with_retry_after(1, 429, 7);
    let response = http.get(format!("{}/v1/channels/general", chat.base_url())).bearer_auth(KEY).send().await?;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers().get("retry-after").map(|v| v.as_bytes()), Some(&b"7"[..]));
    let response = http.get(format!("{}/v1/channels/general", chat.base_url())).bearer_auth(KEY).send().await?;
    assert_eq!(response.status(), StatusCode::OK);

    // n = 0 clears pending failures; an invalid status becomes 500.
    chat.fail_next(5, 500);
    chat.fail_next(0, 500);
    let response = post_message(&http, &chat, &body, None).await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    chat.fail_next(1, 1234);
    let response = post_message(&http, &chat, &body, None).await?;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(chat.posted_messages().len(), 2);
    assert_eq!(chat.request_count(), 8);
    Ok(())
}

/// What a test webhook receiver got: headers and raw body.
type Received = (HeaderMap, Bytes);

/// A webhook receiver on loopback; answers `status` and passes every delivery on.
async fn start_receiver(status: axum::http::StatusCode) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel::<Received>();
    let app = Router::new()
        .route(
            "/hook",
            post(
                move |State(tx): State<mpsc::UnboundedSender<Received>>, headers: HeaderMap, body: Bytes| async move {
                    let _ = tx.send((headers, body));
                    status
                },
            ),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("the receiver binds");
    let addr = listener.local_addr().expect("the receiver has an address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, rx)
}

async fn next_delivery(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a delivery arrives within 5s")
        .expect("the receiver is running")
}

async fn subscribe(
    http: &reqwest::Client,
    chat: &ChatServiceHandle,
    url: &str,
    secret: &str,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!("{}/v1/webhooks", chat.base_url()))
        .bearer_auth(KEY)
        .json(&json!({"url": url, "secret": secret}))
        .send()
        .await
}

fn expected_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn webhooks_receive_signed_deliveries() -> TestResult {
    let chat = start().await;
    let http = client();
    let (addr, mut deliveries) = start_receiver(axum::http::StatusCode::OK).await;
    let secret = "whsec_test";

    let response = subscribe(&http, &chat, &format!("http://{addr}/hook"), secret).await?;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.json::<Value>().await?, json!({"id": "wh_1"}));
    assert_eq!(chat.webhook_count(), 1);

    let created: Value =
        post_message(&http, &chat, &json!({"channel": "general", "message": "ping"}), Some("k1")).await?.json().await?;
    let (headers, body) = next_delivery(&mut deliveries).await;
    let event: Value = serde_json::from_slice(&body)?;
    assert_eq!(
        event,
        json!({
            "channel": "general",
            "sender": "api",
            "text": "ping",
            "timestamp": created["timestamp"],
        })
    );
    assert_eq!(headers.get("content-type").map(|v| v.as_bytes()), Some(&b"application/json"[..]));
    let signature = headers.get("x-chat-signature").ok_or("signed")?.to_str()?;
    assert_eq!(signature, expected_signature(secret, &body));
    assert_eq!(signature, service::signature(secret, &body));
    assert!(service::verify_signature(secret, &body, signature));
    assert!(!service::verify_signature("other-secret", &body, signature));
    assert!(!service::verify_signature(secret, b"{}", signature));
    assert!(!service::verify_signature(secret, &body, "sha256=zz"));
    let first_delivery = headers.get("x-chat-delivery").ok_or("delivery id")?.to_str()?.to_owned();
    assert!(!first_delivery.is_empty());

    // A replayed idempotent POST delivers nothing; a member's message is delivered as theirs.
    post_message(&http, &chat, &json!({"channel": "general", "message": "ping"}), Some("k1")).await?;
    let received = chat.receive_message("dev-team", "ada", "Is the build green?")?;
    assert_eq!(received.sender, "ada");
    let (headers, body) = next_delivery(&mut deliveries).await;
    let event: Value = serde_json::from_slice(&body)?;
    assert_eq!(event["sender"], "ada");
    assert_eq!(event["channel"], "dev-team");
    assert_eq!(event["text"], "Is the build green?");
    let second_delivery = headers.get("x-chat-delivery").ok_or("delivery id")?;
    assert_ne!(second_delivery.to_str()?, first_delivery);
    assert_eq!(chat.posted_messages().len(), 2);

    // Unsubscribed: nothing more arrives.
    let response = http.delete(format!("{}/v1/webhooks/wh_1", chat.base_url())).bearer_auth(KEY).send().await?;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(chat.webhook_count(), 0);
    post_message(&http, &chat, &json!({"channel": "general", "message": "silence"}), None).await?;
    let nothing = tokio::time::timeout(Duration::from_millis(300), deliveries.recv()).await;
    assert!(nothing.is_err(), "no delivery after unsubscribing");
    assert_eq!(chat.delivery_count(), 2);
    Ok(())
}

#[tokio::test]
async fn every_subscriber_gets_every_message_in_order_and_failures_do_not_stop_delivery() -> TestResult {
    let chat = start().await;
    let http = client();
    let (ok_addr, mut ok) = start_receiver(axum::http::StatusCode::OK).await;
    let (failing_addr, mut failing) = start_receiver(axum::http::StatusCode::INTERNAL_SERVER_ERROR).await;
    subscribe(&http, &chat, &format!("http://{failing_addr}/hook"), "one").await?.error_for_status()?;
    subscribe(&http, &chat, &format!("http://{ok_addr}/hook"), "two").await?.error_for_status()?;
    // Nobody listens at this one's port once the listener is dropped.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let closed_addr = closed.local_addr()?;
    drop(closed);
    subscribe(&http, &chat, &format!("http://{closed_addr}/hook"), "three").await?.error_for_status()?;

    for text in ["first", "second", "third"] {
        post_message(&http, &chat, &json!({"channel": "general", "message": text}), None).await?.error_for_status()?;
    }
    for text in ["first", "second", "third"] {
        let (headers, body) = next_delivery(&mut ok).await;
        assert_eq!(serde_json::from_slice::<Value>(&body)?["text"], text);
        let signature = headers.get("x-chat-signature").ok_or("signed")?.to_str()?;
        assert!(service::verify_signature("two", &body, signature));
        let (headers, body) = next_delivery(&mut failing).await;
        assert_eq!(serde_json::from_slice::<Value>(&body)?["text"], text);
        let signature = headers.get("x-chat-signature").ok_or("signed")?.to_str()?;
        assert!(service::verify_signature("one", &body, signature));
    }
    // All nine deliveries are attempted, the refused and the unreachable ones included.
    tokio::time::timeout(Duration::from_secs(5), async {
        while chat.delivery_count() < 9 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await?;
    assert_eq!(chat.delivery_count(), 9);
    Ok(())
}

#[tokio::test]
async fn webhook_requests_are_validated() -> TestResult {
    let chat = start().await;
    let http = client();
    for (url, secret) in [("not a url", "s"), ("ftp://127.0.0.1/hook", "s"), ("http://127.0.0.1/hook", "")] {
        let response = subscribe(&http, &chat, url, secret).await?;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url} {secret:?}");
        assert!(response.json::<Value>().await?["error"].is_string());
    }
    let response = http.delete(format!("{}/v1/webhooks/wh_9", chat.base_url())).bearer_auth(KEY).send().await?;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.json::<Value>().await?, json!({"error": "webhook not found"}));
    let response = http.delete(format!("{}/v1/webhooks/wh_1", chat.base_url())).send().await?;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(chat.webhook_count(), 0);
    Ok(())
}

#[tokio::test]
async fn receive_message_refuses_unknown_channels_and_empty_text() {
    let chat = start().await;
    assert_eq!(chat.receive_message("random", "ada", "hi"), Err(service::ChatError::UnknownChannel("random".into())));
    assert_eq!(chat.receive_message("general", "ada", " "), Err(service::ChatError::EmptyMessage));
    assert!(chat.posted_messages().is_empty());
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() -> TestResult {
    let http = client();

    let chat = start().await;
    let url = format!("{}/v1/channels/general", chat.base_url());
    http.get(&url).bearer_auth(KEY).send().await?.error_for_status()?;
    chat.shutdown().await?;
    // A fresh client, so no pooled connection hides the closed listener.
    assert!(client().get(&url).bearer_auth(KEY).send().await.is_err());

    let chat = start().await;
    let url = format!("{}/v1/channels/general", chat.base_url());
    http.get(&url).bearer_auth(KEY).send().await?.error_for_status()?;
    drop(chat);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(client().get(&url).bearer_auth(KEY).send().await.is_err());
    Ok(())
}
