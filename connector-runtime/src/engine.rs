//! [`Engine`]: registers connectors and jobs, starts runs when events and trigger deliveries
//! arrive, keeps their records in a [`RunStore`], and resumes the runs a previous process left
//! unfinished.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use futures::FutureExt;
use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tracing::Instrument;

use crate::call::{CallError, CheckError};
use crate::connector::{Connector, Integration, Trigger};
use crate::error::{ActionError, EngineError, JobError};
use crate::event::Event;
use crate::io::{Io, Settings};
use crate::job::{IntegrationRef, Job, JobTrigger, OnTrigger, TriggerRef};
use crate::manifest::Manifest;
use crate::registry::{IntegrationEntry, JobEntry, Registry, WebhookTrigger};
use crate::retry::RetryPolicy;
use crate::run::{Run, RunId, RunStatus};
use crate::store::{Accepted, Delivery, RunFilter, RunStore, RunUpdate, SqliteStore, StoreError};

/// Where the default SQLite store lives unless `CONNECTOR_RUNTIME_DB` or
/// [`EngineBuilder::sqlite`] says otherwise (relative to the working directory).
pub const DEFAULT_DB_PATH: &str = ".connector-runtime/runs.sqlite3";

/// The default limit on a step's output, as JSON: 3 MiB.
pub const DEFAULT_MAX_STEP_OUTPUT: usize = 3 * 1024 * 1024;

/// Builds an [`Engine`]; [`EngineBuilder::build`] checks that every job's integrations are there.
#[must_use = "call `.build()` to get the engine"]
pub struct EngineBuilder {
    registry: Registry,
    declared: Vec<(&'static str, IntegrationRef)>,
    store: StoreChoice,
    settings: Settings,
    duplicate: Option<EngineError>,
}

enum StoreChoice {
    Default,
    Sqlite(PathBuf),
    Given(Arc<dyn RunStore>),
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            registry: Registry::default(),
            declared: Vec::new(),
            store: StoreChoice::Default,
            settings: Settings {
                retry: RetryPolicy::DEFAULT,
                max_step_output: DEFAULT_MAX_STEP_OUTPUT,
                schemas_stored: Default::default(),
            },
            duplicate: None,
        }
    }
}

impl EngineBuilder {
    /// Registers a connector instance (what `MyConnector::init(config)` returns).
    pub fn connector<C: Connector>(mut self, integration: Integration<C>) -> Self {
        for trigger in C::trigger_entries() {
            let id = trigger.id;
            self.registry.triggers.insert((C::ID, id), WebhookTrigger::of(&integration, trigger));
        }
        for poll in C::poll_entries() {
            self.registry.polls.push(crate::poll::RegisteredPoll::of(&integration, poll));
        }
        let entry = IntegrationEntry::of(integration);
        if self.registry.integrations.insert(C::ID, entry).is_some() {
            self.duplicate.get_or_insert(EngineError::Duplicate { kind: "connector", id: C::ID });
        }
        self
    }

    /// Registers a job (the `{FnName}Job` marker `#[job]` generates).
    pub fn job<J: Job>(mut self, _job: J) -> Self {
        if self.registry.job(J::ID).is_some() {
            self.duplicate.get_or_insert(EngineError::Duplicate { kind: "job", id: J::ID });
        }
        self.registry.jobs.push(JobEntry::of::<J>());
        self.declared.extend(J::integrations().into_iter().map(|integration| (J::ID, integration)));
        self
    }

    /// Keeps runs in `store` (default: SQLite at [`DEFAULT_DB_PATH`]).
    pub fn store(self, store: impl RunStore) -> Self {
        self.shared_store(Arc::new(store))
    }

    /// Keeps runs in a store shared with other code (a CLI listing runs, a test).
    pub fn shared_store(mut self, store: Arc<dyn RunStore>) -> Self {
        self.store = StoreChoice::Given(store);
        self
    }

    /// Keeps runs in the SQLite file at `path` (created on first use).
    pub fn sqlite(mut self, path: impl Into<PathBuf>) -> Self {
        self.store = StoreChoice::Sqlite(path.into());
        self
    }

