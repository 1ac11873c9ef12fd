//! Accepting deliveries from outside by name — webhook requests for connector triggers, events
//! sent to the API — with their payloads checked against the Rust types, deduplicated by
//! delivery id, and recorded before they are acknowledged.

use bytes::Bytes;
use chrono::Utc;
use http::HeaderMap;
use serde::Serialize;
use serde_json::Value;

use super::{DeliveryError, Engine};
use crate::model::{RunId, TriggerRef};
use crate::store::Delivery;

/// What accepting a delivery did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    /// The delivery's id: the sender's, or one given here.
    pub delivery_id: String,
    /// The runs it started (for a repeated delivery, the runs the first one started).
    pub runs: Vec<RunId>,
    /// The same delivery was accepted before; nothing new was started.
    pub duplicate: bool,
    /// The trigger function ignored the delivery; nothing was started or recorded.
    pub ignored: bool,
    /// What the trigger fn asked the request to be answered with instead of this receipt
    /// ([`TriggerContext::reply`](crate::TriggerContext::reply)), such as a handshake's challenge.
    #[serde(skip)]
    pub reply: Option<Value>,
}

impl Engine {
    /// Accepts a webhook request for trigger `trigger` of connector `connector`: verifies its
    /// signature against the raw body, parses the body into the trigger's payload type, runs
    /// the trigger function, and records the delivery with the runs it starts before returning.
    /// A delivery id seen before returns the first delivery's runs and starts nothing.
    pub async fn accept_webhook(
        &self,
        connector: &str,
        trigger: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Receipt, DeliveryError> {
        let registry = self.registry();
        let (&(connector_id, trigger_id), webhook) = registry
            .triggers
            .get_key_value(&(connector, trigger))
            .ok_or_else(|| DeliveryError::NotFound(format!("connector `{connector}` has no trigger `{trigger}`")))?;
        let delivery_id = match &webhook.signature {
            Some(scheme) => {
                scheme.verify(headers, &body)?;
                scheme.delivery_id(headers, &body)
            }
            None => None,
        }
        .or_else(|| header_delivery_id(headers));

        let triggered = (webhook.run)(headers.clone(), body).await?;
        let delivery_id = delivery_id.or(triggered.delivery_id);
        let Some(payload) = triggered.output else {
            tracing::info!(connector, trigger, "delivery ignored by the trigger");
            let delivery_id = delivery_id.unwrap_or_default();
            let reply = triggered.reply;
            return Ok(Receipt { delivery_id, runs: Vec::new(), duplicate: false, ignored: true, reply });
        };
        let source = TriggerRef::Connector { connector: connector_id.to_owned(), trigger: trigger_id.to_owned() };
        let origin = format!("webhook:{connector_id}/{trigger_id}");
        let receipt = self.accept(source, origin, payload, delivery_id).await?;
        Ok(Receipt { reply: triggered.reply, ..receipt })
    }

    /// Accepts an event by name (as `POST /api/events` does): checks the payload fits the type
    /// of every job started by the event, and records the delivery with its runs before
    /// returning. An `id` seen before returns the first delivery's runs and starts nothing.
    pub async fn accept_event(&self, name: &str, payload: Value, id: Option<String>) -> Result<Receipt, DeliveryError> {
        let trigger = TriggerRef::Event { name: name.to_owned() };
        let mut jobs = self.registry().jobs_for(&trigger).peekable();
        if jobs.peek().is_none() {
            return Err(DeliveryError::NotFound(format!("no job is started by event `{name}`")));
        }
        for job in jobs {
            (job.check_payload)(&payload)?;
        }
        self.accept(trigger, format!("event:{name}"), payload, id).await
    }

    async fn accept(
        &self,
        trigger: TriggerRef,
        origin: String,
        payload: Value,
        delivery_id: Option<String>,
    ) -> Result<Receipt, DeliveryError> {
        // Without an id from the sender there is nothing to deduplicate on; the id given here
        // still names the delivery in the store and the answer.
        let delivery_id = delivery_id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
        let delivery = Delivery { source: origin, id: delivery_id.clone(), received_at: Utc::now() };
        let started = self.start_runs(trigger, payload, Some(delivery)).await?;
        Ok(Receipt { delivery_id, runs: started.runs, duplicate: started.duplicate, ignored: false, reply: None })
    }
}

/// A sender's delivery id in a conventional header, for senders without a signature scheme.
fn header_delivery_id(headers: &HeaderMap) -> Option<String> {
    ["idempotency-key", "x-delivery-id", "webhook-id"]
        .iter()
        .find_map(|name| headers.get(*name)?.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 255)
        .map(str::to_owned)
}

/// Webhooks registered with their services by [`Engine::subscribe_webhooks`].
#[derive(Debug, Default)]
pub struct Subscriptions {
    registered: Vec<((&'static str, &'static str), String)>,
}

impl Subscriptions {
    /// How many webhooks are registered.
    pub fn len(&self) -> usize {
        self.registered.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.registered.is_empty()
    }
}

impl Engine {
    /// Registers, with its service, the webhook of every trigger that subscribes itself,
    /// pointing at `{public_url}/webhooks/{connector}/{trigger}`. A failure is logged and the
    /// others go on: the server still serves, and the trigger can be registered by hand.
    pub async fn subscribe_webhooks(&self, public_url: &str) -> Subscriptions {
        let mut subscriptions = Subscriptions::default();
        for (&(connector, trigger), webhook) in &self.registry().triggers {
            let Some(subscription) = &webhook.subscription else { continue };
            let url = format!("{}/webhooks/{connector}/{trigger}", public_url.trim_end_matches('/'));
            match (subscription.subscribe)(url.clone()).await {
                Ok(id) => {
                    tracing::info!(connector, trigger, %url, subscription = %id, "webhook registered");
                    subscriptions.registered.push(((connector, trigger), id));
                }
                Err(error) => tracing::error!(connector, trigger, %url, %error, "could not register the webhook"),
            }
        }
        subscriptions
    }

    /// Removes the webhooks [`Engine::subscribe_webhooks`] registered.
    pub async fn unsubscribe_webhooks(&self, subscriptions: Subscriptions) {
        for (key, id) in subscriptions.registered {
            let Some(subscription) = self.registry().triggers.get(&key).and_then(|w| w.subscription.as_ref()) else {
                continue;
            };
            match (subscription.unsubscribe)(id.clone()).await {
                Ok(()) => tracing::info!(connector = key.0, trigger = key.1, subscription = %id, "webhook removed"),
                Err(error) => {
                    tracing::warn!(connector = key.0, trigger = key.1, %error, "could not remove the webhook")
                }
            }
        }
    }
}
