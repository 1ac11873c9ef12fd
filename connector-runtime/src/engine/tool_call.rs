//! Calling one action from outside a job as a durable, recorded call ([`Engine::call_durably`]):
//! the call is a run of the built-in job `tool-call` with one step, so `runs` and the dashboard
//! show it (with who called), it executes through the step machinery jobs use (retries, rate
//! limits, the step's `Idempotency-Key` to the service), and a repeated idempotency key returns
//! the recorded result instead of calling the service again. What an MCP tool call is.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::io::Io;
use super::registry::JobEntry;
use super::{Engine, EngineError};
use crate::connector::{ActionFn, ActionOf};
use crate::model::payload::check_value;
use crate::model::{JobError, JobManifest, PayloadError, RunId, RunStatus, TriggerRef};
use crate::store::Delivery;

/// The id of the built-in job every durable call is a run of (reserved: an app's own job may
/// not have it).
pub const TOOL_CALL_JOB: &str = "tool-call";

/// How [`Engine::call_durably`] calls.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ToolCallOptions {
    /// Calling again with the same key (for the same connector and action) calls nothing and
    /// returns what the first call returned, waiting for it if it is still running.
    pub idempotency_key: Option<String>,
    /// Who calls (an MCP client's name), recorded in the run's trigger.
    pub caller: Option<String>,
}

impl ToolCallOptions {
    /// These options, with this idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// These options, with this caller.
    pub fn caller(mut self, caller: impl Into<String>) -> Self {
        self.caller = Some(caller.into());
        self
    }
}

/// What a durable call returned.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ToolCallOutcome {
    /// The run that records the call.
    pub run: RunId,
    /// The action's output, as recorded.
    pub output: Value,
    /// Whether the idempotency key was seen before: this is the first call's result, and the
    /// action was not called again.
    pub duplicate: bool,
}

/// What [`Engine::run_durably`] returned: the run, finished or not.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobCallOutcome {
    /// The run of the job.
    pub run: RunId,
    /// Its status when the call returned: unfinished if it did not finish within the wait.
    pub status: RunStatus,
    /// Its output, if it succeeded.
    pub output: Option<Value>,
    /// Its error, if it failed (secrets masked).
    pub error: Option<String>,
    /// Whether the idempotency key was seen before (no new run was started).
    pub duplicate: bool,
}

/// Why a durable call did not return an output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolCallError {
    /// No such connector or action.
    #[error("{0}")]
    NotFound(String),
    /// The input does not fit the action's input type; nothing was recorded.
    #[error("the input does not fit: {0}")]
    InvalidInput(#[source] PayloadError),
    /// The idempotency key was used before with other input.
    #[error("idempotency key `{key}` was used before with other input (run {run}); use a new key")]
    KeyReused {
        /// The key.
        key: String,
        /// The run of the first call.
        run: RunId,
    },
    /// The call's run failed or was cancelled: the action's error, secrets masked.
    #[error("{error}")]
    Failed {
        /// The run that records the call.
        run: RunId,
        /// How it ended.
        status: RunStatus,
        /// The recorded error.
        error: String,
    },
    /// The engine or its store failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// One action of a registered connector, erased for durable calls by id: its input check, and
/// the step that calls it.
#[derive(Clone, Copy)]
pub(crate) struct ActionStep {
    check: fn(&Value) -> Result<(), PayloadError>,
    run: for<'io> fn(&'io Io, Value) -> BoxFuture<'io, Result<Value, JobError>>,
}

impl ActionStep {
    /// The step of the action fn keyed `KEY` of connector `C`.
    pub(crate) fn of<C: ActionFn<KEY>, const KEY: u64>() -> Self {
        ActionStep { check: check::<C, KEY>, run: run_step::<C, KEY> }
    }
}

fn check<C: ActionFn<KEY>, const KEY: u64>(input: &Value) -> Result<(), PayloadError> {
    check_value::<<C as ActionFn<KEY>>::Input>(input).map(drop)
}

