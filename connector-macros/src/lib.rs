//! Attribute macros for typed connectors. Use them through `connector-runtime`, which
//! re-exports them and holds the traits they implement.
//!
//! Each macro runs the same phases, data flowing one way: **parse** the item (fns up to their
//! signatures, bodies kept as tokens) and the attribute arguments into this crate's model;
//! **validate** every rule rustc cannot check, in one place; **expand** into thin calls to the
//! runtime. On any error it emits the errors instead, with stubs of what it would have
//! generated (the connector's `Connector` impl and client, a job's `{Fn}Io` and `{Fn}Job`), so
//! one mistake is one error, not one more for every job that uses the connector.
//!
//! The entry points here only convert between `proc_macro` and `proc_macro2` token streams; the
//! phases work on `proc_macro2` streams, so they are tested without a compiler.
//!
//! # Durations
//!
//! Wherever an argument is a duration it is a string of a number and a unit: `"250ms"`, `"2s"`,
//! `"1.5s"`, `"5m"` (or `"5min"`), `"1h"`.

mod ast;
mod attr;
mod duration;
mod error;
mod expand;
mod fallback;
mod names;
mod stray;
#[cfg(test)]
mod tests;
mod valid;

use proc_macro::TokenStream;

/// Declares a connector on an `impl` block of a unit struct; its `#[action]` and `#[trigger]`
/// fns become the connector's actions and triggers.
///
/// ```text
/// #[connector(id = "simple-chat", name = "Simple Chat", version = "1.0.0", config = SimpleChatConfig)]
/// impl SimpleChat { .. }
/// ```
///
/// # Arguments
///
/// - `id = ".."`: the connector's id, letters, digits, `.`, `_` and `-`. Required.
/// - `name = ".."`: the name people see. Required.
/// - `version = ".."`: a semantic version, `MAJOR.MINOR.PATCH`. Required.
/// - `config = Type`: the config (and secrets) an instance needs, `Deserialize + JsonSchema`.
///   Required.
/// - `description = ".."`: what the connector is for; by default the impl block's doc comment.
/// - `auth = path`: how requests authenticate, a `fn(&Config) -> connector_runtime::client::Auth`
///   applied to every request of the instance's HTTP client.
/// - `check = path`: a credential check, a cheap authenticated call, run by
///   `Integration::check` and `Engine::check`:
///
///   ```text
///   async fn check(ctx: &ConnectorContext<Config>) -> Result<(), E>   // E: Into<ActionError>
///   ```
/// - `rate_limit(..)`: how fast an instance may call the service, shared by every run using it:
///   - `per_second = n`: requests that may start each second, on average (1 or more; no
///     limit without it);
///   - `burst = n`: requests that may go at once after a quiet spell (1 or more; needs
///     `per_second`, which it defaults to);
///   - `concurrency = n`: requests in flight at once (1 or more; no limit without it).
///
/// # What it generates
///
/// For `impl SimpleChat`: `impl Connector for SimpleChat`; `SimpleChat::init(config)`, the
/// instance to register with the engine; the typed client `SimpleChatClient<'io>`, with one
/// method per action taking a step key and the input, and `with_retry(policy)`; one constant
/// per action and trigger naming it as a value (`SimpleChat::SEND_MESSAGE`,
/// `SimpleChat::MESSAGE_RECEIVED`). Every `#[cfg(..)]` on a member fn is carried onto each of
/// these items for it.
///
/// A member fn may not be named `init`, `client`, `with_retry` (actions), or so that its
/// constant is one of the `Connector` trait's (`ID`, `NAME`, `VERSION`, `DESCRIPTION`,
/// `TYPE_NAME`, `RATE_LIMIT`, `HAS_CHECK`) or another member's or item's of the block.
#[proc_macro_attribute]
pub fn connector(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::connector(args.into(), item.into()).into()
}

/// Marks an `async fn` inside a `#[connector]` impl block as an action:
///
/// ```text
/// #[action(id = "sendMessage", name = "Send Message")]
/// async fn send_message(ctx: &ActionContext<Config>, input: Input) -> Result<Output, E>
/// ```
///
/// `Input` and `Output` are `Serialize + Deserialize + JsonSchema` and owned (they are stored
/// with the run); `E: Into<ActionError>`.
///
/// # Arguments
///
/// - `id = ".."`: unique among the connector's actions. Required.
/// - `name = ".."`: the name people see. Required.
/// - `description = ".."`: by default the fn's doc comment.
/// - `retry(..)`: the action's own retry policy, over the job's and the engine's; unset keys
///   keep the runtime's defaults:
///   - `max_attempts = n`: attempts in all, the first included (1 or more; default 5);
///   - `factor = x`: each delay is the previous one times this (at least 1.0; default 1.8);
///   - `min_delay = ".."`: the delay after the first failure (default `"1s"`; not longer than
///     `max_delay`);
///   - `max_delay = ".."`: no delay is longer (default `"60s"`);
///   - `jitter = bool`: randomize each delay between half and all of it (default `true`; a
///     bare `jitter` is `true`);
///   - `timeout = ".."`: how long one attempt may take (at least `"1ms"`; default `"60s"`).
///
/// The attribute is read by `#[connector]` by its name, `action` (or a path ending in it):
/// renamed with `use .. as ..` it is not seen.
#[proc_macro_attribute]
pub fn action(args: TokenStream, item: TokenStream) -> TokenStream {
    stray::expand("action", args.into(), item.into()).into()
}

