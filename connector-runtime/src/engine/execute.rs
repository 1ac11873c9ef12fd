//! Executing a run: load it, wait for a slot under the job's concurrency, run the job with its
//! `Io`, record the outcome. A store failure leaves the run unfinished for recovery.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use serde_json::Value;
use tokio::sync::watch;
use tracing::Instrument;

use super::io::Io;
use super::registry::JobEntry;
use super::{Engine, StepError};
use crate::model::{JobError, Run, RunId, RunStatus, redact};
use crate::store::{RunUpdate, StoreError};

/// Executes a recorded run once, to its end or to a failure, and records the outcome. A store
/// failure leaves the run unfinished in the store, for [`Engine::recover`](super::Engine::recover) to pick up.
pub(super) async fn execute(engine: &Engine, id: &RunId, recorded: Option<Run>, cancelled: watch::Receiver<bool>) {
    let shared = &*engine.shared;
    let loaded = match recorded {
        Some(run) => Ok(Some(run)),
        None => shared.store.run(id).await,
    };
    let run = match loaded {
        Ok(Some(run)) => run,
        Ok(None) => {
            return tracing::error!(run_id = %id, "cannot execute a run the store does not have");
        }
        Err(error) => {
            return tracing::error!(run_id = %id, %error, "cannot load the run to execute it");
        }
    };
    let Some(job) = shared.registry.job(&run.job_id) else {
        return tracing::error!(run_id = %id, job_id = %run.job_id, "the run's job is not registered; left as it is");
    };
    let span = tracing::info_span!("run", run_id = %id, job_id = job.id);
    async {
        // Runs beyond the job's concurrency wait here, still `queued` in the store.
        let _slot = match shared.job_slots.get(job.id) {
            Some(slots) => Arc::clone(slots).acquire_owned().await.ok(),
            None => None,
        };
        if let Err(error) = record_outcome(engine, job, run, cancelled).await {
            tracing::error!(%error, "the run store failed; the run stays unfinished and resumes on recovery");
        }
    }
    .instrument(span)
    .await;
}

async fn record_outcome(
    engine: &Engine,
    job: &JobEntry,
    run: Run,
    cancelled: watch::Receiver<bool>,
) -> Result<(), StoreError> {
    let shared = &*engine.shared;
    let Run { id, payload, steps, .. } = run;
    let id = &id;
    if *cancelled.borrow() {
        // Cancelled while it waited for a slot: it never starts.
        return shared.store.update_run(id, &cancelled_update()).await;
    }
    let running = RunUpdate { new_execution: true, ..RunUpdate::status(RunStatus::Running) };
    shared.store.update_run(id, &running).await?;
    tracing::info!("run started");
    let io = Io::new(id.clone(), job, engine, steps, cancelled.clone());
    // A panicking job fails its run; it must not take the engine's task (or its record) with it.
    let result: Result<Value, JobError> = match AssertUnwindSafe((job.execute)(payload, &io)).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(format!("job panicked: {}", panic_message(&panic)).into()),
    };
    let update = match result {
        Ok(output) => {
            tracing::info!("run succeeded");
            RunUpdate { output: Some(output), ..RunUpdate::status(RunStatus::Succeeded) }
        }
        Err(error) => {
            let step_error = error.downcast_ref::<StepError>();
            // A store failure inside a step is not the job's fault: leave the run unfinished.
            if let Some(store_error) = step_error.and_then(store_failure) {
                return Err(store_error.clone());
            }
            if matches!(step_error, Some(StepError::Cancelled)) || *cancelled.borrow() {
                tracing::info!("run cancelled");
                cancelled_update()
            } else {
                let error = redact(&error.to_string()).into_owned();
                tracing::warn!(%error, "run failed");
                RunUpdate { error: Some(error), ..RunUpdate::status(RunStatus::Failed) }
            }
        }
    };
    shared.store.update_run(id, &update).await
}

/// What a cancelled run records.
pub(super) fn cancelled_update() -> RunUpdate {
    RunUpdate { error: Some("cancelled".to_owned()), ..RunUpdate::status(RunStatus::Cancelled) }
}

fn store_failure(error: &StepError) -> Option<&StoreError> {
    match error {
        StepError::Store(store) => Some(store),
        _ => None,
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}
