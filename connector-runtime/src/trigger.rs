//! Connector triggers by id: what the webhook server needs to verify a delivery, parse it into
//! the trigger's payload type, run the trigger function, and register the webhook with the
//! service. `#[connector]` lists one [`TriggerEntry`] per `#[trigger]` fn.

use std::sync::Arc;

use axum::body::Bytes;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::connector::{Connector, Integration, TriggerFn};
use crate::error::ActionError;
use crate::webhook::signature::SignatureScheme;

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
    #[error("the payload does not fit: {message} (at `{path}`)")]
    InvalidPayload {
        /// Where in the payload (`.` for the whole document, `message.channel`, `items[2].id`).
        path: String,
        /// What is wrong there.
        message: String,
    },
    /// The trigger function failed.
    #[error("the trigger failed: {0}")]
    Trigger(ActionError),
}

/// Parses JSON into `T`, naming the path of the first field that does not fit.
pub(crate) fn parse_payload<T: DeserializeOwned>(body: &[u8]) -> Result<T, TriggerFailure> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    deserializer
        .end()
        .map_err(|error| TriggerFailure::InvalidPayload { path: ".".into(), message: error.to_string() })?;
    Ok(value)
}

/// Checks a JSON value fits `T`, naming the path of the first field that does not.
pub(crate) fn check_value<T: DeserializeOwned>(value: &Value) -> Result<T, TriggerFailure> {
    serde_path_to_error::deserialize(value).map_err(path_error)
}

fn path_error<E: std::fmt::Display>(error: serde_path_to_error::Error<E>) -> TriggerFailure {
    TriggerFailure::InvalidPayload { path: error.path().to_string(), message: error.inner().to_string() }
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
