//! Polling triggers: `#[trigger(.., poll(every = "30s"))]` fns that fetch what is new since a
//! cursor the engine keeps in the run store.
//!
//! Every interval the engine reads the trigger's cursor (key `poll:{connector}/{trigger}`),
//! calls the fn with it, accepts each item it returns as a delivery (source
//! `poll:{connector}/{trigger}`, the item's id as the delivery id) starting the jobs it triggers,
//! and only then saves the new cursor. A crash between the two fetches the same items again,
//! and they are deduplicated by id: each item starts its jobs once, across restarts and across
//! engines sharing a store.

use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;

use crate::connector::{Connector, Integration, Payload, TriggerContext};
use crate::engine::Engine;
use crate::error::{ActionError, EngineError};
use crate::job::TriggerRef;
use crate::run::RunId;
use crate::store::Delivery;

/// What a polling trigger fn returns: the items found, each with its id, and where to go on from.
///
/// ```
/// # use connector_runtime::Polled;
/// # struct Issue { number: u64 }
/// # let issues = vec![Issue { number: 7 }, Issue { number: 9 }];
/// let last = issues.last().map(|issue| issue.number);
/// let polled: Polled<Issue, u64> = issues.into_iter().map(|issue| (issue.number.to_string(), issue)).collect();
/// let polled = polled.with_cursor(last);
/// assert_eq!(polled.items.len(), 2);
/// assert_eq!(polled.cursor, Some(9));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Polled<T, C> {
    /// The items, in the order their runs should start, each with an id that is stable across
    /// polls: an item seen before (same id) is skipped.
    pub items: Vec<(String, T)>,
    /// The cursor to pass to the next poll; `None` keeps the current one.
    pub cursor: Option<C>,
}

impl<T, C> Polled<T, C> {
    /// Nothing new; the cursor stays as it is.
    pub fn nothing() -> Self {
        Polled { items: Vec::new(), cursor: None }
    }

    /// `items`, each with the id `id` gives it; the cursor stays as it is until
    /// [`Polled::with_cursor`].
    pub fn from_items<I: ToString>(items: impl IntoIterator<Item = T>, id: impl Fn(&T) -> I) -> Self {
        items.into_iter().map(|item| (id(&item).to_string(), item)).collect()
    }

    /// Adds an item with its id.
    pub fn push(&mut self, id: impl Into<String>, item: T) {
        self.items.push((id.into(), item));
    }

    /// This, with the item `item` of id `id` added.
    pub fn item(mut self, id: impl Into<String>, item: T) -> Self {
        self.push(id, item);
        self
    }

    /// This, moving the cursor to `cursor` (`None` keeps the current one).
    pub fn with_cursor(mut self, cursor: impl Into<Option<C>>) -> Self {
        self.cursor = cursor.into();
        self
    }
}

impl<T, C> Default for Polled<T, C> {
    fn default() -> Self {
        Polled::nothing()
    }
}

impl<T, C> FromIterator<(String, T)> for Polled<T, C> {
    fn from_iter<I: IntoIterator<Item = (String, T)>>(items: I) -> Self {
        Polled { items: items.into_iter().collect(), cursor: None }
    }
}

/// The bounds on a polling trigger's cursor: it is stored as JSON between polls.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a polling cursor",
    label = "needs `Serialize` and `Deserialize`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize)]` to `{Self}`"
)]
pub trait PollCursor: Serialize + DeserializeOwned + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> PollCursor for T {}

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

crate::connector::member_value!(PollOf, PollFn);

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

