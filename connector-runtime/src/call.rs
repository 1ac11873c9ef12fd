//! Using a connector without a job: calling one of its actions by id with JSON input (a CLI's
//! `call`, a test, an MCP server), and checking its credentials.

use futures::future::BoxFuture;
use serde_json::Value;

use crate::connector::{ActionFn, Connector, Integration};
use crate::error::ActionError;
use crate::trigger::{TriggerFailure, check_value};

/// One action of connector `C`, erased to JSON in and out.
pub struct ActionEntry<C: Connector> {
    pub(crate) id: &'static str,
    pub(crate) call: fn(Integration<C>, Value) -> BoxFuture<'static, Result<Value, CallError>>,
}

impl<C: Connector> ActionEntry<C> {
    /// The entry of the action fn keyed `KEY`.
    pub fn of<const KEY: u64>() -> Self
    where
        C: ActionFn<KEY>,
    {
        ActionEntry { id: <C as ActionFn<KEY>>::ID, call: call::<C, KEY> }
    }

    /// The action's id.
    pub fn id(&self) -> &'static str {
        self.id
    }
}

fn call<C: ActionFn<KEY>, const KEY: u64>(
    integration: Integration<C>,
    input: Value,
) -> BoxFuture<'static, Result<Value, CallError>> {
    Box::pin(async move {
        let input: <C as ActionFn<KEY>>::Input = check_value(&input).map_err(|failure| match failure {
            TriggerFailure::InvalidPayload { path, message } => CallError::InvalidInput { path, message },
            TriggerFailure::Trigger(error) => CallError::Action(error),
        })?;
        let output = <C as ActionFn<KEY>>::run(&integration.context(), input).await.map_err(CallError::Action)?;
        serde_json::to_value(output).map_err(|error| CallError::Action(ActionError::InvalidOutput(error.to_string())))
    })
}

/// Why calling an action by id failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No such connector or action.
    #[error("{0}")]
    NotFound(String),
    /// The input does not fit the action's input type.
    #[error("the input does not fit: {message} (at `{path}`)")]
    InvalidInput {
        /// Where in the input.
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// The action failed.
    #[error(transparent)]
    Action(ActionError),
}

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
    pub(crate) fn from_action(connector: &'static str, error: ActionError) -> Self {
        let reason = error.to_string();
        match error {
            ActionError::Unauthorized { .. } => CheckError::BadCredentials { connector, reason },
            ActionError::Transient { .. } | ActionError::RateLimited { .. } => {
                CheckError::Unreachable { connector, reason }
            }
            _ => CheckError::Failed { connector, reason },
        }
    }
}
