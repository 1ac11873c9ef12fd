//! [`Engine`]: registers connectors and jobs, starts runs when events and trigger deliveries
//! arrive, keeps their records in a [`RunStore`], and resumes the runs a previous process left
//! unfinished.

mod accept;
mod builder;
mod call;
mod changes;
mod error;
mod execute;
mod io;
mod job;
mod members;
mod poll;
mod registry;
mod schedule;
mod stranded;
mod tasks;
mod tool_call;
mod trigger;
mod worker;

pub use accept::{Receipt, Subscriptions};
pub use builder::{DATABASE_URL_ENV, DEFAULT_DB_PATH, DEFAULT_MAX_STEP_OUTPUT, EngineBuilder};
pub use changes::{RunChange, RunChanges};
pub use error::{CallError, DeliveryError, EngineError, PollError, StepError, TriggerFailure};
pub use io::Io;
pub use job::{Job, JobTrigger, JobTriggerFn, OnEvent, OnTrigger, OnTriggerFn};
pub use poll::PollReport;
pub use schedule::{OnSchedule, ScheduledJob};
pub use tasks::{Running, StartOptions, TriggerTasks};
pub use tool_call::{JobCallOutcome, TOOL_CALL_JOB, ToolCallError, ToolCallOptions, ToolCallOutcome};
pub use worker::Worker;

pub use members::{ConnectorMembers, MemberVisitor, SubscribeFn, UnsubscribeFn};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::{Semaphore, watch};

use crate::connector::{CheckError, Connector, Trigger};
use crate::model::{Event, Manifest, Run, RunId, RunStatus, StepKind, StepStatus, TriggerRef};
use crate::store::{Delivery, DeliveryOutcome, RunFilter, RunStore};
use io::Settings;
use registry::Registry;

/// What [`Engine::start_runs`] did.
#[derive(Debug)]
pub(crate) struct RunsStarted {
    pub(crate) runs: Vec<RunId>,
    pub(crate) duplicate: bool,
}

/// A run executing in this process.
struct ActiveRun {
    /// Turns `true` when the execution ends.
    done: watch::Receiver<bool>,
    /// Set to `true` to cancel the run at its next step boundary.
    cancel: watch::Sender<bool>,
    /// Something the run parked for arrived while it was executing: execute it again rather
    /// than leave it waiting.
    wake: bool,
    /// The store's lease on the run was lost (see `worker`): its execution records nothing more.
    lease_lost: bool,
}

/// How [`Engine::send_with`] sends an event.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SendOptions {
    /// Sending again with the same key starts nothing and returns the runs the first send
    /// started (as the API's event `id` does).
    pub idempotency_key: Option<String>,
}

impl SendOptions {
    /// Options with this idempotency key.
    pub fn idempotency_key(key: impl Into<String>) -> Self {
        SendOptions { idempotency_key: Some(key.into()) }
    }
}

/// Runs jobs: when an event is sent or a trigger delivers, every job started by it gets a run,
/// recorded in the store, executed on the tokio runtime.
///
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

struct Shared {
    registry: Arc<Registry>,
    store: Arc<dyn RunStore>,
    settings: Settings,
    schemas: Arc<io::SchemaCache>,
    /// Per-job limits on runs executing at once.
    job_slots: HashMap<&'static str, Arc<Semaphore>>,
    /// Runs executing in this process.
    active: Mutex<HashMap<RunId, ActiveRun>>,
    /// Runs a store failure left unfinished, waiting to be executed again.
    stranded: stranded::Stranded,
    /// The work queue's side, on a store several processes share.
    queue: worker::QueueState,
    /// Announces each run written through `store` (which is wrapped to do so).
    changes: tokio::sync::broadcast::Sender<RunId>,
}

impl Engine {
    /// An engine builder.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The store the engine records runs in.
    pub fn store(&self) -> &Arc<dyn RunStore> {
        &self.shared.store
    }

    /// When scheduled job `job` next ticks after now; `None` for a job without a schedule (or
    /// one whose schedule never matches again). Whether a tick starts a run depends on an
    /// engine running its schedules then.
    pub fn next_tick(&self, job: &str) -> Option<chrono::DateTime<chrono::Utc>> {
        self.shared.registry.job(job)?.schedule.as_ref()?.next_after(chrono::Utc::now())
    }

