//! The Simple Chat connector: two actions (send a message, read a channel) and a signed webhook
//! trigger (a message was posted), authenticated once with the connector's bearer token.

use chrono::{DateTime, Utc};
use connector_runtime::prelude::*;

/// Config of the Simple Chat connector: an API key, and defaults for the rest.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimpleChatConfig {
    /// The API key, sent as a bearer token.
    pub api_key: Secret,
    /// Where the Simple Chat API lives (default: the public service).
    #[serde(default = "SimpleChatConfig::public_base_url")]
    pub base_url: String,
    /// The secret webhook deliveries are signed with; only the `message.received` trigger needs it.
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
}

impl SimpleChatConfig {
    /// Where the public Simple Chat API lives.
    pub const PUBLIC_BASE_URL: &str = "https://api.simplechat.com";

    /// A config with this API key, for the public service, without webhooks.
    pub fn new(api_key: Secret) -> Self {
        SimpleChatConfig { api_key, base_url: Self::public_base_url(), webhook_secret: None }
    }

    /// This config, for the service at `base_url`.
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// This config, with the secret webhook deliveries are signed with.
    pub fn webhook_secret(mut self, secret: Secret) -> Self {
        self.webhook_secret = Some(secret);
        self
    }

    fn public_base_url() -> String {
        Self::PUBLIC_BASE_URL.to_owned()
    }
}

/// Input of `sendMessage`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SendMessage {
    /// The channel to post in, like `general`.
    pub channel: String,
    /// The message text.
    pub message: String,
}

/// Output of `sendMessage`: the message as the service stored it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SentMessage {
    /// The id the service gave the message.
    pub message_id: String,
    /// The channel it was posted in.
    pub channel: String,
    /// When the service stored it.
    pub timestamp: DateTime<Utc>,
}

/// Input of `getChannelInfo`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetChannelInfo {
    /// The channel's id, like `general`.
    pub channel_id: String,
}

/// Output of `getChannelInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelInfo {
    /// The channel's display name.
    pub name: String,
    /// How many members the channel has.
    pub member_count: u32,
    /// The channel's topic, if it has one.
    pub topic: Option<String>,
    /// Whether the channel exists; `false` leaves the other fields empty.
    pub found: bool,
}

/// A message posted in a channel, as the service's webhook delivers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MessageReceived {
    /// The channel the message was posted in.
    pub channel: String,
    /// Who posted it.
    pub sender: String,
    /// The message text.
    pub text: String,
    /// When it was posted (RFC 3339).
    pub timestamp: DateTime<Utc>,
}

/// The Simple Chat service: post messages, read channels, hear about new messages.
pub struct SimpleChat;

/// What the service answers to a posted message.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostedMessage {
    message_id: String,
    channel: String,
    timestamp: DateTime<Utc>,
}

/// The sender the service gives messages posted through its API.
const API_SENDER: &str = "api";

/// What the service answers to a webhook subscription.
#[derive(Deserialize)]
struct Subscribed {
    id: String,
}

/// What the service answers about a channel.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChannelResponse {
    name: String,
    member_count: u32,
    topic: Option<String>,
}

/// Talks to the Simple Chat HTTP API with the configured API key.
#[connector(
    id = "simple-chat",
    name = "Simple Chat Service",
    version = "1.0.0",
    config = SimpleChatConfig,
    auth = Self::auth,
    check = Self::check
)]
impl SimpleChat {
    /// Every request carries the API key as a bearer token.
    fn auth(config: &SimpleChatConfig) -> Auth {
        Auth::Bearer(config.api_key.clone())
    }

    /// Verifies the API key with a cheap authenticated read.
    async fn check(ctx: &ActionContext<SimpleChatConfig>) -> Result<(), ActionError> {
        let config = ctx.config();
        ctx.http().get(format!("{}/v1/channels/general", config.base_url)).send().await?;
        Ok(())
    }

