//! [`Io`]: what a job's `io` derefs to. Every connector call goes through [`Io::call`], which makes
//! it a durable step of the run: keyed, retried by policy, recorded in the store before the job
//! goes on, and replayed from the store when the run is resumed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use tracing::Instrument;

use super::members::ConnectorMembers;
use super::registry::{JobEntry, Registry};
use super::{Shared, StepError};
use crate::connector::{Action, Connector, Integration};
use crate::model::{
    ActionError, Logger, RetryPolicy, RunId, RunStatus, StepKind, StepRecord, StepStatus, fingerprint, redact,
};
use crate::store::{RunStore, RunUpdate};

/// Engine-wide settings every run's `Io` reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// The retry policy of steps whose action, job and call set none.
    pub(crate) retry: RetryPolicy,
    /// The largest step output, in bytes of JSON.
    pub(crate) max_step_output: usize,
}

/// The output schemas this engine has put in its store already, so each is written once per
/// process rather than once per step.
#[derive(Debug, Default)]
pub(crate) struct SchemaCache {
    stored: Mutex<HashSet<String>>,
}

impl SchemaCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.stored.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn contains(&self, fingerprint: &str) -> bool {
        self.lock().contains(fingerprint)
    }

    fn insert(&self, fingerprint: &str) {
        self.lock().insert(fingerprint.to_owned());
    }
}

/// A run's access to the outside world. A job's generated `io` struct derefs to it, so
/// `io.logger()`, `io.run_id()` and `io.wait_for(..)` work beside the typed integrations.
///
/// # Determinism
///
/// A resumed run executes the job function again from the top; each step that completed before
/// returns its stored output instead of running. So the code between steps must take the same
/// path on every execution: anything that can differ (the clock, random numbers, reads from
/// outside) belongs inside a step, and step keys must not depend on such values.
pub struct Io {
    run_id: RunId,
    job_id: &'static str,
    job_retry: Option<RetryPolicy>,
    store: Arc<dyn RunStore>,
    registry: Arc<Registry>,
    settings: Settings,
    schemas: Arc<SchemaCache>,
    /// The steps earlier executions of this run recorded, by key, loaded with the run: only
    /// this execution writes the run's steps, so they need not be read again one by one.
    earlier: HashMap<String, StepRecord>,
    used_keys: Mutex<HashSet<String>>,
    logger: Logger,
}

impl Io {
    /// The `Io` of an execution of run `run_id` of `job`, with the steps earlier executions
    /// recorded.
    pub(super) fn new(run_id: RunId, job: &JobEntry, shared: &Shared, earlier_steps: Vec<StepRecord>) -> Self {
        Io {
            run_id,
            job_id: job.id,
            job_retry: job.retry,
            store: Arc::clone(&shared.store),
            registry: Arc::clone(&shared.registry),
            settings: shared.settings,
            schemas: Arc::clone(&shared.schemas),
            earlier: earlier_steps.into_iter().map(|step| (step.key.clone(), step)).collect(),
            used_keys: Mutex::default(),
            logger: Logger::new(job.id),
        }
    }

    /// The run's id.
    pub fn run_id(&self) -> &RunId {
        &self.run_id
    }

