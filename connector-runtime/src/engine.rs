//! [`Engine`]: registers connectors and jobs, starts runs when events and trigger deliveries
//! arrive, and keeps their records in a [`RunStore`].

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use futures::FutureExt;
use serde_json::Value;
use tokio::sync::watch;
use tracing::Instrument;

use crate::connector::{Connector, Integration, Trigger};
use crate::error::{ActionError, EngineError, JobError};
use crate::event::Event;
use crate::io::Io;
use crate::job::{IntegrationRef, Job, JobTrigger, OnTrigger, TriggerRef};
use crate::manifest::Manifest;
use crate::registry::{IntegrationEntry, JobEntry, Registry};
use crate::run::{Run, RunId, RunStatus};
use crate::store::{MemoryStore, RunFilter, RunStore, RunUpdate};

/// Builds an [`Engine`]; [`EngineBuilder::build`] checks that every job's integrations are there.
#[must_use = "call `.build()` to get the engine"]
#[derive(Default)]
pub struct EngineBuilder {
    registry: Registry,
    declared: Vec<(&'static str, IntegrationRef)>,
    store: Option<Arc<dyn RunStore>>,
    duplicate: Option<EngineError>,
}

impl EngineBuilder {
    /// Registers a connector instance (what `MyConnector::init(config)` returns).
    pub fn connector<C: Connector>(mut self, integration: Integration<C>) -> Self {
        let entry = IntegrationEntry {
            instance: Box::new(integration),
            manifest: C::manifest,
        };
        if self.registry.integrations.insert(C::ID, entry).is_some() {
            self.duplicate.get_or_insert(EngineError::Duplicate {
                kind: "connector",
                id: C::ID,
            });
        }
        self
    }

    /// Registers a job (the `{FnName}Job` marker `#[job]` generates).
    pub fn job<J: Job>(mut self, _job: J) -> Self {
        if self.registry.job(J::ID).is_some() {
            self.duplicate.get_or_insert(EngineError::Duplicate {
                kind: "job",
                id: J::ID,
            });
        }
        self.registry.jobs.push(JobEntry::of::<J>());
        self.declared.extend(
            J::integrations()
                .into_iter()
                .map(|integration| (J::ID, integration)),
        );
        self
    }

    /// Keeps runs in `store` (default: [`MemoryStore`]).
    pub fn store(self, store: impl RunStore) -> Self {
        self.shared_store(Arc::new(store))
    }

