//! Polling triggers: [`PollTrigger`], the per-fn [`PollFn`] `#[connector]` implements for each
//! `#[trigger(.., poll(every = ..))]` fn, and [`PollOf`], the value naming one.

use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use super::{Connector, TriggerContext};
use crate::model::{ActionError, Payload, PollCursor, Polled};

/// A polling trigger of a connector; `#[connector]` provides one per
/// `#[trigger(.., poll(every = ..))]` fn as [`PollOf`].
pub trait PollTrigger: Send + Sync + 'static {
    /// The connector the trigger belongs to.
    type Connector: Connector;
    /// What a job triggered by it receives: one item.
    type Item: Payload;
    /// Where the trigger has read up to.
    type Cursor: PollCursor;

    /// The trigger's id, unique within its connector.
    const ID: &'static str;
    /// A human-readable name.
    const NAME: &'static str;
    /// What the trigger reports (from its doc comment).
    const DESCRIPTION: &'static str;
    /// How often it polls.
    const EVERY: Duration;

    /// Fetches what is new since `cursor` (`None` on the first poll).
    fn poll(
        ctx: &TriggerContext<<Self::Connector as Connector>::Config>,
        cursor: Option<Self::Cursor>,
    ) -> impl Future<Output = Result<Polled<Self::Item, Self::Cursor>, ActionError>> + Send;
}

/// One polling `#[trigger]` fn of connector `Self`, keyed by a hash of the fn's name; see
/// [`crate::__private::ActionFn`].
#[doc(hidden)]
pub trait PollFn<const KEY: u64>: Connector {
    /// One item.
    type Item: Payload;
    /// The cursor.
    type Cursor: PollCursor;
    /// The trigger's id.
    const ID: &'static str;
    /// A human-readable name.
    const NAME: &'static str;
    /// What the trigger reports.
    const DESCRIPTION: &'static str;
    /// How often it polls.
    const EVERY: Duration;
    /// Fetches what is new since `cursor`.
    fn poll(
        ctx: &TriggerContext<Self::Config>,
        cursor: Option<Self::Cursor>,
    ) -> impl Future<Output = Result<Polled<Self::Item, Self::Cursor>, ActionError>> + Send;
}

/// The polling trigger of connector `C` whose fn name hashes to `KEY`. `#[connector]` names each
/// one with a constant on the connector: `engine.poll_now(IssueTracker::NEW_ISSUES)`.
pub struct PollOf<C, const KEY: u64>(PhantomData<fn() -> C>);

super::member::member_value!(PollOf, PollFn);

impl<C: PollFn<KEY>, const KEY: u64> PollTrigger for PollOf<C, KEY> {
    type Connector = C;
    type Item = <C as PollFn<KEY>>::Item;
    type Cursor = <C as PollFn<KEY>>::Cursor;
    const ID: &'static str = <C as PollFn<KEY>>::ID;
    const NAME: &'static str = <C as PollFn<KEY>>::NAME;
    const DESCRIPTION: &'static str = <C as PollFn<KEY>>::DESCRIPTION;
    const EVERY: Duration = <C as PollFn<KEY>>::EVERY;

    fn poll(
        ctx: &TriggerContext<C::Config>,
        cursor: Option<Self::Cursor>,
    ) -> impl Future<Output = Result<Polled<Self::Item, Self::Cursor>, ActionError>> + Send {
        <C as PollFn<KEY>>::poll(ctx, cursor)
    }
}
