//! What user code returns when it fails: [`ActionError`] from actions and triggers (classified
//! so the engine knows whether to retry), [`JobError`] from jobs.

use std::time::Duration;

/// The error type jobs return: any error converts into it with `?`, and so do plain strings
/// (`Err("channel not found".into())`).
pub type JobError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What an action (or trigger) reports when it fails, classified so the engine knows whether
/// trying again can help.
///
/// The HTTP helper classifies responses for you; an action author returns these directly for
/// failures the helper cannot see.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// A failure that may pass: connection refused or reset, a timeout, HTTP 5xx or 408.
    #[error("transient failure: {message}")]
    Transient {
        /// What happened.
        message: String,
    },
    /// The service asked to slow down (HTTP 429, or 503 with `Retry-After`).
    #[error("rate limited by the service{}: {message}", retry_after_text(*retry_after))]
    RateLimited {
        /// How long the service asked to wait, when it said.
        retry_after: Option<Duration>,
        /// What the service said.
        message: String,
    },
    /// The service refused the credentials (HTTP 401 or 403). Not retried.
    #[error("authentication failed (HTTP {status}): {message}; check the connector's credentials")]
    Unauthorized {
        /// The HTTP status.
        status: u16,
        /// What the service said.
        message: String,
    },
    /// The service rejected the request as invalid (other HTTP 4xx). Not retried.
    #[error("the service rejected the request (HTTP {status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// What the service said.
        message: String,
    },
    /// The input does not fit the action's input type. Not retried.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The service's answer does not fit the action's output type. Not retried.
    #[error("invalid output from the service: {0}")]
    InvalidOutput(String),
    /// Any other failure that trying again cannot fix.
    #[error("{0}")]
    Permanent(String),
}

fn retry_after_text(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!(" (retry after {} ms)", wait.as_millis()),
        None => String::new(),
    }
}

impl ActionError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        ActionError::Transient { message: message.into() }
    }

    /// A failure not worth retrying.
    pub fn permanent(message: impl Into<String>) -> Self {
        ActionError::Permanent(message.into())
    }

    /// Whether trying again can succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ActionError::Transient { .. } | ActionError::RateLimited { .. })
    }
}

impl From<reqwest::Error> for ActionError {
    fn from(error: reqwest::Error) -> Self {
        // The URL is left out: it can carry credentials in its query string.
        let error = error.without_url();
        if error.is_decode() {
            ActionError::InvalidOutput(error.to_string())
        } else if error.is_builder() {
            ActionError::Permanent(error.to_string())
        } else {
            // Connect, timeout, request and body errors: the network may recover.
            ActionError::Transient { message: error.to_string() }
        }
    }
}
