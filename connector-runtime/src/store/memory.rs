//! [`MemoryStore`]: runs in a map, for tests and demos.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::Value;

use crate::client::{TokenStore, TokenStoreError};

use super::{Delivery, DeliveryOutcome, RunFilter, RunStore, RunUpdate, StoreError};
use crate::model::{LogLine, MAX_LOG_LINES_PER_RUN, Run, RunId, RunLog, RunStatus, StepRecord};

/// Keeps runs in memory; everything is lost when the process ends.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    runs: BTreeMap<RunId, Run>,
    schemas: HashMap<String, Value>,
    deliveries: HashMap<(String, String), Vec<RunId>>,
    cursors: HashMap<String, Value>,
    tokens: HashMap<String, Value>,
    logs: HashMap<RunId, RunLog>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // Every change is a single assignment, so a lock poisoned by a panic elsewhere still
        // guards consistent data.
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut state)
    }
}

#[async_trait]
impl RunStore for MemoryStore {
    async fn append_logs(&self, run: &RunId, lines: &[LogLine]) -> Result<(), StoreError> {
        self.with(|state| {
            if !state.runs.contains_key(run) {
                return Err(StoreError::RunNotFound(run.clone()));
            }
            let log = state.logs.entry(run.clone()).or_default();
            let room = MAX_LOG_LINES_PER_RUN.saturating_sub(log.lines.len());
            log.lines.extend(lines.iter().take(room).cloned());
            log.dropped += lines.len().saturating_sub(room) as u64;
            Ok(())
        })
    }

    async fn logs(&self, run: &RunId) -> Result<RunLog, StoreError> {
        Ok(self.with(|state| state.logs.get(run).cloned().unwrap_or_default()))
    }

    async fn create_run(&self, run: &Run) -> Result<(), StoreError> {
        self.with(|state| {
            if state.runs.contains_key(&run.id) {
                return Err(StoreError::DuplicateRun(run.id.clone()));
            }
            state.runs.insert(run.id.clone(), Run { steps: Vec::new(), ..run.clone() });
            Ok(())
        })
    }

    async fn update_run(&self, id: &RunId, update: &RunUpdate) -> Result<(), StoreError> {
        self.with(|state| {
            let run = state.runs.get_mut(id).ok_or_else(|| StoreError::RunNotFound(id.clone()))?;
            run.status = update.status;
            run.output = update.output.clone();
            run.error = update.error.clone();
            run.wake_at = update.wake_at;
            if update.new_execution {
                run.executions += 1;
            }
            run.updated_at = chrono::Utc::now();
            Ok(())
        })
    }

    async fn claim_run(&self, id: &RunId, from: RunStatus) -> Result<bool, StoreError> {
        self.with(|state| {
            let run = state.runs.get_mut(id).ok_or_else(|| StoreError::RunNotFound(id.clone()))?;
            if run.status != from {
                return Ok(false);
            }
            run.status = RunStatus::Queued;
            run.wake_at = None;
            run.updated_at = chrono::Utc::now();
            Ok(true)
        })
    }

    async fn run(&self, id: &RunId) -> Result<Option<Run>, StoreError> {
        Ok(self.with(|state| state.runs.get(id).cloned()))
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        Ok(self.with(|state| {
            state
                .runs
                .values()
                .rev()
                // Newest first by id (UUIDv7 ids sort by creation): the next page starts below `before`.
                .filter(|run| filter.before.as_ref().is_none_or(|before| &run.id < before))
                .filter(|run| filter.matches(run))
                .filter(|run| {
                    filter.delivery_id.as_ref().is_none_or(|delivery| {
                        state.deliveries.iter().any(|((_, id), runs)| id == delivery && runs.contains(&run.id))
                    })
                })
                .take(filter.limit.unwrap_or(usize::MAX))
                .map(|run| Run { steps: Vec::new(), ..run.clone() })
                .collect()
        }))
    }

    async fn save_step(&self, run: &RunId, step: &StepRecord) -> Result<(), StoreError> {
        self.with(|state| {
            let run = state.runs.get_mut(run).ok_or_else(|| StoreError::RunNotFound(run.clone()))?;
            match run.steps.iter_mut().find(|existing| existing.key == step.key) {
                Some(existing) => *existing = step.clone(),
                None => run.steps.push(step.clone()),
            }
            run.updated_at = chrono::Utc::now();
            Ok(())
        })
    }

    async fn put_schema(&self, fingerprint: &str, schema: &Value) -> Result<(), StoreError> {
        self.with(|state| {
            state.schemas.entry(fingerprint.to_owned()).or_insert_with(|| schema.clone());
        });
        Ok(())
    }

    async fn schema(&self, fingerprint: &str) -> Result<Option<Value>, StoreError> {
        Ok(self.with(|state| state.schemas.get(fingerprint).cloned()))
    }

    async fn accept_delivery(&self, delivery: &Delivery, runs: &[Run]) -> Result<DeliveryOutcome, StoreError> {
        self.with(|state| {
            let key = (delivery.source.clone(), delivery.id.clone());
            if let Some(earlier) = state.deliveries.get(&key) {
                return Ok(DeliveryOutcome::Duplicate { runs: earlier.clone() });
            }
            if let Some(existing) = runs.iter().find(|run| state.runs.contains_key(&run.id)) {
                return Err(StoreError::DuplicateRun(existing.id.clone()));
            }
            for run in runs {
                state.runs.insert(run.id.clone(), Run { steps: Vec::new(), ..run.clone() });
            }
            state.deliveries.insert(key, runs.iter().map(|run| run.id.clone()).collect());
            Ok(DeliveryOutcome::New)
        })
    }

    async fn cursor(&self, key: &str) -> Result<Option<Value>, StoreError> {
        Ok(self.with(|state| state.cursors.get(key).cloned()))
    }

    async fn save_cursor(&self, key: &str, cursor: &Value) -> Result<(), StoreError> {
        self.with(|state| state.cursors.insert(key.to_owned(), cursor.clone()));
        Ok(())
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn tokens(&self, key: &str) -> Result<Option<Value>, TokenStoreError> {
        Ok(self.with(|state| state.tokens.get(key).cloned()))
    }

    async fn save_tokens(&self, key: &str, tokens: &Value) -> Result<(), TokenStoreError> {
        self.with(|state| state.tokens.insert(key.to_owned(), tokens.clone()));
        Ok(())
    }
}
