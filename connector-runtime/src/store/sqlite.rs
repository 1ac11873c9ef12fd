//! Placeholder while the SQLite store is being written: keeps runs in memory.

use std::path::Path;

use async_trait::async_trait;
use serde_json::Value;

use super::{MemoryStore, RunFilter, RunStore, RunUpdate, StoreError};
use crate::run::{Run, RunId, StepRecord};

/// The SQLite run store (placeholder).
#[derive(Debug)]
pub struct SqliteStore(MemoryStore);

impl SqliteStore {
    /// Opens the store.
    pub fn open(_path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Ok(SqliteStore(MemoryStore::new()))
    }
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn create_run(&self, run: &Run) -> Result<(), StoreError> {
        self.0.create_run(run).await
    }
    async fn update_run(&self, id: &RunId, update: &RunUpdate) -> Result<(), StoreError> {
        self.0.update_run(id, update).await
    }
    async fn run(&self, id: &RunId) -> Result<Option<Run>, StoreError> {
        self.0.run(id).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        self.0.list_runs(filter).await
    }
    async fn step(&self, run: &RunId, key: &str) -> Result<Option<StepRecord>, StoreError> {
        self.0.step(run, key).await
    }
    async fn save_step(&self, run: &RunId, step: &StepRecord) -> Result<(), StoreError> {
        self.0.save_step(run, step).await
    }
    async fn put_schema(&self, fingerprint: &str, schema: &Value) -> Result<(), StoreError> {
        self.0.put_schema(fingerprint, schema).await
    }
    async fn schema(&self, fingerprint: &str) -> Result<Option<Value>, StoreError> {
        self.0.schema(fingerprint).await
    }
}
