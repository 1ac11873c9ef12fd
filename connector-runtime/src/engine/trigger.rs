//! Running a connector trigger on a raw delivery: parse the body into the trigger's payload type,
//! run the trigger fn, hand its output on as JSON.

use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::connector::{Integration, TriggerFn};
use crate::model::payload::parse_payload;
use crate::model::{ActionError, PayloadError};

/// Why a delivery could not be turned into a job payload.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TriggerFailure {
    /// The body is not JSON, or does not fit the trigger's payload type.
    #[error("the payload does not fit: {0}")]
    InvalidPayload(#[from] PayloadError),
    /// The trigger function failed.
    #[error("the trigger failed: {0}")]
    Trigger(ActionError),
}

/// Runs the trigger fn keyed `KEY` on a raw delivery body: the job payload as JSON, or `None`
/// when the trigger ignores the delivery.
pub(super) fn run<C: TriggerFn<KEY>, const KEY: u64>(
    integration: Integration<C>,
    body: Bytes,
) -> BoxFuture<'static, Result<Option<Value>, TriggerFailure>> {
    Box::pin(async move {
        let payload: <C as TriggerFn<KEY>>::Payload = parse_payload(&body)?;
        let output =
            <C as TriggerFn<KEY>>::run(&integration.context(), payload).await.map_err(TriggerFailure::Trigger)?;
        output
            .map(serde_json::to_value)
            .transpose()
            .map_err(|error| TriggerFailure::Trigger(ActionError::InvalidOutput(error.to_string())))
    })
}
