//! Polling triggers: `#[trigger(.., poll(every = "30s"))]` fns that fetch what is new since a
//! cursor the engine keeps in the run store.
//!
//! Every interval the engine reads the trigger's cursor (key `poll:{connector}/{trigger}`),
//! calls the fn with it, accepts each item it returns as a delivery (source
//! `poll:{connector}/{trigger}`, the item's id as the delivery id) starting the jobs it triggers,
//! and only then saves the new cursor. A crash between the two fetches the same items again,
//! and they are deduplicated by id: each item starts its jobs once, across restarts and across
//! engines sharing a store.

use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::watch;

use super::{Engine, PollError};
use crate::connector::{Connector, Integration, PollFn, PollTrigger};
use crate::model::{ActionError, Polled, RunId, TriggerRef};
use crate::store::Delivery;

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

/// Polls the trigger fn keyed `KEY` once: cursor in, items and cursor out, as JSON.
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

/// A poll bound to its connector instance: cursor in, items and cursor out, as JSON.
type BoundPoll =
    Box<dyn Fn(Option<Value>) -> BoxFuture<'static, Result<Polled<Value, Value>, PollError>> + Send + Sync>;

impl RegisteredPoll {
    /// The polling trigger fn keyed `KEY` of `integration`.
    pub(crate) fn of<C: PollFn<KEY>, const KEY: u64>(integration: &Integration<C>) -> Self {
        let integration = integration.clone();
        RegisteredPoll {
            connector: <C as Connector>::ID,
            trigger: <C as PollFn<KEY>>::ID,
            every: <C as PollFn<KEY>>::EVERY,
            poll: Box::new(move |cursor| erased_poll::<C, KEY>(integration.clone(), cursor)),
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
    tracing::info!(connector, trigger, every = %crate::model::schedule::format_duration(every), "polling started");
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
        if !super::schedule::sleep_for(wait, &mut stop).await {
            return;
        }
    }
}
