//! The Slack connector against a fake Web API on loopback that answers as Slack documents, its
//! request signing against Slack's own example, and the Events API trigger over real HTTP.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use connector_runtime::prelude::*;
use connector_runtime::server::{self, RunningServer, ServerConfig};
use connector_runtime::store::{MemoryStore, RunFilter, RunStore};
use connector_runtime::testing::JobTest;
use connector_runtime::webhook::SignatureError;
use connector_slack::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use connector_slack::{
    ConversationRef, Event, EventDelivery, History, Message, PostMessage, PostedMessage, Slack, SlackConfig, UserRef,
};
use serde_json::{Value, json};
use support::{ADA, ARCHIVED, BUSY, BUSY_ONCE, FLAKY, GENERAL, HISTORY_LEN, TOKEN};

fn slack(base_url: &str) -> Integration<Slack> {
    Slack::init(SlackConfig::new(Secret::new(TOKEN)).base_url(base_url))
}

// ---------------------------------------------------------------------------------------------
// Actions

#[tokio::test]
async fn post_message_posts_and_returns_the_message() {
    let (url, fake) = support::start().await;
    let posted: PostedMessage = slack(&url)
        .call(Slack::POST_MESSAGE, PostMessage::new(GENERAL, "Hello world :tada:").in_thread("1503435956.000247"))
        .await
        .unwrap();
    assert_eq!(posted.channel, GENERAL);
    assert_eq!(posted.ts, "1503435956.000001");
    assert_eq!(posted.message.text, "Hello world :tada:");
    assert_eq!(posted.message.bot_id.as_deref(), Some("B123ABC456"));
    assert_eq!(posted.message.thread_ts.as_deref(), Some("1503435956.000247"));
    let sent = fake.posted.lock().unwrap().clone();
    assert_eq!(sent, [json!({"channel": GENERAL, "text": "Hello world :tada:", "thread_ts": "1503435956.000247"})]);
    assert_eq!(fake.seen("chat.postMessage")[0].query["content-type"], "application/json; charset=utf-8");
}

#[tokio::test]
async fn ok_false_answers_fall_in_their_error_classes() {
    let (url, _fake) = support::start().await;
    let error = slack(&url).call(Slack::POST_MESSAGE, PostMessage::new("C0NOWHERE", "hi")).await.unwrap_err();
    assert!(
        matches!(&error, ActionError::Rejected { status: 404, message } if message.contains("channel_not_found")),
        "{error}"
    );
    assert!(!error.is_retryable());

    let error = slack(&url).call(Slack::POST_MESSAGE, PostMessage::new(ARCHIVED, "hi")).await.unwrap_err();
    assert!(
        matches!(&error, ActionError::Rejected { status: 400, message } if message.contains("is_archived")),
        "{error}"
    );

    let error = slack(&url).call(Slack::USER_INFO, UserRef { user: "W0NOBODY".into() }).await.unwrap_err();
    assert!(
        matches!(&error, ActionError::Rejected { status: 404, message } if message.contains("user_not_found")),
        "{error}"
    );

    let error = slack(&url).call(Slack::USER_INFO, UserRef { user: FLAKY.into() }).await.unwrap_err();
    assert!(matches!(&error, ActionError::Transient { message } if message.contains("internal_error")), "{error}");
    assert!(error.is_retryable());

    let wrong = Slack::init(SlackConfig::new(Secret::new("xoxb-wrong-token-0000")).base_url(&url));
    let error = wrong.call(Slack::USER_INFO, UserRef { user: ADA.into() }).await.unwrap_err();
    assert!(
        matches!(&error, ActionError::Unauthorized { status: 401, message } if message.contains("invalid_auth")),
        "{error}"
    );
    assert!(!error.to_string().contains("xoxb-wrong"), "the token is not in the error: {error}");
    assert!(wrong.check().await.is_err(), "the check fails on a wrong token");
    slack(&url).check().await.unwrap();
}

#[tokio::test]
async fn a_rate_limited_call_says_how_long_to_wait() {
    let (url, _fake) = support::start().await;
    let error = slack(&url).call(Slack::CONVERSATION_HISTORY, History::new(BUSY, 10)).await.unwrap_err();
    assert!(
        matches!(&error, ActionError::RateLimited { retry_after: Some(wait), message }
            if *wait == Duration::from_secs(7) && message.contains("ratelimited")),
        "{error}"
    );
}

#[job(id = "who", name = "Who", version = "1.0.0", event = Who, integrations(slack = Slack))]
async fn who(who: Who, io: WhoIo<'_>) -> Result<String, JobError> {
    Ok(io.slack.user_info("lookup", UserRef { user: who.user }).await?.name)
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, connector_runtime::Event)]
#[event(name = "who")]
struct Who {
    user: String,
}

