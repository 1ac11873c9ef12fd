//! [`Io`]: what a job's `io` derefs to. Every connector call goes through [`Io::call`], which makes
//! it a durable step of the run: keyed, retried by policy, recorded in the store before the job
//! goes on, and replayed from the store when the run is resumed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;
use tracing::Instrument;

use super::job::{Job, JobTrigger};
use super::members::ConnectorMembers;
use super::registry::{JobEntry, Registry};
use super::{Engine, StepError};
use crate::connector::{Action, Connector, Integration};
use crate::model::logger::PendingLog;
use crate::model::{
    ActionError, Event, FailedAttempt, Logger, Retries, RetryPolicy, RunId, RunStatus, StepKind, StepRecord,
    StepStatus, fingerprint, masked,
};
use crate::store::{Delivery, RunStore, RunUpdate};

/// Engine-wide settings every run's `Io` reads.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    /// The retry policy of steps whose action, job and call set none.
    pub(crate) retry: RetryPolicy,
    /// The largest step output, in bytes of JSON.
    pub(crate) max_step_output: usize,
    /// The clock durable waits and token timeouts are measured by.
    pub(crate) clock: Clock,
    /// Whether events sent from Rust are checked against their schema's constraints.
    pub(crate) check_typed_sends: bool,
    /// How often runs a store failure left unfinished are executed again.
    pub(crate) stranded_retry: std::time::Duration,
    /// Whether this engine executes runs (on a shared store it may only accept them).
    pub(crate) executes: bool,
    /// How many runs at most execute here at once when claiming from a shared store's queue.
    pub(crate) worker_concurrency: usize,
}

/// The clock of durable waits and timeouts: the wall clock, or (in tests) one that moves with
/// tokio's, so a paused test runtime skips a day-long wait at once.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Clock {
    /// `Utc::now()`.
    Wall,
    /// The wall time when the engine was built, plus tokio's time elapsed since.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    Tokio {
        /// The wall time at the start.
        wall: DateTime<Utc>,
        /// Tokio's time at the start.
        instant: tokio::time::Instant,
    },
}

impl Clock {
    /// Now, by this clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::Wall => Utc::now(),
            Clock::Tokio { wall, instant } => {
                *wall + chrono::Duration::from_std(instant.elapsed()).unwrap_or(chrono::Duration::MAX)
            }
        }
    }
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
    /// The engine running the run: `send_event` starts runs through it.
    engine: Engine,
    /// Turns `true` when the run is cancelled.
    cancelled: watch::Receiver<bool>,
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
    /// Set when the job parked the run (a token, a child run): the step, and when to wake it
    /// if nothing arrives first.
    parked: Mutex<Option<Parked>>,
    logger: Logger,
    /// The lines this execution logged that the store has not taken yet.
    pending_log: Arc<PendingLog>,
}

/// Where and until when a run parked.
#[derive(Debug, Clone)]
pub(super) struct Parked {
    /// The step that waits.
    pub(super) key: String,
    /// When to wake the run anyway (a token's timeout), if ever.
    pub(super) wake_at: Option<DateTime<Utc>>,
}

impl Io {
    /// The `Io` of an execution of run `run_id` of `job`, with the steps earlier executions
    /// recorded.
    pub(super) fn new(
        run_id: RunId,
        job: &JobEntry,
        engine: &Engine,
        earlier_steps: Vec<StepRecord>,
        cancelled: watch::Receiver<bool>,
    ) -> Self {
        let shared = &*engine.shared;
        let pending_log = Arc::new(PendingLog::default());
        Io {
            engine: engine.clone(),
            cancelled,
            run_id,
            job_id: job.id,
            job_retry: job.retry,
            store: Arc::clone(&shared.store),
            registry: Arc::clone(&shared.registry),
            settings: shared.settings,
            schemas: Arc::clone(&shared.schemas),
            earlier: earlier_steps.into_iter().map(|step| (step.key.clone(), step)).collect(),
            used_keys: Mutex::default(),
            parked: Mutex::default(),
            logger: Logger::for_run(job.id, Arc::clone(&pending_log)),
            pending_log,
        }
    }

