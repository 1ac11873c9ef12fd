//! The Stripe objects the actions return and the inputs they take, with the documented fields a
//! job uses typed (amounts in the currency's smallest unit, times in Unix seconds).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Key-value pairs stored on an object (up to 50 keys, 40-character keys, 500-character values).
pub type Metadata = BTreeMap<String, String>;

/// A field Stripe can expand: the related object's id, or the object itself when the request
/// asked for it with `expand`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Expandable<T> {
    /// Not expanded: the id.
    Id(String),
    /// Expanded: the object.
    Object(Box<T>),
}

impl<T: HasId> Expandable<T> {
    /// The related object's id, expanded or not.
    pub fn id(&self) -> &str {
        match self {
            Expandable::Id(id) => id,
            Expandable::Object(object) => object.id(),
        }
    }

    /// The object, if it was expanded.
    pub fn object(&self) -> Option<&T> {
        match self {
            Expandable::Id(_) => None,
            Expandable::Object(object) => Some(object),
        }
    }
}

/// An object with an id.
pub trait HasId {
    /// The object's id.
    fn id(&self) -> &str;
}

macro_rules! has_id {
    ($($ty:ty),*) => { $(impl HasId for $ty { fn id(&self) -> &str { &self.id } })* };
}
has_id!(Customer, PaymentIntent, Charge, Refund);

/// A customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Customer {
    /// The id, `cus_..`.
    pub id: String,
    /// The email address.
    #[serde(default)]
    pub email: Option<String>,
    /// The full name or business name.
    #[serde(default)]
    pub name: Option<String>,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// The phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// The balance, in the smallest unit of `currency` (negative: a credit).
    #[serde(default)]
    pub balance: i64,
    /// The currency the customer is billed in, if set.
    #[serde(default)]
    pub currency: Option<String>,
    /// When it was created, in Unix seconds.
    pub created: i64,
    /// Live mode (`false`: test mode).
    pub livemode: bool,
    /// The metadata.
    #[serde(default)]
    pub metadata: Metadata,
}

/// Input of `createCustomer`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NewCustomer {
    /// The email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The full name or business name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// The metadata (`metadata[key]=value`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: Metadata,
}

/// Names one object by its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ById {
    /// The object's id.
    pub id: String,
}

/// A payment intent's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentIntentStatus {
    /// A payment method is needed (or the last one failed).
    RequiresPaymentMethod,
    /// Ready to confirm.
    RequiresConfirmation,
    /// The customer must act (3-D Secure, say).
    RequiresAction,
    /// Being processed.
    Processing,
    /// Authorized, to be captured.
    RequiresCapture,
    /// Canceled.
    Canceled,
    /// Paid.
    Succeeded,
}

/// A payment intent: one payment, through its attempts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentIntent {
    /// The id, `pi_..`.
    pub id: String,
    /// The amount to collect, in the currency's smallest unit (cents).
    pub amount: u64,
    /// What has been received so far.
    #[serde(default)]
    pub amount_received: u64,
    /// The three-letter ISO currency code, lowercase (`usd`).
    pub currency: String,
    /// The status.
    pub status: PaymentIntentStatus,
    /// The customer, if any (the object with `expand[]=customer`).
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// The description.
    #[serde(default)]
    pub description: Option<String>,
    /// The payment method attached, if any.
    #[serde(default)]
    pub payment_method: Option<String>,
    /// The latest charge (the object with `expand[]=latest_charge`).
    #[serde(default)]
    pub latest_charge: Option<Expandable<Charge>>,
    /// `automatic` or `manual` capture.
    #[serde(default)]
    pub capture_method: Option<String>,
    /// Why the last payment attempt failed, if it did.
    #[serde(default)]
    pub last_payment_error: Option<PaymentError>,
    /// When it was created, in Unix seconds.
    pub created: i64,
    /// Live mode (`false`: test mode).
    pub livemode: bool,
    /// The metadata.
    #[serde(default)]
    pub metadata: Metadata,
}

/// A failed payment attempt, as Stripe describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PaymentError {
    /// `card_error`, `invalid_request_error`, ..
    #[serde(rename = "type")]
    pub kind: String,
    /// The error code (`card_declined`, ..).
    #[serde(default)]
    pub code: Option<String>,
    /// The card issuer's reason (`insufficient_funds`, ..).
    #[serde(default)]
    pub decline_code: Option<String>,
    /// A message for people.
    #[serde(default)]
    pub message: Option<String>,
}

/// Automatic payment methods: Stripe picks the methods the dashboard enables.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AutomaticPaymentMethods {
    /// On or off.
    pub enabled: bool,
}

