//! Runs a store failure left unfinished (a full disk, a writer lock held too long), executed
//! again in the background once the store takes writes again, without waiting for a restart.
//!
//! Only this process's own executions are retried: it knows they ended, so executing one again
//! cannot overlap with it (runs executing here are skipped, and a run is put back only after its
//! execution ended). Runs other processes left behind are for [`Engine::recover`] at their start.
//! A retry that meets the store still failing ends the same way and is put back for the next
//! round; steps recorded before the failure are replayed from the store, not run again. A step
//! whose call succeeded but whose record failed is called again, with the same idempotency key.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, Weak};

use super::{Engine, Shared};
use crate::model::RunId;

/// The stranded runs, and whether a task is retrying them.
#[derive(Debug, Default)]
pub(super) struct Stranded {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    runs: BTreeSet<RunId>,
    /// A retry task is running: it takes every run added until it finds none.
    retrying: bool,
}

impl Stranded {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Engine {
    /// Puts a run whose execution ended on a store failure up for a retry, starting the retry
    /// task if none runs. Call it after the execution has left the active runs.
    pub(super) fn strand(&self, id: RunId) {
        let start = {
            let mut state = self.shared.stranded.lock();
            state.runs.insert(id);
            !std::mem::replace(&mut state.retrying, true)
        };
        if start {
            // Weak: an engine dropped while its store is down takes its retries with it.
            tokio::spawn(retry(Arc::downgrade(&self.shared)));
        }
    }
}

/// Every interval, executes the stranded runs again; ends when none is left.
async fn retry(shared: Weak<Shared>) {
    loop {
        let Some(interval) = shared.upgrade().map(|shared| shared.settings.stranded_retry) else { return };
        tokio::time::sleep(interval).await;
        let Some(engine) = shared.upgrade().map(|shared| Engine { shared }) else { return };
        let runs = {
            let mut state = engine.shared.stranded.lock();
            if state.runs.is_empty() {
                state.retrying = false;
                return;
            }
            std::mem::take(&mut state.runs)
        };
        tracing::warn!(runs = runs.len(), "executing runs a run store failure left unfinished again");
        for id in runs {
            retry_one(&engine, id).await;
        }
    }
}

async fn retry_one(engine: &Engine, id: RunId) {
    if engine.is_active(&id) {
        return;
    }
    // Read first: a store that cannot even read is not worth an execution yet, and a run
    // cancelled (or resumed and finished by hand) meanwhile is left alone.
    match engine.shared.store.run(&id).await {
        // Loaded again by the execution, which counts itself as a new one.
        Ok(Some(run)) if !run.status.is_finished() => engine.spawn(id, None),
        Ok(_) => {}
        Err(error) => {
            tracing::debug!(run_id = %id, %error, "the run store still fails; trying again later");
            engine.shared.stranded.lock().runs.insert(id);
        }
    }
}