fn run_step<C: ActionFn<KEY>, const KEY: u64>(io: &Io, input: Value) -> BoxFuture<'_, Result<Value, JobError>> {
    Box::pin(async move {
        let integration =
            io.engine().registry().integration::<C>().ok_or_else(|| {
                format!("connector `{}` is not registered with this engine", <C as crate::Connector>::ID)
            })?;
        let input: <C as ActionFn<KEY>>::Input =
            check_value(&input).map_err(|error| format!("the input does not fit: {error}"))?;
        let id = <C as ActionFn<KEY>>::ID;
        let output = io.call::<ActionOf<C, KEY>>(integration, id, input).await?;
        Ok(serde_json::to_value(output)?)
    })
}

/// The built-in job of durable calls, when `id` names it.
pub(crate) fn built_in_job(id: &str) -> Option<&'static JobEntry> {
    static JOB: LazyLock<JobEntry> = LazyLock::new(|| JobEntry {
        id: TOOL_CALL_JOB,
        version: "1",
        trigger: TriggerRef::Tool { connector: String::new(), action: String::new(), caller: None },
        manifest,
        retry: None,
        concurrency: None,
        schedule: None,
        check_payload: |_| Ok(()),
        payload_type: (std::any::TypeId::of::<Value>(), "serde_json::Value"),
        execute,
    });
    (id == TOOL_CALL_JOB).then(|| &*JOB)
}

fn manifest() -> JobManifest {
    JobManifest {
        id: TOOL_CALL_JOB.to_owned(),
        name: "Tool call".to_owned(),
        version: "1".to_owned(),
        description: Some("One action called from outside a job (an MCP tool call), as one step.".to_owned()),
        trigger: TriggerRef::Tool { connector: String::new(), action: String::new(), caller: None },
        payload: json!({}),
        integrations: Vec::new(),
    }
}

/// Executes a durable call's run: its one step calls the action named in the payload.
fn execute(payload: Value, io: &Io) -> BoxFuture<'_, Result<Value, JobError>> {
    Box::pin(async move {
        let name = |field: &str| payload.get(field).and_then(Value::as_str).unwrap_or_default().to_owned();
        let (connector, action) = (name("connector"), name("action"));
        let input = payload.get("input").cloned().unwrap_or(Value::Null);
        let step = io.engine().action_step(&connector, &action).map_err(|error| error.to_string())?;
        (step.run)(io, input).await
    })
}

impl Engine {
    /// Calls action `action` of connector `connector` with JSON input (checked against the
    /// action's input type first: a misfit records nothing), durably: the call is recorded as a
    /// run of the built-in job `tool-call` with one step, keyed by the action's id, executed as
    /// a job's step is (the action's retry policy, the connector's rate limits, the step's
    /// `Idempotency-Key` to the service); this waits for it and returns the output.
    ///
    /// With an idempotency key, a repeated call returns the recorded result (waiting for the
    /// first call if it is still running) and calls nothing; the key is deduplicated in the
    /// store, per connector and action, across processes sharing it.
    pub async fn call_durably(
        &self,
        connector: &str,
        action: &str,
        input: Value,
        options: ToolCallOptions,
    ) -> Result<ToolCallOutcome, ToolCallError> {
        let step = self.action_step(connector, action)?;
        (step.check)(&input).map_err(ToolCallError::InvalidInput)?;
        let ToolCallOptions { idempotency_key, caller } = options;
        let trigger = TriggerRef::Tool { connector: connector.to_owned(), action: action.to_owned(), caller };
        let payload = json!({ "connector": connector, "action": action, "input": input });
        let delivery = idempotency_key.clone().map(|id| Delivery {
            source: format!("tool:{connector}/{action}"),
            id,
            received_at: Utc::now(),
        });
        let started = self.start_child(TOOL_CALL_JOB, RunId::new(), trigger, payload.clone(), delivery).await?;
        let id = started.runs.into_iter().next().ok_or_else(|| EngineError::RunNotFound("(none)".to_owned()))?;
        if started.duplicate {
            self.resume_stranded_call(&id).await?;
        }
        let run = self.wait(&id).await?;
        if started.duplicate && run.payload.get("input") != payload.get("input") {
            return Err(ToolCallError::KeyReused { key: idempotency_key.unwrap_or_default(), run: id });
        }
        match run.status {
            RunStatus::Succeeded => {
                Ok(ToolCallOutcome { run: id, output: run.output.unwrap_or_default(), duplicate: started.duplicate })
            }
            status => {
                let error = run.error.unwrap_or_else(|| status.to_string());
                Err(ToolCallError::Failed { run: id, status, error })
            }
        }
    }

