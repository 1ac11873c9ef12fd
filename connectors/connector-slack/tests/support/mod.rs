//! A fake Slack Web API on loopback, answering as Slack documents: HTTP 200 with `ok: false`
//! and an error code for most failures, 429 with `Retry-After` when rate limited, cursor
//! pagination with `response_metadata.next_cursor` (empty on the last page).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// The bot token the fake accepts.
pub const TOKEN: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";

/// The public channel with history.
pub const GENERAL: &str = "C012AB3CD";
/// A channel whose history is rate limited.
pub const BUSY: &str = "C0BUSY";
/// An archived channel: posting in it fails with `is_archived`.
pub const ARCHIVED: &str = "C0ARCHIVED";
/// How many messages `GENERAL` has.
pub const HISTORY_LEN: usize = 450;
/// The user `users.info` knows.
pub const ADA: &str = "W012A3CDE";
/// A user whose lookup fails with `internal_error`.
pub const FLAKY: &str = "W0FLAKY";
/// A user whose first lookup is rate limited (429, `Retry-After: 1`); later ones find Ada.
pub const BUSY_ONCE: &str = "W0BUSYONCE";

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub query: HashMap<String, String>,
}

#[derive(Default)]
pub struct Fake {
    pub seen: Mutex<Vec<Seen>>,
    pub posted: Mutex<Vec<Value>>,
    limited_once: std::sync::atomic::AtomicBool,
}

impl Fake {
    pub fn seen(&self, method: &str) -> Vec<Seen> {
        self.seen.lock().unwrap().iter().filter(|seen| seen.method == method).cloned().collect()
    }
}

/// Starts the fake on 127.0.0.1; returns its base URL (as `https://slack.com/api`) and state.
pub async fn start() -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    let api = Router::new()
        .route("/auth.test", post(auth_test))
        .route("/chat.postMessage", post(post_message))
        .route("/conversations.info", get(conversation_info))
        .route("/conversations.history", get(history))
        .route("/users.info", get(user_info))
        .with_state(Arc::clone(&fake));
    let app = Router::new().nest("/api", api);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/api"), fake)
}

fn slack_error(code: &str) -> Response {
    Json(json!({ "ok": false, "error": code })).into_response()
}

/// Slack's answers to a missing or wrong token: `not_authed`, `invalid_auth`.
fn authorize(headers: &HeaderMap) -> Result<(), &'static str> {
    match headers.get("authorization").and_then(|value| value.to_str().ok()) {
        None => Err("not_authed"),
        Some(value) if value == format!("Bearer {TOKEN}") => Ok(()),
        Some(_) => Err("invalid_auth"),
    }
}

fn record(fake: &Fake, method: &str, query: &HashMap<String, String>) {
    fake.seen.lock().unwrap().push(Seen { method: method.to_owned(), query: query.clone() });
}

async fn auth_test(headers: HeaderMap) -> Response {
    if let Err(code) = authorize(&headers) {
        return slack_error(code);
    }
    Json(json!({
        "ok": true, "url": "https://subarachnoid.slack.com/", "team": "Subarachnoid Workspace",
        "user": "grace", "team_id": "T12345678", "user_id": "W12345678"
    }))
    .into_response()
}

async fn post_message(State(fake): State<Arc<Fake>>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let content_type = headers.get("content-type").and_then(|value| value.to_str().ok()).unwrap_or_default();
    record(&fake, "chat.postMessage", &HashMap::from([("content-type".to_owned(), content_type.to_owned())]));
    if let Err(code) = authorize(&headers) {
        return slack_error(code);
    }
    let channel = body["channel"].as_str().unwrap_or_default();
    let text = body["text"].as_str().unwrap_or_default();
    match channel {
        GENERAL => {}
        ARCHIVED => return slack_error("is_archived"),
        "" => return slack_error("channel_not_found"),
        _ => return slack_error("channel_not_found"),
    }
    if text.is_empty() && body.get("blocks").is_none() {
        return slack_error("no_text");
    }
    let mut posted = fake.posted.lock().unwrap();
    posted.push(body.clone());
    let ts = format!("1503435956.{:06}", posted.len());
    let mut message = json!({
        "bot_id": "B123ABC456", "type": "message", "text": text, "user": "U123ABC456", "ts": ts,
        "app_id": "A123ABC456", "team": "T123ABC456",
        "bot_profile": { "id": "B123ABC456", "app_id": "A123ABC456", "name": "ExampleBot" }
    });
    if let Some(thread) = body.get("thread_ts") {
        message["thread_ts"] = thread.clone();
    }
    Json(json!({ "ok": true, "channel": channel, "ts": ts, "message": message })).into_response()
}