    /// Hands the lines logged since the last flush to the store (nothing when there are none).
    /// A failure is logged, not the run's: the lines are a record, not a step.
    pub(super) async fn flush_logs(&self) {
        let lines = self.pending_log.take();
        if lines.is_empty() {
            return;
        }
        if let Err(error) = self.store.append_logs(&self.run_id, &lines).await {
            tracing::warn!(%error, lines = lines.len(), "could not keep the run's log lines");
        }
    }

    /// Runs `job` (this execution's job) with this execution's log as its task's run log, where
    /// a `RunLogLayer` keeps the `tracing` events of its steps.
    pub(super) fn keeping_log<F: Future>(&self, job: F) -> impl Future<Output = F::Output> {
        crate::model::logger::kept_in(Arc::clone(&self.pending_log), job)
    }

    /// The engine running the run.
    pub(super) fn engine(&self) -> &Engine {
        &self.engine
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
        // What is stored has its secrets redacted; what the action gets has them, from the input
        // this execution passes (a secret is never read back from the store).
        let live = crate::model::secret::with_secrets_exposed(|| serde_json::to_value(&input))
            .map_err(|e| serialization(key, "input", e))?;
        let input = serde_json::to_value(&input).map_err(|e| serialization(key, "input", e))?;
        let kind = StepKind::Action { connector: connector.to_owned(), action: A::ID.to_owned() };
        let idempotency_key = self.run_id.step_id(key);
        let mock = self.registry.mocks.get(&(connector, A::ID)).cloned();
        // Every attempt reads the input as recorded, so a resumed step sends what the first sent,
        // with the secrets of this execution put back in.
        let step_logger = self.logger.in_step(connector, key);
        let attempt = |input: &Value, attempt: u32| {
            let ctx = integration.step_context(idempotency_key.clone(), attempt, step_logger.clone());
            let json = if input == &live { live.clone() } else { crate::model::secret::unseal(input, &live) };
            let input = serde_json::from_value::<A::Input>(json.clone());
            let mock = mock.clone();
            async move {
                match (input, mock) {
                    (Err(error), _) => Err(ActionError::InvalidInput(error.to_string())),
                    // A test's answer stands in for the service.
                    (Ok(_), Some(mock)) => serde_json::from_value(mock(json)?)
                        .map_err(|error| ActionError::InvalidOutput(error.to_string())),
                    (Ok(input), None) => A::run(&ctx, input).await,
                }
            }
        };
        let failed = |source| StepError::Action { key: key.to_owned(), connector, action: A::ID, source };
        self.run_step(key, kind, input, policy, attempt, failed).await
    }

