//! Runs and their steps, as the engine records them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::retry::RetryPolicy;
use super::schedule::ScheduleRef;

/// A run's id: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// A new, unique id.
    pub fn new() -> Self {
        RunId(uuid::Uuid::now_v7().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of this run's step `key`: `{run id}:{step key}`, the same on every attempt and
    /// execution. It is the step's idempotency key, its token (`io.wait_for_token`), and the id
    /// its sends are deduplicated by.
    pub fn step_id(&self, key: &str) -> String {
        format!("{}:{key}", self.0)
    }
}

impl Default for RunId {
    fn default() -> Self {
        RunId::new()
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for RunId {
    fn from(id: String) -> Self {
        RunId(id)
    }
}

impl From<&str> for RunId {
    fn from(id: &str) -> Self {
        RunId(id.to_owned())
    }
}

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Accepted, not started.
    Queued,
    /// Running now.
    Running,
    /// Sleeping until a durable wait ends.
    Waiting,
    /// Finished with an output.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Stopped on request before it finished (it can be resumed like a failed run).
    Cancelled,
}

impl RunStatus {
    /// Whether the run has finished (succeeded, failed or was cancelled).
    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled)
    }

    /// The status as stored (`"queued"`, `"running"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Waiting => "waiting",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text that names no [`RunStatus`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a status: use queued, running, waiting, succeeded, failed or cancelled")]
pub struct UnknownStatus(pub String);

impl std::str::FromStr for RunStatus {
    type Err = UnknownStatus;

    /// A status by its name, in any case (`failed`, `Failed`).
    fn from_str(text: &str) -> Result<Self, UnknownStatus> {
        let status = match text.to_ascii_lowercase().as_str() {
            "queued" => RunStatus::Queued,
            "running" => RunStatus::Running,
            "waiting" => RunStatus::Waiting,
            "succeeded" => RunStatus::Succeeded,
            "failed" => RunStatus::Failed,
            "cancelled" => RunStatus::Cancelled,
            _ => return Err(UnknownStatus(text.to_owned())),
        };
        Ok(status)
    }
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// The run's id.
    pub id: RunId,
    /// The job's id.
    pub job_id: String,
    /// The job's version when the run started.
    pub job_version: String,
    /// What started the run.
    pub trigger: TriggerRef,
    /// The payload the job received.
    pub payload: Value,
    /// Where the run is.
    pub status: RunStatus,
    /// The job's output, once it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why the run failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the run was accepted.
    pub created_at: DateTime<Utc>,
    /// When the run last changed.
    pub updated_at: DateTime<Utc>,
    /// While `Waiting`: when the durable wait ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_at: Option<DateTime<Utc>>,
    /// How many times the run was started: 1, plus one per resume or retry.
    #[serde(default)]
    pub executions: u32,
    /// The run's steps, in the order they started (empty in listings).
    #[serde(default)]
    pub steps: Vec<StepRecord>,
}

impl Run {
    /// The step with this key.
    pub fn step(&self, key: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|step| step.key == key)
    }
}

/// What a step is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum StepKind {
    /// A connector action called through `io`.
    Action {
        /// The connector's id.
        connector: String,
        /// The action's id.
        action: String,
    },
    /// A durable wait (`io.wait_for`, `io.wait_until`).
    Wait {
        /// When the wait ends.
        until: DateTime<Utc>,
    },
    /// Code of the job's own run as a step (`io.run_task`).
    Task,
    /// An event sent from the job (`io.send_event`); the output is the runs it started.
    Event {
        /// The event's name.
        name: String,
    },
    /// A wait for a token completed from outside (`io.wait_for_token`); the output is the
    /// token's payload.
    Token {
        /// When the wait times out.
        deadline: DateTime<Utc>,
    },
    /// Another job's run, started by this one and waited for (`io.run_job`); the output is
    /// the child run's output.
    Job {
        /// The child job's id.
        job: String,
        /// The child run's id.
        run: RunId,
    },
}

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Started, not finished.
    Running,
    /// Finished with an output.
    Succeeded,
    /// Finished with an error.
    Failed,
}

impl StepStatus {
    /// The status as stored (`"running"`, `"succeeded"`, `"failed"`).
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Running => "running",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
        }
    }
}

/// One step of a run: an `io` call, keyed by its step key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepRecord {
    /// The step key the job gave.
    pub key: String,
    /// What the step is.
    #[serde(flatten)]
    pub kind: StepKind,
    /// Where the step is.
    pub status: StepStatus,
    /// The input, as JSON.
    pub input: Value,
    /// The output, as JSON, once the step succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// Why the step failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The fingerprint of the output type's schema when the output was stored; a resumed run
    /// compares it with the current type's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<String>,
    /// How many attempts were made.
    pub attempts: u32,
    /// When the step started.
    pub started_at: DateTime<Utc>,
    /// When the step finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// The attempts that failed and were retried, with the policy that retried them; absent
    /// for a step whose first attempt ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
}

