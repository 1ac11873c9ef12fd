//! Running a connector trigger on a raw delivery: parse the body into the trigger's payload type,
//! run the trigger fn, hand its output on as JSON (with the reply it asked for, if any).

use bytes::Bytes;
use futures::future::BoxFuture;
use http::HeaderMap;
use serde_json::Value;

use super::TriggerFailure;
use crate::connector::{Integration, TriggerFn};
use crate::model::ActionError;
use crate::model::payload::parse_checked;

/// What a trigger fn made of one delivery.
pub(crate) struct Triggered {
    /// The job payload as JSON, or `None` when the trigger ignores the delivery.
    pub(crate) output: Option<Value>,
    /// What the request is to be answered with instead of the receipt (`ctx.reply(..)`).
    pub(crate) reply: Option<Value>,
    /// The delivery's id as the trigger fn found it in the body (`ctx.delivery_id(..)`).
    pub(crate) delivery_id: Option<String>,
}

/// Runs the trigger fn keyed `KEY` on a raw delivery body.
pub(super) fn run<C: TriggerFn<KEY>, const KEY: u64>(
    integration: Integration<C>,
    headers: HeaderMap,
    body: Bytes,
) -> BoxFuture<'static, Result<Triggered, TriggerFailure>> {
    Box::pin(async move {
        let payload: <C as TriggerFn<KEY>>::Payload = parse_checked(&body)?;
        let ctx = integration.delivery_context(headers);
        let output = <C as TriggerFn<KEY>>::run(&ctx, payload).await.map_err(TriggerFailure::Trigger)?;
        let output = output
            .map(serde_json::to_value)
            .transpose()
            .map_err(|error| TriggerFailure::Trigger(ActionError::InvalidOutput(error.to_string())))?;
        Ok(Triggered { output, reply: ctx.take_reply(), delivery_id: ctx.take_delivery_id() })
    })
}