    /// The retry policy of steps whose action, job and call set none.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.settings.retry = policy;
        self
    }

    /// The largest step output, in bytes of JSON, a store accepts (default 3 MiB).
    pub fn max_step_output(mut self, bytes: usize) -> Self {
        self.settings.max_step_output = bytes;
        self
    }

    /// Checks the registrations, opens the store and returns the engine: a job whose integration
    /// is not registered is refused here, before anything runs.
    ///
    /// Call [`Engine::recover`] next to resume what an earlier process left unfinished.
    pub fn build(self) -> Result<Engine, EngineError> {
        if let Some(error) = self.duplicate {
            return Err(error);
        }
        let registry = self.registry;
        if let Some((job, missing)) =
            self.declared.into_iter().find(|(_, i)| !registry.integrations.contains_key(i.connector.as_str()))
        {
            return Err(EngineError::MissingIntegration {
                job,
                key: missing.key,
                connector: missing.connector,
                connector_type: missing.connector_type,
            });
        }
        for job in &registry.jobs {
            if let Some(schedule) = &job.schedule {
                crate::schedule::check(schedule).map_err(|reason| EngineError::InvalidSchedule {
                    job: job.id,
                    schedule: schedule.to_string(),
                    reason,
                })?;
            }
        }
        let store: Arc<dyn RunStore> = match self.store {
            StoreChoice::Given(store) => store,
            StoreChoice::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
            StoreChoice::Default => {
                let path = std::env::var_os("CONNECTOR_RUNTIME_DB")
                    .map_or_else(|| PathBuf::from(DEFAULT_DB_PATH), PathBuf::from);
                Arc::new(SqliteStore::open(path)?)
            }
        };
        for (id, integration) in &registry.integrations {
            integration.auth.attach_store(&store, format!("oauth2:{id}"));
        }
        let job_slots = registry
            .jobs
            .iter()
            .filter_map(|job| Some((job.id, Arc::new(Semaphore::new(job.concurrency?.max(1))))))
            .collect();
        Ok(Engine {
            shared: Arc::new(Shared {
                registry: Arc::new(registry),
                store,
                settings: Arc::new(self.settings),
                job_slots,
                active: Mutex::default(),
            }),
        })
    }
}

/// What [`Engine::start_runs`] did.
#[derive(Debug)]
pub(crate) struct Started {
    pub(crate) runs: Vec<RunId>,
    pub(crate) duplicate: bool,
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
    settings: Arc<Settings>,
    /// Per-job limits on runs executing at once.
    job_slots: HashMap<&'static str, Arc<Semaphore>>,
    /// Runs executing in this process: each receiver turns `true` when its run's execution ends.
    active: Mutex<HashMap<RunId, watch::Receiver<bool>>>,
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

    /// The manifest document of every registered connector and job.
    pub fn manifest(&self) -> Manifest {
        let registry = &self.shared.registry;
        let mut connectors: Vec<_> = registry.integrations.values().map(|entry| (entry.manifest)()).collect();
        connectors.sort_by(|a, b| a.id.cmp(&b.id));
        Manifest { connectors, jobs: registry.jobs.iter().map(|job| (job.manifest)()).collect() }
    }

    /// Sends event `E`: records a run of every job it triggers, starts them, and returns their
    /// ids at once.
    pub async fn dispatch<E: Event>(&self, event: E) -> Result<Vec<RunId>, EngineError> {
        let payload = serde_json::to_value(&event)
            .map_err(|error| EngineError::Payload { name: E::NAME.to_owned(), message: error.to_string() })?;
        let started = self.start_runs(TriggerRef::Event { name: E::NAME.to_owned() }, payload, None).await?;
        Ok(started.runs)
    }

    /// Sends event `E` and waits for the runs it started to finish.
    pub async fn send<E: Event>(&self, event: E) -> Result<Vec<Run>, EngineError> {
        let ids = self.dispatch(event).await?;
        self.wait_all(&ids).await
    }