/// The failed attempts of a step that was retried, and the policy that retried it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Retries {
    /// The policy that applied (the call's, the action's, the job's or the engine's).
    pub policy: RetryPolicy,
    /// Each attempt that failed and was retried, oldest first (at most
    /// [`Retries::MAX_KEPT`]; attempt numbers show any gap).
    pub failed: Vec<FailedAttempt>,
}

impl Retries {
    /// How many failed attempts a step keeps: the first ones, which say how it began to fail,
    /// and the last ones, which say how it ended.
    pub const MAX_KEPT: usize = 20;

    /// Keeps `attempt`; past [`MAX_KEPT`](Self::MAX_KEPT), the oldest after the first half go.
    pub fn push(&mut self, attempt: FailedAttempt) {
        if self.failed.len() >= Self::MAX_KEPT {
            self.failed.remove(Self::MAX_KEPT / 2);
        }
        self.failed.push(attempt);
    }
}

/// One attempt of a step that failed and was retried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailedAttempt {
    /// Its number, from 1, counted over the run's executions.
    pub attempt: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it failed.
    pub failed_at: DateTime<Utc>,
    /// Why, with secrets masked.
    pub error: String,
    /// How long the engine waited before the next attempt, in milliseconds.
    pub retry_after_ms: u64,
}

impl StepRecord {
    /// A step that starts now: first attempt, nothing recorded yet.
    pub fn running(key: &str, kind: StepKind, input: Value) -> Self {
        StepRecord {
            key: key.to_owned(),
            kind,
            status: StepStatus::Running,
            input,
            output: None,
            error: None,
            output_schema: None,
            attempts: 1,
            started_at: Utc::now(),
            finished_at: None,
            retries: None,
        }
    }
}

/// Names what starts a job, in manifests and runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TriggerRef {
    /// A typed event, by name.
    Event {
        /// The event's name.
        name: String,
    },
    /// A connector's trigger.
    Connector {
        /// The connector's id.
        connector: String,
        /// The trigger's id.
        trigger: String,
    },
    /// Another run, which started this one with `io.run_job` and waits for its output.
    Parent {
        /// The parent run.
        run: RunId,
        /// The parent's step that waits.
        step: String,
    },
    /// A job's schedule: `{"kind": "schedule", "job": "..", "cron": "*/5 * * * *"}` or
    /// `{"kind": "schedule", "job": "..", "every": "30s"}`. Each schedule starts its own job only.
    Schedule {
        /// The job the schedule starts.
        job: String,
        /// When.
        #[serde(flatten)]
        schedule: ScheduleRef,
    },
    /// A call of one action from outside a job (an MCP tool call, `Engine::call_durably`):
    /// `{"kind": "tool", "connector": "..", "action": "..", "caller": ".."}`.
    Tool {
        /// The connector's id.
        connector: String,
        /// The action's id.
        action: String,
        /// Who called (an MCP client's name), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caller: Option<String>,
    },
    /// A job started directly from outside (an MCP tool call of the job, `Engine::run_durably`):
    /// `{"kind": "toolJob", "job": "..", "caller": ".."}`. It starts that job only.
    ToolJob {
        /// The job.
        job: String,
        /// Who started it (an MCP client's name), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caller: Option<String>,
    },
}

impl std::fmt::Display for TriggerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TriggerRef::Event { name } => write!(f, "event `{name}`"),
            TriggerRef::Connector { connector, trigger } => {
                write!(f, "trigger `{connector}/{trigger}`")
            }
            TriggerRef::Schedule { job, schedule } => write!(f, "schedule `{schedule}` of job `{job}`"),
            TriggerRef::Parent { run, step } => write!(f, "step `{step}` of run `{run}`"),
            TriggerRef::Tool { connector, action, caller: Some(caller) } => {
                write!(f, "tool call `{connector}/{action}` by `{caller}`")
            }
            TriggerRef::Tool { connector, action, caller: None } => write!(f, "tool call `{connector}/{action}`"),
            TriggerRef::ToolJob { job, caller: Some(caller) } => write!(f, "tool call of job `{job}` by `{caller}`"),
            TriggerRef::ToolJob { job, caller: None } => write!(f, "tool call of job `{job}`"),
        }
    }
}

/// An integration a job declares: its name in the job's `io` and its connector.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct IntegrationRef {
    /// The field name in the job's `io` (`chat` in `io.chat.send_message(..)`).
    pub key: String,
    /// The connector's id.
    pub connector: String,
    /// The connector's Rust type name (for error messages; not in the manifest).
    #[serde(skip)]
    pub connector_type: &'static str,
}

// The Rust type name is a hint for error messages, not part of what an integration is.
impl PartialEq for IntegrationRef {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.connector == other.connector
    }
}

impl Eq for IntegrationRef {}