    /// Keeps runs in a store shared with other code (a CLI listing runs, a test).
    pub fn shared_store(mut self, store: Arc<dyn RunStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// Checks the registrations and returns the engine: a job whose integration is not
    /// registered is refused here, before anything runs.
    pub fn build(self) -> Result<Engine, EngineError> {
        if let Some(error) = self.duplicate {
            return Err(error);
        }
        if let Some((job, missing)) = self.declared.into_iter().find(|(_, i)| {
            !self
                .registry
                .integrations
                .contains_key(i.connector.as_str())
        }) {
            return Err(EngineError::MissingIntegration {
                job,
                key: missing.key,
                connector: missing.connector,
                connector_type: missing.connector_type,
            });
        }
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        Ok(Engine {
            shared: Arc::new(Shared {
                registry: Arc::new(self.registry),
                store,
                finished: Mutex::default(),
            }),
        })
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
    /// Runs started by this engine and not yet awaited: a receiver turns `true` when one ends.
    finished: Mutex<HashMap<RunId, watch::Receiver<bool>>>,
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
        let mut connectors: Vec<_> = registry
            .integrations
            .values()
            .map(|entry| (entry.manifest)())
            .collect();
        connectors.sort_by(|a, b| a.id.cmp(&b.id));
        Manifest {
            connectors,
            jobs: registry.jobs.iter().map(|job| (job.manifest)()).collect(),
        }
    }

    /// Sends event `E`: starts a run of every job it triggers and returns their ids at once.
    pub async fn dispatch<E: Event>(&self, event: E) -> Result<Vec<RunId>, EngineError> {
        let payload = to_json(E::NAME, &event)?;
        self.start_runs(
            TriggerRef::Event {
                name: E::NAME.to_owned(),
            },
            payload,
        )
        .await
    }

    /// Sends event `E` and waits for the runs it started to finish.
    pub async fn send<E: Event>(&self, event: E) -> Result<Vec<Run>, EngineError> {
        let ids = self.dispatch(event).await?;
        self.wait_all(&ids).await
    }

    /// Hands a delivery to trigger `T` (as its webhook would): the trigger function decides
    /// what the jobs receive, or ignores the delivery (no runs). Returns the started runs' ids:
    /// `engine.deliver(SimpleChat::MESSAGE_RECEIVED, payload)`.
    pub async fn deliver<T: Trigger>(
        &self,
        _trigger: T,
        payload: T::Payload,
    ) -> Result<Vec<RunId>, ActionError> {
        let integration = self
            .shared
            .registry
            .integration::<T::Connector>()
            .ok_or_else(|| {
                ActionError::permanent(format!(
                    "connector `{}` is not registered",
                    <T::Connector as Connector>::ID
                ))
            })?;
        let Some(output) = T::run(&integration.context(), payload).await? else {
            tracing::info!(trigger = T::ID, "delivery ignored by the trigger");
            return Ok(Vec::new());
        };
        let trigger = <OnTrigger<T> as JobTrigger>::trigger_ref();
        let payload = serde_json::to_value(&output)
            .map_err(|error| ActionError::InvalidOutput(error.to_string()))?;
        self.start_runs(trigger, payload)
            .await
            .map_err(|error| ActionError::permanent(error.to_string()))
    }

    /// Waits for a run to finish and returns it with its steps.
    pub async fn wait(&self, id: &RunId) -> Result<Run, EngineError> {
        let receiver = self.lock_finished().get(id).cloned();
        if let Some(mut receiver) = receiver {
            // An error means the sender is gone, which happens only after the run ended.
            let _ = receiver.wait_for(|done| *done).await;
            self.lock_finished().remove(id);
        }
        self.shared
            .store
            .run(id)
            .await?
            .ok_or_else(|| EngineError::RunNotFound(id.to_string()))
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

    async fn start_runs(
        &self,
        trigger: TriggerRef,
        payload: Value,
    ) -> Result<Vec<RunId>, EngineError> {
        let mut ids = Vec::new();
        for job in self.shared.registry.jobs_for(&trigger) {
            let now = Utc::now();
            let run = Run {
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
                steps: Vec::new(),
            };
            // Recorded before anything runs: an accepted run is never lost.
            self.shared.store.create_run(&run).await?;
            let (done, receiver) = watch::channel(false);
            self.lock_finished().insert(run.id.clone(), receiver);
            tokio::spawn(execute(
                Arc::clone(&self.shared),
                job.id,
                run.id.clone(),
                payload.clone(),
                done,
            ));
            ids.push(run.id);
        }
        if ids.is_empty() {
            tracing::info!(%trigger, "no job is started by this trigger");
        }
        Ok(ids)
    }

    fn lock_finished(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, watch::Receiver<bool>>> {
        self.shared
            .finished
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let registry = &self.shared.registry;
        f.debug_struct("Engine")
            .field(
                "connectors",
                &registry.integrations.keys().collect::<Vec<_>>(),
            )
            .field(
                "jobs",
                &registry.jobs.iter().map(|job| job.id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Executes one run to its end and records the outcome.
async fn execute(
    shared: Arc<Shared>,
    job_id: &'static str,
    run_id: RunId,
    payload: Value,
    done: watch::Sender<bool>,
) {
    let span = tracing::info_span!("run", run_id = %run_id, job_id);
    async {
        let outcome = run_job(&shared, job_id, &run_id, payload).await;
        let update = match outcome {
            Ok(output) => {
                tracing::info!("run succeeded");
                RunUpdate {
                    status: RunStatus::Succeeded,
                    output: Some(output),
                    error: None,
                }
            }
            Err(error) => {
                tracing::warn!(%error, "run failed");
                RunUpdate {
                    status: RunStatus::Failed,
                    output: None,
                    error: Some(error.to_string()),
                }
            }
        };
        if let Err(error) = shared.store.update_run(&run_id, &update).await {
            tracing::error!(%error, "could not record the run's outcome");
        }
    }
    .instrument(span)
    .await;
    let _ = done.send(true);
}

async fn run_job(
    shared: &Shared,
    job_id: &'static str,
    run_id: &RunId,
    payload: Value,
) -> Result<Value, JobError> {
    let job = shared
        .registry
        .job(job_id)
        .ok_or_else(|| format!("job `{job_id}` is not registered"))?;
    let running = RunUpdate {
        status: RunStatus::Running,
        output: None,
        error: None,
    };
    shared.store.update_run(run_id, &running).await?;
    tracing::info!("run started");
    let io = Io::new(
        run_id.clone(),
        job_id,
        Arc::clone(&shared.store),
        Arc::clone(&shared.registry),
    );
    // A panicking job fails its run; it must not take the engine's task (or its record) with it.
    match AssertUnwindSafe((job.execute)(payload, &io))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(panic) => Err(format!("job panicked: {}", panic_message(&panic)).into()),
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

fn to_json<T: serde::Serialize>(name: &str, value: &T) -> Result<Value, EngineError> {
    serde_json::to_value(value).map_err(|error| EngineError::Payload {
        name: name.to_owned(),
        message: error.to_string(),
    })
}
