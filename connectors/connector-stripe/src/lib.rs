//! A [Stripe](https://docs.stripe.com/api) connector: the secret key as a bearer token,
//! form-encoded requests with nested keys (`metadata[order]=6735`, `expand[]=customer`),
//! customers, payment intents, refunds and charges (`starting_after` pagination), the step's
//! idempotency key on every mutating request (Stripe replays the first answer to a repeated key),
//! and a `Stripe-Signature` webhook trigger for `payment_intent.succeeded`, `charge.refunded` and
//! `customer.created` with typed objects.
//!
//! ```no_run
//! use connector_runtime::prelude::*;
//! use connector_stripe::{NewRefund, Stripe, StripeConfig, StripeEvent};
//!
//! /// Refunds every payment whose metadata asks for it (`metadata[refund]=yes`).
//! #[job(id = "refund-on-request", name = "Refund on request", version = "1.0.0",
//!       trigger = Stripe::events, integrations(stripe = Stripe))]
//! async fn refund_on_request(event: StripeEvent, io: RefundOnRequestIo<'_>) -> Result<Option<String>, JobError> {
//!     let StripeEvent::PaymentIntentSucceeded(succeeded) = event else { return Ok(None) };
//!     let intent = succeeded.object;
//!     if intent.metadata.get("refund").map(String::as_str) != Some("yes") {
//!         return Ok(None);
//!     }
//!     let refund = NewRefund { payment_intent: Some(intent.id), ..Default::default() };
//!     // Retried after a crash or a timeout, the step sends the same Idempotency-Key: one refund.
//!     let refund = io.stripe.create_refund("refund", refund).await?;
//!     Ok(Some(refund.id))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = StripeConfig::new(Secret::new("sk_test_..")).webhook_secret(Secret::new("whsec_.."));
//! let engine = Engine::builder().connector(Stripe::init(config)).job(RefundOnRequestJob).build()?;
//! // Serve `POST /webhooks/stripe/events` and add it as a webhook endpoint in Stripe.
//! connector_runtime::server::start(engine, Default::default()).await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod events;
pub mod form;
pub mod types;

use connector_runtime::client::{Auth, Request};
use connector_runtime::prelude::*;
use futures::{Stream, TryStreamExt, stream};
use http::{HeaderName, HeaderValue};

pub use events::{Event, EventData, StripeEvent, WebhookEvent};
pub use types::{
    AutomaticPaymentMethods, ById, Charge, ChargeList, ConfirmPaymentIntent, Customer, Expandable, HasId, ListCharges,
    Metadata, NewCustomer, NewPaymentIntent, NewRefund, PaymentError, PaymentIntent, PaymentIntentStatus, Refund,
    RetrievePaymentIntent,
};

/// Where Stripe's API lives.
pub const STRIPE_API: &str = "https://api.stripe.com";

/// The most items Stripe returns per list page.
const PAGE_LIMIT: usize = 100;

/// Config of the Stripe connector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StripeConfig {
    /// The secret key (`sk_live_..`, `sk_test_..`) or a restricted key (`rk_..`), sent as a
    /// bearer token.
    pub secret_key: Secret,
    /// Where the API lives (default `https://api.stripe.com`).
    #[serde(default = "stripe_api")]
    pub base_url: String,
    /// The API version to pin (`Stripe-Version`, like `2024-06-20`); the account's default
    /// when unset.
    #[serde(default)]
    pub api_version: Option<String>,
    /// The webhook endpoint's signing secret (`whsec_..`); only the `events` trigger needs it.
    #[serde(default)]
    pub webhook_secret: Option<Secret>,
}

fn stripe_api() -> String {
    STRIPE_API.to_owned()
}

impl StripeConfig {
    /// A config with the secret key, for Stripe's public API.
    pub fn new(secret_key: Secret) -> Self {
        StripeConfig { secret_key, base_url: stripe_api(), api_version: None, webhook_secret: None }
    }

    /// The same config, for an API at `base_url` (a fake in tests, say).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The same config, pinned to an API version.
    pub fn api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = Some(version.into());
        self
    }

    /// The same config, with the signing secret the `events` trigger checks deliveries with.
    pub fn webhook_secret(mut self, secret: Secret) -> Self {
        self.webhook_secret = Some(secret);
        self
    }
}

/// A request to `/v1/{path}`, with the pinned API version if any.
fn request(ctx: &ActionContext<StripeConfig>, method: http::Method, path: &str) -> Result<Request, ActionError> {
    let config = ctx.config();
    let request = ctx.http().request(method, format!("{}/v1/{path}", config.base_url));
    match &config.api_version {
        None => Ok(request),
        Some(version) => {
            let version = HeaderValue::from_str(version)
                .map_err(|_| ActionError::permanent(format!("`{version}` cannot be a Stripe-Version header")))?;
            Ok(request.header(HeaderName::from_static("stripe-version"), version))
        }
    }
}