/// Marks an `async fn` inside a `#[connector]` impl block as a trigger:
///
/// ```text
/// #[trigger(id = "message.received", name = "Message Received")]
/// async fn message_received(ctx: &TriggerContext<Config>, payload: Payload) -> Result<Option<JobPayload>, E>
/// ```
///
/// The fn turns one delivery into what a job receives, or `None` to ignore it; `ctx.headers()`
/// holds the request's headers, so one webhook can route by an event-type header. With `poll(..)`
/// it is a polling trigger instead:
///
/// ```text
/// #[trigger(id = "issue.opened", name = "Issue Opened", poll(every = "30s"))]
/// async fn issue_opened(ctx: &TriggerContext<Config>, cursor: Option<Cursor>) -> Result<Polled<Item, Cursor>, E>
/// ```
///
/// # Arguments
///
/// - `id = ".."`: unique among the connector's triggers. Required.
/// - `name = ".."`: the name people see. Required.
/// - `description = ".."`: by default the fn's doc comment.
/// - `webhook(..)`: how deliveries are signed (one scheme), and optionally how the trigger
///   registers its webhook. `secret = field` names the config field holding the secret:
///   - `github(secret = field)`: `X-Hub-Signature-256`;
///   - `stripe(secret = field, tolerance = "5m")`: `Stripe-Signature`, with a timestamp within
///     `tolerance` (default 5 minutes);
///   - `standard(secret = field, tolerance = "5m")`: Standard Webhooks;
///   - `hmac_sha256(header = "X-Signature", prefix = "sha256=", secret = field, delivery_id = "X-Delivery")`:
///     a hex HMAC-SHA256 of the body in `header` after `prefix` (default none), and the header
///     carrying the delivery's id (default none);
///   - `verify = path`: a check of your own,
///     `fn(&Config, &HeaderMap, &[u8]) -> Result<(), connector_runtime::webhook::signature::SignatureError>`;
///   - `unsigned`: no scheme, on purpose (an internal service that signs nothing). A webhook
///     trigger with neither a scheme nor `unsigned` is refused when the engine is built, and the
///     server logs a warning for each unsigned route when it starts;
///   - `subscribe = path, unsubscribe = path` (both or neither): registers the webhook on start
///     and removes it on shutdown:
///
///     ```text
///     async fn subscribe(ctx: &TriggerContext<Config>, url: String) -> Result<String, E>   // the subscription's id
///     async fn unsubscribe(ctx: &TriggerContext<Config>, id: String) -> Result<(), E>
///     ```
/// - `poll(every = "..")`: a polling trigger, polled this often (at least `"1ms"`). A trigger
///   either receives webhooks or polls.
#[proc_macro_attribute]
pub fn trigger(args: TokenStream, item: TokenStream) -> TokenStream {
    stray::expand("trigger", args.into(), item.into()).into()
}

/// Declares a job on an `async fn(payload, io) -> Result<T, E>`:
///
/// ```text
/// #[job(id = "send-chat-message", name = "Send Chat Message", version = "1.0.0",
///       event = SendMessageEvent, integrations(chat = SimpleChat))]
/// async fn send_chat_message(payload: SendMessageEvent, io: SendChatMessageIo<'_>) -> Result<T, E>
/// ```
///
/// # Arguments
///
/// - `id = ".."`, `name = ".."`, `version = ".."` (semantic): required, as for a connector.
/// - `description = ".."`: by default the fn's doc comment.
/// - Exactly one trigger:
///   - `event = Type`: a `#[derive(Event)]` type, which is the payload;
///   - `trigger = Connector::trigger_fn`: a connector's `#[trigger]` fn (not an action), whose
///     `JobPayload` is the payload;
///   - `cron = ".."`: a cron expression (5 fields, 6 with seconds first, 7 with a year last,
///     or an alias like `"@hourly"`), or `every = ".."`: an interval; the payload is a `Tick`.
/// - `integrations(key = Connector, ..)`: the connectors the job calls, each a field of `io`.
/// - `retry(..)`: the retry policy of the job's steps, as for an action's.
/// - `concurrency = n`: how many runs may execute at once (1 or more); the rest wait queued.
///
/// # What it generates
///
/// For `fn send_chat_message`: the marker `SendChatMessageJob` to register with the engine, and
/// `SendChatMessageIo<'io>`, the type of the `io` parameter, with one typed client field per
/// integration (`io.chat.send_message("step-key", input)`), which derefs to the run's `Io`.
#[proc_macro_attribute]
pub fn job(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::job(args.into(), item.into()).into()
}

/// Binds a payload type to an event name: `#[derive(Event)] #[event(name = "manual.send.message")]`.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(item: TokenStream) -> TokenStream {
    expand::event(item.into()).into()
}
