//! What users declare and what is recorded: the bounds a user's types must meet, events,
//! retry and rate-limit policies, schedules (pure time maths), manifests, run and step records,
//! the errors user code returns, secrets and config loading.
//!
//! The bottom layer: it imports nothing else from this crate, so every other layer may use it.

pub mod bounds;
pub mod config;
pub mod error;
pub mod event;
pub mod fingerprint;
pub mod key;
#[cfg(feature = "log-layer")]
pub mod log_layer;
pub mod logger;
pub mod manifest;
pub mod payload;
pub mod polled;
pub mod rate_limit;
pub mod retry;
pub mod run;
pub mod schedule;
pub mod secret;

pub use bounds::{ActionInput, ActionOutput, ConnectorConfig, Payload, PollCursor};
pub use config::{ConfigError, config_from_env, config_from_vars};
pub use error::{ActionError, JobError};
pub use event::Event;
pub use key::fn_key;
#[cfg(feature = "log-layer")]
pub use log_layer::RunLogLayer;
pub use logger::{LogLevel, LogLine, Logger, MAX_LOG_LINES_PER_RUN, RunLog};
pub use manifest::{
    ActionHints, ActionManifest, ConnectorManifest, JobManifest, Manifest, PollManifest, TriggerManifest, schema_of,
};
pub use payload::PayloadError;
pub use polled::Polled;
pub use rate_limit::RateLimit;
pub use retry::RetryPolicy;
pub use run::{
    FailedAttempt, IntegrationRef, Retries, Run, RunId, RunStatus, StepKind, StepRecord, StepStatus, TriggerRef,
    UnknownStatus,
};
pub use schedule::{Schedule, ScheduleRef, Tick};
pub(crate) use secret::masked;
pub use secret::{REDACTED, Secret, redact};