#[tokio::test]
async fn a_rate_limited_step_waits_for_retry_after_then_succeeds() {
    let (url, fake) = support::start().await;
    let started = std::time::Instant::now();
    let run = JobTest::new(WhoJob).connector(slack(&url)).run(Who { user: BUSY_ONCE.into() }).await.unwrap();
    assert_eq!(run.status(), RunStatus::Succeeded, "{:?}", run.error());
    assert_eq!(run.output::<String>(), "spengler");
    assert_eq!(run.steps()[0].attempts, 2, "retried once");
    assert_eq!(fake.seen("users.info").len(), 2);
    assert!(started.elapsed() >= Duration::from_secs(1), "waited for Retry-After: {:?}", started.elapsed());
}

#[tokio::test]
async fn conversation_info_reads_the_documented_fields() {
    let (url, fake) = support::start().await;
    let channel = slack(&url)
        .call(Slack::CONVERSATION_INFO, ConversationRef { channel: GENERAL.into(), include_num_members: true })
        .await
        .unwrap();
    assert_eq!(channel.name.as_deref(), Some("general"));
    assert!(channel.is_channel && !channel.is_private && !channel.is_archived);
    assert_eq!(channel.num_members, Some(23));
    assert_eq!(channel.created, 1449252889);
    assert_eq!(channel.topic.unwrap().value, "For public discussion of generalities");
    assert_eq!(fake.seen("conversations.info")[0].query["include_num_members"], "true");
}

#[tokio::test]
async fn user_info_reads_the_profile() {
    let (url, _fake) = support::start().await;
    let user = slack(&url).call(Slack::USER_INFO, UserRef { user: ADA.into() }).await.unwrap();
    assert_eq!((user.name.as_str(), user.real_name.as_deref()), ("spengler", Some("Egon Spengler")));
    assert_eq!(user.profile.email.as_deref(), Some("spengler@ghostbusters.example.com"));
    assert_eq!(user.tz.as_deref(), Some("America/New_York"));
    assert!(user.is_admin && !user.is_bot && !user.deleted);
}

fn numbers(messages: &[Message]) -> Vec<usize> {
    messages.iter().map(|message| message.text.strip_prefix("message ").unwrap().parse().unwrap()).collect()
}

#[tokio::test]
async fn history_follows_the_cursor_to_the_last_page() {
    let (url, fake) = support::start().await;
    let page = slack(&url).call(Slack::CONVERSATION_HISTORY, History::new(GENERAL, 1000)).await.unwrap();
    assert_eq!(page.messages.len(), HISTORY_LEN);
    assert!(!page.has_more, "every message was read");
    assert_eq!(numbers(&page.messages), (1..=HISTORY_LEN).rev().collect::<Vec<_>>(), "newest first, none twice");
    let seen = fake.seen("conversations.history");
    let cursors: Vec<Option<&str>> = seen.iter().map(|seen| seen.query.get("cursor").map(String::as_str)).collect();
    assert_eq!(cursors, [None, Some("bmV4dF90czox200"), Some("bmV4dF90czox400")], "stops at the empty next_cursor");
    assert!(seen.iter().all(|seen| seen.query["limit"] == "200"), "pages of 200");
}

#[tokio::test]
async fn history_stops_at_the_limit_and_says_there_is_more() {
    let (url, fake) = support::start().await;
    let page = slack(&url).call(Slack::CONVERSATION_HISTORY, History::new(GENERAL, 250)).await.unwrap();
    assert_eq!(numbers(&page.messages), (201..=HISTORY_LEN).rev().collect::<Vec<_>>());
    assert!(page.has_more);
    assert_eq!(fake.seen("conversations.history").len(), 2, "no page past the limit");

    let page = slack(&url).call(Slack::CONVERSATION_HISTORY, History::new(GENERAL, 30)).await.unwrap();
    assert_eq!(page.messages.len(), 30);
    assert!(page.has_more);
    assert_eq!(fake.seen("conversations.history").len(), 3, "one page of 31 says there is more");
}

#[tokio::test]
async fn the_history_stream_asks_for_no_page_it_does_not_reach() {
    use futures::{StreamExt, TryStreamExt};
    let (url, fake) = support::start().await;
    let integration = slack(&url);
    let ctx = integration.context();
    let odd: Vec<Message> = connector_slack::history(&ctx, History::new(GENERAL, 100))
        .try_filter(|message| std::future::ready(message.user.as_deref() == Some("U061F7AUR")))
        .take(60)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(numbers(&odd).first(), Some(&449));
    assert_eq!(odd.len(), 60);
    assert_eq!(fake.seen("conversations.history").len(), 2, "120 messages read in two pages of 100");
}