    /// Starts a run of job `job` with `payload` (checked against the job's payload type first: a
    /// misfit starts nothing), recorded with a `toolJob` trigger naming the caller, and waits for
    /// it up to `wait`: the outcome has its output or error if it finished, its status if not
    /// (`engine.wait(&outcome.run)` waits on). A repeated idempotency key starts nothing and
    /// returns the first call's run.
    pub async fn run_durably(
        &self,
        job: &str,
        payload: Value,
        options: ToolCallOptions,
        wait: Duration,
    ) -> Result<JobCallOutcome, ToolCallError> {
        let entry = self
            .registry()
            .jobs
            .iter()
            .find(|entry| entry.id == job)
            .ok_or_else(|| ToolCallError::NotFound(format!("no job `{job}` is registered")))?;
        (entry.check_payload)(&payload).map_err(ToolCallError::InvalidInput)?;
        let ToolCallOptions { idempotency_key, caller } = options;
        let trigger = TriggerRef::ToolJob { job: job.to_owned(), caller };
        let delivery = idempotency_key.clone().map(|id| Delivery {
            source: format!("tool:job:{job}"),
            id,
            received_at: Utc::now(),
        });
        let started = self.start_child(job, RunId::new(), trigger, payload.clone(), delivery).await?;
        let id = started.runs.into_iter().next().ok_or_else(|| EngineError::RunNotFound("(none)".to_owned()))?;
        let run = match tokio::time::timeout(wait, self.wait(&id)).await {
            Ok(run) => run?,
            Err(_) => self.run(&id).await?.ok_or_else(|| EngineError::RunNotFound(id.to_string()))?,
        };
        if started.duplicate && run.payload != payload {
            return Err(ToolCallError::KeyReused { key: idempotency_key.unwrap_or_default(), run: id });
        }
        Ok(JobCallOutcome {
            run: id,
            status: run.status,
            output: run.output,
            error: run.error,
            duplicate: started.duplicate,
        })
    }

    /// The first call of a repeated key left its run unfinished and nothing executes it (the
    /// process that took the call died): the repeat resumes it, its step replayed if it had
    /// succeeded, so the caller gets the result instead of waiting for a run nobody executes.
    /// On a shared store the claim loops take such runs up once their leases lapse.
    async fn resume_stranded_call(&self, id: &RunId) -> Result<(), ToolCallError> {
        if self.queue().is_some() || self.is_active(id) {
            return Ok(());
        }
        let unfinished = self.run(id).await?.is_some_and(|run| !run.status.is_finished());
        if unfinished {
            tracing::info!(run_id = %id, "the first call of this key left its run unfinished; resuming it");
            match self.resume(id).await {
                Ok(_) | Err(EngineError::NotResumable { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// The erased step of an action, or why there is none.
    pub(crate) fn action_step(&self, connector: &str, action: &str) -> Result<ActionStep, ToolCallError> {
        let integration = self
            .registry()
            .integrations
            .get(connector)
            .ok_or_else(|| ToolCallError::NotFound(format!("no connector `{connector}` is registered")))?;
        integration.steps.get(action).copied().ok_or_else(|| {
            let mut known: Vec<&str> = integration.steps.keys().copied().collect();
            known.sort_unstable();
            ToolCallError::NotFound(format!(
                "connector `{connector}` has no action `{action}` (it has: {})",
                known.join(", ")
            ))
        })
    }
}
