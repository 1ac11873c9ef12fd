//! Typed events: a payload type bound to an event name with `#[derive(Event)]`.

use super::bounds::Payload;

/// A payload type bound to an event name, so a sender and a job can never disagree on the
/// payload: `engine.send(SendMessage { .. })` and `#[job(event = SendMessage)]` name one type.
///
/// Implemented with `#[derive(Event)]` and `#[event(name = "manual.send.message")]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an event",
    label = "not bound to an event name",
    note = "add `#[derive(connector_runtime::Event)]` and `#[event(name = \"...\")]` to `{Self}`"
)]
pub trait Event: Payload {
    /// The event's name (`[A-Za-z0-9._-]+`).
    const NAME: &'static str;
}
