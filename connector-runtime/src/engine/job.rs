//! Jobs: what `#[job]` implements, and what starts them.

use std::future::Future;
use std::marker::PhantomData;

use serde::Serialize;

use super::io::Io;
use crate::connector::{Connector, Trigger};
use crate::model::manifest::non_empty;
use crate::model::{
    Event, IntegrationRef, JobError, JobManifest, Manifest, Payload, RetryPolicy, Schedule, TriggerRef, schema_of,
};

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
    const RETRY: Option<RetryPolicy> = None;
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
            description: non_empty(Self::DESCRIPTION),
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
    fn schedule() -> Option<Schedule> {
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
/// receives. `#[connector]` implements it for each trigger fn, keyed like `TriggerFn`.
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

impl Manifest {
    /// Adds job `J`.
    pub fn job<J: Job>(mut self) -> Self {
        self.jobs.push(J::manifest());
        self
    }
}