/// Why a poll did not complete. Nothing after the failure was recorded: the cursor stays where
/// it was, so the next poll fetches the same items again (and skips those already accepted).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PollError {
    /// The connector of the trigger is not registered with the engine.
    #[error("connector `{0}` is not registered with the engine")]
    NotRegistered(&'static str),
    /// The trigger fn failed.
    #[error("the poll failed: {0}")]
    Poll(#[source] ActionError),
    /// The stored cursor does not fit the trigger's cursor type (it changed since it was saved).
    #[error("the cursor stored under `{key}` does not fit the trigger's cursor type ({message}); fix or delete it")]
    Cursor {
        /// The cursor's key in the store.
        key: String,
        /// What serde said.
        message: String,
    },
    /// An item or the cursor could not be turned into JSON.
    #[error("the poll's result could not be serialized: {0}")]
    Serialization(String),
    /// The engine (its store) failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<crate::store::StoreError> for PollError {
    fn from(error: crate::store::StoreError) -> Self {
        PollError::Engine(error.into())
    }
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PollReport {
    /// How many items the trigger fn returned.
    pub items: usize,
    /// How many of them were new (never accepted before).
    pub new_items: usize,
    /// The runs the new items started.
    pub runs: Vec<RunId>,
}

/// The erased poll of one trigger of connector `C`: cursor in, items and cursor out, as JSON.
type ErasedPoll<C> = fn(Integration<C>, Option<Value>) -> BoxFuture<'static, Result<Polled<Value, Value>, PollError>>;

/// One polling trigger of connector `C`, with its types erased to JSON. `#[connector]` lists one
/// per polling trigger fn.
pub struct PollEntry<C: Connector> {
    pub(crate) id: &'static str,
    pub(crate) every: Duration,
    pub(crate) poll: ErasedPoll<C>,
}

impl<C: Connector> PollEntry<C> {
    /// The entry of the polling trigger fn keyed `KEY`.
    pub fn of<const KEY: u64>() -> Self
    where
        C: PollFn<KEY>,
    {
        PollEntry { id: <C as PollFn<KEY>>::ID, every: <C as PollFn<KEY>>::EVERY, poll: erased_poll::<C, KEY> }
    }
}

fn erased_poll<C: PollFn<KEY>, const KEY: u64>(
    integration: Integration<C>,
    cursor: Option<Value>,
) -> BoxFuture<'static, Result<Polled<Value, Value>, PollError>> {
    Box::pin(async move {
        let cursor = cursor.map(serde_json::from_value::<<C as PollFn<KEY>>::Cursor>).transpose().map_err(|error| {
            PollError::Cursor {
                key: cursor_key(<C as Connector>::ID, <C as PollFn<KEY>>::ID),
                message: error.to_string(),
            }
        })?;
        let polled = <C as PollFn<KEY>>::poll(&integration.context(), cursor).await.map_err(PollError::Poll)?;
        let serialization = |error: serde_json::Error| PollError::Serialization(error.to_string());
        let items = polled
            .items
            .into_iter()
            .map(|(id, item)| Ok((id, serde_json::to_value(item).map_err(serialization)?)))
            .collect::<Result<_, PollError>>()?;
        let cursor = polled.cursor.map(serde_json::to_value).transpose().map_err(serialization)?;
        Ok(Polled { items, cursor })
    })
}

/// A polling trigger bound to its connector instance, as the engine keeps it.
pub(crate) struct RegisteredPoll {
    pub(crate) connector: &'static str,
    pub(crate) trigger: &'static str,
    pub(crate) every: Duration,
    poll: BoundPoll,
}

/// An [`ErasedPoll`] bound to its connector instance.
type BoundPoll =
    Box<dyn Fn(Option<Value>) -> BoxFuture<'static, Result<Polled<Value, Value>, PollError>> + Send + Sync>;

impl RegisteredPoll {
    pub(crate) fn of<C: Connector>(integration: &Integration<C>, entry: PollEntry<C>) -> Self {
        let integration = integration.clone();
        let poll = entry.poll;
        RegisteredPoll {
            connector: C::ID,
            trigger: entry.id,
            every: entry.every,
            poll: Box::new(move |cursor| poll(integration.clone(), cursor)),
        }
    }

    /// The cursor's key in the store, and the source of the trigger's deliveries.
    pub(crate) fn key(&self) -> String {
        cursor_key(self.connector, self.trigger)
    }

    pub(crate) fn trigger_ref(&self) -> TriggerRef {
        TriggerRef::Connector { connector: self.connector.to_owned(), trigger: self.trigger.to_owned() }
    }
}

fn cursor_key(connector: &str, trigger: &str) -> String {
    format!("poll:{connector}/{trigger}")
}

impl Engine {
    /// Polls a polling trigger once, now, as its background task does every interval (see
    /// [`Engine::start_triggers`]): reads its cursor, calls the trigger fn, starts the jobs it
    /// triggers for each item not accepted before, then saves the new cursor.
    /// `engine.poll_now(IssueTracker::NEW_ISSUES).await?`.
    pub async fn poll_now<P: PollTrigger>(&self, _trigger: P) -> Result<PollReport, PollError> {
        let connector = <P::Connector as Connector>::ID;
        let poll = self
            .registry()
            .polls
            .iter()
            .find(|poll| poll.connector == connector && poll.trigger == P::ID)
            .ok_or(PollError::NotRegistered(connector))?;
        self.poll_once(poll).await
    }

    pub(crate) async fn poll_once(&self, poll: &RegisteredPoll) -> Result<PollReport, PollError> {
        let key = poll.key();
        let cursor = self.store().cursor(&key).await?;
        let polled = (poll.poll)(cursor).await?;
        let trigger = poll.trigger_ref();
        let mut report = PollReport { items: polled.items.len(), ..PollReport::default() };
        // Each item is accepted (with its runs, atomically) before the cursor moves past it.
        for (id, item) in polled.items {
            let delivery = Delivery { source: key.clone(), id, received_at: Utc::now() };
            let started = self.start_runs(trigger.clone(), item, Some(delivery)).await?;
            if !started.duplicate {
                report.new_items += 1;
                report.runs.extend(started.runs);
            }
        }
        if let Some(cursor) = polled.cursor {
            self.store().save_cursor(&key, &cursor).await?;
        }
        Ok(report)
    }
}

/// The task of one polling trigger: polls now, then every interval (or after the wait a
/// rate-limited service asked for, if longer), until told to stop.
pub(crate) async fn run_poll(engine: Engine, index: usize, mut stop: watch::Receiver<bool>) {
    let Some(poll) = engine.registry().polls.get(index) else { return };
    let (connector, trigger, every) = (poll.connector, poll.trigger, poll.every);
    tracing::info!(connector, trigger, every = %crate::schedule::format_duration(every), "polling started");
    loop {
        let wait = match engine.poll_once(poll).await {
            Ok(report) => {
                if report.items > 0 {
                    tracing::info!(connector, trigger, items = report.items, new = report.new_items, "polled");
                }
                every
            }
            Err(PollError::Poll(ActionError::RateLimited { retry_after: Some(after), message })) => {
                tracing::warn!(connector, trigger, %message, retry_after_ms = after.as_millis(), "poll rate limited");
                every.max(after)
            }
            Err(error) => {
                tracing::warn!(connector, trigger, %error, "poll failed; trying again next interval");
                every
            }
        };
        if !crate::schedule::sleep_for(wait, &mut stop).await {
            return;
        }
    }
}