/// A `POST` of `input`, form-encoded; the HTTP helper adds the step's `Idempotency-Key`.
fn post(ctx: &ActionContext<StripeConfig>, path: &str, input: &impl Serialize) -> Result<Request, ActionError> {
    let pairs: Vec<(String, String)> = form::encode(input)?.into_iter().filter(|(name, _)| name != "id").collect();
    Ok(request(ctx, http::Method::POST, path)?.form(&pairs))
}

/// An object's id as a path segment: Stripe ids are letters, digits and underscores.
fn id(id: &str) -> Result<&str, ActionError> {
    let valid = !id.is_empty() && id.len() <= 255 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    valid.then_some(id).ok_or_else(|| ActionError::InvalidInput(format!("`{id}` is not a Stripe id")))
}

/// A customer, or what is left of a deleted one.
#[derive(Deserialize)]
#[serde(untagged)]
enum Retrieved {
    Customer(Box<Customer>),
    Deleted { deleted: bool },
}

/// One page of a list.
#[derive(Deserialize)]
struct ListPage<T> {
    data: Vec<T>,
    has_more: bool,
}

/// The Stripe connector.
pub struct Stripe;

/// Stripe's API with a secret key: customers, payment intents, refunds, charges, and signed
/// webhook events.
#[connector(
    id = "stripe",
    name = "Stripe",
    version = "0.1.0",
    config = StripeConfig,
    auth = Self::auth,
    check = Self::check
)]
impl Stripe {
    /// Every request carries the secret key as a bearer token.
    fn auth(config: &StripeConfig) -> Auth {
        Auth::Bearer(config.secret_key.clone())
    }

    /// `GET /v1/balance`: whether the key is good.
    async fn check(ctx: &ActionContext<StripeConfig>) -> Result<(), ActionError> {
        request(ctx, http::Method::GET, "balance")?.send().await?;
        Ok(())
    }

    /// Creates a customer.
    #[action(id = "createCustomer", name = "Create Customer")]
    pub async fn create_customer(
        ctx: &ActionContext<StripeConfig>,
        input: NewCustomer,
    ) -> Result<Customer, ActionError> {
        post(ctx, "customers", &input)?.send_json().await
    }

    /// Reads a customer; a deleted one is refused as not found.
    #[action(id = "retrieveCustomer", name = "Retrieve Customer")]
    pub async fn retrieve_customer(ctx: &ActionContext<StripeConfig>, input: ById) -> Result<Customer, ActionError> {
        let path = format!("customers/{}", id(&input.id)?);
        match request(ctx, http::Method::GET, &path)?.send_json().await? {
            Retrieved::Customer(customer) => Ok(*customer),
            Retrieved::Deleted { deleted: true } => {
                Err(ActionError::Rejected { status: 404, message: format!("customer `{}` was deleted", input.id) })
            }
            Retrieved::Deleted { deleted: false } => {
                Err(ActionError::InvalidOutput("a customer without its fields, not deleted".into()))
            }
        }
    }

    /// Creates a payment intent (and confirms it at once with `confirm`).
    #[action(id = "createPaymentIntent", name = "Create Payment Intent")]
    pub async fn create_payment_intent(
        ctx: &ActionContext<StripeConfig>,
        input: NewPaymentIntent,
    ) -> Result<PaymentIntent, ActionError> {
        post(ctx, "payment_intents", &input)?.send_json().await
    }

    /// Confirms a payment intent: Stripe attempts the payment. A declined card is refused
    /// (`card_error`, HTTP 402), not retried.
    #[action(id = "confirmPaymentIntent", name = "Confirm Payment Intent")]
    pub async fn confirm_payment_intent(
        ctx: &ActionContext<StripeConfig>,
        input: ConfirmPaymentIntent,
    ) -> Result<PaymentIntent, ActionError> {
        let path = format!("payment_intents/{}/confirm", id(&input.id)?);
        post(ctx, &path, &input)?.send_json().await
    }

    /// Reads a payment intent, with related objects expanded (`expand`: `customer`,
    /// `latest_charge`).
    #[action(id = "retrievePaymentIntent", name = "Retrieve Payment Intent")]
    pub async fn retrieve_payment_intent(
        ctx: &ActionContext<StripeConfig>,
        input: RetrievePaymentIntent,
    ) -> Result<PaymentIntent, ActionError> {
        let path = format!("payment_intents/{}", id(&input.id)?);
        let query: Vec<(String, String)> = form::encode(&input)?.into_iter().filter(|(name, _)| name != "id").collect();
        request(ctx, http::Method::GET, &path)?.query(&query).send_json().await
    }

