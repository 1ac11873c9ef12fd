//! Run stores: where runs and steps are kept. One trait, [`RunStore`], written against by the
//! engine and nothing else; [`MemoryStore`] for tests, [`SqliteStore`] by default, `PostgresStore`
//! (feature `postgres`) for a database shared by several processes.
//!
//! `conformance` (with the `testing` feature) holds the test suite every store must pass.

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod columns;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod queue;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresStore};
pub use queue::RunQueue;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOptions, SqliteStore, Synchronous};

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::TokenStore;
use crate::model::{LogLine, Run, RunId, RunLog, RunStatus, StepRecord};

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No run with that id.
    #[error("no run with id `{0}`")]
    RunNotFound(RunId),
    /// A run with that id exists already.
    #[error("a run with id `{0}` exists already")]
    DuplicateRun(RunId),
    /// The store was opened read-only (`SqliteStore::open_read_only`), and the call writes.
    #[error("run store `{location}` was opened read-only: cannot {operation}")]
    ReadOnly {
        /// Which store: its file's path.
        location: String,
        /// What the call would have done ("create a run", "save a step").
        operation: &'static str,
    },
    /// The store's own integrity check found it damaged, so it was not opened for writing:
    /// accepting work onto it could lose that work, or what it already holds.
    #[error(
        "run store `{location}` is corrupt ({report}); it was not opened for writing: restore it from a \
         backup, or move it aside to start with an empty one"
    )]
    Corrupt {
        /// Which store: its file's path.
        location: String,
        /// What the check reported, in the backend's words.
        report: String,
    },
    /// This process no longer holds the run's lease (see [`RunQueue`]): it was cancelled, or
    /// its lease lapsed and another process claimed it. The write was not made; the process
    /// stops executing the run.
    #[error("run `{0}` is no longer held by this process: it was cancelled or another process took it over")]
    LeaseLost(RunId),
    /// The backend failed.
    #[error("run store: {message}")]
    Backend {
        /// What failed, with the cause's own words.
        message: String,
        /// The backend's own error, when there is one (a `rusqlite::Error`, say).
        #[source]
        source: Option<Arc<dyn std::error::Error + Send + Sync>>,
    },
}

impl StoreError {
    /// A backend failure described by `message` alone.
    pub fn backend(message: impl Into<String>) -> Self {
        StoreError::Backend { message: message.into(), source: None }
    }

    /// A backend failure: `context` says what was being done, `source` is the backend's error
    /// (kept, and quoted in the message).
    pub fn backend_with(
        context: impl std::fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StoreError::Backend { message: format!("{context}: {source}"), source: Some(Arc::new(source)) }
    }
}

/// A change to a run's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunUpdate {
    /// The new status.
    pub status: RunStatus,
    /// The output, when the run succeeded.
    pub output: Option<Value>,
    /// The error, when the run failed.
    pub error: Option<String>,
    /// When a `Waiting` run wakes.
    pub wake_at: Option<DateTime<Utc>>,
    /// Counts one more execution (a start, resume or retry).
    pub new_execution: bool,
}

impl RunUpdate {
    /// Just a status.
    pub fn status(status: RunStatus) -> Self {
        RunUpdate { status, output: None, error: None, wake_at: None, new_execution: false }
    }
}

/// Which runs to list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFilter {
    /// Only runs of this job.
    pub job_id: Option<String>,
    /// Only runs with one of these statuses (all when empty).
    pub statuses: Vec<RunStatus>,
    /// At most this many, newest first (all when `None`).
    pub limit: Option<usize>,
    /// Only runs listed after this one: the next page, when it was the last of the previous.
    #[serde(default)]
    pub before: Option<RunId>,
    /// Only runs created at or after this time.
    #[serde(default)]
    pub created_after: Option<DateTime<Utc>>,
    /// Only runs created before this time.
    #[serde(default)]
    pub created_before: Option<DateTime<Utc>>,
    /// Only runs whose id starts with this.
    #[serde(default)]
    pub id_prefix: Option<String>,
    /// Only runs a delivery with this id started (from any source): an event sent with
    /// `"id": ..`, a webhook's delivery id. The idempotency key the sender chose finds its runs.
    #[serde(default)]
    pub delivery_id: Option<String>,
}

impl RunFilter {
    /// Runs that have not finished: queued, running or waiting.
    pub fn unfinished() -> Self {
        RunFilter { statuses: vec![RunStatus::Queued, RunStatus::Running, RunStatus::Waiting], ..Default::default() }
    }

    /// The `before` of the page after `page`, the runs this filter listed: the last run's id
    /// when the page is full (a `limit` set and reached), `None` when it was the last page.
    pub fn next_page(&self, page: &[Run]) -> Option<RunId> {
        let full = self.limit.is_some_and(|limit| page.len() == limit);
        full.then(|| page.last().map(|run| run.id.clone())).flatten()
    }