// ---------------------------------------------------------------------------------------------
// Request signing

/// Slack's documented example ("Verifying requests from Slack").
const DOC_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const DOC_TIMESTAMP: u64 = 1531420618;
const DOC_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const DOC_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

fn doc_headers(signature: &str, timestamp: u64) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert(SIGNATURE_HEADER, signature.parse().unwrap());
    headers.insert(TIMESTAMP_HEADER, timestamp.to_string().parse().unwrap());
    headers
}

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

#[test]
fn slacks_documented_example_verifies_and_signs_the_same() {
    let secret = Secret::new(DOC_SECRET);
    let headers = doc_headers(DOC_SIGNATURE, DOC_TIMESTAMP);
    signature::verify_at(&secret, &headers, DOC_BODY.as_bytes(), at(DOC_TIMESTAMP + 30)).unwrap();
    let signed = signature::sign(&secret, DOC_BODY.as_bytes(), DOC_TIMESTAMP);
    assert_eq!(signed[SIGNATURE_HEADER], DOC_SIGNATURE);
    assert_eq!(signed[TIMESTAMP_HEADER], "1531420618");
}

#[test]
fn a_tampered_body_or_a_wrong_secret_is_a_mismatch() {
    let secret = Secret::new(DOC_SECRET);
    let headers = doc_headers(DOC_SIGNATURE, DOC_TIMESTAMP);
    let tampered = DOC_BODY.replace("text=&", "text=rm+-rf&");
    let now = at(DOC_TIMESTAMP + 30);
    assert!(matches!(signature::verify_at(&secret, &headers, tampered.as_bytes(), now), Err(SignatureError::Mismatch)));
    let other = Secret::new("8f742231b10e8888abcd99yyyzzz85a6");
    assert!(matches!(signature::verify_at(&other, &headers, DOC_BODY.as_bytes(), now), Err(SignatureError::Mismatch)));
    let moved = doc_headers(DOC_SIGNATURE, DOC_TIMESTAMP + 1);
    assert!(
        matches!(signature::verify_at(&secret, &moved, DOC_BODY.as_bytes(), now), Err(SignatureError::Mismatch)),
        "the timestamp is signed"
    );
}

#[test]
fn a_timestamp_past_five_minutes_either_way_is_refused() {
    let secret = Secret::new(DOC_SECRET);
    let headers = doc_headers(DOC_SIGNATURE, DOC_TIMESTAMP);
    let body = DOC_BODY.as_bytes();
    signature::verify_at(&secret, &headers, body, at(DOC_TIMESTAMP + 300)).unwrap();
    assert!(matches!(
        signature::verify_at(&secret, &headers, body, at(DOC_TIMESTAMP + 301)),
        Err(SignatureError::Stale { age_secs: 301 })
    ));
    signature::verify_at(&secret, &headers, body, at(DOC_TIMESTAMP - 300)).unwrap();
    assert!(matches!(
        signature::verify_at(&secret, &headers, body, at(DOC_TIMESTAMP - 301)),
        Err(SignatureError::FromTheFuture { ahead_secs: 301 })
    ));
}

#[test]
fn malformed_headers_are_refused_without_a_panic() {
    let secret = Secret::new(DOC_SECRET);
    let now = at(DOC_TIMESTAMP);
    let body = DOC_BODY.as_bytes();
    let missing = http::HeaderMap::new();
    assert!(matches!(signature::verify_at(&secret, &missing, body, now), Err(SignatureError::MissingHeader { .. })));
    for bad in ["a2114d57", "v1=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", "v0=zz", "v0="] {
        let headers = doc_headers(bad, DOC_TIMESTAMP);
        assert!(
            matches!(signature::verify_at(&secret, &headers, body, now), Err(SignatureError::Malformed { .. })),
            "{bad}"
        );
    }
    let mut headers = doc_headers(DOC_SIGNATURE, DOC_TIMESTAMP);
    headers.insert(TIMESTAMP_HEADER, "99999999999999999999999".parse().unwrap());
    assert!(matches!(signature::verify_at(&secret, &headers, body, now), Err(SignatureError::Malformed { .. })));
}

// ---------------------------------------------------------------------------------------------
// The Events API trigger, over real HTTP

const SIGNING_SECRET: &str = "e6b19c573432dcc6b075501d51b51bb8";

