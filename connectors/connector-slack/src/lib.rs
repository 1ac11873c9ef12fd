//! A [Slack](https://api.slack.com) connector: a bot token for the Web API (`chat.postMessage`,
//! `conversations.info`, `conversations.history` with cursor pagination, `users.info`), Slack's
//! `ok: false` answers mapped to error classes the engine retries or not, and an Events API
//! trigger with Slack's request signing and the `url_verification` handshake answered.
//!
//! ```no_run
//! use connector_runtime::prelude::*;
//! use connector_slack::{EventDelivery, PostMessage, Slack, SlackConfig};
//!
//! /// Answers every mention of the bot in the thread of the mention.
//! #[job(id = "answer-mentions", name = "Answer mentions", version = "1.0.0",
//!       trigger = Slack::events, integrations(slack = Slack))]
//! async fn answer_mentions(delivery: EventDelivery, io: AnswerMentionsIo<'_>) -> Result<(), JobError> {
//!     let event = delivery.event;
//!     let (Some(channel), Some(ts)) = (event.channel, event.ts) else { return Ok(()) };
//!     if event.kind == "app_mention" {
//!         let reply = PostMessage::new(channel, "On it!").in_thread(ts);
//!         io.slack.post_message("reply", reply).await?;
//!     }
//!     Ok(())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SlackConfig::new(Secret::new("xoxb-..")).signing_secret(Secret::new("8f74.."));
//! let engine = Engine::builder().connector(Slack::init(config)).job(AnswerMentionsJob).build()?;
//! // Serve `POST /webhooks/slack/events` and point the app's Event Subscriptions at it.
//! connector_runtime::server::start(engine, Default::default()).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod api;
pub mod events;
pub mod signature;
pub mod types;

use connector_runtime::client::Auth;
use connector_runtime::prelude::*;
use connector_runtime::webhook::SignatureError;
use futures::{Stream, TryStreamExt, stream};
use http::{HeaderMap, HeaderValue};

pub use api::error_for;
pub use events::{Envelope, Event, EventDelivery, ReactionItem};
pub use types::{
    Conversation, ConversationRef, History, HistoryPage, Message, PostMessage, PostedMessage, Topic, User, UserProfile,
    UserRef,
};

/// Where Slack's Web API lives.
pub const SLACK_API: &str = "https://slack.com/api";

/// The most messages `conversations.history` is asked for per page (Slack advises 200 or fewer).
const HISTORY_PAGE: usize = 200;

/// Config of the Slack connector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlackConfig {
    /// The bot token (`xoxb-..`), sent as a bearer token.
    pub bot_token: Secret,
    /// Where the Web API lives (default `https://slack.com/api`).
    #[serde(default = "slack_api")]
    pub base_url: String,
    /// The app's signing secret (Basic Information, App Credentials); only the `events`
    /// trigger needs it.
    #[serde(default)]
    pub signing_secret: Option<Secret>,
}

fn slack_api() -> String {
    SLACK_API.to_owned()
}

impl SlackConfig {
    /// A config with the bot token, for Slack's public API.
    pub fn new(bot_token: Secret) -> Self {
        SlackConfig { bot_token, base_url: slack_api(), signing_secret: None }
    }

    /// The same config, for a Web API at `base_url` (a fake in tests, say).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The same config, with the signing secret the `events` trigger checks requests with.
    pub fn signing_secret(mut self, secret: Secret) -> Self {
        self.signing_secret = Some(secret);
        self
    }

    fn method(&self, method: &str) -> String {
        format!("{}/{method}", self.base_url)
    }
}

/// What `auth.test` answers: enough to know the token works.
#[derive(Deserialize)]
struct AuthTest {}

/// `conversations.info`'s answer.
#[derive(Deserialize)]
struct ConversationAnswer {
    channel: Conversation,
}

/// `users.info`'s answer.
#[derive(Deserialize)]
struct UserAnswer {
    user: User,
}

/// One page of `conversations.history`.
#[derive(Deserialize)]
struct HistoryAnswer {
    messages: Vec<Message>,
    #[serde(default)]
    response_metadata: Option<ResponseMetadata>,
}

#[derive(Deserialize)]
struct ResponseMetadata {
    #[serde(default)]
    next_cursor: String,
}

/// The Slack connector.
pub struct Slack;

/// Slack's Web API with a bot token, and its Events API.
#[connector(
    id = "slack",
    name = "Slack",
    version = "0.1.0",
    config = SlackConfig,
    auth = Self::auth,
    check = Self::check
)]
impl Slack {
    /// Every request carries the bot token as a bearer token.
    fn auth(config: &SlackConfig) -> Auth {
        Auth::Bearer(config.bot_token.clone())
    }

    /// `auth.test`: whether the token is good.
    async fn check(ctx: &ActionContext<SlackConfig>) -> Result<(), ActionError> {
        let _: AuthTest = api::call(ctx.http().post(ctx.config().method("auth.test"))).await?;
        Ok(())
    }

