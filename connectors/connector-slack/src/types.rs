//! The inputs and outputs of the Slack actions, as the Web API documents them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Input of `chat.postMessage`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PostMessage {
    /// The conversation to post in: a channel id (`C0123456789`), or a user id for a DM.
    pub channel: String,
    /// The message's text (with `blocks`, the fallback text of notifications).
    pub text: String,
    /// The `ts` of the parent message, to reply in its thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// With `thread_ts`: also show the reply in the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_broadcast: Option<bool>,
    /// Block Kit blocks, sent as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Vec<serde_json::Value>>,
    /// Whether `text` is Slack markup (`mrkdwn`; Slack's default is `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrkdwn: Option<bool>,
    /// Whether links in the text unfurl.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfurl_links: Option<bool>,
}

impl PostMessage {
    /// A plain text message to `channel`.
    pub fn new(channel: impl Into<String>, text: impl Into<String>) -> Self {
        PostMessage { channel: channel.into(), text: text.into(), ..Default::default() }
    }

    /// The same message, as a reply in the thread of the message `ts`.
    pub fn in_thread(mut self, ts: impl Into<String>) -> Self {
        self.thread_ts = Some(ts.into());
        self
    }
}

/// Output of `chat.postMessage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PostedMessage {
    /// The conversation it was posted in.
    pub channel: String,
    /// The message's timestamp, which is its id within the conversation.
    pub ts: String,
    /// The message as posted.
    pub message: Message,
}

/// A message, as `conversations.history` and `chat.postMessage` return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Message {
    /// `message`.
    #[serde(rename = "type", default = "message_type")]
    pub kind: String,
    /// The message's subtype (`bot_message`, `channel_join`, ..), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtype: Option<String>,
    /// The message's timestamp, its id within the conversation.
    pub ts: String,
    /// The user who posted it (none for some bot messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The bot that posted it, if a bot did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
    /// The text.
    #[serde(default)]
    pub text: String,
    /// The `ts` of the thread's parent, for a message in a thread (or the parent itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// How many replies its thread has, for a thread's parent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_count: Option<u64>,
}

fn message_type() -> String {
    "message".to_owned()
}

/// Input of `conversations.info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConversationRef {
    /// The conversation's id.
    pub channel: String,
    /// Also count its members (`num_members`).
    #[serde(default)]
    pub include_num_members: bool,
}

/// A conversation: a public or private channel, a DM or a group DM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Conversation {
    /// The conversation's id.
    pub id: String,
    /// Its name, without `#` (none for DMs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A channel (public or private), not a DM.
    #[serde(default)]
    pub is_channel: bool,
    /// A private channel.
    #[serde(default)]
    pub is_private: bool,
    /// A direct message.
    #[serde(default)]
    pub is_im: bool,
    /// Archived: nobody can post in it.
    #[serde(default)]
    pub is_archived: bool,
    /// Whether the bot is a member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_member: Option<bool>,
    /// When it was created, in Unix seconds.
    #[serde(default)]
    pub created: i64,
    /// Who created it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    /// Its topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Topic>,
    /// Its purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Topic>,
    /// How many members it has (with `include_num_members`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_members: Option<u64>,
}

/// A conversation's topic or purpose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Topic {
    /// The text.
    pub value: String,
    /// Who set it.
    #[serde(default)]
    pub creator: String,
    /// When, in Unix seconds.
    #[serde(default)]
    pub last_set: i64,
}

/// Input of `conversations.history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct History {
    /// The conversation's id.
    pub channel: String,
    /// At most this many messages, newest first, across pages (default 100).
    #[serde(default = "default_history_limit")]
    pub limit: usize,
    /// Only messages after this `ts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest: Option<String>,
    /// Only messages before this `ts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest: Option<String>,
    /// Include messages at exactly `oldest` or `latest`.
    #[serde(default)]
    pub inclusive: bool,
}

impl History {
    /// The newest `limit` messages of `channel`.
    pub fn new(channel: impl Into<String>, limit: usize) -> Self {
        History { channel: channel.into(), limit, oldest: None, latest: None, inclusive: false }
    }
}

fn default_history_limit() -> usize {
    100
}

/// Output of `conversations.history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HistoryPage {
    /// The messages, newest first.
    pub messages: Vec<Message>,
    /// Whether the conversation has more messages than were returned (the limit was reached).
    pub has_more: bool,
}

/// Input of `users.info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserRef {
    /// The user's id (`U0123456789`).
    pub user: String,
}

/// A member of the workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct User {
    /// The user's id.
    pub id: String,
    /// The workspace it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    /// The user name (the handle, not for display).
    pub name: String,
    /// The full name, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_name: Option<String>,
    /// Deactivated.
    #[serde(default)]
    pub deleted: bool,
    /// A bot user.
    #[serde(default)]
    pub is_bot: bool,
    /// A workspace admin.
    #[serde(default)]
    pub is_admin: bool,
    /// The user's time zone (`Europe/Paris`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tz: Option<String>,
    /// The profile.
    pub profile: UserProfile,
}

/// A user's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UserProfile {
    /// The name shown in Slack (may be empty: then `real_name` is).
    #[serde(default)]
    pub display_name: String,
    /// The full name.
    #[serde(default)]
    pub real_name: String,
    /// The email address (with the `users:read.email` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// A 72×72 avatar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_72: Option<String>,
}
