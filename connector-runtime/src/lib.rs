//! Typed connectors for durable workflows.
//!
//! Write a connector to any HTTP API as plain async functions; call it from jobs through a typed
//! `io` whose every call rustc checks; get the JSON Schema of every config, input, output and
//! payload from the same types.
//!
//! ```
//! use connector_runtime::prelude::*;
//!
//! /// Config of the echo connector.
//! #[derive(Deserialize, JsonSchema)]
//! struct EchoConfig {
//!     /// Sent as a bearer token.
//!     token: Secret,
//! }
//!
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct Say { text: String }
//!
//! #[derive(Serialize, Deserialize, JsonSchema)]
//! struct Said { text: String, length: usize }
//!
//! /// A connector that answers locally, so this example needs no server.
//! struct Echo;
//!
//! #[connector(id = "echo", name = "Echo", version = "1.0.0", config = EchoConfig)]
//! impl Echo {
//!     /// Says it back.
//!     #[action(id = "say", name = "Say")]
//!     async fn say(ctx: &ActionContext<EchoConfig>, input: Say) -> Result<Said, ActionError> {
//!         ctx.logger().info(format!("saying {}", input.text));
//!         Ok(Said { length: input.text.len(), text: input.text })
//!     }
//! }
//!
//! /// Someone asked for an echo.
//! #[derive(Serialize, Deserialize, JsonSchema, Event)]
//! #[event(name = "echo.requested")]
//! struct EchoRequested { text: String }
//!
//! #[job(id = "echo-job", name = "Echo job", version = "1.0.0", event = EchoRequested, integrations(echo = Echo))]
//! async fn echo_job(payload: EchoRequested, io: EchoJobIo<'_>) -> Result<usize, JobError> {
//!     let said = io.echo.say("say-it", Say { text: payload.text }).await?;
//!     Ok(said.length)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::builder()
//!     .store(connector_runtime::store::MemoryStore::new())
//!     .connector(Echo::init(EchoConfig { token: Secret::new("t") }))
//!     .job(EchoJobJob)
//!     .build()?;
//! let runs = engine.send(EchoRequested { text: "hello".into() }).await?;
//! assert_eq!(runs[0].status, RunStatus::Succeeded);
//! assert_eq!(runs[0].output, Some(serde_json::json!(5)));
//! assert_eq!(runs[0].steps[0].key, "say-it");
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod auth;
pub mod call;
mod config;
mod connector;
mod engine;
mod error;
mod event;
mod fingerprint;
pub mod http;
mod ingest;
mod io;
mod job;
mod logger;
pub mod manifest;
pub mod paginate;
mod poll;
mod rate_limit;
mod registry;
mod retry;
mod run;
mod schedule;
mod secret;
pub mod server;
pub mod store;
mod tasks;
pub mod trigger;
pub mod webhook;

pub use config::{ConfigError, config_from_env};
pub use connector::{
    Action, ActionContext, ActionInput, ActionOf, ActionOutput, Connector, ConnectorConfig, ConnectorContext,
    Integration, Payload, Trigger, TriggerContext, TriggerOf,
};
pub use connector_macros::{Event, action, connector, job, trigger};
pub use engine::{DEFAULT_DB_PATH, DEFAULT_MAX_STEP_OUTPUT, Engine, EngineBuilder};
pub use error::{ActionError, EngineError, JobError, StepError};
pub use event::Event;
pub use ingest::{Acceptance, DeliveryError, Subscriptions};
pub use io::Io;
pub use job::{IntegrationRef, Job, JobTrigger, OnEvent, OnTrigger, OnTriggerFn, TriggerRef};
pub use logger::Logger;
pub use manifest::{ConnectorManifest, Manifest, schema_of};
pub use poll::{PollCursor, PollError, PollOf, PollReport, PollTrigger, Polled};
pub use rate_limit::RateLimit;
pub use retry::RetryPolicy;
pub use run::{Run, RunId, RunStatus, StepKind, StepRecord, StepStatus};
pub use schedule::{OnSchedule, Schedule, ScheduleRef, ScheduledJob, Tick};
pub use secret::{REDACTED, Secret, redact};
pub use tasks::TriggerTasks;

// Re-exported so users' derives and the generated code agree on one version of each.
pub use schemars;
pub use serde;
pub use serde_json;

/// Everything a connector or job file needs, in one import.
pub mod prelude {
    pub use crate::{
        ActionContext, ActionError, Connector, Engine, Event, Integration, JobError, Polled, RetryPolicy, Run,
        RunStatus, Secret, StepError, Tick, TriggerContext, action, connector, job, trigger,
    };
    pub use schemars::JsonSchema;
    pub use serde::{Deserialize, Serialize};
}

/// What generated code calls. Not public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::call::ActionEntry;
    pub use crate::connector::{ActionFn, TriggerFn, fn_key};
    pub use crate::job::{IntegrationRef, JobTriggerFn};
    pub use crate::manifest::{ActionManifest, TriggerManifest};
    pub use crate::poll::{PollEntry, PollFn};
    pub use crate::trigger::TriggerEntry;
    pub use crate::webhook::signature::SignatureScheme;

    use crate::{ActionError, JobError};

    /// Turns an action's own error type into [`ActionError`].
    pub fn action_result<T, E: Into<ActionError>>(result: Result<T, E>) -> Result<T, ActionError> {
        result.map_err(Into::into)
    }

    /// Turns a job's own error type into [`JobError`].
    pub fn job_result<T, E: Into<JobError>>(result: Result<T, E>) -> Result<T, JobError> {
        result.map_err(Into::into)
    }

    /// The keys of a connector's `#[action]` and `#[trigger]` fns, listed by `#[connector]` so
    /// that `#[job(trigger = Connector::f)]` can check at compile time that `f` is a trigger,
    /// and say in one error that it is an action (or no member) if not.
    #[doc(hidden)]
    #[diagnostic::on_unimplemented(
        message = "`{Self}` is not a connector",
        note = "`trigger = ..` names a `#[trigger]` fn of a type whose impl block has `#[connector(..)]`"
    )]
    pub trait Members {
        /// The keys of the connector's actions.
        const ACTIONS: &'static [u64];
        /// The keys of the connector's triggers, webhook and polling.
        const TRIGGERS: &'static [u64];
    }

    /// Whether `keys` holds `key`: a `const fn`, for the job macro's check of `trigger = ..`.
    pub const fn has_key(keys: &[u64], key: u64) -> bool {
        let mut i = 0;
        while i < keys.len() {
            if keys[i] == key {
                return true;
            }
            i += 1;
        }
        false
    }
}
