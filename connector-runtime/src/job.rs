//! Jobs: what `#[job]` implements, and what starts them.

use std::future::Future;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::connector::{Connector, Payload, Trigger};
use crate::error::JobError;
use crate::event::Event;
use crate::io::Io;
use crate::manifest::{JobManifest, schema_of};

/// A job: a function run when its trigger fires. Implemented by `#[job]` on a marker type named
/// `{FnName}Job` (`send_chat_message` -> `SendChatMessageJob`).
pub trait Job: Send + Sync + 'static {
    /// What starts the job: [`OnEvent`] or [`OnTrigger`].
    type Trigger: JobTrigger;
    /// What the job returns (stored as the run's output).
    type Output: Serialize + Send + 'static;

    /// The job's id.
    const ID: &'static str;
    /// A human-readable name.
    const NAME: &'static str;
    /// The job's semantic version.
    const VERSION: &'static str;
    /// What the job does (from its doc comment).
    const DESCRIPTION: &'static str;
    /// The retry policy of the job's steps (`#[job(retry(..))]`), unless an action or a call
    /// sets its own.
    const RETRY: Option<crate::RetryPolicy> = None;
    /// How many runs of this job may execute at once (`#[job(concurrency = 4)]`); the rest wait
    /// queued.
    const CONCURRENCY: Option<usize> = None;

    /// The integrations the job declares.
    fn integrations() -> Vec<IntegrationRef>;

    /// Runs the job once on a payload.
    fn run(
        payload: <Self::Trigger as JobTrigger>::Payload,
        io: &Io,
    ) -> impl Future<Output = Result<Self::Output, JobError>> + Send + '_;

    /// The job's manifest.
    fn manifest() -> JobManifest {
        JobManifest {
            id: Self::ID.to_owned(),
            name: Self::NAME.to_owned(),
            version: Self::VERSION.to_owned(),
            description: crate::manifest::non_empty(Self::DESCRIPTION),
            trigger: <Self::Trigger as JobTrigger>::trigger_ref(),
            payload: schema_of::<<Self::Trigger as JobTrigger>::Payload>(),
            integrations: Self::integrations(),
        }
    }
}

/// What can start a job.
pub trait JobTrigger: Send + Sync + 'static {
    /// What the job receives.
    type Payload: Payload;
    /// Which event or connector trigger this is.
    fn trigger_ref() -> TriggerRef;
    /// When the job runs, for a scheduled job.
    #[doc(hidden)]
    fn schedule() -> Option<crate::schedule::Schedule> {
        None
    }
}

/// A job started by a typed event.
pub struct OnEvent<E>(PhantomData<fn() -> E>);

impl<E: Event> JobTrigger for OnEvent<E> {
    type Payload = E;
    fn trigger_ref() -> TriggerRef {
        TriggerRef::Event { name: E::NAME.to_owned() }
    }
}

/// A job started by a connector's trigger.
pub struct OnTrigger<T>(PhantomData<fn() -> T>);

impl<T: Trigger> JobTrigger for OnTrigger<T> {
    type Payload = T::Output;
    fn trigger_ref() -> TriggerRef {
        TriggerRef::Connector { connector: <T::Connector as Connector>::ID.to_owned(), trigger: T::ID.to_owned() }
    }
}

/// One `#[trigger]` fn of connector `Self`, webhook or polling, as a job names it: what the job
/// receives. `#[connector]` implements it for each trigger fn, keyed like [`crate::__private::TriggerFn`].
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[trigger]` fn of this name",
    note = "a job names a connector trigger by its fn: `trigger = SimpleChat::message_received`"
)]
pub trait JobTriggerFn<const KEY: u64>: Connector {
    /// What a job started by the trigger receives.
    type Output: Payload;
    /// The trigger's id.
    const ID: &'static str;
}

/// A job started by the `#[trigger]` fn of connector `C` keyed `KEY` (a webhook or a polling
/// trigger): what `#[job(trigger = SimpleChat::message_received)]` names.
pub struct OnTriggerFn<C, const KEY: u64>(PhantomData<fn() -> C>);

impl<C: JobTriggerFn<KEY>, const KEY: u64> JobTrigger for OnTriggerFn<C, KEY> {
    type Payload = <C as JobTriggerFn<KEY>>::Output;
    fn trigger_ref() -> TriggerRef {
        TriggerRef::Connector {
            connector: <C as Connector>::ID.to_owned(),
            trigger: <C as JobTriggerFn<KEY>>::ID.to_owned(),
        }
    }
}

/// Names what starts a job, in manifests and runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TriggerRef {
    /// A typed event, by name.
    Event {
        /// The event's name.
        name: String,
    },
    /// A connector's trigger.
    Connector {
        /// The connector's id.
        connector: String,
        /// The trigger's id.
        trigger: String,
    },
    /// A job's schedule: `{"kind": "schedule", "job": "..", "cron": "*/5 * * * *"}` or
    /// `{"kind": "schedule", "job": "..", "every": "30s"}`. Each schedule starts its own job only.
    Schedule {
        /// The job the schedule starts.
        job: String,
        /// When.
        #[serde(flatten)]
        schedule: crate::schedule::ScheduleRef,
    },
}

impl std::fmt::Display for TriggerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TriggerRef::Event { name } => write!(f, "event `{name}`"),
            TriggerRef::Connector { connector, trigger } => {
                write!(f, "trigger `{connector}/{trigger}`")
            }
            TriggerRef::Schedule { job, schedule } => write!(f, "schedule `{schedule}` of job `{job}`"),
        }
    }
}

/// An integration a job declares: its name in the job's `io` and its connector.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntegrationRef {
    /// The field name in the job's `io` (`chat` in `io.chat.send_message(..)`).
    pub key: String,
    /// The connector's id.
    pub connector: String,
    /// The connector's Rust type name (for error messages; not in the manifest).
    #[serde(skip)]
    pub connector_type: &'static str,
}

// The Rust type name is a hint for error messages, not part of what an integration is.
impl PartialEq for IntegrationRef {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.connector == other.connector
    }
}

impl Eq for IntegrationRef {}

impl IntegrationRef {
    /// The integration `key` of connector `C`.
    pub fn of<C: Connector>(key: &'static str) -> Self {
        IntegrationRef { key: key.to_owned(), connector: C::ID.to_owned(), connector_type: C::TYPE_NAME }
    }
}