    /// The job's id.
    pub fn job_id(&self) -> &'static str {
        self.job_id
    }

    /// A logger whose lines carry the run and job.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// The typed client of connector `C`, for the job's integration `key`. Called by the `io`
    /// struct `#[job]` generates; the engine checked at start-up that the integration exists.
    pub fn client<C: ConnectorMembers>(&self, key: &'static str) -> Result<C::Client<'_>, StepError> {
        let integration =
            self.registry.integration::<C>().ok_or(StepError::MissingIntegration { key, connector: C::ID })?;
        Ok(C::client(self, integration))
    }

    /// Calls action `A` as the step `key` of this run. The typed clients call this.
    pub async fn call<A: Action>(
        &self,
        integration: &Integration<A::Connector>,
        key: &str,
        input: A::Input,
    ) -> Result<A::Output, StepError> {
        self.call_with::<A>(integration, key, input, None).await
    }

    /// [`Io::call`] with a retry policy for this call only.
    pub async fn call_with<A: Action>(
        &self,
        integration: &Integration<A::Connector>,
        key: &str,
        input: A::Input,
        retry: Option<RetryPolicy>,
    ) -> Result<A::Output, StepError> {
        self.claim_key(key)?;
        let connector = <A::Connector as Connector>::ID;
        let span = tracing::info_span!("step", step_key = %key, action = %format_args!("{connector}.{}", A::ID));
        let policy = retry.or(A::RETRY).or(self.job_retry).unwrap_or(self.settings.retry);
        self.run_action::<A>(integration, key, input, policy).instrument(span).await
    }

    async fn run_action<A: Action>(
        &self,
        integration: &Integration<A::Connector>,
        key: &str,
        input: A::Input,
        policy: RetryPolicy,
    ) -> Result<A::Output, StepError> {
        let connector = <A::Connector as Connector>::ID;
        let previous = self.earlier.get(key).cloned();
        if let Some(done) = previous.as_ref().filter(|step| step.status == StepStatus::Succeeded) {
            tracing::info!("step succeeded in an earlier execution of this run; reusing its output");
            return self.replay::<A::Output>(key, done).await;
        }

        let input = serde_json::to_value(&input).map_err(|e| serialization(key, "input", e))?;
        let kind = StepKind::Action { connector: connector.to_owned(), action: A::ID.to_owned() };
        let mut step = StepRecord::running(key, kind, input);
        // A step an earlier execution left unfinished keeps counting its attempts and its start.
        let attempts_before = match &previous {
            Some(previous) => {
                step.started_at = previous.started_at;
                previous.attempts
            }
            None => 0,
        };
        let idempotency_key = format!("{}:{key}", self.run_id);
        let first_attempt = attempts_before + 1;
        let last_attempt = attempts_before + policy.max_attempts.max(1);

        for attempt in first_attempt..=last_attempt {
            step.attempts = attempt;
            if attempt > first_attempt {
                // Retries are recorded as they start, so a run list shows a step being retried.
                self.store.save_step(&self.run_id, &step).await?;
            }
            let ctx = integration.step_context(idempotency_key.clone(), attempt);
            let result = match serde_json::from_value::<A::Input>(step.input.clone()) {
                Ok(input) => attempt_with_timeout(A::run(&ctx, input), policy.attempt_timeout).await,
                Err(error) => Err(ActionError::InvalidInput(error.to_string())),
            };
            match result {
                Ok(output) => return self.succeed::<A>(step, output).await,
                Err(error) if error.is_retryable() && attempt < last_attempt => {
                    let wait = retry_delay(&policy, attempt + 1 - first_attempt, &error);
                    let message = redact(&error.to_string()).into_owned();
                    tracing::warn!(attempt, error = %message, retry_in_ms = wait.as_millis() as u64, "attempt failed; retrying");
                    step.error = Some(message);
                    tokio::time::sleep(wait).await;
                }
                Err(source) => {
                    self.fail_step(step, &source.to_string()).await?;
                    return Err(StepError::Action { key: key.to_owned(), connector, action: A::ID, source });
                }
            }
        }
        unreachable!("the last attempt returns from the loop")
    }

    /// Records a step as failed, with its error masked of secrets.
    async fn fail_step(&self, mut step: StepRecord, error: &str) -> Result<(), StepError> {
        let message = redact(error).into_owned();
        tracing::warn!(attempt = step.attempts, error = %message, "step failed");
        step.status = StepStatus::Failed;
        step.error = Some(message);
        step.finished_at = Some(Utc::now());
        Ok(self.store.save_step(&self.run_id, &step).await?)
    }

    /// Records a successful step; the output is durable before the job goes on.
    async fn succeed<A: Action>(&self, mut step: StepRecord, output: A::Output) -> Result<A::Output, StepError> {
        let key = step.key.clone();
        let json = serde_json::to_value(&output).map_err(|e| serialization(&key, "output", e))?;
        let size = serde_json::to_vec(&json).map(|bytes| bytes.len()).unwrap_or(0);
        if size > self.settings.max_step_output {
            let error = StepError::OutputTooLarge { key: key.clone(), size, limit: self.settings.max_step_output };
            self.fail_step(step, &error.to_string()).await?;
            return Err(error);
        }
        let schema = fingerprint::of::<A::Output>();
        // Once per schema per process (two runs racing may both put it: `put_schema` is idempotent).
        if !self.schemas.contains(&schema.fingerprint) {
            self.store.put_schema(&schema.fingerprint, &schema.schema).await?;
            self.schemas.insert(&schema.fingerprint);
        }
        step.status = StepStatus::Succeeded;
        step.output = Some(json);
        step.output_schema = Some(schema.fingerprint.clone());
        step.error = None;
        step.finished_at = Some(Utc::now());
        self.store.save_step(&self.run_id, &step).await?;
        tracing::info!(attempts = step.attempts, "step succeeded");
        Ok(output)
    }

    /// The stored output of a completed step, as today's output type; a type that changed so
    /// the stored value no longer fits fails the step, naming both schemas.
    async fn replay<T: DeserializeOwned + schemars::JsonSchema + 'static>(
        &self,
        key: &str,
        done: &StepRecord,
    ) -> Result<T, StepError> {
        let output = done.output.clone().unwrap_or_default();
        let current = fingerprint::of::<T>();
        let changed = done.output_schema.as_deref().is_some_and(|stored| stored != current.fingerprint);
        match serde_json::from_value::<T>(output) {
            Ok(value) => {
                if changed {
                    tracing::warn!("the output type changed since this step ran; its stored output still fits");
                }
                Ok(value)
            }
            Err(error) if changed => {
                let stored = done.output_schema.clone().unwrap_or_default();
                let old_schema = self.store.schema(&stored).await?.map(|s| s.to_string()).unwrap_or(stored);
                Err(StepError::OutputSchemaChanged {
                    key: key.to_owned(),
                    old_schema,
                    new_schema: current.schema.to_string(),
                    reason: error.to_string(),
                })
            }
            Err(error) => Err(serialization(key, "stored output", error)),
        }
    }

    /// Sleeps durably until `duration` after this step first ran: a restarted process resumes
    /// the run when the wait ends, not before.
    pub async fn wait_for(&self, key: &str, duration: Duration) -> Result<(), StepError> {
        let until = Utc::now() + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        self.wait(key, until).await
    }

    /// Sleeps durably until `time`.
    pub async fn wait_until(&self, key: &str, time: DateTime<Utc>) -> Result<(), StepError> {
        self.wait(key, time).await
    }

    async fn wait(&self, key: &str, until: DateTime<Utc>) -> Result<(), StepError> {
        self.claim_key(key)?;
        let span = tracing::info_span!("step", step_key = %key);
        async {
            let previous = self.earlier.get(key).cloned();
            let mut step = match previous {
                Some(step) if step.status == StepStatus::Succeeded => return Ok(()),
                Some(step) if matches!(step.kind, StepKind::Wait { .. }) => step,
                _ => {
                    let step =
                        StepRecord::running(key, StepKind::Wait { until }, serde_json::json!({ "until": until }));
                    self.store.save_step(&self.run_id, &step).await?;
                    step
                }
            };
            let StepKind::Wait { until } = step.kind else { unreachable!("matched a wait step above") };
            if let Ok(remaining) = (until - Utc::now()).to_std() {
                tracing::info!(until = %until, "waiting");
                let waiting = RunUpdate { wake_at: Some(until), ..RunUpdate::status(RunStatus::Waiting) };
                self.store.update_run(&self.run_id, &waiting).await?;
                tokio::time::sleep(remaining).await;
                self.store.update_run(&self.run_id, &RunUpdate::status(RunStatus::Running)).await?;
            }
            step.status = StepStatus::Succeeded;
            step.finished_at = Some(Utc::now());
            self.store.save_step(&self.run_id, &step).await?;
            Ok(())
        }
        .instrument(span)
        .await
    }

    /// Reserves a step key for this execution: each key names one step.
    fn claim_key(&self, key: &str) -> Result<(), StepError> {
        if key.is_empty() {
            return Err(StepError::EmptyKey);
        }
        let mut used = self.used_keys.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !used.insert(key.to_owned()) {
            return Err(StepError::DuplicateKey { key: key.to_owned() });
        }
        Ok(())
    }
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Io").field("run_id", &self.run_id).field("job_id", &self.job_id).finish_non_exhaustive()
    }
}

/// One attempt, bounded by the policy's timeout; running out of time is a transient failure.
async fn attempt_with_timeout<T>(
    attempt: impl Future<Output = Result<T, ActionError>>,
    timeout: Option<Duration>,
) -> Result<T, ActionError> {
    match timeout {
        Some(limit) => tokio::time::timeout(limit, attempt).await.unwrap_or_else(|_| {
            Err(ActionError::Transient { message: format!("the attempt timed out after {} ms", limit.as_millis()) })
        }),
        None => attempt.await,
    }
}

/// How long to wait before the next attempt: the policy's backoff, or longer if the service
/// asked for it with `Retry-After`.
fn retry_delay(policy: &RetryPolicy, failed: u32, error: &ActionError) -> Duration {
    let backoff = policy.delay_after(failed);
    match error {
        ActionError::RateLimited { retry_after: Some(wait), .. } => backoff.max(*wait),
        _ => backoff,
    }
}

fn serialization(key: &str, what: &str, error: serde_json::Error) -> StepError {
    StepError::Serialization { key: key.to_owned(), message: format!("{what}: {error}") }
}