#[job(id = "slack-event-text", name = "Slack event text", version = "1.0.0", trigger = Slack::events)]
async fn slack_event_text(delivery: EventDelivery, _io: SlackEventTextIo<'_>) -> Result<String, JobError> {
    Ok(format!("{}:{}", delivery.event.kind, delivery.event.text.unwrap_or_default()))
}

async fn events_server(store: Arc<dyn RunStore>, signing_secret: Option<&str>) -> RunningServer {
    let mut config = SlackConfig::new(Secret::new(TOKEN)).base_url("http://127.0.0.1:9");
    if let Some(secret) = signing_secret {
        config = config.signing_secret(Secret::new(secret));
    }
    let engine =
        Engine::builder().shared_store(store).connector(Slack::init(config)).job(SlackEventTextJob).build().unwrap();
    let config = ServerConfig { bind: "127.0.0.1:0".parse().unwrap(), ..Default::default() };
    server::start(engine, config).await.unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

async fn deliver(server: &RunningServer, body: &Value, headers: http::HeaderMap) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/webhooks/slack/events", server.url()))
        .headers(headers)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

fn signed(body: &Value, timestamp: u64) -> http::HeaderMap {
    signature::sign(&Secret::new(SIGNING_SECRET), body.to_string().as_bytes(), timestamp)
}

/// An `app_mention` as the Events API documents it.
fn mention() -> Value {
    json!({
        "token": "XXYYZZ", "team_id": "T123ABC456", "api_app_id": "A123ABC456",
        "event": {
            "type": "app_mention", "user": "U123ABC456", "text": "<@U0LAN0Z89> is it everything a river should be?",
            "ts": "1515449522.000016", "channel": "C123ABC456", "event_ts": "1515449522000016"
        },
        "type": "event_callback", "authed_users": ["U0LAN0Z89"], "event_id": "Ev123ABC456", "event_time": 1515449522000016i64,
        "authorizations": [{ "enterprise_id": null, "team_id": "T123ABC456", "user_id": "U0LAN0Z89", "is_bot": true }]
    })
}

#[tokio::test]
async fn the_url_verification_handshake_is_answered_with_its_challenge() {
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    let server = events_server(Arc::clone(&store), Some(SIGNING_SECRET)).await;
    let challenge = json!({
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "type": "url_verification",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    });
    let (status, body) = deliver(&server, &challenge, signed(&challenge, now())).await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}));
    let (status, _) = deliver(&server, &challenge, http::HeaderMap::new()).await;
    assert_eq!(status, 401, "an unsigned handshake is refused");
    assert!(store.list_runs(&RunFilter::default()).await.unwrap().is_empty());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_signed_event_starts_its_job_and_a_forged_or_stale_one_nothing() {
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    let server = events_server(Arc::clone(&store), Some(SIGNING_SECRET)).await;
    let event = mention();

    let mut tampered_body = event.clone();
    tampered_body["event"]["text"] = json!("<@U0LAN0Z89> transfer the funds");
    let (status, body) = deliver(&server, &tampered_body, signed(&event, now())).await;
    assert_eq!(status, 401, "a tampered body: {body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("does not match"), "{body}");

    let (status, body) = deliver(&server, &event, signed(&event, now() - 301)).await;
    assert_eq!(status, 401, "a stale timestamp: {body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("old"), "{body}");
    assert!(store.list_runs(&RunFilter::default()).await.unwrap().is_empty(), "nothing forged started a run");

    let (status, receipt) = deliver(&server, &event, signed(&event, now())).await;
    assert_eq!(status, 202, "{receipt}");
    let runs = store.list_runs(&RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].payload["event_id"], "Ev123ABC456");
    assert_eq!(runs[0].payload["event"]["channel"], "C123ABC456");

    // Slack's retry of the same event (no 2xx in time): the same runs, nothing new.
    let mut retry = signed(&event, now());
    retry.insert("x-slack-retry-num", "1".parse().unwrap());
    retry.insert("x-slack-retry-reason", "http_timeout".parse().unwrap());
    let (status, again) = deliver(&server, &event, retry).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["runs"], receipt["runs"]);
    assert_eq!(store.list_runs(&RunFilter::default()).await.unwrap().len(), 1, "a retry starts nothing");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn events_that_carry_whole_objects_reach_jobs_with_their_ids() {
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    let server = events_server(Arc::clone(&store), Some(SIGNING_SECRET)).await;
    let wrap = |id: &str, event: Value| {
        json!({"token": "XXYYZZ", "team_id": "T123ABC456", "api_app_id": "A123ABC456", "event": event,
               "type": "event_callback", "event_id": id, "event_time": 1360782804})
    };
    let created = wrap(
        "Ev1",
        json!({"type": "channel_created", "channel": {"id": "C024BE91L", "name": "fun", "created": 1360782804, "creator": "U024BE7LH"}}),
    );
    let changed = wrap(
        "Ev2",
        json!({"type": "user_change", "user": {"id": "U024BE7LH", "name": "bobby", "profile": {}}, "event_ts": "1360782804.000100"}),
    );
    let reaction = wrap(
        "Ev3",
        json!({"type": "reaction_added", "user": "U024BE7LH", "reaction": "thumbsup", "item_user": "U0G9QF9C6",
        "item": {"type": "message", "channel": "C0G9QF9GZ", "ts": "1360782400.498405"}, "event_ts": "1360782804.083113"}),
    );
    for event in [&created, &changed, &reaction] {
        let (status, receipt) = deliver(&server, event, signed(event, now())).await;
        assert_eq!(status, 202, "{receipt}");
    }
    let runs = store.list_runs(&RunFilter::default()).await.unwrap();
    let events: Vec<Event> =
        runs.iter().map(|run| serde_json::from_value(run.payload["event"].clone()).unwrap()).collect();
    let find = |kind: &str| events.iter().find(|event| event.kind == kind).unwrap().clone();
    assert_eq!(find("channel_created").channel.as_deref(), Some("C024BE91L"));
    assert_eq!(find("user_change").user.as_deref(), Some("U024BE7LH"));
    let reaction = find("reaction_added");
    assert_eq!(reaction.reaction.as_deref(), Some("thumbsup"));
    assert_eq!(reaction.item.unwrap().ts.as_deref(), Some("1360782400.498405"));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_a_signing_secret_every_event_is_refused_naming_the_field() {
    let store: Arc<dyn RunStore> = Arc::new(MemoryStore::new());
    let server = events_server(Arc::clone(&store), None).await;
    let event = mention();
    let (status, body) = deliver(&server, &event, signed(&event, now())).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains("signingSecret"), "{body}");
    server.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The README's job, and the manifest

/// The README's job: answers a mention in its thread.
#[job(id = "answer-mentions", name = "Answer mentions", version = "1.0.0",
      trigger = Slack::events, integrations(slack = Slack))]