    /// The manifest document of every registered connector and job.
    pub fn manifest(&self) -> Manifest {
        let registry = &self.shared.registry;
        let mut connectors: Vec<_> = registry.integrations.values().map(|entry| (entry.manifest)()).collect();
        connectors.sort_by(|a, b| a.id.cmp(&b.id));
        Manifest { connectors, jobs: registry.jobs.iter().map(|job| (job.manifest)()).collect() }
    }

    /// Sends event `E`: records a run of every job it triggers, starts them, and returns their
    /// ids at once.
    ///
    /// The event is checked and serialized before this returns; the future that does the rest
    /// does not name `E`, so a type that is not an event is one error, at the call.
    pub fn dispatch<E: Event>(&self, event: E) -> BoxFuture<'_, Result<Vec<RunId>, EngineError>> {
        self.dispatch_with(event, SendOptions::default())
    }

    /// [`Engine::dispatch`] with options: an idempotency key makes a repeated send return the
    /// runs the first one started, and start nothing.
    pub fn dispatch_with<E: Event>(
        &self,
        event: E,
        options: SendOptions,
    ) -> BoxFuture<'_, Result<Vec<RunId>, EngineError>> {
        let payload = serde_json::to_value(&event)
            .map_err(|error| EngineError::Payload { name: E::NAME.to_owned(), message: error.to_string() })
            .and_then(|payload| self.check_typed_send::<E>(payload));
        let delivery = options.idempotency_key.map(|id| Delivery {
            source: format!("event:{}", E::NAME),
            id,
            received_at: Utc::now(),
        });
        let checked = self.shared.registry.check_event_type::<E>();
        let name = E::NAME;
        Box::pin(async move {
            checked?;
            let trigger = TriggerRef::Event { name: name.to_owned() };
            Ok(self.start_runs(trigger, payload?, delivery).await?.runs)
        })
    }

    /// Sends event `E` and waits for the runs it started to finish.
    pub fn send<E: Event>(&self, event: E) -> BoxFuture<'_, Result<Vec<Run>, EngineError>> {
        self.send_with(event, SendOptions::default())
    }

    /// [`Engine::send`] with options (see [`Engine::dispatch_with`]).
    pub fn send_with<E: Event>(&self, event: E, options: SendOptions) -> BoxFuture<'_, Result<Vec<Run>, EngineError>> {
        let started = self.dispatch_with(event, options);
        Box::pin(async move {
            let ids = started.await?;
            self.wait_all(&ids).await
        })
    }

    /// A typed event's constraints, unless the builder turned the check off.
    pub(crate) fn check_typed_send<E: Event>(&self, payload: Value) -> Result<Value, EngineError> {
        if self.shared.settings.check_typed_sends {
            crate::model::payload::check_constraints::<E>(&payload)
                .map_err(|error| EngineError::Payload { name: E::NAME.to_owned(), message: error.to_string() })?;
        }
        Ok(payload)
    }

    /// Sends event `E`, already serialized, with `delivery` deduplicating it: for `io.send_event`.
    pub(crate) async fn send_checked<E: Event>(
        &self,
        payload: Value,
        delivery: Option<Delivery>,
    ) -> Result<Vec<RunId>, EngineError> {
        self.shared.registry.check_event_type::<E>()?;
        let payload = self.check_typed_send::<E>(payload)?;
        let trigger = TriggerRef::Event { name: E::NAME.to_owned() };
        Ok(self.start_runs(trigger, payload, delivery).await?.runs)
    }

    /// Hands a delivery to a trigger (as its webhook would): the trigger function decides what
    /// the jobs receive, or ignores the delivery (no runs). Returns the started runs' ids:
    /// `engine.deliver(SimpleChat::MESSAGE_RECEIVED, payload)`.
    pub async fn deliver<T: Trigger>(&self, _trigger: T, payload: T::Payload) -> Result<Vec<RunId>, DeliveryError> {
        let connector = <T::Connector as Connector>::ID;
        let integration = self.shared.registry.integration::<T::Connector>().ok_or_else(|| {
            DeliveryError::NotFound(format!("connector `{connector}` is not registered with the engine"))
        })?;
        let Some(output) = T::run(&integration.context(), payload).await.map_err(DeliveryError::Trigger)? else {
            tracing::info!(trigger = T::ID, "delivery ignored by the trigger");
            return Ok(Vec::new());
        };
        let trigger = <OnTrigger<T> as JobTrigger>::trigger_ref();
        let payload = serde_json::to_value(&output).map_err(|error| EngineError::Payload {
            name: format!("{connector}/{}", T::ID),
            message: error.to_string(),
        })?;
        Ok(self.start_runs(trigger, payload, None).await?.runs)
    }

    /// Calls action `action` of connector `connector` once, directly, with JSON input checked
    /// against the action's input type: no run, no step (a CLI's `call`, an MCP tool).
    pub async fn call_action(&self, connector: &str, action: &str, input: Value) -> Result<Value, CallError> {
        let integration = self
            .shared
            .registry
            .integrations
            .get(connector)
            .ok_or_else(|| CallError::NotFound(format!("no connector `{connector}` is registered")))?;
        let call = integration.actions.get(action).ok_or_else(|| {
            let mut known: Vec<&str> = integration.actions.keys().copied().collect();
            known.sort_unstable();
            CallError::NotFound(format!(
                "connector `{connector}` has no action `{action}` (it has: {})",
                known.join(", ")
            ))
        })?;
        call(input).await
    }

    /// Checks the credentials of connector `connector` against its service.
    pub async fn check(&self, connector: &str) -> Result<(), CheckError> {
        match self.shared.registry.integrations.get(connector) {
            Some(integration) => (integration.check)().await,
            None => Err(CheckError::UnknownConnector(connector.to_owned())),
        }
    }

    /// Checks every registered connector that declares a check (say, at start-up); returns the
    /// failures.
    pub async fn check_all(&self) -> Vec<CheckError> {
        let mut failures = Vec::new();
        for integration in self.shared.registry.integrations.values() {
            match (integration.check)().await {
                Ok(()) | Err(CheckError::NoCheck { .. }) => {}
                Err(failure) => failures.push(failure),
            }
        }
        failures
    }

    /// Resumes every run an earlier process left unfinished (queued, running or waiting): each
    /// executes again from the top, its completed steps replayed from the store. Call it once
    /// at start-up. Returns the resumed runs' ids.
    ///
    /// On a store several processes share there is nothing to do here: the claim loop
    /// ([`Engine::start_worker`]) resumes the runs of processes that died, once their leases
    /// lapse, so the list is empty.
    pub async fn recover(&self) -> Result<Vec<RunId>, EngineError> {
        if self.queue().is_some() {
            return Ok(Vec::new());
        }
        let unfinished = self.shared.store.list_runs(&RunFilter::unfinished()).await?;
        let mut resumed = Vec::new();
        // Oldest first, so runs resume in the order they were accepted.
        for run in unfinished.into_iter().rev() {
            if self.is_active(&run.id) {
                continue;
            }
            tracing::info!(run_id = %run.id, job_id = %run.job_id, status = %run.status, "resuming an unfinished run");
            self.spawn(run.id.clone(), None);
            resumed.push(run.id);
        }
        Ok(resumed)
    }

    /// Starts a new run of run `id`'s job with the same payload and trigger: a replay, with
    /// none of the first run's steps (they all run again). Returns the new run's id.
    pub async fn replay(&self, id: &RunId) -> Result<RunId, EngineError> {
        let run = self.shared.store.run(id).await?.ok_or_else(|| EngineError::RunNotFound(id.to_string()))?;
        let job = self.shared.registry.job(&run.job_id).ok_or_else(|| EngineError::NotResumable {
            id: id.to_string(),
            reason: "its job is not registered with this engine",
        })?;
        if matches!(run.trigger, TriggerRef::Parent { .. }) {
            return Err(EngineError::NotResumable {
                id: id.to_string(),
                reason: "it is a child run: replay its parent",
            });
        }
        let replay = new_run(RunId::new(), job, &run.trigger, &run.payload, self.starts_runs_here());
        let started = self.record_and_start(vec![replay], None).await?;
        tracing::info!(run_id = %id, replay = ?started.runs, "run replayed as a new run");
        started.runs.into_iter().next().ok_or_else(|| EngineError::RunNotFound(id.to_string()))
    }

    /// Resumes or retries one run by id: an unfinished run left by another process, or a
    /// failed run. It executes again from the top; steps that succeeded are not run again.
    pub async fn resume(&self, id: &RunId) -> Result<RunId, EngineError> {
        let run = self.shared.store.run(id).await?.ok_or_else(|| EngineError::RunNotFound(id.to_string()))?;
        if run.status == RunStatus::Succeeded {
            return Err(EngineError::NotResumable { id: id.to_string(), reason: "it succeeded already" });
        }
        if self.is_active(id) {
            return Err(EngineError::NotResumable { id: id.to_string(), reason: "it is executing in this process" });
        }
        if self.shared.registry.job(&run.job_id).is_none() {
            return Err(EngineError::NotResumable {
                id: id.to_string(),
                reason: "its job is not registered with this engine",
            });
        }
        if self.queue().is_some() {
            // Queued again for a claim loop; an unfinished run is taken up by one already
            // (at once if queued, when its lease lapses if running, when it wakes if waiting).
            if run.status.is_finished() {
                self.shared.store.claim_run(id, run.status).await?;
            }
            return Ok(id.clone());
        }
        self.spawn(id.clone(), None);
        Ok(id.clone())
    }

    /// Waits for a run to finish (succeed, fail or be cancelled) and returns it with its steps,
    /// wherever it executes: in this process, or in another one on the same store (then the
    /// store's notices say when to look again).
    ///
    /// A run whose execution in this process ended without finishing it (the store failed while
    /// it was recorded) is [`EngineError::Unfinished`], not a finished run: it resumes on recovery.
    pub async fn wait(&self, id: &RunId) -> Result<Run, EngineError> {
        // On a shared store, a run finishing in any process is announced: subscribed before
        // the first read, so an end between the read and the wait is not missed. The store's
        // notices are then what the wait waits on, and the timer only a fallback (a reconnect
        // announces "anything" itself); without them, the store is polled, sooner at first.
        let mut changes = self.queue().map(|queue| queue.run_changes());
        let mut poll = match changes {
            Some(_) => std::time::Duration::from_secs(1),
            None => std::time::Duration::from_millis(20),
        };
        // What the next read reads: the status alone (on a shared store, where a run's steps
        // cost more to read), or, after a notice naming this run (it finished or parked), the
        // run at once, since it most likely finished.
        let mut status_first = changes.is_some();
        loop {
            let done = self.lock_active().get(id).map(|active| active.done.clone());
            let executed_here = done.is_some();
            if let Some(mut done) = done {
                // An error means the sender is gone, which happens only after the execution ended.
                let _ = done.wait_for(|done| *done).await;
            }
            let status = match self.finished(id, status_first).await? {
                Ok(run) => return Ok(run),
                Err(status) => status,
            };
            if executed_here && !self.is_active(id) && status != RunStatus::Waiting && changes.is_none() {
                return Err(EngineError::Unfinished { id: id.to_string(), status });
            }
            match &mut changes {
                Some(changes) => {
                    let named = tokio::time::timeout(poll, announced(changes, id)).await;
                    status_first = !matches!(named, Ok(true));
                }
                None => tokio::time::sleep(poll).await,
            }
            poll = (poll * 2).min(std::time::Duration::from_secs(1));
        }
    }

    /// Run `id` with its steps if it has finished, else its status. With `status_first` (a
    /// shared store, where reading the steps costs more) the status is read alone first, and
    /// the run only once the status says finished.
    async fn finished(&self, id: &RunId, status_first: bool) -> Result<Result<Run, RunStatus>, EngineError> {
        let missing = || EngineError::RunNotFound(id.to_string());
        if status_first {
            let status = self.shared.store.run_status(id).await?.ok_or_else(missing)?;
            if !status.is_finished() {
                return Ok(Err(status));
            }
        }
        // Finished stays finished but for a resume racing the two reads: then it is unfinished.
        let run = self.shared.store.run(id).await?.ok_or_else(missing)?;
        Ok(if run.status.is_finished() { Ok(run) } else { Err(run.status) })
    }

    /// Cancels a run: one executing in this process stops at its next step boundary (a durable
    /// wait in progress ends at once) with status `cancelled`; a queued or waiting one, or one
    /// this process does not execute, is marked `cancelled` in the store at once. A cancelled run
    /// can be resumed like a failed one. Returns the run's status after the request.
    pub async fn cancel(&self, id: &RunId) -> Result<RunStatus, EngineError> {
        let run = self.shared.store.run(id).await?.ok_or_else(|| EngineError::RunNotFound(id.to_string()))?;
        if run.status.is_finished() {
            return Err(EngineError::NotCancellable { id: id.to_string(), reason: "it has finished" });
        }
        let signalled = match self.lock_active().get(id) {
            Some(active) => {
                active.cancel.send_replace(true);
                true
            }
            None => false,
        };
        if signalled {
            tracing::info!(run_id = %id, "cancel requested; the run stops at its next step boundary");
            return Ok(run.status);
        }
        self.shared.store.update_run(id, &execute::cancelled_update()).await?;
        tracing::info!(run_id = %id, "run cancelled");
        Ok(RunStatus::Cancelled)
    }

    /// Waits for several runs.
    pub async fn wait_all(&self, ids: &[RunId]) -> Result<Vec<Run>, EngineError> {
        let mut runs = Vec::with_capacity(ids.len());
        for id in ids {
            runs.push(self.wait(id).await?);
        }
        Ok(runs)
    }

    /// A run with its steps.
    pub async fn run(&self, id: &RunId) -> Result<Option<Run>, EngineError> {
        Ok(self.shared.store.run(id).await?)
    }

    /// The lines run `id`'s job and actions logged with `io.logger()` and `ctx.logger()`, in
    /// order, with the step each action's line was logged in (empty for an unknown run). A run
    /// keeps at most [`MAX_LOG_LINES_PER_RUN`](crate::model::MAX_LOG_LINES_PER_RUN) and counts
    /// the rest. A resumed run's job logs its lines between steps again (it executes from the
    /// top; its completed steps are replayed, and log nothing).
    pub async fn logs(&self, id: &RunId) -> Result<crate::model::RunLog, EngineError> {
        Ok(self.shared.store.logs(id).await?)
    }

    /// Runs matching the filter, newest first.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<Run>, EngineError> {
        Ok(self.shared.store.list_runs(filter).await?)
    }

    /// Records a run of every job `trigger` starts — with the delivery, atomically, when there
    /// is one, so a repeated delivery starts nothing — then starts them.
    pub(crate) async fn start_runs(
        &self,
        trigger: TriggerRef,
        payload: Value,
        delivery: Option<Delivery>,
    ) -> Result<RunsStarted, EngineError> {
        let here = self.starts_runs_here();
        let runs: Vec<Run> = self
            .shared
            .registry
            .jobs_for(&trigger)
            .map(|job| new_run(RunId::new(), job, &trigger, &payload, here))
            .collect();
        if runs.is_empty() {
            tracing::info!(%trigger, "no job is started by this trigger");
        }
        self.record_and_start(runs, delivery).await
    }

    /// Records and starts the run `id` of job `job` (a parent run's child, a test's run) with
    /// this trigger and payload; `delivery` makes a repeated start a no-op.
    pub(crate) async fn start_child(
        &self,
        job: &str,
        id: RunId,
        trigger: TriggerRef,
        payload: Value,
        delivery: Option<Delivery>,
    ) -> Result<RunsStarted, EngineError> {
        let entry = self.shared.registry.job(job).ok_or_else(|| EngineError::JobNotRegistered(job.to_owned()))?;
        let run = new_run(id, entry, &trigger, &payload, self.starts_runs_here());
        self.record_and_start(vec![run], delivery).await
    }

    /// Records `runs` — with the delivery, atomically, when there is one, so a repeated delivery
    /// starts nothing — then starts them.
    async fn record_and_start(&self, runs: Vec<Run>, delivery: Option<Delivery>) -> Result<RunsStarted, EngineError> {
        // Recorded before anything runs: an accepted run is never lost.
        match &delivery {
            Some(delivery) => {
                if let DeliveryOutcome::Duplicate { runs } = self.shared.store.accept_delivery(delivery, &runs).await? {
                    tracing::info!(source = %delivery.source, delivery = %delivery.id, "delivery seen before; no new runs");
                    return Ok(RunsStarted { runs, duplicate: true });
                }
            }
            None => {
                for run in &runs {
                    self.shared.store.create_run(run).await?;
                }
            }
        }
        let ids: Vec<RunId> = runs.iter().map(|run| run.id.clone()).collect();
        let queued = self.queue().is_some();
        for run in runs {
            // On a shared store, only the runs recorded `running` (leased to this process) are
            // executed here; queued ones are for whichever process claims them first.
            if queued && run.status != RunStatus::Running {
                continue;
            }
            // The task gets the run as recorded: reading it back would cost a store round trip.
            self.spawn(run.id.clone(), Some(run));
        }
        Ok(RunsStarted { runs: ids, duplicate: false })
    }

    /// Completes the token a run waits for with `io.wait_for_token` (see [`crate::Io::token`]):
    /// the run resumes with `payload`, in this process or whichever holds it.
    pub async fn complete_token(&self, token: &str, payload: Value) -> Result<(), EngineError> {
        let not_found = || EngineError::TokenNotFound(token.to_owned());
        let (run, key) = token.split_once(':').ok_or_else(not_found)?;
        let run = RunId::from(run);
        let record = self.shared.store.run(&run).await?.ok_or_else(not_found)?;
        let step = record.step(key).filter(|step| matches!(step.kind, StepKind::Token { .. })).ok_or_else(not_found)?;
        let closed = |reason| EngineError::TokenClosed { token: token.to_owned(), reason };
        match step.status {
            StepStatus::Succeeded => return Err(closed("it was completed before")),
            StepStatus::Failed => return Err(closed("its wait timed out")),
            StepStatus::Running => {}
        }
        if record.status.is_finished() {
            return Err(closed("its run has finished"));
        }
        let fingerprint = step.input.get("payloadSchema").and_then(Value::as_str);
        let check = fingerprint.and_then(|fingerprint| io::token_payloads().get(fingerprint));
        if let Some(check) = check {
            check(&payload).map_err(|error| EngineError::TokenPayload { token: token.to_owned(), error })?;
        }
        tracing::info!(run_id = %run, step_key = key, "token completed");
        self.finish_parked_step(&run, step.clone(), Ok(payload)).await
    }

    /// Completes the step a parked run waits at (a token, a child run) with `outcome`, and
    /// wakes the run.
    pub(crate) async fn finish_parked_step(
        &self,
        run: &RunId,
        mut step: crate::model::StepRecord,
        outcome: Result<Value, String>,
    ) -> Result<(), EngineError> {
        match outcome {
            Ok(output) => {
                step.status = StepStatus::Succeeded;
                step.output = Some(output);
            }
            Err(error) => {
                step.status = StepStatus::Failed;
                step.error = Some(error);
            }
        }
        step.finished_at = Some(Utc::now());
        self.shared.store.save_step(run, &step).await?;
        self.wake(run).await
    }

    /// Resumes a parked run whose wait is over (a token completed or timed out, a child run
    /// finished): at once if this process executes it, otherwise by claiming it from `waiting`
    /// in the store, so two processes never both resume it.
    /// Marks a run executing in this process to execute again when it parks; `false` if this
    /// process does not execute it.
    fn mark_woken(&self, id: &RunId) -> bool {
        match self.lock_active().get_mut(id) {
            Some(active) => {
                active.wake = true;
                true
            }
            None => false,
        }
    }

    pub(crate) async fn wake(&self, id: &RunId) -> Result<(), EngineError> {
        if self.mark_woken(id) {
            return Ok(());
        }
        // On a shared store, the queued run is claimed by some process's claim loop.
        if self.shared.store.claim_run(id, RunStatus::Waiting).await? && self.queue().is_none() {
            self.spawn(id.clone(), None);
        }
        Ok(())
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// Whether runs this engine starts execute here at once (created `running`): not on a
    /// shared store when the engine was built not to execute runs.
    fn starts_runs_here(&self) -> bool {
        self.queue().is_none() || self.shared.settings.executes
    }

    /// Whether this process's lease on run `id` was lost while it executed here.
    pub(super) fn lease_lost(&self, id: &RunId) -> bool {
        self.lock_active().get(id).is_some_and(|active| active.lease_lost)
    }

    /// Starts executing run `id`; `recorded` is the run as just written, when the caller has it.
    fn spawn(&self, id: RunId, recorded: Option<Run>) {
        let (done, done_receiver) = watch::channel(false);
        let (cancel, cancelled) = watch::channel(false);
        let active = ActiveRun { done: done_receiver, cancel, wake: false, lease_lost: false };
        self.lock_active().insert(id.clone(), active);
        let engine = self.clone();
        if self.queue().is_some() {
            self.ensure_renewing();
        }
        tokio::spawn(async move {
            engine.execute_here(id, recorded, done, cancelled).await;
            engine.execution_ended();
        });
    }

    /// The task of [`spawn`](Self::spawn): executes the run, again while it is woken as it parks.
    async fn execute_here(
        &self,
        id: RunId,
        recorded: Option<Run>,
        done: watch::Sender<bool>,
        cancelled: watch::Receiver<bool>,
    ) {
        let queued = self.queue().is_some();
        let mut recorded = recorded;
        loop {
            match execute::execute(self, &id, recorded.take(), cancelled.clone()).await {
                execute::Ending::Parked => {}
                execute::Ending::Finished => break,
                execute::Ending::Stranded => {
                    self.lock_active().remove(&id);
                    let _ = done.send(true);
                    // On a shared store the lease lapses and a claim loop takes it up again.
                    if !queued {
                        self.strand(id);
                    }
                    return;
                }
            }
            // Whatever the run parked for may have arrived while it was executing.
            let woken = {
                let mut active = self.lock_active();
                match active.get_mut(&id) {
                    Some(entry) if entry.wake => {
                        entry.wake = false;
                        true
                    }
                    _ => {
                        active.remove(&id);
                        false
                    }
                }
            };
            let claimed = if woken { self.shared.store.claim_run(&id, RunStatus::Waiting).await } else { Ok(false) };
            // On a shared store the woken run is queued again, for a claim loop.
            if queued || !matches!(claimed, Ok(true)) {
                self.lock_active().remove(&id);
                let _ = done.send(true);
                if let Err(error) = claimed {
                    // What it waited for arrived, and only this process knows: retry.
                    tracing::warn!(run_id = %id, %error, "could not claim the woken run; trying again later");
                    self.strand(id);
                }
                return;
            }
        }
        self.lock_active().remove(&id);
        let _ = done.send(true);
    }

    /// The runs executing in this process now.
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    pub(crate) fn executing_here(&self) -> Vec<RunId> {
        self.lock_active().iter().filter(|(_, active)| !*active.done.borrow()).map(|(id, _)| id.clone()).collect()
    }

    /// Whether run `id` is executing in this process now (its stored status may not say so
    /// yet: a retried run is spawned before it is recorded as running).
    pub(crate) fn is_active(&self, id: &RunId) -> bool {
        self.lock_active().get(id).is_some_and(|active| !*active.done.borrow())
    }

    fn lock_active(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, ActiveRun>> {
        self.shared.active.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let registry = &self.shared.registry;
        f.debug_struct("Engine")
            .field("connectors", &registry.integrations.keys().collect::<Vec<_>>())
            .field("jobs", &registry.jobs.iter().map(|job| job.id).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A new run of `job`: recorded `running` (its first execution) when it starts at once, so
/// starting it is no write of its own; `queued` when the job's concurrency may make it wait, or
/// when it is not executed `here` (another process claims it).
fn new_run(id: RunId, job: &registry::JobEntry, trigger: &TriggerRef, payload: &Value, here: bool) -> Run {
    let now = Utc::now();
    let starts_at_once = here && job.concurrency.is_none();
    Run {
        id,
        job_id: job.id.to_owned(),
        job_version: job.version.to_owned(),
        trigger: trigger.clone(),
        payload: payload.clone(),
        status: if starts_at_once { RunStatus::Running } else { RunStatus::Queued },
        output: None,
        error: None,
        created_at: now,
        updated_at: now,
        wake_at: None,
        executions: u32::from(starts_at_once),
        steps: Vec::new(),
    }
}

/// Waits for the next notice that may concern run `id`: `true` when it names the run, `false`
/// for "anything may have changed" (a reconnect, a receiver fallen behind). A store that stopped
/// announcing never answers: the caller's timeout ends the wait.
async fn announced(changes: &mut tokio::sync::broadcast::Receiver<Option<RunId>>, id: &RunId) -> bool {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match changes.recv().await {
            Ok(Some(changed)) if &changed == id => return true,
            Ok(Some(_)) => continue,
            Ok(None) | Err(RecvError::Lagged(_)) => return false,
            Err(RecvError::Closed) => return std::future::pending().await,
        }
    }
}
