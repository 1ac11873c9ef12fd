//! What `#[connector]` implements for the engine beside [`Connector`]: the typed client a job's
//! `io` holds, and a walk over the connector's members in which the engine boxes each one once,
//! bound to its instance, when the instance is registered.

use futures::future::BoxFuture;

use super::io::Io;
use crate::connector::{ActionFn, Connector, Integration, PollFn, TriggerFn};
use crate::model::ActionError;

/// Registers a trigger's webhook with the service: gets the URL to call, returns the
/// subscription's id.
pub type SubscribeFn<C> = fn(Integration<C>, String) -> BoxFuture<'static, Result<String, ActionError>>;
/// Removes a subscription by the id [`SubscribeFn`] returned.
pub type UnsubscribeFn<C> = fn(Integration<C>, String) -> BoxFuture<'static, Result<(), ActionError>>;

/// The engine's side of a connector: implemented by `#[connector]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a connector",
    label = "not a connector",
    note = "add `#[connector(id = .., name = .., version = .., config = ..)]` to an `impl {Self}` block holding its actions"
)]
pub trait ConnectorMembers: Connector {
    /// The keys of the connector's actions: `#[job(trigger = ..)]` checks with them, at compile
    /// time, that it names a trigger (and says so in one error when it names an action).
    const ACTIONS: &'static [u64];
    /// The keys of the connector's triggers, webhook and polling.
    const TRIGGERS: &'static [u64];

    /// The typed client a job reaches through `io`, one method per action.
    type Client<'io>;

    /// The typed client for a job's run.
    fn client<'io>(io: &'io Io, integration: &'io Integration<Self>) -> Self::Client<'io>;

    /// Hands each action, trigger and polling trigger to `visitor`, in declaration order.
    fn visit<V: MemberVisitor<Self>>(visitor: &mut V);
}

/// Receives a connector's members from [`ConnectorMembers::visit`], each named by its key.
pub trait MemberVisitor<C: Connector> {
    /// The action fn keyed `KEY`.
    fn action<const KEY: u64>(&mut self)
    where
        C: ActionFn<KEY>;

    /// The webhook trigger fn keyed `KEY`, with the fns that register and remove its webhook
    /// with the service, if it registers itself.
    fn trigger<const KEY: u64>(&mut self, subscription: Option<(SubscribeFn<C>, UnsubscribeFn<C>)>)
    where
        C: TriggerFn<KEY>;

    /// The polling trigger fn keyed `KEY`.
    fn poll<const KEY: u64>(&mut self)
    where
        C: PollFn<KEY>;
}
