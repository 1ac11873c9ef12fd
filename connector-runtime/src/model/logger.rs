//! [`Logger`]: `ctx.logger().info(..)` in actions and `io.logger()` in jobs, on top of `tracing`,
//! with secrets masked; inside a run, each line is also kept with the run ([`LogLine`]), so the
//! run's record shows what its job and actions said.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::secret::masked;

/// How many log lines a run keeps, over all its executions; later lines are counted as dropped.
pub const MAX_LOG_LINES_PER_RUN: usize = 1_000;

/// How much of one log line is kept, in bytes.
pub const MAX_LOG_LINE_BYTES: usize = 4_096;

/// A line a job or an action logged during a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// When it was logged.
    pub at: DateTime<Utc>,
    /// How severe it is.
    pub level: LogLevel,
    /// Who logged it: the job's id, or the connector's.
    pub source: String,
    /// The step it was logged in (an action's lines), if any.
    pub step: Option<String>,
    /// What it says, secrets masked, cut at [`MAX_LOG_LINE_BYTES`].
    pub message: String,
}

/// The level of a [`LogLine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `DEBUG`.
    Debug,
    /// `INFO`.
    Info,
    /// `WARN`.
    Warn,
    /// `ERROR`.
    Error,
}

impl LogLevel {
    /// The level's name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// A run's log as a store keeps it: the lines in the order they were logged, and how many more
/// were dropped past [`MAX_LOG_LINES_PER_RUN`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunLog {
    /// The lines kept.
    pub lines: Vec<LogLine>,
    /// How many lines were logged past the cap and not kept.
    pub dropped: u64,
}

/// The lines an execution has logged and not yet handed to the store.
#[derive(Debug, Default)]
pub(crate) struct PendingLog {
    lines: Mutex<Vec<LogLine>>,
}

impl PendingLog {
    /// Keeps a line, cut to [`MAX_LOG_LINE_BYTES`] on a character boundary; `message` is masked
    /// already.
    pub(crate) fn keep(&self, level: LogLevel, source: &str, step: Option<&str>, mut message: String) {
        if message.len() > MAX_LOG_LINE_BYTES {
            message.truncate(message.floor_char_boundary(MAX_LOG_LINE_BYTES));
            message.push('…');
        }
        let line = LogLine { at: Utc::now(), level, source: source.to_owned(), step: step.map(str::to_owned), message };
        self.lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(line);
    }

    /// The lines logged since the last take.
    pub(crate) fn take(&self) -> Vec<LogLine> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

/// Logs through `tracing`, inside the current run and step spans, so every line carries the run
/// id, job id and step key; known secret values are masked. Inside a run, the line is kept with
/// the run too. Plain `tracing::info!` works as well (kept with the run inside a step when the
/// subscriber has a `RunLogLayer`); this one reads like Trigger.dev's `ctx.logger.info(..)`, for
/// code ported from it.
#[derive(Debug, Clone)]
pub struct Logger {
    source: &'static str,
    /// Where the run's lines wait for the store, and the step they are logged in.
    run: Option<(Arc<PendingLog>, Option<Arc<str>>)>,
}

impl Logger {
    pub(crate) fn new(source: &'static str) -> Self {
        Logger { source, run: None }
    }

    /// A logger whose lines are kept with a run, in `pending` until the store takes them.
    pub(crate) fn for_run(source: &'static str, pending: Arc<PendingLog>) -> Self {
        Logger { source, run: Some((pending, None)) }
    }

    /// This logger's run, for `source` logging in step `step`.
    pub(crate) fn in_step(&self, source: &'static str, step: &str) -> Self {
        let run = self.run.as_ref().map(|(pending, _)| (Arc::clone(pending), Some(Arc::from(step))));
        Logger { source, run }
    }

    /// Logs at `INFO`.
    pub fn info(&self, message: impl std::fmt::Display) {
        let message = masked(message);
        tracing::info!(source = self.source, "{message}");
        self.keep(LogLevel::Info, message);
    }

    /// Logs at `WARN`.
    pub fn warn(&self, message: impl std::fmt::Display) {
        let message = masked(message);
        tracing::warn!(source = self.source, "{message}");
        self.keep(LogLevel::Warn, message);
    }

    /// Logs at `ERROR`.
    pub fn error(&self, message: impl std::fmt::Display) {
        let message = masked(message);
        tracing::error!(source = self.source, "{message}");
        self.keep(LogLevel::Error, message);
    }

    /// Logs at `DEBUG`.
    pub fn debug(&self, message: impl std::fmt::Display) {
        let message = masked(message);
        tracing::debug!(source = self.source, "{message}");
        self.keep(LogLevel::Debug, message);
    }

    /// Keeps the line with the run, if there is one.
    fn keep(&self, level: LogLevel, message: String) {
        if let Some((pending, step)) = &self.run {
            pending.keep(level, self.source, step.as_deref(), message);
        }
    }
}

tokio::task_local! {
    /// The log of the run the current task executes, for `tracing` events to be kept in.
    static RUN_LOG: Arc<PendingLog>;
}

/// Runs `execution` (a run's job) with `pending` as the task's run log: the log a
/// `RunLogLayer` keeps the `tracing` events of its steps in.
pub(crate) fn kept_in<F: Future>(pending: Arc<PendingLog>, execution: F) -> impl Future<Output = F::Output> {
    RUN_LOG.scope(pending, execution)
}

/// The log of the run the current task executes, if it executes one.
#[cfg(feature = "log-layer")]
pub(crate) fn current_run_log() -> Option<Arc<PendingLog>> {
    RUN_LOG.try_with(Arc::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_cut_on_a_character_boundary() {
        let pending = Arc::new(PendingLog::default());
        let logger = Logger::for_run("job", Arc::clone(&pending)).in_step("chat", "send");
        logger.warn("é".repeat(MAX_LOG_LINE_BYTES));
        let lines = pending.take();
        let message = &lines[0].message;
        assert!(message.ends_with('…') && message.len() <= MAX_LOG_LINE_BYTES + '…'.len_utf8(), "{}", message.len());
        assert!(message.trim_end_matches('…').chars().all(|c| c == 'é'), "no character was split");
        assert_eq!(
            (lines[0].level, lines[0].source.as_str(), lines[0].step.as_deref()),
            (LogLevel::Warn, "chat", Some("send"))
        );
        assert!(pending.take().is_empty(), "taken once");
    }
}
