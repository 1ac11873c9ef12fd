//! The members of a connector: [`Action`] and [`Trigger`], the per-fn traits `#[connector]`
//! implements on the connector type ([`ActionFn`], [`TriggerFn`]), and the value types that name
//! a member ([`ActionOf`], [`TriggerOf`]).

use std::future::Future;
use std::sync::Arc;

use super::{Connector, ConnectorContext as ActionContext, ConnectorContext as TriggerContext};
use crate::model::{ActionError, ActionHints, ActionInput, ActionOutput, Payload, RetryPolicy};
use crate::webhook::SignatureScheme;

/// One action of a connector; `#[connector]` provides one per `#[action]` fn as [`ActionOf`].
pub trait Action: Send + Sync + 'static {
    /// The connector the action belongs to.
    type Connector: Connector;
    /// What the action takes.
    type Input: ActionInput;
    /// What the action returns.
    type Output: ActionOutput;

    /// The action's id, unique within its connector.
    const ID: &'static str;
    /// A human-readable name.
    const NAME: &'static str;
    /// What the action does (from its doc comment).
    const DESCRIPTION: &'static str;
    /// The action's retry policy (`#[action(retry(..))]`), if it has its own.
    const RETRY: Option<RetryPolicy> = None;
    /// What the action declares about its effect (`#[action(read_only, destructive, idempotent)]`).
    const HINTS: ActionHints = ActionHints::NONE;

    /// Runs the action once.
    fn run(
        ctx: &ActionContext<<Self::Connector as Connector>::Config>,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, ActionError>> + Send;
}

/// One trigger of a connector: receives the service's payload and decides what (if anything) a
/// job receives; `#[connector]` provides one per `#[trigger]` fn as [`TriggerOf`].
pub trait Trigger: Send + Sync + 'static {
    /// The connector the trigger belongs to.
    type Connector: Connector;
    /// What the external service sends.
    type Payload: Payload;
    /// What a job triggered by it receives.
    type Output: Payload;

    /// The trigger's id, unique within its connector.
    const ID: &'static str;
    /// A human-readable name.
    const NAME: &'static str;
    /// What the trigger reports (from its doc comment).
    const DESCRIPTION: &'static str;
    /// Whether its webhook takes unsigned deliveries on purpose (`webhook(unsigned)`).
    const UNSIGNED: bool = false;

    /// Turns one delivery into the job's payload, or `None` to ignore the delivery.
    fn run(
        ctx: &TriggerContext<<Self::Connector as Connector>::Config>,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<Option<Self::Output>, ActionError>> + Send;
}

/// One `#[action]` fn of connector `Self`, keyed by a hash of the fn's name.
///
/// `#[connector]` implements this on the connector type itself (not on a generated struct), so
/// the impl is exactly as visible as the connector and may mention any type the connector can;
/// [`ActionOf`] turns it into an [`Action`].
#[doc(hidden)]
pub trait ActionFn<const KEY: u64>: Connector {
    /// What the action takes.
    type Input: ActionInput;
    /// What the action returns.
    type Output: ActionOutput;
    /// The action's id.
    const ID: &'static str;
    /// A human-readable name.
    const NAME: &'static str;
    /// What the action does.
    const DESCRIPTION: &'static str;
    /// The action's own retry policy.
    const RETRY: Option<RetryPolicy> = None;
    /// What the action declares about its effect.
    const HINTS: ActionHints = ActionHints::NONE;
    /// Runs the action once.
    fn run(
        ctx: &ActionContext<Self::Config>,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, ActionError>> + Send;
}

/// One `#[trigger]` fn of connector `Self`, keyed by a hash of the fn's name; see [`ActionFn`].
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[trigger]` fn of this name",
    note = "a job names a connector trigger by its fn: `trigger = SimpleChat::message_received`"
)]
pub trait TriggerFn<const KEY: u64>: Connector {
    /// What the service sends.
    type Payload: Payload;
    /// What a job receives.
    type Output: Payload;
    /// The trigger's id.
    const ID: &'static str;
    /// A human-readable name.
    const NAME: &'static str;
    /// What the trigger reports.
    const DESCRIPTION: &'static str;
    /// Turns one delivery into the job's payload, or `None`.
    fn run(
        ctx: &TriggerContext<Self::Config>,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<Option<Self::Output>, ActionError>> + Send;
    /// Whether the trigger takes deliveries nobody signed on purpose (`webhook(unsigned)`);
    /// the engine refuses a trigger without a signature scheme unless it says so.
    const UNSIGNED: bool = false;
    /// How the trigger's webhook deliveries are signed (`#[trigger(webhook(..))]`), if they are.
    fn signature(_config: &Arc<Self::Config>) -> Option<SignatureScheme> {
        None
    }
}

