//! [`RunQueue`]: how processes sharing one store share its runs. A store that several processes
//! use at once (PostgreSQL) hands runs out through it; a store one process owns (SQLite, memory)
//! has none, and its engine executes what it accepts.

use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{broadcast, watch};

use super::StoreError;
use crate::model::{Run, RunId};

/// The work queue of a store shared by several processes.
///
/// A run executes under a *lease*: the process that claimed it (or created it `running`) holds
/// it until a deadline, renews it while it works, and gives it up by recording any other status.
/// A run whose lease lapsed (its process died or stalled) is claimed by another process, which
/// resumes it from its completed steps. The store fences the old holder out: its writes to a
/// run it no longer holds fail with [`StoreError::LeaseLost`], so a stalled process that wakes
/// up again cannot record a step over the new holder's.
#[async_trait]
pub trait RunQueue: Send + Sync {
    /// How long a lease lasts unless renewed.
    fn lease(&self) -> Duration;

    /// Claims up to `limit` queued runs, oldest first. Each comes back `running`, leased to this
    /// store, one more execution counted, with its steps. Runs other processes are claiming at
    /// the same moment are skipped, not waited for. Cheap: what a worker does on every notice.
    async fn claim(&self, limit: usize) -> Result<Vec<Run>, StoreError>;

    /// [`claim`](Self::claim), looking also at running runs whose lease lapsed (their process
    /// died) and waiting runs whose wake-up time passed. Dearer (it looks at every unfinished
    /// run): what a worker does every so often.
    async fn sweep(&self, limit: usize) -> Result<Vec<Run>, StoreError>;

    /// Extends this store's leases on `runs`; returns the ones it no longer holds (cancelled,
    /// or claimed by another process after the lease lapsed), which the caller stops executing.
    async fn renew(&self, runs: &[RunId]) -> Result<Vec<RunId>, StoreError>;

    /// A counter that changes when a run may have become ready to claim (some process queued
    /// or woke one). A hint, not a promise: claim to find out. Mark it seen before claiming, so
    /// that work queued meanwhile is not missed; wait with a timeout too, since notifications
    /// can be lost while the store reconnects.
    fn work_signal(&self) -> watch::Receiver<u64>;

    /// Announces runs that finished or parked, in any process: `Some(id)` for one run, `None`
    /// when anything may have changed unseen (the store reconnected, or the receiver fell
    /// behind). Subscribe before reading the run, so that a change meanwhile is not missed.
    fn run_changes(&self) -> broadcast::Receiver<Option<RunId>>;
}
