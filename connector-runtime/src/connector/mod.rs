//! What a connector is: the [`Connector`] trait `#[connector]` implements, its members
//! ([`Action`], [`Trigger`], [`PollTrigger`]), a configured instance ([`Integration`]) and the
//! context its fns receive ([`ConnectorContext`]).
//!
//! Above the client toolkit and webhook verification (a connector declares its auth and its
//! signature schemes), below the engine (which erases these types once, when they are registered).

mod check;
mod integration;
mod manifest;
mod member;

mod poll;

pub use check::CheckError;
pub use integration::{ActionContext, ConnectorContext, Integration, TriggerContext};
pub use member::{Action, ActionFn, ActionOf, Trigger, TriggerFn, TriggerOf};
pub use poll::{PollFn, PollOf, PollTrigger};

use std::future::Future;

use crate::client::Auth;
use crate::model::{ActionError, ActionManifest, ConnectorConfig, ConnectorManifest, RateLimit, TriggerManifest};

/// A connector: its identity, config type, actions and triggers. Implemented by `#[connector]`.
pub trait Connector: Sized + Send + Sync + 'static {
    /// The config (and secrets) an instance needs.
    type Config: ConnectorConfig;

    /// The connector's id (`[A-Za-z0-9._-]+`).
    const ID: &'static str;
    /// A human-readable name.
    const NAME: &'static str;
    /// The connector's semantic version.
    const VERSION: &'static str;
    /// What the connector is for (from its doc comment).
    const DESCRIPTION: &'static str;
    /// The Rust type's name, for error messages.
    const TYPE_NAME: &'static str;
    /// How fast an instance may call the service (`#[connector(rate_limit(..))]`).
    const RATE_LIMIT: RateLimit = RateLimit::NONE;

    /// The manifests of the connector's actions, in declaration order.
    fn actions() -> Vec<ActionManifest>;

    /// The manifests of the connector's triggers, in declaration order.
    fn triggers() -> Vec<TriggerManifest>;

    /// How requests to the service authenticate (`#[connector(auth = Self::auth)]`); the HTTP
    /// helper applies it to every request.
    fn auth(_config: &Self::Config) -> Auth {
        Auth::None
    }

    /// Whether the connector declares a credential check (`#[connector(check = Self::check)]`).
    const HAS_CHECK: bool = false;

    /// Verifies the config against the service (a cheap authenticated call).
    fn check(_ctx: &ConnectorContext<Self::Config>) -> impl Future<Output = Result<(), ActionError>> + Send {
        async { Ok(()) }
    }

    /// The connector's manifest.
    fn manifest() -> ConnectorManifest {
        ConnectorManifest::of::<Self>()
    }
}