    /// Runs `task` as the step `key` of this run: its output is recorded and returned as it is on
    /// every later execution, without running `task` again. The place for anything that is not
    /// a connector call and must not change when the run resumes: reading the clock, drawing
    /// random numbers or ids, calling code of your own.
    ///
    /// A failing task is retried like an action (transient errors and rate limits, with the
    /// job's retry policy, or the engine's); [`Io::run_task_with`] sets a policy for one call.
    ///
    /// ```
    /// # use connector_runtime::prelude::*;
    /// # async fn job(io: &connector_runtime::Io) -> Result<(), JobError> {
    /// let started_at: String = io.run_task("started-at", || async {
    ///     Ok::<_, ActionError>(chrono::Utc::now().to_rfc3339())
    /// }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn run_task<T, E, F, Fut>(&self, key: &str, task: F) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned + JsonSchema + Send + 'static,
        E: Into<ActionError>,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_task_with(key, None, task).await
    }

    /// [`Io::run_task`] with a retry policy for this call only.
    pub async fn run_task_with<T, E, F, Fut>(
        &self,
        key: &str,
        retry: Option<RetryPolicy>,
        mut task: F,
    ) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned + JsonSchema + Send + 'static,
        E: Into<ActionError>,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.claim_key(key)?;
        let span = tracing::info_span!("step", step_key = %key, task = true);
        let policy = retry.or(self.job_retry).unwrap_or(self.settings.retry);
        let attempt = |_: &Value, _| {
            let running = task();
            async move { running.await.map_err(Into::into) }
        };
        let failed = |source| StepError::Task { key: key.to_owned(), source };
        self.run_step(key, StepKind::Task, Value::Null, policy, attempt, failed).instrument(span).await
    }

    /// Sends event `event` from the job, as the step `key`: exactly once per key, across
    /// retries, crashes and resumes (the send is deduplicated in the store by the run and the
    /// key). Returns the runs it started, on every execution the same.
    pub async fn send_event<E: Event>(&self, key: &str, event: E) -> Result<Vec<RunId>, StepError> {
        self.claim_key(key)?;
        let span = tracing::info_span!("step", step_key = %key, event = E::NAME);
        async {
            if let Some(done) = self.earlier.get(key).filter(|step| step.status == StepStatus::Succeeded) {
                return self.replay::<Vec<RunId>>(key, done).await;
            }
            let payload = serde_json::to_value(&event).map_err(|e| serialization(key, "event", e))?;
            let mut step = StepRecord::running(key, StepKind::Event { name: E::NAME.to_owned() }, payload.clone());
            if let Some(earlier) = self.earlier.get(key) {
                step.started_at = earlier.started_at;
                step.attempts = earlier.attempts + 1;
            }
            let delivery = Delivery {
                source: format!("event:{}", E::NAME),
                id: self.run_id.step_id(key),
                received_at: Utc::now(),
            };
            let started = self
                .engine
                .send_checked::<E>(payload, Some(delivery))
                .await
                .map_err(|source| StepError::NotStarted { key: key.to_owned(), source: Box::new(source) })?;
            self.succeed(step, started).await
        }
        .instrument(span)
        .await
    }

    /// The token that completes the wait `io.wait_for_token(key, ..)` of this run:
    /// `{run id}:{key}`, the same on every execution, so a step before the wait can hand it to
    /// whoever completes it (in a message, a link).
    pub fn token(&self, key: &str) -> String {
        self.run_id.step_id(key)
    }

    /// Waits, durably, for the token [`Io::token`]`(key)` to be completed from outside
    /// ([`Engine::complete_token`], `POST /api/tokens/{token}/complete`, the CLI's `complete`),
    /// and returns the payload it was completed with, or [`StepError::TokenTimedOut`] after
    /// `timeout`. Meanwhile the run is `waiting` and holds no task: it resumes when the token
    /// is completed, in whichever process that happens, or after a restart.
    ///
    /// ```
    /// # use connector_runtime::prelude::*;
    /// # use std::time::Duration;
    /// #[derive(Serialize, Deserialize, JsonSchema)]
    /// struct Approval { approved: bool, by: String }
    ///
    /// # async fn job(io: &connector_runtime::Io) -> Result<(), JobError> {
    /// let token = io.token("approval");
    /// // .. a step that sends `token` to the approver (a chat message, an email) ..
    /// let approval: Approval = io.wait_for_token("approval", Duration::from_secs(24 * 3600)).await?;
    /// if !approval.approved {
    ///     return Err(format!("refused by {}", approval.by).into());
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn wait_for_token<T: DeserializeOwned + JsonSchema + Send + 'static>(
        &self,
        key: &str,
        timeout: Duration,
    ) -> Result<T, StepError> {
        self.claim_key(key)?;
        let span = tracing::info_span!("step", step_key = %key, token = true);
        async {
            // The payload's type, known by its schema: a completion in a process that has it
            // checks the payload there, and the schema is in the store for whoever completes it.
            let schema = fingerprint::of::<T>();
            token_payloads().insert(schema.fingerprint.clone(), payload_check::<T>);
            let mut step = match self.earlier.get(key) {
                Some(step) if step.status == StepStatus::Succeeded => {
                    match serde_json::from_value::<T>(step.output.clone().unwrap_or_default()) {
                        Ok(payload) => return Ok(payload),
                        // Completed where the type was not known, with a payload that does not
                        // fit: the token opens again, and says why.
                        Err(error) => {
                            let mut reopened = step.clone();
                            reopened.status = StepStatus::Running;
                            reopened.output = None;
                            reopened.finished_at = None;
                            reopened.error =
                                Some(format!("the token's payload did not fit ({error}); it is open again"));
                            tracing::warn!(%error, "the token's payload does not fit; waiting for it again");
                            self.store.save_step(&self.run_id, &reopened).await?;
                            reopened
                        }
                    }
                }
                Some(step) if step.status == StepStatus::Failed => {
                    return Err(StepError::TokenTimedOut { key: key.to_owned() });
                }
                Some(step) if matches!(step.kind, StepKind::Token { .. }) => step.clone(),
                _ => {
                    if !self.schemas.contains(&schema.fingerprint) {
                        self.store.put_schema(&schema.fingerprint, &schema.schema).await?;
                        self.schemas.insert(&schema.fingerprint);
                    }
                    let deadline = self.now() + chrono::Duration::from_std(timeout).unwrap_or(chrono::Duration::MAX);
                    let input = serde_json::json!({
                        "token": self.token(key),
                        "timeoutMs": timeout.as_millis() as u64,
                        "payloadSchema": schema.fingerprint,
                    });
                    let step = StepRecord::running(key, StepKind::Token { deadline }, input);
                    self.store.save_step(&self.run_id, &step).await?;
                    step
                }
            };
            let StepKind::Token { deadline } = step.kind else { unreachable!("matched a token step above") };
            if self.now() >= deadline {
                step.error = None;
                self.fail_step(step, "the token was not completed before its timeout").await?;
                return Err(StepError::TokenTimedOut { key: key.to_owned() });
            }
            tracing::info!(token = %self.token(key), until = %deadline, "waiting for the token");
            Err(self.park(key, Some(deadline)))
        }
        .instrument(span)
        .await
    }

    /// Starts a run of job `J` with `payload` as the step `key`, and waits, durably, for its
    /// output: the run is `waiting` meanwhile, holding no task, and resumes when the child run
    /// finishes. A child that fails (or is cancelled) is [`StepError::ChildFailed`].
    pub async fn run_job<J: Job>(
        &self,
        key: &str,
        _job: J,
        payload: <J::Trigger as JobTrigger>::Payload,
    ) -> Result<J::Output, StepError>
    where
        J::Output: DeserializeOwned + JsonSchema,
    {
        self.claim_key(key)?;
        let span = tracing::info_span!("step", step_key = %key, child_job = J::ID);
        async {
            let earlier = self.earlier.get(key);
            match earlier {
                Some(step) if step.status == StepStatus::Succeeded => return self.replay::<J::Output>(key, step).await,
                Some(step) if step.status == StepStatus::Failed => {
                    let run = match &step.kind {
                        StepKind::Job { run, .. } => run.to_string(),
                        _ => String::new(),
                    };
                    let error = step.error.clone().unwrap_or_default();
                    return Err(StepError::ChildFailed { key: key.to_owned(), job: J::ID.to_owned(), run, error });
                }
                _ => {}
            }
            // The child's id is recorded before the child exists, so a crash in between starts
            // the same child (deduplicated), and the child always finds the step it completes.
            let child = match earlier.map(|step| &step.kind) {
                Some(StepKind::Job { run, .. }) => run.clone(),
                _ => {
                    let input = serde_json::to_value(&payload).map_err(|e| serialization(key, "payload", e))?;
                    let child = RunId::new();
                    let kind = StepKind::Job { job: J::ID.to_owned(), run: child.clone() };
                    self.store.save_step(&self.run_id, &StepRecord::running(key, kind, input)).await?;
                    child
                }
            };
            let payload = serde_json::to_value(&payload).map_err(|e| serialization(key, "payload", e))?;
            let trigger = crate::model::TriggerRef::Parent { run: self.run_id.clone(), step: key.to_owned() };
            let delivery =
                Delivery { source: format!("job:{}", J::ID), id: self.run_id.step_id(key), received_at: Utc::now() };
            self.engine
                .start_child(J::ID, child.clone(), trigger, payload, Some(delivery))
                .await
                .map_err(|source| StepError::NotStarted { key: key.to_owned(), source: Box::new(source) })?;
            tracing::info!(child_run = %child, "waiting for the child run");
            Err(self.park(key, None))
        }
        .instrument(span)
        .await
    }

    /// Parks the run at step `key`: the engine records it `waiting` once the job lets the
    /// returned error through.
    fn park(&self, key: &str, wake_at: Option<DateTime<Utc>>) -> StepError {
        *self.parked.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) =
            Some(Parked { key: key.to_owned(), wake_at });
        StepError::Parked { key: key.to_owned() }
    }

    /// Where the job parked the run, if it did.
    pub(super) fn parked(&self) -> Option<Parked> {
        self.parked.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Runs one step to its end: replays it if an earlier execution completed it, otherwise
    /// makes attempts (each bounded by the policy's timeout) until one succeeds, one fails for
    /// good, or the attempts run out, recording the step before it returns.
    async fn run_step<T, F, Fut>(
        &self,
        key: &str,
        kind: StepKind,
        input: Value,
        policy: RetryPolicy,
        mut attempt: F,
        failed: impl FnOnce(ActionError) -> StepError,
    ) -> Result<T, StepError>
    where
        T: Serialize + DeserializeOwned + JsonSchema + 'static,
        F: FnMut(&Value, u32) -> Fut,
        Fut: Future<Output = Result<T, ActionError>>,
    {
        let previous = self.earlier.get(key);
        if let Some(done) = previous.filter(|step| step.status == StepStatus::Succeeded) {
            tracing::info!("step succeeded in an earlier execution of this run; reusing its output");
            return self.replay::<T>(key, done).await;
        }
        let mut step = StepRecord::running(key, kind, input);
        // A step an earlier execution left unfinished keeps counting its attempts and its start.
        let attempts_before = match previous {
            Some(previous) => {
                step.started_at = previous.started_at;
                step.retries = previous.retries.clone();
                previous.attempts
            }
            None => 0,
        };
        let first_attempt = attempts_before + 1;
        let last_attempt = attempts_before + policy.max_attempts.max(1);

        for number in first_attempt..=last_attempt {
            step.attempts = number;
            if number > first_attempt {
                // Retries are recorded as they start, so a run list shows a step being retried.
                self.store.save_step(&self.run_id, &step).await?;
            }
            let started_at = Utc::now();
            let attempting = attempt_with_timeout(attempt(&step.input, number), policy.attempt_timeout);
            match attempting.instrument(tracing::info_span!("attempt", attempt = number)).await {
                Ok(output) => return self.succeed(step, output).await,
                Err(error) if error.is_retryable() && number < last_attempt => {
                    let wait = retry_delay(&policy, number + 1 - first_attempt, &error);
                    let message = masked(&error);
                    tracing::warn!(attempt = number, error = %message, retry_in_ms = wait.as_millis() as u64, "attempt failed; retrying");
                    // Kept with the step: the next attempt's save records it.
                    let failed = FailedAttempt {
                        attempt: number,
                        started_at,
                        failed_at: Utc::now(),
                        error: message.clone(),
                        retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    };
                    step.retries.get_or_insert_with(|| Retries { policy, failed: Vec::new() }).push(failed);
                    step.error = Some(message);
                    self.sleep(wait).await?;
                }
                Err(source) => {
                    self.fail_step(step, &source.to_string()).await?;
                    return Err(failed(source));
                }
            }
        }
        unreachable!("the last attempt returns from the loop")
    }

    /// Records a step as failed, with its error masked of secrets.
    async fn fail_step(&self, mut step: StepRecord, error: &str) -> Result<(), StepError> {
        let message = masked(error);
        tracing::warn!(attempt = step.attempts, error = %message, "step failed");
        step.status = StepStatus::Failed;
        step.error = Some(message);
        step.finished_at = Some(Utc::now());
        self.store.save_step(&self.run_id, &step).await?;
        self.flush_logs().await;
        Ok(())
    }

    /// Records a successful step; the output is durable before the job goes on.
    async fn succeed<T: Serialize + JsonSchema + 'static>(
        &self,
        mut step: StepRecord,
        output: T,
    ) -> Result<T, StepError> {
        let key = step.key.clone();
        let json = serde_json::to_value(&output).map_err(|e| serialization(&key, "output", e))?;
        let size = serde_json::to_vec(&json).map(|bytes| bytes.len()).unwrap_or(0);
        if size > self.settings.max_step_output {
            let error = StepError::OutputTooLarge { key: key.clone(), size, limit: self.settings.max_step_output };
            self.fail_step(step, &error.to_string()).await?;
            return Err(error);
        }
        let schema = fingerprint::of::<T>();
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
        self.flush_logs().await;
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
        let until = self.now() + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
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
            if let Ok(remaining) = (until - self.now()).to_std() {
                tracing::info!(until = %until, "waiting");
                let waiting = RunUpdate { wake_at: Some(until), ..RunUpdate::status(RunStatus::Waiting) };
                self.store.update_run(&self.run_id, &waiting).await?;
                self.sleep(remaining).await?;
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

    /// Now, by the engine's clock (the wall clock, except in tests).
    fn now(&self) -> DateTime<Utc> {
        self.settings.clock.now()
    }

    /// Sleeps for `wait`, unless the run is cancelled first.
    async fn sleep(&self, wait: Duration) -> Result<(), StepError> {
        let mut cancelled = self.cancelled.clone();
        tokio::select! {
            () = tokio::time::sleep(wait) => Ok(()),
            _ = cancelled.wait_for(|cancelled| *cancelled) => Err(StepError::Cancelled),
        }
    }

    /// Reserves a step key for this execution: each key names one step. A cancelled run stops
    /// here, at the boundary of its next step.
    fn claim_key(&self, key: &str) -> Result<(), StepError> {
        if *self.cancelled.borrow() {
            return Err(StepError::Cancelled);
        }
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

/// Checks a token's payload fits a type, naming the path of the first field that does not.
pub(super) type PayloadCheck = fn(&Value) -> Result<(), crate::model::PayloadError>;

fn payload_check<T: DeserializeOwned + schemars::JsonSchema + 'static>(
    payload: &Value,
) -> Result<(), crate::model::PayloadError> {
    crate::model::payload::check_value::<T>(payload).map(drop)
}

/// The payload checks of the token waits this process has run, by the payload type's schema
/// fingerprint.
pub(super) fn token_payloads() -> TokenPayloads {
    static CHECKS: std::sync::OnceLock<Mutex<HashMap<String, PayloadCheck>>> = std::sync::OnceLock::new();
    TokenPayloads(CHECKS.get_or_init(Mutex::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// The table of [`token_payloads`], locked.
pub(super) struct TokenPayloads(std::sync::MutexGuard<'static, HashMap<String, PayloadCheck>>);

impl TokenPayloads {
    fn insert(mut self, fingerprint: String, check: PayloadCheck) {
        self.0.entry(fingerprint).or_insert(check);
    }

    /// The check for the type whose schema has this fingerprint, if this process knows it.
    pub(super) fn get(&self, fingerprint: &str) -> Option<PayloadCheck> {
        self.0.get(fingerprint).copied()
    }
}