    /// Refunds a payment intent or a charge, in full or `amount` of it.
    #[action(id = "createRefund", name = "Create Refund")]
    pub async fn create_refund(ctx: &ActionContext<StripeConfig>, input: NewRefund) -> Result<Refund, ActionError> {
        if input.payment_intent.is_none() && input.charge.is_none() {
            return Err(ActionError::InvalidInput("a refund needs a `payment_intent` or a `charge`".into()));
        }
        post(ctx, "refunds", &input)?.send_json().await
    }

    /// Lists charges, newest first, following `starting_after` through the pages until `limit`
    /// charges or the last page (`has_more: false`).
    #[action(id = "listCharges", name = "List Charges")]
    pub async fn list_charges(
        ctx: &ActionContext<StripeConfig>,
        input: ListCharges,
    ) -> Result<ChargeList, ActionError> {
        let limit = input.limit;
        // One more than asked for, so a full page also says whether there are more.
        let asked = ListCharges { limit: limit.map(|limit| limit.saturating_add(1)), ..input };
        let mut listed = std::pin::pin!(charges(ctx, asked));
        let mut list = ChargeList { charges: Vec::new(), has_more: false };
        while let Some(charge) = listed.try_next().await? {
            if Some(list.charges.len()) == limit {
                list.has_more = true;
                break;
            }
            list.charges.push(charge);
        }
        Ok(list)
    }

    /// A webhook event, signed with the endpoint's secret (`Stripe-Signature`, five minutes of
    /// tolerance) and deduplicated on the event's id: `payment_intent.succeeded`,
    /// `charge.refunded` and `customer.created` start jobs with their objects typed; other kinds
    /// are answered 200 and start nothing.
    #[trigger(id = "events", name = "Events", webhook(stripe(secret = webhook_secret)))]
    pub async fn events(
        ctx: &TriggerContext<StripeConfig>,
        event: WebhookEvent,
    ) -> Result<Option<StripeEvent>, ActionError> {
        let kind = event.kind.clone();
        let typed = StripeEvent::from_webhook(event)
            .map_err(|error| ActionError::InvalidInput(format!("the `{kind}` event's object: {error}")))?;
        if typed.is_none() {
            ctx.logger().info(format!("a `{kind}` event: not a kind this trigger hands on"));
        }
        Ok(typed)
    }
}

/// Charges as a stream, newest first, one `GET /v1/charges` per page (each as large as
/// `input.limit` allows, up to 100), following `starting_after` while `has_more`: take as many
/// as you need, the stream asks for no page it does not reach. `input.limit` sizes the pages
/// only; the stream ends where the list does.
///
/// ```no_run
/// # use connector_runtime::prelude::*;
/// # use connector_stripe::{ListCharges, StripeConfig};
/// use futures::{StreamExt, TryStreamExt};
/// # async fn f(ctx: &ActionContext<StripeConfig>) -> Result<(), ActionError> {
/// let input = ListCharges { customer: Some("cus_NffrFeUfNV2Hib".into()), ..Default::default() };
/// let refunded: Vec<_> = connector_stripe::charges(ctx, input)
///     .try_filter(|charge| std::future::ready(charge.refunded))
///     .take(5)
///     .try_collect()
///     .await?;
/// # Ok(()) }
/// ```
pub fn charges<'a>(
    ctx: &'a ActionContext<StripeConfig>,
    input: ListCharges,
) -> impl Stream<Item = Result<Charge, ActionError>> + Send + 'a {
    let page = input.limit.unwrap_or(PAGE_LIMIT).clamp(1, PAGE_LIMIT).to_string();
    stream::try_unfold(Some(None::<String>), move |after| {
        let (input, page) = (input.clone(), page.clone());
        async move {
            let Some(after) = after else { return Ok(None) };
            let mut query = vec![("limit", page)];
            query.extend(input.customer.map(|customer| ("customer", customer)));
            query.extend(input.payment_intent.map(|intent| ("payment_intent", intent)));
            query.extend(after.map(|after| ("starting_after", after)));
            let listed: ListPage<Charge> =
                request(ctx, http::Method::GET, "charges")?.query(&query).send_json().await?;
            let next = match listed.data.last() {
                Some(last) if listed.has_more => Some(Some(last.id.clone())),
                _ => None,
            };
            Ok::<_, ActionError>(Some((stream::iter(listed.data.into_iter().map(Ok)), next)))
        }
    })
    .try_flatten()
}