async fn conversation_info(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    record(&fake, "conversations.info", &query);
    if let Err(code) = authorize(&headers) {
        return slack_error(code);
    }
    if query.get("channel").map(String::as_str) != Some(GENERAL) {
        return slack_error("channel_not_found");
    }
    let mut channel = json!({
        "id": GENERAL, "name": "general", "is_channel": true, "is_group": false, "is_im": false,
        "is_mpim": false, "is_private": false, "created": 1449252889, "is_archived": false,
        "is_general": true, "unlinked": 0, "name_normalized": "general", "is_shared": false,
        "is_org_shared": false, "is_member": true, "is_pending_ext_shared": false,
        "pending_shared": [], "parent_conversation": null, "creator": "W012A3BCD",
        "is_ext_shared": false, "shared_team_ids": ["T0123ABC456"], "pending_connected_team_ids": [],
        "last_read": "1502126650.228446",
        "topic": { "value": "For public discussion of generalities", "creator": "W012A3BCD", "last_set": 1449709364 },
        "purpose": { "value": "This part of the workspace is for fun. Make fun here.", "creator": "W012A3BCD", "last_set": 1449709364 },
        "previous_names": ["specifics", "abstractions", "etc"], "locale": "en-US"
    });
    if query.get("include_num_members").map(String::as_str) == Some("true") {
        channel["num_members"] = json!(23);
    }
    Json(json!({ "ok": true, "channel": channel })).into_response()
}

/// `GENERAL`'s messages, newest first: `ts` counts down from `1512085950.000{HISTORY_LEN}`.
fn message(index: usize) -> Value {
    let n = HISTORY_LEN - index;
    json!({
        "type": "message", "user": if n.is_multiple_of(2) { "U012AB3CDE" } else { "U061F7AUR" },
        "text": format!("message {n}"), "ts": format!("1512085950.{n:06}"),
        "reactions": [{ "name": "thumbsup", "users": ["U061F7AUR"], "count": 1 }]
    })
}

async fn history(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    record(&fake, "conversations.history", &query);
    if let Err(code) = authorize(&headers) {
        return slack_error(code);
    }
    match query.get("channel").map(String::as_str) {
        Some(GENERAL) => {}
        Some(BUSY) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "7")],
                Json(json!({ "ok": false, "error": "ratelimited" })),
            )
                .into_response();
        }
        _ => return slack_error("channel_not_found"),
    }
    // Slack caps `limit` at 999 and uses 100 when it is missing.
    let limit = query.get("limit").and_then(|limit| limit.parse::<usize>().ok()).unwrap_or(100).clamp(1, 999);
    let start = match query.get("cursor") {
        None => 0,
        Some(cursor) => match cursor.strip_prefix("bmV4dF90czox").and_then(|offset| offset.parse().ok()) {
            Some(offset) => offset,
            None => return slack_error("invalid_cursor"),
        },
    };
    let end = (start + limit).min(HISTORY_LEN);
    let messages: Vec<Value> = (start..end).map(message).collect();
    let has_more = end < HISTORY_LEN;
    let next_cursor = if has_more { format!("bmV4dF90czox{end}") } else { String::new() };
    Json(json!({
        "ok": true, "messages": messages, "has_more": has_more, "pin_count": 0,
        "response_metadata": { "next_cursor": next_cursor }
    }))
    .into_response()
}

async fn user_info(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    record(&fake, "users.info", &query);
    if let Err(code) = authorize(&headers) {
        return slack_error(code);
    }
    match query.get("user").map(String::as_str) {
        Some(ADA) => {}
        Some(BUSY_ONCE) => {
            if !fake.limited_once.swap(true, std::sync::atomic::Ordering::SeqCst) {
                let body = Json(json!({ "ok": false, "error": "ratelimited" }));
                return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], body).into_response();
            }
        }
        Some(FLAKY) => return slack_error("internal_error"),
        _ => return slack_error("user_not_found"),
    }
    Json(json!({
        "ok": true,
        "user": {
            "id": ADA, "team_id": "T012AB3C4", "name": "spengler", "deleted": false, "color": "9f69e7",
            "real_name": "Egon Spengler", "tz": "America/New_York", "tz_label": "Eastern Daylight Time",
            "tz_offset": -14400,
            "profile": {
                "avatar_hash": "ge3b51ca72de", "status_text": "Print is dead", "status_emoji": ":books:",
                "real_name": "Egon Spengler", "display_name": "spengler",
                "real_name_normalized": "Egon Spengler", "display_name_normalized": "spengler",
                "email": "spengler@ghostbusters.example.com",
                "image_24": "https://.../example.jpg", "image_72": "https://.../example.jpg",
                "team": "T012AB3C4"
            },
            "is_admin": true, "is_owner": false, "is_primary_owner": false, "is_restricted": false,
            "is_ultra_restricted": false, "is_bot": false, "updated": 1502138686, "is_app_user": false,
            "has_2fa": false
        }
    }))
    .into_response()
}
