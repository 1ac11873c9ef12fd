//! The engine's errors, together: what an `io` step returns to its job ([`StepError`]), what
//! the engine returns to its caller ([`EngineError`]), why a delivery was refused
//! ([`DeliveryError`], with [`TriggerFailure`] from the trigger fn), why calling an action by id
//! failed ([`CallError`]), and why a poll did not complete ([`PollError`]).

use crate::model::{ActionError, PayloadError};
use crate::store::StoreError;
use crate::webhook::SignatureError;

/// What an `io` call returns to the job when its step fails.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The same step key was used twice in one run.
    #[error("step key `{key}` is used twice in this run; every io call needs its own key")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// The step key is empty.
    #[error("a step key must not be empty")]
    EmptyKey,
    /// The action failed (after any retries).
    #[error("step `{key}` ({connector}.{action}) failed: {source}")]
    Action {
        /// The step key.
        key: String,
        /// The connector's id.
        connector: &'static str,
        /// The action's id.
        action: &'static str,
        /// The action's error.
        #[source]
        source: ActionError,
    },
    /// A task (`io.run_task`) failed (after any retries).
    #[error("step `{key}` (a task) failed: {source}")]
    Task {
        /// The step key.
        key: String,
        /// The task's error.
        #[source]
        source: ActionError,
    },
    /// The runs a step starts (`io.send_event`, `io.run_job`) could not be started.
    #[error("step `{key}` could not start its runs: {source}")]
    NotStarted {
        /// The step key.
        key: String,
        /// Why.
        #[source]
        source: Box<EngineError>,
    },
    /// The run waits here for something from outside (a token, a child run) and resumes when it
    /// arrives; no task is held meanwhile. Let it through with `?`: the engine parks the run.
    #[error("the run waits at step `{key}` and resumes when it can go on")]
    Parked {
        /// The step key.
        key: String,
    },
    /// The token of `io.wait_for_token` was not completed in time.
    #[error("step `{key}`: the token was not completed before its timeout")]
    TokenTimedOut {
        /// The step key.
        key: String,
    },
    /// The payload a token was completed with does not fit the type the job waits for.
    #[error("step `{key}`: the token's payload does not fit: {message}")]
    TokenPayload {
        /// The step key.
        key: String,
        /// What serde said.
        message: String,
    },
    /// The child run of `io.run_job` failed (or was cancelled).
    #[error("step `{key}`: child run `{run}` of job `{job}` did not succeed: {error}")]
    ChildFailed {
        /// The step key.
        key: String,
        /// The child job's id.
        job: String,
        /// The child run's id.
        run: String,
        /// Its error.
        error: String,
    },
    /// The run was cancelled ([`Engine::cancel`](super::Engine::cancel)); it stops here, at a
    /// step boundary.
    #[error("the run was cancelled")]
    Cancelled,
    /// The job used an integration the engine does not have.
    #[error("integration `{key}` (connector `{connector}`) is not registered with the engine")]
    MissingIntegration {
        /// The job's name for the integration.
        key: &'static str,
        /// The connector's id.
        connector: &'static str,
    },
    /// A value could not be turned into or out of JSON.
    #[error("step `{key}`: {message}")]
    Serialization {
        /// The step key.
        key: String,
        /// What serde said.
        message: String,
    },
    /// The step's output is larger than the engine allows.
    #[error(
        "step `{key}`: the output is {size} bytes, over the limit of {limit} bytes; return less, or raise the engine's `max_step_output`"
    )]
    OutputTooLarge {
        /// The step key.
        key: String,
        /// The output's size as JSON.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A completed step's stored output no longer fits the action's output type (the connector
    /// changed since the step ran).
    #[error(
        "step `{key}` completed before the output type changed, and its stored output no longer fits ({reason}); stored with schema {old_schema}, the output type's schema is now {new_schema}"
    )]
    OutputSchemaChanged {
        /// The step key.
        key: String,
        /// The schema the output was stored with.
        old_schema: String,
        /// Today's schema.
        new_schema: String,
        /// What serde said.
        reason: String,
    },
    /// The run store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the engine returns when it cannot do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A job uses an integration that was not registered.
    #[error(
        "job `{job}` uses integration `{key}` (connector `{connector}`), but no `{connector}` connector is registered: add `.connector({connector_type}::init(config))` to the engine builder"
    )]
    MissingIntegration {
        /// The job's id.
        job: &'static str,
        /// The job's name for the integration.
        key: String,
        /// The connector's id.
        connector: String,
        /// The connector's Rust type, for the hint.
        connector_type: &'static str,
    },
    /// Two jobs (or two connectors) were registered under one id.
    #[error("{kind} `{id}` is registered twice")]
    Duplicate {
        /// "job" or "connector".
        kind: &'static str,
        /// The id.
        id: &'static str,
    },
    /// Two Rust types are given one event name: a job takes one and the other is sent, or two
    /// jobs take one each.
    #[error(
        "event `{name}` names two types, `{first}` and `{second}`: an event name must mean one payload type; rename one of the events"
    )]
    EventTypeClash {
        /// The event's name.
        name: String,
        /// The type a registered job takes.
        first: &'static str,
        /// The other type.
        second: &'static str,
    },
    /// A webhook trigger has no signature scheme and does not say it takes unsigned deliveries:
    /// anyone who can reach the server could start its jobs.
    #[error(
        "trigger `{trigger}` of connector `{connector}` has no signature scheme, so anyone who can reach its webhook could start runs: \
         give it one (`webhook(github(secret = ..))`, `hmac_sha256(..)`, `verify = ..`), or declare `webhook(unsigned)` if its deliveries are unsigned on purpose"
    )]
    UnsignedTrigger {
        /// The connector's id.
        connector: &'static str,
        /// The trigger's id.
        trigger: &'static str,
    },
    /// No run store was given, and the `sqlite` feature (the default store) is off.
    #[error("no run store: call `.store(..)` on the engine builder, or enable the `sqlite` feature")]
    NoStore,
    /// The run store chosen cannot be opened by this build or this call: a PostgreSQL database
    /// without the `postgres` feature, or with [`EngineBuilder::build`](crate::EngineBuilder::build)
    /// instead of `build_async`.
    #[error("run store: {0}")]
    StoreUnavailable(String),
    /// A scheduled job's schedule does not parse, or never fires.
    #[error("job `{job}` has the schedule `{schedule}`, which is not valid: {reason}")]
    InvalidSchedule {
        /// The job's id.
        job: &'static str,
        /// The schedule, as written (`cron = "..."`, `every = "..."`).
        schedule: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No run with that id.
    #[error("no run with id `{0}`")]
    RunNotFound(String),
    /// No job with that id is registered (a child run's job, say).
    #[error("no job `{0}` is registered with the engine")]
    JobNotRegistered(String),
    /// The run's execution in this process ended without finishing it: the store failed while
    /// the outcome was recorded. The run resumes on recovery ([`Engine::recover`](super::Engine::recover)).
    #[error(
        "run `{id}` is still {status} after its execution ended (the run store failed); the engine executes it again once the store takes writes, and it resumes on recovery"
    )]
    Unfinished {
        /// The run's id.
        id: String,
        /// Its status in the store.
        status: crate::model::RunStatus,
    },
    /// No run waits for this token.
    #[error("no run waits for token `{0}`")]
    TokenNotFound(String),
    /// The payload does not fit the type the run waits for; the token stays open.
    #[error("token `{token}`: the payload does not fit: {error}")]
    TokenPayload {
        /// The token.
        token: String,
        /// What does not fit, and where.
        #[source]
        error: crate::model::PayloadError,
    },
    /// The token was completed before, or its wait timed out.
    #[error("token `{token}` cannot be completed: {reason}")]
    TokenClosed {
        /// The token.
        token: String,
        /// Why not.
        reason: &'static str,
    },
    /// The run cannot be cancelled in the state it is in.
    #[error("run `{id}` cannot be cancelled: {reason}")]
    NotCancellable {
        /// The run's id.
        id: String,
        /// Why not.
        reason: &'static str,
    },
    /// The run cannot be resumed in the state it is in.
    #[error("run `{id}` cannot be resumed: {reason}")]
    NotResumable {
        /// The run's id.
        id: String,
        /// Why not.
        reason: &'static str,
    },
    /// An event or payload could not be serialized.
    #[error("payload of `{name}` could not be serialized: {message}")]
    Payload {
        /// The event or trigger name.
        name: String,
        /// What serde said.
        message: String,
    },
    /// The run store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a delivery was refused. Nothing was started or recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// No such connector trigger, or no job listens to that event.
    #[error("{0}")]
    NotFound(String),
    /// The webhook signature is missing or wrong.
    #[error("the webhook signature does not verify: {0}")]
    Signature(#[from] SignatureError),
    /// The body is not JSON or does not fit the payload type.
    #[error("the payload does not fit: {0}")]
    InvalidPayload(#[from] PayloadError),
    /// The trigger function failed.
    #[error("the trigger failed: {0}")]
    Trigger(ActionError),
    /// The engine (its store) failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<TriggerFailure> for DeliveryError {
    fn from(failure: TriggerFailure) -> Self {
        match failure {
            TriggerFailure::InvalidPayload(error) => DeliveryError::InvalidPayload(error),
            TriggerFailure::Trigger(error) => DeliveryError::Trigger(error),
        }
    }
}

/// Why calling an action by id failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No such connector or action.
    #[error("{0}")]
    NotFound(String),
    /// The input does not fit the action's input type.
    #[error("the input does not fit: {0}")]
    InvalidInput(#[source] PayloadError),
    /// The action failed.
    #[error(transparent)]
    Action(ActionError),
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

impl From<StoreError> for PollError {
    fn from(error: StoreError) -> Self {
        PollError::Engine(error.into())
    }
}

/// Why a delivery could not be turned into a job payload.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TriggerFailure {
    /// The body is not JSON, or does not fit the trigger's payload type.
    #[error("the payload does not fit: {0}")]
    InvalidPayload(#[from] PayloadError),
    /// The trigger function failed.
    #[error("the trigger failed: {0}")]
    Trigger(ActionError),
}
