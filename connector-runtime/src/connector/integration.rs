//! [`Integration`]: a configured connector instance, and [`ConnectorContext`]: what its fns receive.

use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};

use http::HeaderMap;

use super::{Action, CheckError, Connector};
use crate::client::{HttpClient, StepHttp};
use crate::model::{ActionError, Logger, RateLimit};

/// A configured connector: what `SimpleChat::init(config)` returns and the engine registers.
///
/// Cheap to clone; every clone shares one HTTP client (one connection pool) and one config.
pub struct Integration<C: Connector> {
    shared: Arc<IntegrationShared<C::Config>>,
}

struct IntegrationShared<Cfg> {
    config: Arc<Cfg>,
    http: HttpClient,
}

impl<C: Connector> Integration<C> {
    /// A connector instance with this config, limited as the connector declares.
    pub fn new(config: C::Config) -> Self {
        Self::with_rate_limit(config, C::RATE_LIMIT)
    }

    /// A connector instance with this config and these limits (shared by every run using it).
    pub fn with_rate_limit(config: C::Config, limit: RateLimit) -> Self {
        let auth = C::auth(&config);
        Integration {
            shared: Arc::new(IntegrationShared { config: Arc::new(config), http: HttpClient::new(limit, auth) }),
        }
    }

    /// The instance's config.
    pub fn config(&self) -> &C::Config {
        &self.shared.config
    }

    pub(crate) fn shared_config(&self) -> &Arc<C::Config> {
        &self.shared.config
    }

    pub(crate) fn http_client(&self) -> &HttpClient {
        &self.shared.http
    }

    /// Verifies the config against the service with the connector's check, saying what is
    /// wrong: the credentials, or reaching the service.
    pub async fn check(&self) -> Result<(), CheckError> {
        if !C::HAS_CHECK {
            return Err(CheckError::NoCheck { connector: C::ID });
        }
        C::check(&self.context()).await.map_err(|error| CheckError::from_action(C::ID, error))
    }

    /// A context for calling an action or trigger of this instance outside a run.
    pub fn context(&self) -> ConnectorContext<C::Config> {
        ConnectorContext {
            config: Arc::clone(&self.shared.config),
            http: self.shared.http.clone(),
            logger: Logger::new(C::ID),
            idempotency_key: None,
            attempt: 1,
            unsafe_requests: AtomicU32::new(0),
            headers: HeaderMap::new(),
            reply: Mutex::new(None),
            delivery_id: Mutex::new(None),
        }
    }

    /// Calls an action once, directly: no run, no step, no retries. For trying a connector in a
    /// test: `SimpleChat::init(config).call(SimpleChat::SEND_MESSAGE, input).await`.
    pub async fn call<A: Action<Connector = C>>(&self, _action: A, input: A::Input) -> Result<A::Output, ActionError> {
        A::run(&self.context(), input).await
    }

    /// The context of an attempt of a step: its idempotency key, and a logger whose lines are
    /// kept with the run, under the step.
    pub(crate) fn step_context(
        &self,
        idempotency_key: String,
        attempt: u32,
        logger: Logger,
    ) -> ConnectorContext<C::Config> {
        ConnectorContext { idempotency_key: Some(idempotency_key), attempt, logger, ..self.context() }
    }

    /// The context of a trigger fn handling one webhook delivery: it can read the request's
    /// headers.
    pub(crate) fn delivery_context(&self, headers: HeaderMap) -> ConnectorContext<C::Config> {
        ConnectorContext { headers, ..self.context() }
    }
}

impl<C: Connector> Clone for Integration<C> {
    fn clone(&self) -> Self {
        Integration { shared: Arc::clone(&self.shared) }
    }
}

impl<C: Connector> std::fmt::Debug for Integration<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The config is left out on purpose: it is where secrets live.
        f.debug_struct("Integration").field("connector", &C::ID).finish_non_exhaustive()
    }
}