    /// Posts a message to a conversation, or in a thread with `thread_ts` (needs `chat:write`).
    ///
    /// Slack has no idempotency keys: a post retried after a timeout may appear twice.
    #[action(id = "chat.postMessage", name = "Post Message")]
    pub async fn post_message(
        ctx: &ActionContext<SlackConfig>,
        input: PostMessage,
    ) -> Result<PostedMessage, ActionError> {
        let request = ctx
            .http()
            .post(ctx.config().method("chat.postMessage"))
            // Slack warns (`missing_charset`) about JSON without a charset.
            .header(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"))
            .json(&input);
        api::call(request).await
    }

    /// Reads a conversation's details: name, privacy, topic, purpose, member count (needs
    /// `channels:read`, or `groups:read` for private channels).
    #[action(id = "conversations.info", name = "Conversation Info")]
    pub async fn conversation_info(
        ctx: &ActionContext<SlackConfig>,
        input: ConversationRef,
    ) -> Result<Conversation, ActionError> {
        let include = if input.include_num_members { "true" } else { "false" };
        let request = ctx
            .http()
            .get(ctx.config().method("conversations.info"))
            .query(&[("channel", input.channel.as_str()), ("include_num_members", include)]);
        Ok(api::call::<ConversationAnswer>(request).await?.channel)
    }

    /// Reads a conversation's messages, newest first, following `response_metadata.next_cursor`
    /// until `limit` messages or the last page (needs `channels:history`).
    #[action(id = "conversations.history", name = "Conversation History")]
    pub async fn conversation_history(
        ctx: &ActionContext<SlackConfig>,
        input: History,
    ) -> Result<HistoryPage, ActionError> {
        let limit = input.limit;
        // One more than asked for, so a full first page also says whether there are more.
        let mut messages = std::pin::pin!(history(ctx, History { limit: limit.saturating_add(1), ..input }));
        let mut page = HistoryPage { messages: Vec::new(), has_more: false };
        while let Some(message) = messages.try_next().await? {
            if page.messages.len() == limit {
                page.has_more = true;
                break;
            }
            page.messages.push(message);
        }
        Ok(page)
    }

    /// Reads a member of the workspace: names, time zone, profile (needs `users:read`; the email
    /// needs `users:read.email`).
    #[action(id = "users.info", name = "User Info")]
    pub async fn user_info(ctx: &ActionContext<SlackConfig>, input: UserRef) -> Result<User, ActionError> {
        let request = ctx.http().get(ctx.config().method("users.info")).query(&[("user", input.user.as_str())]);
        Ok(api::call::<UserAnswer>(request).await?.user)
    }

    /// An event of the Events API (`message`, `app_mention`, `reaction_added`, ..), signed with
    /// the app's signing secret, deduplicated by its `event_id` (Slack's retries start nothing
    /// new). The `url_verification` handshake is answered with its challenge and starts nothing;
    /// `app_rate_limited` notices are logged and start nothing.
    #[trigger(id = "events", name = "Events", webhook(verify = Self::verify_request))]
    pub async fn events(
        ctx: &TriggerContext<SlackConfig>,
        envelope: Envelope,
    ) -> Result<Option<EventDelivery>, ActionError> {
        match envelope.kind.as_str() {
            "url_verification" => {
                let challenge = envelope.challenge.unwrap_or_default();
                ctx.reply(serde_json::json!({ "challenge": challenge }));
                Ok(None)
            }
            "event_callback" => {
                let (Some(event), Some(event_id)) = (envelope.event, envelope.event_id) else {
                    return Err(ActionError::InvalidInput("an `event_callback` without `event` or `event_id`".into()));
                };
                let event: Event = serde_json::from_value(event)
                    .map_err(|error| ActionError::InvalidInput(format!("the event of `{event_id}`: {error}")))?;
                // Slack retries an event it got no 2xx for with the same id: it starts nothing new.
                ctx.delivery_id(event_id.as_str());
                Ok(Some(EventDelivery {
                    event_id,
                    event_time: envelope.event_time.unwrap_or_default(),
                    team_id: envelope.team_id.unwrap_or_default(),
                    event,
                }))
            }
            other => {
                ctx.logger().warn(format!("Slack sent a `{other}` request; nothing to start"));
                Ok(None)
            }
        }
    }

    /// Slack's request signing, with the config's signing secret.
    fn verify_request(config: &SlackConfig, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        match &config.signing_secret {
            Some(secret) => signature::verify(secret, headers, body),
            None => Err(SignatureError::NoSecretConfigured { field: "signingSecret" }),
        }
    }
}

/// A conversation's messages as a stream, newest first, one `conversations.history` request per
/// page (each as large as `input.limit` allows, up to 200), until the last page: take as many
/// as you need, the stream asks for no page it does not reach.
///
/// ```no_run
/// # use connector_runtime::prelude::*;
/// # use connector_slack::{History, SlackConfig};
/// use futures::{StreamExt, TryStreamExt};
/// # async fn f(ctx: &ActionContext<SlackConfig>) -> Result<(), ActionError> {
/// let from_ada: Vec<_> = connector_slack::history(ctx, History::new("C0123456789", 1000))
///     .try_filter(|message| std::future::ready(message.user.as_deref() == Some("U_ADA")))
///     .take(10)
///     .try_collect()
///     .await?;
/// # Ok(()) }
/// ```
pub fn history<'a>(
    ctx: &'a ActionContext<SlackConfig>,
    input: History,
) -> impl Stream<Item = Result<Message, ActionError>> + Send + 'a {
    let page_size = input.limit.clamp(1, HISTORY_PAGE).to_string();
    stream::try_unfold(Some(String::new()), move |cursor| {
        let (input, page_size) = (input.clone(), page_size.clone());
        async move {
            let Some(cursor) = cursor else { return Ok(None) };
            let mut query = vec![("channel", input.channel), ("limit", page_size)];
            query.extend(input.oldest.map(|oldest| ("oldest", oldest)));
            query.extend(input.latest.map(|latest| ("latest", latest)));
            if input.inclusive {
                query.push(("inclusive", "true".to_owned()));
            }
            if !cursor.is_empty() {
                query.push(("cursor", cursor));
            }
            let request = ctx.http().get(ctx.config().method("conversations.history")).query(&query);
            let page: HistoryAnswer = api::call(request).await?;
            let next = page.response_metadata.map(|meta| meta.next_cursor).filter(|next| !next.is_empty());
            Ok::<_, ActionError>(Some((stream::iter(page.messages.into_iter().map(Ok)), next)))
        }
    })
    .try_flatten()
}
