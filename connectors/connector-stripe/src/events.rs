//! Stripe webhook events: the envelope Stripe posts, and the typed events the `events` trigger
//! hands to jobs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::{Charge, Customer, PaymentIntent};

/// An event as Stripe posts it to a webhook endpoint (an `event` object).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WebhookEvent {
    /// The event's id, `evt_..` (the same on Stripe's retries; deliveries are deduplicated on it).
    pub id: String,
    /// The kind of event: `payment_intent.succeeded`, `charge.refunded`, `customer.created`, ..
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened, in Unix seconds.
    pub created: i64,
    /// Live mode (`false`: test mode).
    pub livemode: bool,
    /// The API version the object is rendered in.
    #[serde(default)]
    pub api_version: Option<String>,
    /// What the event is about.
    pub data: EventData,
}

/// The object an event is about, as Stripe renders it for the event's kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EventData {
    /// The object (a payment intent, a charge, a customer, ..: it depends on the event's kind;
    /// the trigger reads it into the matching type).
    pub object: serde_json::Value,
}

/// One event of a kind the `events` trigger hands on, with its object typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Event<T> {
    /// The event's id, `evt_..`.
    pub id: String,
    /// When it happened, in Unix seconds.
    pub created: i64,
    /// Live mode (`false`: test mode).
    pub livemode: bool,
    /// The object, as it was when the event happened.
    pub object: T,
}

/// What a job started by the `events` trigger receives: one event of a supported kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum StripeEvent {
    /// `payment_intent.succeeded`: a payment went through.
    #[serde(rename = "payment_intent.succeeded")]
    PaymentIntentSucceeded(Event<PaymentIntent>),
    /// `charge.refunded`: a charge was refunded, in part or in full.
    #[serde(rename = "charge.refunded")]
    ChargeRefunded(Event<Charge>),
    /// `customer.created`: a customer was created.
    #[serde(rename = "customer.created")]
    CustomerCreated(Event<Customer>),
}

impl StripeEvent {
    /// The kinds of event the trigger hands on, as Stripe names them.
    pub const KINDS: [&'static str; 3] = ["payment_intent.succeeded", "charge.refunded", "customer.created"];

    /// The event's id.
    pub fn id(&self) -> &str {
        match self {
            StripeEvent::PaymentIntentSucceeded(event) => &event.id,
            StripeEvent::ChargeRefunded(event) => &event.id,
            StripeEvent::CustomerCreated(event) => &event.id,
        }
    }

    /// Reads a posted event: `None` for a kind not handed on, an error for an object that does
    /// not fit its kind's type.
    pub fn from_webhook(event: WebhookEvent) -> Result<Option<Self>, serde_json::Error> {
        fn typed<T: serde::de::DeserializeOwned>(
            event: WebhookEvent,
            wrap: fn(Event<T>) -> StripeEvent,
        ) -> Result<Option<StripeEvent>, serde_json::Error> {
            let object = serde_json::from_value(event.data.object)?;
            Ok(Some(wrap(Event { id: event.id, created: event.created, livemode: event.livemode, object })))
        }
        match event.kind.as_str() {
            "payment_intent.succeeded" => typed(event, StripeEvent::PaymentIntentSucceeded),
            "charge.refunded" => typed(event, StripeEvent::ChargeRefunded),
            "customer.created" => typed(event, StripeEvent::CustomerCreated),
            _ => Ok(None),
        }
    }
}
