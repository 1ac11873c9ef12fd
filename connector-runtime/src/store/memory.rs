//! [`MemoryStore`]: runs in a map, for tests and demos.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{RunFilter, RunStore, RunUpdate, StoreError};
use crate::run::{Run, RunId, StepRecord};

/// Keeps runs in memory; everything is lost when the process ends.
#[derive(Debug, Default)]
pub struct MemoryStore {
    runs: Mutex<BTreeMap<RunId, Run>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn with_runs<T>(&self, f: impl FnOnce(&mut BTreeMap<RunId, Run>) -> T) -> T {
        // A panic while holding the lock cannot leave a half-written run (every change is one
        // assignment), so a poisoned lock is safe to keep using.
        let mut runs = self
            .runs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut runs)
    }
}

#[async_trait]
impl RunStore for MemoryStore {
    async fn create_run(&self, run: &Run) -> Result<(), StoreError> {
        self.with_runs(|runs| {
            if runs.contains_key(&run.id) {
                return Err(StoreError::DuplicateRun(run.id.clone()));
            }
            runs.insert(
                run.id.clone(),
                Run {
                    steps: Vec::new(),
                    ..run.clone()
                },
            );
            Ok(())
        })
    }

    async fn update_run(&self, id: &RunId, update: &RunUpdate) -> Result<(), StoreError> {
        self.with_runs(|runs| {
            let run = runs
                .get_mut(id)
                .ok_or_else(|| StoreError::RunNotFound(id.clone()))?;
            run.status = update.status;
            run.output = update.output.clone();
            run.error = update.error.clone();
            run.updated_at = chrono::Utc::now();
            Ok(())
        })
    }

    async fn run(&self, id: &RunId) -> Result<Option<Run>, StoreError> {
        Ok(self.with_runs(|runs| runs.get(id).cloned()))
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        Ok(self.with_runs(|runs| {
            runs.values()
                .rev()
                .filter(|run| filter.job_id.as_ref().is_none_or(|job| &run.job_id == job))
                .filter(|run| filter.status.is_none_or(|status| run.status == status))
                .take(filter.limit.unwrap_or(usize::MAX))
                .map(|run| Run {
                    steps: Vec::new(),
                    ..run.clone()
                })
                .collect()
        }))
    }

    async fn step(&self, run: &RunId, key: &str) -> Result<Option<StepRecord>, StoreError> {
        self.with_runs(|runs| {
            let run = runs
                .get(run)
                .ok_or_else(|| StoreError::RunNotFound(run.clone()))?;
            Ok(run.step(key).cloned())
        })
    }

    async fn save_step(&self, run: &RunId, step: &StepRecord) -> Result<(), StoreError> {
        self.with_runs(|runs| {
            let run = runs
                .get_mut(run)
                .ok_or_else(|| StoreError::RunNotFound(run.clone()))?;
            match run
                .steps
                .iter_mut()
                .find(|existing| existing.key == step.key)
            {
                Some(existing) => *existing = step.clone(),
                None => run.steps.push(step.clone()),
            }
            run.updated_at = chrono::Utc::now();
            Ok(())
        })
    }
}
