//! The engine on a store several processes share ([`RunQueue`]): a claim loop that takes
//! runnable runs from the queue while this process has room for them, and the lease renewal
//! that keeps the runs executing here from moving to another process.
//!
//! On such a store an engine executes only runs it holds a lease on: the runs it creates
//! `running` itself (when it executes runs at all) and the runs it claims. Everything else it
//! queues (a run another process should take, a woken run, a resumed one) is left for the claim
//! loops of every process, this one's included; that is what makes a run execute in exactly one
//! place. A run whose lease is lost (cancelled elsewhere, or claimed by another process after a
//! stall) stops at its next step boundary and records nothing more.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use super::{Engine, Shared};
use crate::model::RunId;
use crate::store::RunQueue;

/// How many runs one claim takes at most, however much room there is.
const CLAIM_BATCH: usize = 32;

/// How often a claim loop sweeps, looking for runs whose lease lapsed (their process died) or
/// whose wake-up time passed, and for queued runs whose notice was lost.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// The longest a claim loop whose claims keep finding nothing waits after a notice before
/// claiming (see `claim_loop`).
const MAX_CLAIM_DELAY: Duration = Duration::from_millis(32);

/// How long a claim loop waits after the store failed to claim.
const CLAIM_BACKOFF: Duration = Duration::from_secs(1);

/// The engine's side of the queue: a notice when a run executing here ends, and whether the
/// renewal task runs.
#[derive(Debug, Default)]
pub(super) struct QueueState {
    /// Notified when an execution ends here: the claim loop has room again.
    freed: Arc<Notify>,
    /// The lease renewal task was started.
    renewing: AtomicBool,
}

/// The claim loop of an engine, from [`Engine::start`] (or [`Engine::start_worker`]); stops when
/// dropped or [`stop`](Self::stop)ped.
#[derive(Debug)]
#[must_use = "dropping `Worker` stops claiming runs"]
pub struct Worker {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Worker {
    /// Stops claiming runs (runs executing go on) and waits for the claim in progress.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Engine {
    /// The store's work queue, when several processes share the store.
    pub(super) fn queue(&self) -> Option<&dyn RunQueue> {
        self.shared.store.queue()
    }

    /// Starts claiming runs from the store's work queue: up to the builder's
    /// [`worker_concurrency`](super::EngineBuilder::worker_concurrency) runs execute here at
    /// once (those this engine started itself included). `None` when the store has no queue
    /// (it is this process's alone, and its engine executes what it accepts) or the engine was
    /// built not to execute runs.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub fn start_worker(&self) -> Option<Worker> {
        if self.queue().is_none() || !self.shared.settings.executes {
            return None;
        }
        self.ensure_renewing();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(claim_loop(Arc::downgrade(&self.shared), stopped));
        Some(Worker { stop, task: Some(task) })
    }

    /// Tells the claim loop that an execution here ended.
    pub(super) fn execution_ended(&self) {
        self.shared.queue.freed.notify_one();
    }

    /// Starts renewing the leases of the runs executing here, once per engine.
    pub(super) fn ensure_renewing(&self) {
        if self.queue().is_some() && !self.shared.queue.renewing.swap(true, Ordering::SeqCst) {
            tokio::spawn(renew_loop(Arc::downgrade(&self.shared)));
        }
    }
}

async fn claim_loop(shared: Weak<Shared>, mut stop: watch::Receiver<bool>) {
    let Some((mut work, freed)) = shared.upgrade().and_then(|shared| {
        let freed = Arc::clone(&shared.queue.freed);
        shared.store.queue().map(|queue| (queue.work_signal(), freed))
    }) else {
        return;
    };
    // The first round sweeps: a process starting up takes over what dead ones left.
    let mut next_sweep = tokio::time::Instant::now();
    // Claims in a row, after a notice, that found nothing: another process took the run first.
    // Every notice wakes every idle process and one claim wins; a process that keeps losing
    // waits a little longer after each notice (1, 2, 4 .. 32 ms), so the notices meanwhile are
    // taken in one claim instead of one claim each, while the process that wins stays prompt.
    // A claim that finds work makes it prompt again.
    let mut misses: u32 = 0;
    let mut after_notice = false;
    loop {
        if *stop.borrow() {
            return;
        }
        if after_notice && misses > 0 && tokio::time::Instant::now() < next_sweep {
            let delay = (Duration::from_millis(1) * 2u32.saturating_pow(misses - 1)).min(MAX_CLAIM_DELAY);
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                _ = stop.changed() => return,
            }
        }
        let Some(engine) = shared.upgrade().map(|shared| Engine { shared }) else { return };
        let Some(queue) = engine.queue() else { return };
        let room = engine.shared.settings.worker_concurrency.saturating_sub(engine.lock_active().len());
        if room == 0 {
            // Full: the next claim waits for a run here to end.
            drop(engine);
            tokio::select! {
                () = freed.notified() => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        let sweeping = tokio::time::Instant::now() >= next_sweep;
        // Seen before claiming: work queued while the claim runs changes it again.
        work.borrow_and_update();
        let asked = room.min(CLAIM_BATCH);
        let claimed = if sweeping { queue.sweep(asked).await } else { queue.claim(asked).await };
        if sweeping {
            next_sweep = tokio::time::Instant::now() + POLL_EVERY;
        }
        let claimed_after_notice = std::mem::take(&mut after_notice);
        match claimed {
            Ok(runs) => {
                if !runs.is_empty() {
                    misses = 0;
                } else if claimed_after_notice {
                    misses = misses.saturating_add(1);
                }
                let full = runs.len() == asked;
                for run in runs {
                    tracing::debug!(run_id = %run.id, "claimed a run");
                    engine.spawn(run.id.clone(), Some(run));
                }
                if full {
                    // A full batch: there may be more waiting.
                    continue;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot claim runs; trying again shortly");
                drop(engine);
                tokio::select! {
                    () = tokio::time::sleep(CLAIM_BACKOFF) => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
        }
        drop(engine);
        // Nothing more queued: wait for a notice, or for the next sweep. (A run ending here
        // frees room, but queues nothing: no reason to look.)
        tokio::select! {
            changed = work.changed() => match changed {
                Ok(()) => after_notice = true,
                Err(_) => tokio::time::sleep_until(next_sweep).await,
            },
            () = tokio::time::sleep_until(next_sweep) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Three times per lease, extends the leases of every run executing here; a run whose lease is
/// gone is told to stop.
async fn renew_loop(shared: Weak<Shared>) {
    loop {
        let Some(every) = shared.upgrade().and_then(|shared| shared.store.queue().map(|queue| queue.lease() / 3))
        else {
            return;
        };
        tokio::time::sleep(every).await;
        let Some(engine) = shared.upgrade().map(|shared| Engine { shared }) else { return };
        let Some(queue) = engine.queue() else { return };
        let held: Vec<RunId> = engine.lock_active().keys().cloned().collect();
        match queue.renew(&held).await {
            Ok(lost) => {
                let mut active = engine.lock_active();
                for id in lost {
                    if let Some(run) = active.get_mut(&id).filter(|run| !*run.done.borrow()) {
                        tracing::warn!(run_id = %id, "the run's lease is gone (cancelled, or taken over by another process); stopping it here");
                        run.lease_lost = true;
                        run.cancel.send_replace(true);
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "cannot renew the leases of the runs executing here"),
        }
    }
}
