//! Executing a run: load it, wait for a slot under the job's concurrency, run the job with its
//! `Io`, record the outcome. A store failure leaves the run unfinished for recovery.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use serde_json::Value;
use tokio::sync::watch;
use tracing::Instrument;

use super::io::{Io, Parked};
use super::registry::JobEntry;
use super::{Engine, StepError};
use crate::model::{JobError, Run, RunId, RunStatus, StepStatus, TriggerRef, masked};
use crate::store::{RunUpdate, StoreError};

/// How an execution ended.
pub(super) enum Ending {
    /// The run finished (or cannot be executed here at all).
    Finished,
    /// The run parked: it is `waiting` for a token or a child run.
    Parked,
    /// The store failed: the run is left unfinished, to be executed again once the store takes
    /// writes (see `stranded`).
    Stranded,
}

/// Executes a recorded run once, to its end or to a failure, and records the outcome. A store
/// failure leaves the run unfinished in the store, for the engine to retry.
pub(super) async fn execute(
    engine: &Engine,
    id: &RunId,
    recorded: Option<Run>,
    cancelled: watch::Receiver<bool>,
) -> Ending {
    let shared = &*engine.shared;
    // A run created `running` for this very execution needs no mark of its own.
    let fresh = recorded.as_ref().is_some_and(|run| run.status == RunStatus::Running);
    let loaded = match recorded {
        Some(run) => Ok(Some(run)),
        None => shared.store.run(id).await,
    };
    let run = match loaded {
        Ok(Some(run)) => run,
        Ok(None) => {
            tracing::error!(run_id = %id, "cannot execute a run the store does not have");
            return Ending::Finished;
        }
        Err(error) => {
            tracing::error!(run_id = %id, %error, "cannot load the run to execute it; trying again later");
            return Ending::Stranded;
        }
    };
    let Some(job) = shared.registry.job(&run.job_id) else {
        tracing::error!(run_id = %id, job_id = %run.job_id, "the run's job is not registered; left as it is");
        return Ending::Finished;
    };
    // Each execution is a trace of its own (`parent: None`): a run started inside an HTTP
    // request, or by another run, is not part of that request's trace.
    let execution = if fresh { run.executions } else { run.executions + 1 };
    let span = tracing::info_span!(parent: None, "run", run_id = %id, job_id = job.id, execution);
    async {
        // Runs beyond the job's concurrency wait here, still `queued` in the store.
        let _slot = match shared.job_slots.get(job.id) {
            Some(slots) => Arc::clone(slots).acquire_owned().await.ok(),
            None => None,
        };
        match record_outcome(engine, job, run, fresh, cancelled).await {
            Ok(ending) => ending,
            Err(StoreError::LeaseLost(_)) => {
                tracing::info!("the run was cancelled or taken over by another process; it stops here");
                Ending::Finished
            }
            Err(error) => {
                tracing::error!(%error, "the run store failed; the run stays unfinished and is executed again once the store takes writes");
                Ending::Stranded
            }
        }
    }
    .instrument(span)
    .await
}

async fn record_outcome(
    engine: &Engine,
    job: &JobEntry,
    run: Run,
    fresh: bool,
    cancelled: watch::Receiver<bool>,
) -> Result<Ending, StoreError> {
    let shared = &*engine.shared;
    let Run { id, payload, steps, trigger, .. } = run;
    let id = &id;
    if *cancelled.borrow() {
        // Cancelled while it waited for a slot: it never starts.
        shared.store.update_run(id, &cancelled_update()).await?;
        return Ok(Ending::Finished);
    }
    if !fresh {
        let running = RunUpdate { new_execution: true, ..RunUpdate::status(RunStatus::Running) };
        shared.store.update_run(id, &running).await?;
    }
    tracing::info!("run started");
    let io = Io::new(id.clone(), job, engine, steps, cancelled.clone());
    // A panicking job fails its run; it must not take the engine's task (or its record) with it.
    let executing = io.keeping_log(AssertUnwindSafe((job.execute)(payload, &io)).catch_unwind());
    let result: Result<Value, JobError> = match executing.await {
        Ok(result) => result,
        Err(panic) => Err(format!("job panicked: {}", panic_message(&panic)).into()),
    };
    // What the job logged after its last step, kept before the outcome.
    io.flush_logs().await;
    if engine.lease_lost(id) {
        // Another process holds the run now (or it was cancelled there): nothing more is ours
        // to record.
        return Err(StoreError::LeaseLost(id.clone()));
    }
    if let Some(parked) = io.parked() {
        park(engine, id, parked).await?;
        return Ok(Ending::Parked);
    }
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
                let error = masked(&error);
                tracing::warn!(%error, "run failed");
                RunUpdate { error: Some(error), ..RunUpdate::status(RunStatus::Failed) }
            }
        }
    };
    shared.store.update_run(id, &update).await?;
    if let TriggerRef::Parent { run: parent, step } = trigger {
        complete_parent(engine, &parent, &step, id, &update).await;
    }
    Ok(Ending::Finished)
}

/// Records a parked run as `waiting`, and makes sure it is woken: at its wake-up time, or at
/// once if what it waits for arrived while it was executing.
async fn park(engine: &Engine, id: &RunId, parked: Parked) -> Result<(), StoreError> {
    let store = &engine.shared.store;
    let waiting = RunUpdate { wake_at: parked.wake_at, ..RunUpdate::status(RunStatus::Waiting) };
    store.update_run(id, &waiting).await?;
    tracing::info!(step_key = %parked.key, wake_at = ?parked.wake_at, "run parked");
    // Completed by another process before the run was marked waiting: that process could not
    // claim it, so this one does.
    let arrived = store.run(id).await?.and_then(|run| run.step(&parked.key).map(|step| step.status));
    if arrived.is_some_and(|status| status != StepStatus::Running) {
        engine.mark_woken(id);
    }
    if let Some(wake_at) = parked.wake_at {
        let (engine, id) = (engine.clone(), id.clone());
        tokio::spawn(async move {
            if let Ok(wait) = (wake_at - engine.shared.settings.clock.now()).to_std() {
                tokio::time::sleep(wait).await;
            }
            if let Err(error) = engine.wake(&id).await {
                tracing::warn!(run_id = %id, %error, "could not wake the run at its timeout; it resumes on recovery");
            }
        });
    }
    Ok(())
}

/// A child run of `io.run_job` finished: its outcome completes the parent's step, and the
/// parent resumes.
async fn complete_parent(engine: &Engine, parent: &RunId, key: &str, child: &RunId, outcome: &RunUpdate) {
    let completed = async {
        let Some(run) = engine.shared.store.run(parent).await? else { return Ok(()) };
        let Some(step) = run.step(key).filter(|step| step.status == StepStatus::Running) else { return Ok(()) };
        let result = match outcome.status {
            RunStatus::Succeeded => Ok(outcome.output.clone().unwrap_or_default()),
            status => Err(outcome.error.clone().unwrap_or_else(|| status.to_string())),
        };
        engine.finish_parked_step(parent, step.clone(), result).await
    };
    let completed: Result<(), super::EngineError> = completed.await;
    if let Err(error) = completed {
        tracing::warn!(parent_run = %parent, child_run = %child, %error, "could not hand the child's outcome to its parent");
    }
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
