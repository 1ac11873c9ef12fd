//! Run stores: where runs and steps are kept. One trait, [`RunStore`]; [`MemoryStore`] for tests.

mod memory;

pub use memory::MemoryStore;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::run::{Run, RunId, RunStatus, StepRecord};

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
    /// The backend failed.
    #[error("run store: {0}")]
    Backend(String),
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
}

/// Which runs to list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunFilter {
    /// Only runs of this job.
    pub job_id: Option<String>,
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// At most this many, newest first (all when `None`).
    pub limit: Option<usize>,
}

/// Where runs and their steps are kept. The engine is written against this trait only, so
/// stores are interchangeable.
#[async_trait]
pub trait RunStore: Send + Sync + 'static {
    /// Records a new run (its `steps` are ignored).
    async fn create_run(&self, run: &Run) -> Result<(), StoreError>;

    /// Changes a run's status, output and error.
    async fn update_run(&self, id: &RunId, update: &RunUpdate) -> Result<(), StoreError>;

    /// A run with all its steps.
    async fn run(&self, id: &RunId) -> Result<Option<Run>, StoreError>;

    /// Runs matching the filter, newest first, without their steps.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError>;

    /// One step of a run.
    async fn step(&self, run: &RunId, key: &str) -> Result<Option<StepRecord>, StoreError>;

    /// Inserts or replaces a step (by key) of a run.
    async fn save_step(&self, run: &RunId, step: &StepRecord) -> Result<(), StoreError>;
}
