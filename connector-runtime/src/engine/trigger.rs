//! Connector triggers by id: what the webhook server needs to verify a delivery, parse it into
//! the trigger's payload type, run the trigger function, and register the webhook with the
//! service. `#[connector]` lists one [`TriggerEntry`] per `#[trigger]` fn.

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::connector::{Connector, Integration, TriggerFn};
use crate::model::payload::parse_payload;
use crate::model::{ActionError, PayloadError};
use crate::webhook::SignatureScheme;

/// Registers a trigger's webhook with the service: gets the URL to call, returns the
/// subscription's id.
pub type SubscribeFn<C> = fn(Integration<C>, String) -> BoxFuture<'static, Result<String, ActionError>>;
/// Removes a subscription by the id [`SubscribeFn`] returned.
pub type UnsubscribeFn<C> = fn(Integration<C>, String) -> BoxFuture<'static, Result<(), ActionError>>;

/// Runs a trigger fn on a raw delivery body: the job payload as JSON, or `None` when ignored.
pub type RunTrigger<C> = fn(Integration<C>, Bytes) -> BoxFuture<'static, Result<Option<Value>, TriggerFailure>>;

/// One trigger of connector `C`, with its types erased to JSON.
pub struct TriggerEntry<C: Connector> {
    pub(crate) id: &'static str,
    pub(crate) signature: fn(&Arc<C::Config>) -> Option<SignatureScheme>,
    pub(crate) run: RunTrigger<C>,
    pub(crate) subscription: Option<(SubscribeFn<C>, UnsubscribeFn<C>)>,
}

impl<C: Connector> TriggerEntry<C> {
    /// The entry of the trigger fn keyed `KEY`.
    pub fn of<const KEY: u64>() -> Self
    where
        C: TriggerFn<KEY>,
    {
        TriggerEntry {
            id: <C as TriggerFn<KEY>>::ID,
            signature: <C as TriggerFn<KEY>>::signature,
            run: run::<C, KEY>,
            subscription: None,
        }
    }

    /// This entry, registering its webhook with the service on start and removing it on shutdown.
    pub fn with_subscription(mut self, subscribe: SubscribeFn<C>, unsubscribe: UnsubscribeFn<C>) -> Self {
        self.subscription = Some((subscribe, unsubscribe));
        self
    }
}

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

fn run<C: TriggerFn<KEY>, const KEY: u64>(
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