/// Input of `createPaymentIntent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NewPaymentIntent {
    /// The amount, in the currency's smallest unit (2000 is $20.00).
    #[schemars(range(min = 1))]
    pub amount: u64,
    /// The three-letter ISO currency code, lowercase (`usd`).
    #[schemars(length(equal = 3))]
    pub currency: String,
    /// The customer paying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The payment method to use (`pm_..`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    /// The payment method types allowed (`card`, ..), if not automatic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payment_method_types: Vec<String>,
    /// Automatic payment methods (`automatic_payment_methods[enabled]=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automatic_payment_methods: Option<AutomaticPaymentMethods>,
    /// Confirm at once (needs `payment_method`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm: Option<bool>,
    /// Where to send the receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_email: Option<String>,
    /// The metadata (`metadata[key]=value`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: Metadata,
}

impl NewPaymentIntent {
    /// A payment intent for `amount` in `currency`, nothing else set.
    pub fn new(amount: u64, currency: impl Into<String>) -> Self {
        NewPaymentIntent {
            amount,
            currency: currency.into(),
            customer: None,
            description: None,
            payment_method: None,
            payment_method_types: Vec::new(),
            automatic_payment_methods: None,
            confirm: None,
            receipt_email: None,
            metadata: Metadata::new(),
        }
    }
}

/// Input of `confirmPaymentIntent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfirmPaymentIntent {
    /// The payment intent's id.
    pub id: String,
    /// The payment method to use, if not attached already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    /// Where the customer returns after a redirect (3-D Secure, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_url: Option<String>,
}

/// Input of `retrievePaymentIntent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RetrievePaymentIntent {
    /// The payment intent's id.
    pub id: String,
    /// Related objects to expand (`customer`, `latest_charge`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expand: Vec<String>,
}

/// A charge: one attempt to move money.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Charge {
    /// The id, `ch_..`.
    pub id: String,
    /// The amount, in the currency's smallest unit.
    pub amount: u64,
    /// How much of it has been refunded.
    #[serde(default)]
    pub amount_refunded: u64,
    /// The three-letter ISO currency code, lowercase.
    pub currency: String,
    /// `succeeded`, `pending` or `failed`.
    pub status: String,
    /// Whether it succeeded (or was authorized).
    #[serde(default)]
    pub paid: bool,
    /// Whether it has been captured.
    #[serde(default)]
    pub captured: bool,
    /// Whether it has been refunded in full.
    #[serde(default)]
    pub refunded: bool,
    /// The customer, if any.
    #[serde(default)]
    pub customer: Option<String>,
    /// The payment intent it belongs to, if any.
    #[serde(default)]
    pub payment_intent: Option<String>,
    /// The description.
    #[serde(default)]
    pub description: Option<String>,
    /// Why it failed (`card_declined`, ..), if it did.
    #[serde(default)]
    pub failure_code: Option<String>,
    /// A message for people on why it failed.
    #[serde(default)]
    pub failure_message: Option<String>,
    /// The receipt's URL.
    #[serde(default)]
    pub receipt_url: Option<String>,
    /// When it was created, in Unix seconds.
    pub created: i64,
    /// Live mode (`false`: test mode).
    pub livemode: bool,
    /// The metadata.
    #[serde(default)]
    pub metadata: Metadata,
}

/// Input of `listCharges`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ListCharges {
    /// Only this customer's charges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    /// Only this payment intent's charges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_intent: Option<String>,
    /// At most this many charges, newest first, across pages (all when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
}

/// Output of `listCharges`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChargeList {
    /// The charges, newest first.
    pub charges: Vec<Charge>,
    /// Whether there are more than were returned (the limit was reached).
    pub has_more: bool,
}

/// A refund of a charge, in part or in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Refund {
    /// The id, `re_..`.
    pub id: String,
    /// The amount refunded, in the currency's smallest unit.
    pub amount: u64,
    /// The three-letter ISO currency code, lowercase.
    pub currency: String,
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    #[serde(default)]
    pub status: Option<String>,
    /// The charge refunded.
    #[serde(default)]
    pub charge: Option<String>,
    /// The payment intent refunded.
    #[serde(default)]
    pub payment_intent: Option<String>,
    /// `duplicate`, `fraudulent` or `requested_by_customer`, if given.
    #[serde(default)]
    pub reason: Option<String>,
    /// When it was created, in Unix seconds.
    pub created: i64,
    /// The metadata.
    #[serde(default)]
    pub metadata: Metadata,
}

/// Input of `createRefund`: a payment intent or a charge, and optionally how much.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NewRefund {
    /// The payment intent to refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_intent: Option<String>,
    /// The charge to refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge: Option<String>,
    /// How much, in the currency's smallest unit (default: all that is left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<u64>,
    /// `duplicate`, `fraudulent` or `requested_by_customer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The metadata (`metadata[key]=value`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: Metadata,
}
