//! [`Logger`]: `ctx.logger().info(..)` in actions and `io.logger()` in jobs, on top of `tracing`,
//! with secrets masked.

/// Logs through `tracing`, inside the current run and step spans, so every line carries the run
/// id, job id and step key; known secret values are masked. Plain `tracing::info!` works as
/// well; this one reads like Trigger.dev's `ctx.logger.info(..)`, for code ported from it.
#[derive(Debug, Clone)]
pub struct Logger {
    source: &'static str,
}

impl Logger {
    pub(crate) fn new(source: &'static str) -> Self {
        Logger { source }
    }

    /// Logs at `INFO`.
    pub fn info(&self, message: impl std::fmt::Display) {
        tracing::info!(source = self.source, "{}", super::secret::redact(&message.to_string()));
    }

    /// Logs at `WARN`.
    pub fn warn(&self, message: impl std::fmt::Display) {
        tracing::warn!(source = self.source, "{}", super::secret::redact(&message.to_string()));
    }

    /// Logs at `ERROR`.
    pub fn error(&self, message: impl std::fmt::Display) {
        tracing::error!(source = self.source, "{}", super::secret::redact(&message.to_string()));
    }

    /// Logs at `DEBUG`.
    pub fn debug(&self, message: impl std::fmt::Display) {
        tracing::debug!(source = self.source, "{}", super::secret::redact(&message.to_string()));
    }
}
