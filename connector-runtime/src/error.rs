//! The errors of each layer: what an action returns, what a step returns to a job, what the
//! engine returns to its caller.

use std::time::Duration;

/// The error type jobs return: any error converts into it with `?`, and so do plain strings
/// (`Err("channel not found".into())`).
pub type JobError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What an action (or trigger) reports when it fails, classified so the engine knows whether
/// trying again can help.
///
/// The HTTP helper classifies responses for you; an action author returns these directly for
/// failures the helper cannot see.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// A failure that may pass: connection refused or reset, a timeout, HTTP 5xx or 408.
    #[error("transient failure: {message}")]
    Transient {
        /// What happened.
        message: String,
    },
    /// The service asked to slow down (HTTP 429, or 503 with `Retry-After`).
    #[error("rate limited by the service{}: {message}", retry_after_text(*retry_after))]
    RateLimited {
        /// How long the service asked to wait, when it said.
        retry_after: Option<Duration>,
        /// What the service said.
        message: String,
    },
    /// The service refused the credentials (HTTP 401 or 403). Not retried.
    #[error("authentication failed (HTTP {status}): {message}; check the connector's credentials")]
    Unauthorized {
        /// The HTTP status.
        status: u16,
        /// What the service said.
        message: String,
    },
    /// The service rejected the request as invalid (other HTTP 4xx). Not retried.
    #[error("the service rejected the request (HTTP {status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// What the service said.
        message: String,
    },
    /// The input does not fit the action's input type. Not retried.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The service's answer does not fit the action's output type. Not retried.
    #[error("invalid output from the service: {0}")]
    InvalidOutput(String),
    /// Any other failure that trying again cannot fix.
    #[error("{0}")]
    Permanent(String),
}

fn retry_after_text(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!(" (retry after {} ms)", wait.as_millis()),
        None => String::new(),
    }
}

impl ActionError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        ActionError::Transient { message: message.into() }
    }

    /// A failure not worth retrying.
    pub fn permanent(message: impl Into<String>) -> Self {
        ActionError::Permanent(message.into())
    }

    /// Whether trying again can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ActionError::Transient { .. } | ActionError::RateLimited { .. })
    }
}

impl From<reqwest::Error> for ActionError {
    fn from(error: reqwest::Error) -> Self {
        // The URL is left out: it can carry credentials in its query string.
        let error = error.without_url();
        if error.is_decode() {
            ActionError::InvalidOutput(error.to_string())
        } else if error.is_builder() {
            ActionError::Permanent(error.to_string())
        } else {
            // Connect, timeout, request and body errors: the network may recover.
            ActionError::Transient { message: error.to_string() }
        }
    }
}

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
    Store(#[from] crate::store::StoreError),
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
    Store(#[from] crate::store::StoreError),
}