    /// Whether `run` passes the filter (ignoring `limit` and `before`, which depend on the
    /// store's order, and `delivery_id`, which depends on its deliveries).
    pub fn matches(&self, run: &Run) -> bool {
        self.job_id.as_ref().is_none_or(|job| &run.job_id == job)
            && (self.statuses.is_empty() || self.statuses.contains(&run.status))
            && self.created_after.is_none_or(|at| run.created_at >= at)
            && self.created_before.is_none_or(|at| run.created_at < at)
            && self.id_prefix.as_ref().is_none_or(|prefix| run.id.as_str().starts_with(prefix.as_str()))
    }
}

/// A delivery accepted from outside — a webhook request, an event sent to the API, an item a
/// polling trigger found — recorded so that the same delivery is never accepted twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// Where it came from: `webhook:{connector}/{trigger}`, `event:{name}`, `poll:{connector}/{trigger}`.
    pub source: String,
    /// Its id within the source (the sender's delivery id, the event id, the item id).
    pub id: String,
    /// When it was accepted.
    pub received_at: DateTime<Utc>,
}

/// What [`RunStore::accept_delivery`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryOutcome {
    /// The delivery is new: it and its runs are recorded.
    New,
    /// The same delivery was accepted before: nothing was recorded; these are the runs it started.
    Duplicate {
        /// The runs the first acceptance started.
        runs: Vec<RunId>,
    },
}

/// Where runs and their steps are kept. The engine is written against this trait only, so
/// stores are interchangeable; `conformance::run_all` (feature `testing`) checks a store keeps the contract.
///
/// Every write is durable when its future completes: the engine relies on that to never run a
/// completed step twice.
///
/// Every run store is also a [`TokenStore`]: the engine hands it to the connectors' OAuth2
/// clients, which keep their tokens apart from runs.
#[async_trait]
pub trait RunStore: TokenStore + Send + Sync + 'static {
    /// Records a new run (its `steps` are ignored).
    async fn create_run(&self, run: &Run) -> Result<(), StoreError>;

    /// Changes a run's status, output, error and wake-up time.
    async fn update_run(&self, id: &RunId, update: &RunUpdate) -> Result<(), StoreError>;

    /// Moves a run from `from` to `queued`, atomically: `true` if it was `from` and now is
    /// queued, `false` if it was in another state (nothing changed). Waking a parked run goes
    /// through it, so two processes never both resume one run.
    async fn claim_run(&self, id: &RunId, from: RunStatus) -> Result<bool, StoreError>;

    /// A run with all its steps, in the order they started.
    async fn run(&self, id: &RunId) -> Result<Option<Run>, StoreError>;

    /// A run's status alone (`None` for an unknown run): what a waiter checks until the run
    /// has finished, cheaper than [`run`](Self::run) where reading the steps costs a statement.
    async fn run_status(&self, id: &RunId) -> Result<Option<RunStatus>, StoreError> {
        Ok(self.run(id).await?.map(|run| run.status))
    }

    /// Runs matching the filter, newest first, without their steps.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError>;

    /// Inserts or replaces a step (by key) of a run.
    async fn save_step(&self, run: &RunId, step: &StepRecord) -> Result<(), StoreError>;

    /// Keeps a schema under its fingerprint (a no-op when it is there already).
    async fn put_schema(&self, fingerprint: &str, schema: &Value) -> Result<(), StoreError>;

    /// The schema kept under a fingerprint.
    async fn schema(&self, fingerprint: &str) -> Result<Option<Value>, StoreError>;

    /// Records a delivery and creates its runs (queued), all or nothing — unless a delivery with
    /// the same source and id was accepted before, in which case nothing is written and the
    /// runs it started are returned. `runs` may be empty (no job listens).
    async fn accept_delivery(&self, delivery: &Delivery, runs: &[Run]) -> Result<DeliveryOutcome, StoreError>;

    /// A polling trigger's cursor (what it has read up to), by the trigger's key.
    async fn cursor(&self, key: &str) -> Result<Option<Value>, StoreError>;

    /// Stores a polling trigger's cursor.
    async fn save_cursor(&self, key: &str, cursor: &Value) -> Result<(), StoreError>;

    /// Keeps log lines of run `run` after the ones it has, up to
    /// [`MAX_LOG_LINES_PER_RUN`](crate::model::MAX_LOG_LINES_PER_RUN) in all; lines past the cap
    /// are counted as dropped instead. An unknown run is [`StoreError::RunNotFound`].
    async fn append_logs(&self, run: &RunId, lines: &[LogLine]) -> Result<(), StoreError>;

    /// Run `run`'s log: its lines in the order they were logged, and how many were dropped.
    /// An unknown run has an empty log.
    async fn logs(&self, run: &RunId) -> Result<RunLog, StoreError>;

    /// The store's work queue, when several processes share it: their engines then execute
    /// runs they claim from it instead of the runs they accept. `None` (the default) for a
    /// store one process owns.
    fn queue(&self) -> Option<&dyn RunQueue> {
        None
    }
}
