//! [`RunChanges`]: which runs change, as they change, for pages that show runs live (the
//! dashboard's server-sent events).
//!
//! The engine keeps its store behind [`Announcing`], which announces each run it writes (a new
//! run, a status, a step, log lines) once the write is durable. On a store several processes
//! share, the store's own notices of runs other processes changed are merged in.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::Engine;
use crate::client::{SharedGuard, TokenStore, TokenStoreError};
use crate::model::{LogLine, Run, RunId, RunLog, RunStatus, StepRecord};
use crate::store::{Delivery, DeliveryOutcome, RunFilter, RunQueue, RunStore, RunUpdate, StoreError};

/// How many announcements a slow listener may fall behind before it is told it missed some
/// ([`RunChange::Missed`]).
const BUFFER: usize = 1024;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunChange {
    /// This run was written: created, moved to another status, a step recorded, a line logged.
    Run(RunId),
    /// Announcements were missed (the listener fell behind, or the shared store's notices
    /// reconnected): any run may have changed.
    Missed,
}

/// A subscription to [`RunChange`]s, from [`Engine::run_changes`].
pub struct RunChanges {
    local: broadcast::Receiver<RunId>,
    shared: Option<broadcast::Receiver<Option<RunId>>>,
}

impl RunChanges {
    /// The next change; `None` once the engine is gone.
    pub async fn next(&mut self) -> Option<RunChange> {
        let shared = async {
            match &mut self.shared {
                Some(shared) => match shared.recv().await {
                    Ok(Some(id)) => Some(RunChange::Run(id)),
                    Ok(None) | Err(RecvError::Lagged(_)) => Some(RunChange::Missed),
                    Err(RecvError::Closed) => std::future::pending().await,
                },
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            local = self.local.recv() => match local {
                Ok(id) => Some(RunChange::Run(id)),
                Err(RecvError::Lagged(_)) => Some(RunChange::Missed),
                Err(RecvError::Closed) => None,
            },
            change = shared => change,
        }
    }
}

impl Engine {
    /// A subscription to the runs that change from now on, in this process and, on a store
    /// several processes share, in the others.
    pub fn run_changes(&self) -> RunChanges {
        RunChanges {
            local: self.shared.changes.subscribe(),
            shared: self.shared.store.queue().map(|queue| queue.run_changes()),
        }
    }
}

/// A run store that announces, on `changes`, each run it has written.
pub(super) struct Announcing {
    store: Arc<dyn RunStore>,
    changes: broadcast::Sender<RunId>,
}

impl Announcing {
    /// `store`, announcing on a new channel (returned with it).
    pub(super) fn wrap(store: Arc<dyn RunStore>) -> (Arc<dyn RunStore>, broadcast::Sender<RunId>) {
        let (changes, _) = broadcast::channel(BUFFER);
        (Arc::new(Announcing { store, changes: changes.clone() }), changes)
    }

    /// `written`, after announcing `run` if it succeeded.
    fn announce<T>(&self, run: &RunId, written: Result<T, StoreError>) -> Result<T, StoreError> {
        if written.is_ok() {
            self.send(run);
        }
        written
    }

    /// Tells whoever listens that `run` changed (nobody listening is fine).
    fn send(&self, run: &RunId) {
        if self.changes.receiver_count() > 0 {
            let _ = self.changes.send(run.clone());
        }
    }
}

#[async_trait]
impl RunStore for Announcing {
    async fn create_run(&self, run: &Run) -> Result<(), StoreError> {
        let written = self.store.create_run(run).await;
        self.announce(&run.id, written)
    }

    async fn update_run(&self, id: &RunId, update: &RunUpdate) -> Result<(), StoreError> {
        let written = self.store.update_run(id, update).await;
        self.announce(id, written)
    }

    async fn claim_run(&self, id: &RunId, from: RunStatus) -> Result<bool, StoreError> {
        let claimed = self.store.claim_run(id, from).await;
        match claimed {
            Ok(true) => self.announce(id, claimed),
            other => other,
        }
    }

    async fn run(&self, id: &RunId) -> Result<Option<Run>, StoreError> {
        self.store.run(id).await
    }

    async fn run_status(&self, id: &RunId) -> Result<Option<RunStatus>, StoreError> {
        self.store.run_status(id).await
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        self.store.list_runs(filter).await
    }

    async fn save_step(&self, run: &RunId, step: &StepRecord) -> Result<(), StoreError> {
        let written = self.store.save_step(run, step).await;
        self.announce(run, written)
    }

    async fn put_schema(&self, fingerprint: &str, schema: &Value) -> Result<(), StoreError> {
        self.store.put_schema(fingerprint, schema).await
    }

    async fn schema(&self, fingerprint: &str) -> Result<Option<Value>, StoreError> {
        self.store.schema(fingerprint).await
    }

    async fn accept_delivery(&self, delivery: &Delivery, runs: &[Run]) -> Result<DeliveryOutcome, StoreError> {
        let outcome = self.store.accept_delivery(delivery, runs).await;
        if matches!(outcome, Ok(DeliveryOutcome::New)) {
            runs.iter().for_each(|run| self.send(&run.id));
        }
        outcome
    }

    async fn cursor(&self, key: &str) -> Result<Option<Value>, StoreError> {
        self.store.cursor(key).await
    }

    async fn save_cursor(&self, key: &str, cursor: &Value) -> Result<(), StoreError> {
        self.store.save_cursor(key, cursor).await
    }

    async fn append_logs(&self, run: &RunId, lines: &[LogLine]) -> Result<(), StoreError> {
        let written = self.store.append_logs(run, lines).await;
        self.announce(run, written)
    }

    async fn logs(&self, run: &RunId) -> Result<RunLog, StoreError> {
        self.store.logs(run).await
    }

    fn queue(&self) -> Option<&dyn RunQueue> {
        self.store.queue()
    }
}

// Tokens are not runs: passed through unannounced.
#[async_trait]
impl TokenStore for Announcing {
    async fn tokens(&self, key: &str) -> Result<Option<Value>, TokenStoreError> {
        self.store.tokens(key).await
    }

    async fn save_tokens(&self, key: &str, tokens: &Value) -> Result<(), TokenStoreError> {
        self.store.save_tokens(key, tokens).await
    }

    async fn lock_tokens(&self, key: &str) -> Result<Option<SharedGuard>, TokenStoreError> {
        self.store.lock_tokens(key).await
    }

    async fn reserve_request(
        &self,
        key: &str,
        per_second: u32,
        burst: u32,
    ) -> Result<Option<std::time::Duration>, TokenStoreError> {
        self.store.reserve_request(key, per_second, burst).await
    }

    async fn acquire_request_slot(&self, key: &str, limit: u32) -> Result<Option<SharedGuard>, TokenStoreError> {
        self.store.acquire_request_slot(key, limit).await
    }
}