    /// Posts a message to a channel.
    // It only adds (so not destructive), and every call posts one more message (so not
    // idempotent: retries are safe through the step's Idempotency-Key, a new call is not).
    #[action(
        id = "sendMessage",
        name = "Send Message",
        retry(max_attempts = 5, min_delay = "250ms"),
        destructive = false
    )]
    pub async fn send_message(
        ctx: &ActionContext<SimpleChatConfig>,
        input: SendMessage,
    ) -> Result<SentMessage, ActionError> {
        let config = ctx.config();
        ctx.logger().info(format!("sending a message to #{}", input.channel));
        let posted: PostedMessage =
            ctx.http().post(format!("{}/v1/messages", config.base_url)).json(&input).send_json().await?;
        Ok(SentMessage { message_id: posted.message_id, channel: posted.channel, timestamp: posted.timestamp })
    }

    /// Reads a channel's name, member count and topic.
    #[action(id = "getChannelInfo", name = "Get Channel Information", read_only, idempotent)]
    pub async fn get_channel_info(
        ctx: &ActionContext<SimpleChatConfig>,
        input: GetChannelInfo,
    ) -> Result<ChannelInfo, ActionError> {
        let config = ctx.config();
        ctx.logger().info(format!("fetching info for channel {}", input.channel_id));
        let response = ctx
            .http()
            .get(format!("{}/v1/channels/{}", config.base_url, input.channel_id))
            .send_json::<ChannelResponse>()
            .await;
        match response {
            Ok(channel) => Ok(ChannelInfo {
                name: channel.name,
                member_count: channel.member_count,
                topic: channel.topic,
                found: true,
            }),
            // An unknown channel is an answer, not a failure: jobs branch on `found`.
            Err(ActionError::Rejected { status: 404, .. }) => Ok(ChannelInfo {
                name: format!("Channel {}", input.channel_id),
                member_count: 0,
                topic: None,
                found: false,
            }),
            Err(error) => Err(error),
        }
    }

    /// A member posted a message in a channel. Messages with no text, and messages posted
    /// through the API (by connectors, this one included), are ignored.
    #[trigger(
        id = "message.received",
        name = "Message Received",
        webhook(
            hmac_sha256(header = "X-Chat-Signature", prefix = "sha256=", secret = webhook_secret, delivery_id = "X-Chat-Delivery"),
            subscribe = Self::subscribe_messages,
            unsubscribe = Self::unsubscribe_messages,
        )
    )]
    pub async fn message_received(
        ctx: &TriggerContext<SimpleChatConfig>,
        payload: MessageReceived,
    ) -> Result<Option<MessageReceived>, ActionError> {
        // Without this a job that answers messages would answer its own answers, forever.
        if payload.sender == API_SENDER || payload.text.trim().is_empty() {
            return Ok(None);
        }
        ctx.logger().info(format!("received a message from {} in #{}", payload.sender, payload.channel));
        Ok(Some(payload))
    }

    /// Subscribes `url` to new messages; returns the subscription's id.
    pub async fn subscribe_messages(
        ctx: &TriggerContext<SimpleChatConfig>,
        url: String,
    ) -> Result<String, ActionError> {
        let config = ctx.config();
        let Some(secret) = &config.webhook_secret else {
            return Err(ActionError::permanent(
                "no webhook secret is configured (`webhookSecret`, or SIMPLE_CHAT_WEBHOOK_SECRET): \
                 the service must sign the deliveries it sends",
            ));
        };
        let body = serde_json::json!({ "url": url, "secret": secret.expose() });
        let subscribed: Subscribed =
            ctx.http().post(format!("{}/v1/webhooks", config.base_url)).json(&body).send_json().await?;
        Ok(subscribed.id)
    }

    /// Removes a subscription made by [`SimpleChat::subscribe_messages`].
    pub async fn unsubscribe_messages(ctx: &TriggerContext<SimpleChatConfig>, id: String) -> Result<(), ActionError> {
        let config = ctx.config();
        ctx.http().delete(format!("{}/v1/webhooks/{id}", config.base_url)).send().await?;
        Ok(())
    }
}
