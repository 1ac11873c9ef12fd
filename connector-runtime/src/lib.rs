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
//!
//! # The map
//!
//! The crate is in layers, each importing only from the ones above it in this list:
//!
//! | module | what it holds | imports |
//! | --- | --- | --- |
//! | [`model`] | what users declare and what is recorded: the bounds a type must meet, events, retry and rate-limit policies, schedules, manifests, runs and steps, [`ActionError`], [`Secret`], config loading | nothing of this crate |
//! | [`client`] | the HTTP helper actions use: requests, answers classified into [`ActionError`]s, [`client::Auth`], [`client::OAuth2`] (tokens kept through a [`client::TokenStore`]), the rate limiter, pagination | model |
//! | [`webhook`] | signature verification ([`webhook::SignatureScheme`]: GitHub, Stripe, Standard Webhooks, HMAC, your own) | model |
//! | [`connector`](mod@connector) | what `#[connector]` implements: [`Connector`], [`Action`], [`Trigger`], [`PollTrigger`], an [`Integration`] (a configured instance) and the context its fns get | model, client, webhook |
//! | [`store`] | the [`store::RunStore`] contract, [`store::MemoryStore`], [`store::SqliteStore`] (feature `sqlite`), `PostgresStore` and its work queue (feature `postgres`), the conformance suite (feature `testing`) | model, client |
//! | [`engine`] | [`Engine`] and its builder, the registry (each member boxed once), [`Io`] and step execution, starting runs from events, webhooks, polls and schedules, [`Engine::start`] for what every transport needs, the engine's errors | all of the above |
//! | `mcp` | the MCP server: every action as a tool, each call a durable run (feature `mcp`) | engine, model |
//! | `dashboard` | the run dashboard's pages, sign-in and actions (feature `dashboard`) | engine, store, model |
//! | `server` | the axum webhook and API server (feature `server`); `/mcp` with feature `mcp`, the dashboard at `/` with feature `dashboard` | mcp, dashboard, engine, store, model |
//! | `otel` | the OTLP export of runs as traces, with known secrets masked (feature `otel`) | model |
//! | `cli` | one command line for every app, `cli::App`: `serve`, `runs`, `resume`, `cancel`, `send`, `complete`, `call`, `check`, `manifest`, `mcp` (feature `cli`; `mcp` with feature `mcp`; spans to a collector with feature `otel`) | server, mcp, otel, engine, store, model |
//!
//! Cargo features: `sqlite` and `server` are on by default; without them neither rusqlite nor
//! axum is compiled (bring a [`store::RunStore`] and call [`EngineBuilder::store`]). `testing`
//! adds `store::conformance`, the suite a store of your own should pass. `cli` adds the command
//! line (clap) and turns `server` on. `mcp` adds the MCP server (rmcp), at `/mcp` of the server
//! and as the CLI's `mcp` command, and turns `server` on. `dashboard` adds the run dashboard at
//! `/` of the server (maud), and turns `server` on. `postgres` adds `store::PostgresStore`, a
//! store several processes share, with its work queue. `log-layer` adds `RunLogLayer`, which
//! keeps the `tracing` events of a step's own code in its run's log (tracing-subscriber's
//! registry; `cli` turns it on). `otel` adds `otel::layer`, the OTLP/HTTP export of each run
//! as a trace (opentelemetry, tracing-opentelemetry), which the CLI uses when given a
//! collector.
#![warn(missing_docs)]

#[cfg(feature = "cli")]
pub mod cli;
pub mod client;
pub mod connector;
#[cfg(feature = "dashboard")]
pub mod dashboard;
pub mod engine;
#[cfg(feature = "mcp")]
pub mod mcp;
pub mod model;
#[cfg(feature = "otel")]
pub mod otel;
#[cfg(feature = "server")]
pub mod server;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod webhook;

pub use connector::PollOf;
pub use connector::{
    Action, ActionContext, ActionOf, CheckError, Connector, ConnectorContext, Integration, PollTrigger, Trigger,
    TriggerContext, TriggerOf,
};
pub use connector_macros::{Event, action, connector, job, trigger};
pub use engine::{
    CallError, DATABASE_URL_ENV, DEFAULT_DB_PATH, DEFAULT_MAX_STEP_OUTPUT, DeliveryError, Engine, EngineBuilder,
    EngineError, Io, Job, JobCallOutcome, JobTrigger, OnEvent, OnSchedule, OnTrigger, OnTriggerFn, PollError,
    PollReport, Receipt, Running, ScheduledJob, SendOptions, StartOptions, StepError, Subscriptions, TOOL_CALL_JOB,
    ToolCallError, ToolCallOptions, ToolCallOutcome, TriggerFailure, TriggerTasks,
};
#[cfg(feature = "log-layer")]
pub use model::RunLogLayer;
pub use model::{
    ActionError, ActionHints, ActionInput, ActionOutput, ConfigError, ConnectorConfig, ConnectorManifest, Event,
    FailedAttempt, IntegrationRef, JobError, LogLevel, LogLine, Logger, Manifest, Payload, PayloadError, PollCursor,
    Polled, REDACTED, RateLimit, Retries, RetryPolicy, Run, RunId, RunLog, RunStatus, Schedule, ScheduleRef, Secret,
    StepKind, StepRecord, StepStatus, Tick, TriggerRef, UnknownStatus, config_from_env, config_from_vars, redact,
    schema_of,
};

// Re-exported so users' derives and the generated code agree on one version of each.
pub use schemars;
pub use serde;
pub use serde_json;

/// Everything a connector or job file needs, in one import.
pub mod prelude {
    pub use crate::client::Auth;
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
    pub use crate::connector::{ActionFn, PollFn, TriggerFn};
    pub use crate::engine::{ConnectorMembers, JobTriggerFn, MemberVisitor};
    pub use crate::model::{ActionHints, ActionManifest, IntegrationRef, TriggerManifest, fn_key};
    pub use crate::webhook::{SignatureScheme, WebhookSecretField};

    use crate::{ActionError, JobError};

    /// Turns an action's own error type into [`ActionError`].
    pub fn action_result<T, E: Into<ActionError>>(result: Result<T, E>) -> Result<T, ActionError> {
        result.map_err(Into::into)
    }

    /// Turns a job's own error type into [`JobError`].
    pub fn job_result<T, E: Into<JobError>>(result: Result<T, E>) -> Result<T, JobError> {
        result.map_err(Into::into)
    }

    /// What `#[job(trigger = ..)]` checks the keys of a connector's members through.
    pub use crate::engine::ConnectorMembers as Members;

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
