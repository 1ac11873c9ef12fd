//! What the Events API sends: an outer envelope (`url_verification`, `event_callback`, ..) and,
//! in an `event_callback`, the event itself.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// One request of the Events API, as Slack posts it to the app's request URL.
///
/// `type` is `url_verification` (the handshake when the URL is set: answer `challenge`),
/// `event_callback` (an event: `event`, `event_id`, `event_time`, `team_id`), or
/// `app_rate_limited` (Slack is dropping events for the app).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Envelope {
    /// `url_verification`, `event_callback` or `app_rate_limited`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For `url_verification`: the value to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
    /// The workspace the event happened in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// The app the event is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_app_id: Option<String>,
    /// For `event_callback`: the event, as Slack sent it (its shape depends on its kind); the
    /// trigger reads it into an [`Event`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<serde_json::Value>,
    /// For `event_callback`: the event's unique id (the same on Slack's retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// For `event_callback`: when the event was dispatched, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<i64>,
}

/// An event of the Events API. The fields are those of the common kinds (`message`,
/// `app_mention`, `reaction_added`, `member_joined_channel`); each kind fills the ones it has.
/// Kinds that send a whole user or channel object (`user_change`, `team_join`,
/// `channel_created`, ..) have its id in `user` or `channel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    /// The kind of event: `message`, `app_mention`, `reaction_added`, ..
    #[serde(rename = "type")]
    pub kind: String,
    /// A message's subtype (`bot_message`, `message_changed`, ..), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// The user who did it (or whom it is about).
    #[serde(default, deserialize_with = "id_or_object", skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The conversation it happened in (messages, mentions, joins), or that it is about.
    #[serde(default, deserialize_with = "id_or_object", skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// A message's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A message's timestamp (its id in the conversation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
    /// The `ts` of the thread's parent, for a message in a thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// When the event happened (a Slack timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_ts: Option<String>,
    /// The bot that posted a message, if a bot did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
    /// For `reaction_added`/`reaction_removed`: the emoji's name, without colons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction: Option<String>,
    /// For reactions: what was reacted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<ReactionItem>,
}

/// What a reaction was added to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ReactionItem {
    /// `message`, `file` or `file_comment`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The message's conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The message's timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<String>,
}

/// What a job started by the `events` trigger receives: one event, with where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventDelivery {
    /// The event's unique id (the same on Slack's retries: make jobs idempotent on it).
    pub event_id: String,
    /// When it was dispatched, in Unix seconds.
    pub event_time: i64,
    /// The workspace it happened in.
    pub team_id: String,
    /// The event.
    pub event: Event,
}

/// An id, sent as a string or as an object with an `id` (a user or channel object).
fn id_or_object<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IdOrObject {
        Id(String),
        Object { id: String },
    }
    Ok(Option::<IdOrObject>::deserialize(deserializer)?.map(|found| match found {
        IdOrObject::Id(id) | IdOrObject::Object { id } => id,
    }))
}