async fn answer_mentions(delivery: EventDelivery, io: AnswerMentionsIo<'_>) -> Result<Option<String>, JobError> {
    let event = delivery.event;
    let (Some(channel), Some(ts)) = (event.channel, event.ts) else { return Ok(None) };
    if event.kind != "app_mention" {
        return Ok(None);
    }
    let posted = io.slack.post_message("reply", PostMessage::new(channel, "On it!").in_thread(ts)).await?;
    Ok(Some(posted.ts))
}

fn delivery(kind: &str) -> EventDelivery {
    let mut event: Event = serde_json::from_value(mention()["event"].clone()).unwrap();
    event.kind = kind.to_owned();
    event.channel = Some(GENERAL.to_owned());
    EventDelivery { event_id: "Ev123ABC456".into(), event_time: 1515449522, team_id: "T123ABC456".into(), event }
}

#[tokio::test]
async fn the_readme_job_replies_in_the_thread_of_a_mention_against_the_fake() {
    let (url, fake) = support::start().await;
    let run = JobTest::new(AnswerMentionsJob).connector(slack(&url)).run(delivery("app_mention")).await.unwrap();
    assert_eq!(run.status(), RunStatus::Succeeded, "{:?}", run.error());
    assert_eq!(run.output::<Option<String>>().as_deref(), Some("1503435956.000001"));
    assert_eq!(run.step_keys(), ["reply"]);
    let posted = fake.posted.lock().unwrap().clone();
    assert_eq!(posted[0]["thread_ts"], "1515449522.000016");

    let run = JobTest::new(AnswerMentionsJob).connector(slack(&url)).run(delivery("message")).await.unwrap();
    assert_eq!(run.output::<Option<String>>(), None);
    assert!(run.step_keys().is_empty(), "a plain message is not answered");
}

#[test]
fn connector_manifest() {
    let manifest = Slack::manifest();
    assert_eq!(manifest.config["properties"]["botToken"]["writeOnly"], json!(true));
    assert_eq!(manifest.config["properties"]["signingSecret"]["writeOnly"], json!(true));
    insta::assert_json_snapshot!("slack_connector", manifest);
}

#[test]
fn the_config_does_not_print_its_secrets() {
    let config = SlackConfig::new(Secret::new(TOKEN)).signing_secret(Secret::new(SIGNING_SECRET));
    let printed = format!("{config:?}");
    assert!(!printed.contains("xoxb") && !printed.contains(SIGNING_SECRET), "{printed}");
}
