//! [`CheckError`]: what a connector's credential check found.

use crate::model::ActionError;

/// What a credential check found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// No connector with that id is registered.
    #[error("no connector `{0}` is registered")]
    UnknownConnector(String),
    /// The connector declares no check.
    #[error("connector `{connector}` declares no credential check (`#[connector(check = ..)]`)")]
    NoCheck {
        /// The connector's id.
        connector: &'static str,
    },
    /// The service refused the credentials.
    #[error("connector `{connector}`: the service refused the credentials: {reason}")]
    BadCredentials {
        /// The connector's id.
        connector: &'static str,
        /// What the service said.
        reason: String,
    },
    /// The service could not be reached, or failed.
    #[error("connector `{connector}`: the service could not be reached or failed: {reason}")]
    Unreachable {
        /// The connector's id.
        connector: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The check failed for another reason.
    #[error("connector `{connector}`: the check failed: {reason}")]
    Failed {
        /// The connector's id.
        connector: &'static str,
        /// What went wrong.
        reason: String,
    },
}

impl CheckError {
    /// The check's failure as `connector`'s action error says it, with every known secret
    /// masked: the reason is the service's own words, shown by the CLI, the API and the
    /// dashboard alike.
    pub(crate) fn from_action(connector: &'static str, error: ActionError) -> Self {
        let reason = crate::model::masked(&error);
        match error {
            ActionError::Unauthorized { .. } => CheckError::BadCredentials { connector, reason },
            ActionError::Transient { .. } | ActionError::RateLimited { .. } => {
                CheckError::Unreachable { connector, reason }
            }
            _ => CheckError::Failed { connector, reason },
        }
    }
}