/// What an action or trigger function receives besides its input: the connector's config, the
/// shared HTTP client, a logger, and the step's idempotency key.
pub struct ConnectorContext<Cfg> {
    config: Arc<Cfg>,
    http: HttpClient,
    logger: Logger,
    idempotency_key: Option<String>,
    attempt: u32,
    /// How many unsafe requests this attempt has built, so each gets a key of its own.
    unsafe_requests: AtomicU32,
    /// The webhook request's headers, for a trigger fn; empty elsewhere.
    headers: HeaderMap,
    /// What a trigger fn asked the webhook request to be answered with, if anything.
    reply: Mutex<Option<serde_json::Value>>,
    /// The delivery's id as a trigger fn found it in the body, if it named one.
    delivery_id: Mutex<Option<String>>,
}

/// The context of an action: `async fn send(ctx: &ActionContext<Config>, input: In)`.
pub type ActionContext<Cfg> = ConnectorContext<Cfg>;
/// The context of a trigger: `async fn received(ctx: &TriggerContext<Config>, payload: P)`.
pub type TriggerContext<Cfg> = ConnectorContext<Cfg>;

impl<Cfg> ConnectorContext<Cfg> {
    /// The connector instance's config.
    pub fn config(&self) -> &Cfg {
        &self.config
    }

    /// The connector instance's HTTP client (one connection pool per instance).
    ///
    /// Unsafe requests built with it (`POST`, `PUT`, `PATCH`, `DELETE`) carry an
    /// `Idempotency-Key` header: the step's key on the first, then `{key}.2`, `{key}.3`, .. so a
    /// step that makes several requests does not have the service replay the first answer for
    /// all of them. The numbering restarts on every attempt, so a retried attempt sends the same
    /// keys again. Safe requests (`GET`, `HEAD`, `OPTIONS`) carry none.
    pub fn http(&self) -> StepHttp<'_> {
        StepHttp::new(&self.http, self.idempotency_key.as_deref(), &self.unsafe_requests)
    }

    /// The headers of the webhook request a trigger fn is handling (say, GitHub's
    /// `X-GitHub-Event`, to route one webhook by the kind of event); empty for actions, polls,
    /// and triggers called outside a delivery.
    ///
    /// ```
    /// # use connector_runtime::{ActionError, TriggerContext};
    /// fn event_kind(ctx: &TriggerContext<()>) -> Option<&str> {
    ///     ctx.headers().get("x-github-event")?.to_str().ok()
    /// }
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Answers the webhook request a trigger fn is handling with `body` (JSON) instead of the
    /// delivery's receipt, for a service that expects a particular answer: Slack's
    /// `url_verification` handshake wants `{"challenge": ..}` back, say. The status stays what
    /// the receipt's would be (200 for an ignored delivery). The last reply set wins; outside a
    /// webhook delivery it has no effect.
    ///
    /// ```
    /// # use connector_runtime::TriggerContext;
    /// fn answer_challenge(ctx: &TriggerContext<()>, challenge: &str) {
    ///     ctx.reply(serde_json::json!({ "challenge": challenge }));
    /// }
    /// ```
    pub fn reply(&self, body: serde_json::Value) {
        *self.reply.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(body);
    }

    /// The reply a trigger fn set with [`reply`](Self::reply), taken out.
    pub(crate) fn take_reply(&self) -> Option<serde_json::Value> {
        self.reply.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }

    /// Names the webhook delivery a trigger fn is handling by an id the service put in the body
    /// (Slack's `event_id`, say), for a service whose signature scheme gives the runtime none:
    /// the same id delivered again then starts nothing new, as a repeated delivery id in a
    /// header would. An id from the signature scheme or a delivery header wins over this one;
    /// outside a webhook delivery it has no effect.
    ///
    /// ```
    /// # use connector_runtime::TriggerContext;
    /// fn name_the_delivery(ctx: &TriggerContext<()>, event_id: &str) {
    ///     ctx.delivery_id(event_id);
    /// }
    /// ```
    pub fn delivery_id(&self, id: impl Into<String>) {
        *self.delivery_id.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(id.into());
    }

    /// The delivery id a trigger fn named with [`delivery_id`](Self::delivery_id), taken out.
    pub(crate) fn take_delivery_id(&self) -> Option<String> {
        self.delivery_id.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
    }

    /// A logger whose lines carry the run, job and step they come from.
    pub fn logger(&self) -> &Logger {
        &self.logger
    }

    /// The step's idempotency key (`{run id}:{step key}`), stable across retries and resumes;
    /// `None` outside a run.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }

    /// Which attempt this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }
}
