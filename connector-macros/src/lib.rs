//! Attribute macros for typed connectors. Use them through `connector-runtime`, which
//! re-exports them and holds the traits they implement.
//!
//! Each macro goes one way: **parse** the attribute arguments (darling) and the item (syn) into
//! this crate's own model, **validate** the rules rustc cannot check (ids, versions, duplicate
//! ids, signatures), then **expand** into thin calls to the runtime. Every failure is a spanned
//! `compile_error!`, emitted beside the user's item unchanged so one mistake does not cascade.
//!
//! The entry points only convert between `proc_macro` and `proc_macro2` token streams; the
//! `expand_*` functions take and return `proc_macro2` streams so they are testable without a
//! compiler.

mod args;
mod connector;
mod event;
mod job;
mod names;
mod policy;
mod schedule;
mod stray;
#[cfg(test)]
mod tests;
mod webhook;

use proc_macro::TokenStream;

/// Declares a connector on an `impl` block of a unit struct; its `#[action]` and `#[trigger]`
/// fns become the connector's actions and triggers.
///
/// Arguments: `id`, `name`, `version` (semver), `config = Type`, and optionally `description`
/// (default: the impl block's doc comment).
///
/// Generates, for `impl SimpleChat`: `impl Connector for SimpleChat`, `SimpleChat::init(config)`,
/// the typed client `SimpleChatClient<'io>` (one method per action, taking a step key and the
/// input), one constant per action and trigger naming it as a value (`SimpleChat::SEND_MESSAGE`,
/// `SimpleChat::MESSAGE_RECEIVED`), and an `ActionFn`/`TriggerFn` impl per member on the
/// connector type itself, keyed by the fn's name.
///
/// More arguments: `auth = Self::auth` (`fn(&Config) -> Auth`), `check = Self::check` (an async
/// credential check), `rate_limit(per_second = .., burst = .., concurrency = ..)`.
#[proc_macro_attribute]
pub fn connector(args: TokenStream, item: TokenStream) -> TokenStream {
    connector::expand(args.into(), item.into()).into()
}

/// Marks an `async fn` inside a `#[connector]` impl block as an action:
/// `#[action(id = "sendMessage", name = "Send Message")]`. The fn takes
/// `ctx: &ActionContext<Config>` and one input value, and returns `Result<Output, E>`.
#[proc_macro_attribute]
pub fn action(args: TokenStream, item: TokenStream) -> TokenStream {
    stray::expand("action", args.into(), item.into()).into()
}

/// Marks an `async fn` inside a `#[connector]` impl block as a trigger:
/// `#[trigger(id = "message.received", name = "Message Received")]`. The fn takes
/// `ctx: &TriggerContext<Config>` and the service's payload, and returns
/// `Result<Option<JobPayload>, E>` (`None` ignores the delivery).
///
/// With `poll(every = "30s")` it is a polling trigger instead: the fn takes the context and
/// `cursor: Option<Cursor>` and returns `Result<Polled<Item, Cursor>, E>`, the new items with
/// their ids and the cursor to poll from next.
#[proc_macro_attribute]
pub fn trigger(args: TokenStream, item: TokenStream) -> TokenStream {
    stray::expand("trigger", args.into(), item.into()).into()
}

/// Declares a job on an `async fn(payload, io) -> Result<T, E>`.
///
/// Arguments: `id`, `name`, `version` (semver), optionally `description`, exactly one of
/// `event = EventType`, `trigger = Connector::trigger_fn`, `cron = "*/5 * * * *"` or
/// `every = "30s"` (a scheduled job's payload is a `Tick`), and `integrations(key = Connector, ..)`.
///
/// Generates, for `fn send_chat_message`: the marker `SendChatMessageJob` to register with the
/// engine, and `SendChatMessageIo<'io>`, the type of the `io` parameter, with one typed client
/// field per integration (`io.chat.send_message("step-key", input)`).
#[proc_macro_attribute]
pub fn job(args: TokenStream, item: TokenStream) -> TokenStream {
    job::expand(args.into(), item.into()).into()
}

/// Binds a payload type to an event name: `#[derive(Event)] #[event(name = "manual.send.message")]`.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(item: TokenStream) -> TokenStream {
    event::expand(item.into()).into()
}