    /// Hands a delivery to a trigger (as its webhook would): the trigger function decides what
    /// the jobs receive, or ignores the delivery (no runs). Returns the started runs' ids:
    /// `engine.deliver(SimpleChat::MESSAGE_RECEIVED, payload)`.
    pub async fn deliver<T: Trigger>(&self, _trigger: T, payload: T::Payload) -> Result<Vec<RunId>, ActionError> {
        let integration = self.shared.registry.integration::<T::Connector>().ok_or_else(|| {
            ActionError::permanent(format!("connector `{}` is not registered", <T::Connector as Connector>::ID))
        })?;
        let Some(output) = T::run(&integration.context(), payload).await? else {
            tracing::info!(trigger = T::ID, "delivery ignored by the trigger");
            return Ok(Vec::new());
        };
        let trigger = <OnTrigger<T> as JobTrigger>::trigger_ref();
        let payload = serde_json::to_value(&output).map_err(|error| ActionError::InvalidOutput(error.to_string()))?;
        let started = self.start_runs(trigger, payload, None).await;
        started.map(|started| started.runs).map_err(|error| ActionError::permanent(error.to_string()))
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
    pub async fn recover(&self) -> Result<Vec<RunId>, EngineError> {
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
        self.spawn(id.clone(), None);
        Ok(id.clone())
    }

    /// Waits for a run's execution in this process to end and returns the run with its steps.
    pub async fn wait(&self, id: &RunId) -> Result<Run, EngineError> {
        let receiver = self.lock_active().get(id).cloned();
        if let Some(mut receiver) = receiver {
            // An error means the sender is gone, which happens only after the execution ended.
            let _ = receiver.wait_for(|done| *done).await;
        }
        self.shared.store.run(id).await?.ok_or_else(|| EngineError::RunNotFound(id.to_string()))
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
    ) -> Result<Started, EngineError> {
        let now = Utc::now();
        let runs: Vec<Run> = self
            .shared
            .registry
            .jobs_for(&trigger)
            .map(|job| Run {
                id: RunId::new(),
                job_id: job.id.to_owned(),
                job_version: job.version.to_owned(),
                trigger: trigger.clone(),
                payload: payload.clone(),
                status: RunStatus::Queued,
                output: None,
                error: None,
                created_at: now,
                updated_at: now,
                wake_at: None,
                executions: 0,
                steps: Vec::new(),
            })
            .collect();
        // Recorded before anything runs: an accepted run is never lost.
        match &delivery {
            Some(delivery) => {
                if let Accepted::Duplicate { runs } = self.shared.store.accept_delivery(delivery, &runs).await? {
                    tracing::info!(%trigger, delivery = %delivery.id, "delivery seen before; no new runs");
                    return Ok(Started { runs, duplicate: true });
                }
            }
            None => {
                for run in &runs {
                    self.shared.store.create_run(run).await?;
                }
            }
        }
        if runs.is_empty() {
            tracing::info!(%trigger, "no job is started by this trigger");
        }
        let ids: Vec<RunId> = runs.iter().map(|run| run.id.clone()).collect();
        for run in runs {
            // The task gets the run as recorded: reading it back would cost a store round trip.
            self.spawn(run.id.clone(), Some(run));
        }
        Ok(Started { runs: ids, duplicate: false })
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// Starts executing run `id`; `recorded` is the run as just written, when the caller has it.
    fn spawn(&self, id: RunId, recorded: Option<Run>) {
        let (done, receiver) = watch::channel(false);
        self.lock_active().insert(id.clone(), receiver);
        let engine = self.clone();
        tokio::spawn(async move {
            execute(&engine.shared, &id, recorded).await;
            engine.lock_active().remove(&id);
            let _ = done.send(true);
        });
    }

    fn is_active(&self, id: &RunId) -> bool {
        self.lock_active().get(id).is_some_and(|done| !*done.borrow())
    }

    fn lock_active(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, watch::Receiver<bool>>> {
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

/// Executes a recorded run once, to its end or to a failure, and records the outcome. A store
/// failure leaves the run unfinished in the store, for [`Engine::recover`] to pick up.
async fn execute(shared: &Shared, id: &RunId, recorded: Option<Run>) {
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
        if let Err(error) = record_outcome(shared, job, run).await {
            tracing::error!(%error, "the run store failed; the run stays unfinished and resumes on recovery");
        }
    }
    .instrument(span)
    .await;
}

async fn record_outcome(shared: &Shared, job: &JobEntry, run: Run) -> Result<(), StoreError> {
    let Run { id, payload, steps, .. } = run;
    let id = &id;
    let running = RunUpdate { new_execution: true, ..RunUpdate::status(RunStatus::Running) };
    shared.store.update_run(id, &running).await?;
    tracing::info!("run started");
    let io = Io::new(
        id.clone(),
        job.id,
        job.retry,
        Arc::clone(&shared.store),
        Arc::clone(&shared.registry),
        Arc::clone(&shared.settings),
        steps,
    );
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
            // A store failure inside a step is not the job's fault: leave the run unfinished.
            if let Some(store_error) = error.downcast_ref::<crate::StepError>().and_then(store_failure) {
                return Err(store_error.clone());
            }
            let error = crate::secret::redact(&error.to_string()).into_owned();
            tracing::warn!(%error, "run failed");
            RunUpdate { error: Some(error), ..RunUpdate::status(RunStatus::Failed) }
        }
    };
    shared.store.update_run(id, &update).await
}

fn store_failure(error: &crate::StepError) -> Option<&StoreError> {
    match error {
        crate::StepError::Store(store) => Some(store),
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