/// The value types that name a member (`SimpleChat::SEND_MESSAGE`): `new`, `Clone`, `Copy`,
/// `Default`, and a `Debug` that prints `connector.member`.
macro_rules! member_value {
    ($name:ident, $member:ident) => {
        impl<C, const KEY: u64> $name<C, KEY> {
            /// The value (it holds nothing; it names the member).
            pub const fn new() -> Self {
                $name(std::marker::PhantomData)
            }
        }

        impl<C, const KEY: u64> Clone for $name<C, KEY> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<C, const KEY: u64> Copy for $name<C, KEY> {}

        impl<C, const KEY: u64> Default for $name<C, KEY> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<C: $member<KEY>, const KEY: u64> std::fmt::Debug for $name<C, KEY> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let (connector, member) = (<C as $crate::Connector>::ID, <C as $member<KEY>>::ID);
                write!(f, "{}({connector}.{member})", stringify!($name))
            }
        }
    };
}
pub(crate) use member_value;

/// The action of connector `C` whose fn name hashes to `KEY`. `#[connector]` names each one
/// with a constant on the connector: `SimpleChat::SEND_MESSAGE`.
pub struct ActionOf<C, const KEY: u64>(std::marker::PhantomData<fn() -> C>);

member_value!(ActionOf, ActionFn);

impl<C: ActionFn<KEY>, const KEY: u64> Action for ActionOf<C, KEY> {
    type Connector = C;
    type Input = <C as ActionFn<KEY>>::Input;
    type Output = <C as ActionFn<KEY>>::Output;
    const ID: &'static str = <C as ActionFn<KEY>>::ID;
    const NAME: &'static str = <C as ActionFn<KEY>>::NAME;
    const DESCRIPTION: &'static str = <C as ActionFn<KEY>>::DESCRIPTION;
    const RETRY: Option<RetryPolicy> = <C as ActionFn<KEY>>::RETRY;
    const HINTS: ActionHints = <C as ActionFn<KEY>>::HINTS;

    fn run(
        ctx: &ActionContext<C::Config>,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, ActionError>> + Send {
        <C as ActionFn<KEY>>::run(ctx, input)
    }
}

/// The trigger of connector `C` whose fn name hashes to `KEY`. `#[connector]` names each one
/// with a constant on the connector: `SimpleChat::MESSAGE_RECEIVED`.
pub struct TriggerOf<C, const KEY: u64>(std::marker::PhantomData<fn() -> C>);

member_value!(TriggerOf, TriggerFn);

impl<C: TriggerFn<KEY>, const KEY: u64> Trigger for TriggerOf<C, KEY> {
    type Connector = C;
    type Payload = <C as TriggerFn<KEY>>::Payload;
    type Output = <C as TriggerFn<KEY>>::Output;
    const ID: &'static str = <C as TriggerFn<KEY>>::ID;
    const NAME: &'static str = <C as TriggerFn<KEY>>::NAME;
    const DESCRIPTION: &'static str = <C as TriggerFn<KEY>>::DESCRIPTION;
    const UNSIGNED: bool = <C as TriggerFn<KEY>>::UNSIGNED;

    fn run(
        ctx: &TriggerContext<C::Config>,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<Option<Self::Output>, ActionError>> + Send {
        <C as TriggerFn<KEY>>::run(ctx, payload)
    }
}
