//! Running a connector trigger on a raw delivery: parse the body into the trigger's payload type,
//! run the trigger fn, hand its output on as JSON.

use bytes::Bytes;
use futures::future::BoxFuture;
use http::HeaderMap;
use serde_json::Value;

use super::TriggerFailure;
use crate::connector::{Integration, TriggerFn};
use crate::model::ActionError;
use crate::model::payload::parse_checked;

/// Runs the trigger fn keyed `KEY` on a raw delivery body: the job payload as JSON, or `None`
/// when the trigger ignores the delivery.
pub(super) fn run<C: TriggerFn<KEY>, const KEY: u64>(
    integration: Integration<C>,
    headers: HeaderMap,
    body: Bytes,
) -> BoxFuture<'static, Result<Option<Value>, TriggerFailure>> {
    Box::pin(async move {
        let payload: <C as TriggerFn<KEY>>::Payload = parse_checked(&body)?;
        let ctx = integration.delivery_context(headers);
        let output = <C as TriggerFn<KEY>>::run(&ctx, payload).await.map_err(TriggerFailure::Trigger)?;
        output
            .map(serde_json::to_value)
            .transpose()
            .map_err(|error| TriggerFailure::Trigger(ActionError::InvalidOutput(error.to_string())))
    })
}
