//! Using a connector without a job: calling one of its actions by id with JSON input (a CLI's
//! `call`, a test, an MCP server), and checking its credentials.

use futures::future::BoxFuture;
use serde_json::Value;

use super::CallError;
use crate::connector::{ActionFn, Integration};
use crate::model::ActionError;
use crate::model::payload::check_value;

/// Calls the action fn keyed `KEY` once on JSON input checked against its input type.
pub(super) fn call<C: ActionFn<KEY>, const KEY: u64>(
    integration: Integration<C>,
    input: Value,
) -> BoxFuture<'static, Result<Value, CallError>> {
    Box::pin(async move {
        let input: <C as ActionFn<KEY>>::Input = check_value(&input).map_err(CallError::InvalidInput)?;
        let output = <C as ActionFn<KEY>>::run(&integration.context(), input).await.map_err(CallError::Action)?;
        serde_json::to_value(output).map_err(|error| CallError::Action(ActionError::InvalidOutput(error.to_string())))
    })
}
