//! The traits `#[connector]` implements: [`Connector`], [`Action`], [`Trigger`], and the types an
//! action sees at run time: [`Integration`] and [`ConnectorContext`].

use std::future::Future;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::Auth;
use crate::error::ActionError;
use crate::http::HttpClient;
use crate::io::Io;
use crate::logger::Logger;
use crate::manifest::{ActionManifest, ConnectorManifest, TriggerManifest};
use crate::rate_limit::RateLimit;
use crate::retry::RetryPolicy;

/// The bounds on a connector's config type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a connector config",
    label = "needs `Deserialize` and `JsonSchema`",
    note = "add `#[derive(serde::Deserialize, schemars::JsonSchema)]` to `{Self}`"
)]
pub trait ConnectorConfig: DeserializeOwned + JsonSchema + Send + Sync + 'static {}
impl<T: DeserializeOwned + JsonSchema + Send + Sync + 'static> ConnectorConfig for T {}

/// The bounds on an action's input type (also stored on the run, hence `Serialize`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an action input",
    label = "needs `Serialize`, `Deserialize` and `JsonSchema`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]` to `{Self}`"
)]
pub trait ActionInput: Serialize + DeserializeOwned + JsonSchema + Send + 'static {}
impl<T: Serialize + DeserializeOwned + JsonSchema + Send + 'static> ActionInput for T {}

/// The bounds on an action's output type (stored on the run and read back on resume).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an action output",
    label = "needs `Serialize`, `Deserialize` and `JsonSchema`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]` to `{Self}`"
)]
pub trait ActionOutput: Serialize + DeserializeOwned + JsonSchema + Send + 'static {}
impl<T: Serialize + DeserializeOwned + JsonSchema + Send + 'static> ActionOutput for T {}

/// The bounds on a payload: what a service sends a trigger, what a trigger hands a job, an event.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a payload",
    label = "needs `Serialize`, `Deserialize` and `JsonSchema`",
    note = "add `#[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]` to `{Self}`"
)]
pub trait Payload: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static> Payload for T {}

/// A connector: its identity, config type, actions and triggers. Implemented by `#[connector]`.
pub trait Connector: Sized + Send + Sync + 'static {
    /// The config (and secrets) an instance needs.
    type Config: ConnectorConfig;
    /// The typed client a job reaches through `io`, one method per action.
    type Client<'io>;

    /// The connector's id (`[A-Za-z0-9._-]+`).
    const ID: &'static str;
    /// A human-readable name.
    const NAME: &'static str;
    /// The connector's semantic version.
    const VERSION: &'static str;
    /// What the connector is for (from its doc comment).
    const DESCRIPTION: &'static str;
    /// The Rust type's name, for error messages.
    const TYPE_NAME: &'static str;
    /// How fast an instance may call the service (`#[connector(rate_limit(..))]`).
    const RATE_LIMIT: RateLimit = RateLimit::NONE;

    /// The typed client for a job's run.
    fn client<'io>(io: &'io Io, integration: &'io Integration<Self>) -> Self::Client<'io>;

    /// The manifests of the connector's actions, in declaration order.
    fn actions() -> Vec<ActionManifest>;

    /// The manifests of the connector's triggers, in declaration order.
    fn triggers() -> Vec<TriggerManifest>;

    /// How requests to the service authenticate (`#[connector(auth = Self::auth)]`); the HTTP
    /// helper applies it to every request.
    fn auth(_config: &Self::Config) -> Auth {
        Auth::None
    }

    /// Whether the connector declares a credential check (`#[connector(check = Self::check)]`).
    const HAS_CHECK: bool = false;

    /// Verifies the config against the service (a cheap authenticated call).
    fn check(_ctx: &ConnectorContext<Self::Config>) -> impl Future<Output = Result<(), ActionError>> + Send {
        async { Ok(()) }
    }

    /// The connector's actions, erased to JSON, for calling one by id (a CLI, an MCP server).
    fn action_entries() -> Vec<crate::call::ActionEntry<Self>> {
        Vec::new()
    }

    /// The connector's triggers, erased, for the webhook server.
    fn trigger_entries() -> Vec<crate::trigger::TriggerEntry<Self>> {
        Vec::new()
    }

    /// The connector's polling triggers, erased, for the engine's poll tasks.
    fn poll_entries() -> Vec<crate::poll::PollEntry<Self>> {
        Vec::new()
    }

    /// The connector's manifest.
    fn manifest() -> ConnectorManifest {
        ConnectorManifest::of::<Self>()
    }
}

/// One action of a connector; `#[connector]` provides one per `#[action]` fn as [`ActionOf`].
pub trait Action: Send + Sync + 'static {
    /// The connector the action belongs to.
    type Connector: Connector;
    /// What the action takes.
    type Input: ActionInput;
    /// What the action returns.
    type Output: ActionOutput;

    /// The action's id, unique within its connector.
    const ID: &'static str;
    /// A human-readable name.
    const NAME: &'static str;
    /// What the action does (from its doc comment).
    const DESCRIPTION: &'static str;
    /// The action's retry policy (`#[action(retry(..))]`), if it has its own.
    const RETRY: Option<RetryPolicy> = None;

    /// Runs the action once.
    fn run(
        ctx: &ActionContext<<Self::Connector as Connector>::Config>,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, ActionError>> + Send;
}

/// One trigger of a connector: receives the service's payload and decides what (if anything) a
/// job receives; `#[connector]` provides one per `#[trigger]` fn as [`TriggerOf`].
pub trait Trigger: Send + Sync + 'static {
    /// The connector the trigger belongs to.
    type Connector: Connector;
    /// What the external service sends.
    type Payload: Payload;
    /// What a job triggered by it receives.
    type Output: Payload;

    /// The trigger's id, unique within its connector.
    const ID: &'static str;
    /// A human-readable name.
    const NAME: &'static str;
    /// What the trigger reports (from its doc comment).
    const DESCRIPTION: &'static str;

    /// Turns one delivery into the job's payload, or `None` to ignore the delivery.
    fn run(
        ctx: &TriggerContext<<Self::Connector as Connector>::Config>,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<Option<Self::Output>, ActionError>> + Send;
}

/// One `#[action]` fn of connector `Self`, keyed by a hash of the fn's name.
///
/// `#[connector]` implements this on the connector type itself (not on a generated struct), so
/// the impl is exactly as visible as the connector and may mention any type the connector can;
/// [`ActionOf`] turns it into an [`Action`].
#[doc(hidden)]
pub trait ActionFn<const KEY: u64>: Connector {
    /// What the action takes.
    type Input: ActionInput;
    /// What the action returns.
    type Output: ActionOutput;
    /// The action's id.
    const ID: &'static str;
    /// A human-readable name.
    const NAME: &'static str;
    /// What the action does.
    const DESCRIPTION: &'static str;
    /// The action's own retry policy.
    const RETRY: Option<RetryPolicy> = None;
    /// Runs the action once.
    fn run(
        ctx: &ActionContext<Self::Config>,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, ActionError>> + Send;
}

/// One `#[trigger]` fn of connector `Self`, keyed by a hash of the fn's name; see [`ActionFn`].
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[trigger]` fn of this name",
    note = "a job names a connector trigger by its fn: `trigger = SimpleChat::message_received`"
)]
pub trait TriggerFn<const KEY: u64>: Connector {
    /// What the service sends.
    type Payload: Payload;
    /// What a job receives.
    type Output: Payload;
    /// The trigger's id.
    const ID: &'static str;
    /// A human-readable name.
    const NAME: &'static str;
    /// What the trigger reports.
    const DESCRIPTION: &'static str;
    /// Turns one delivery into the job's payload, or `None`.
    fn run(
        ctx: &TriggerContext<Self::Config>,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<Option<Self::Output>, ActionError>> + Send;
    /// How the trigger's webhook deliveries are signed (`#[trigger(webhook(..))]`), if they are.
    fn signature(_config: &Arc<Self::Config>) -> Option<crate::webhook::signature::SignatureScheme> {
        None
    }
}

/// The value types that name a member (`SimpleChat::SEND_MESSAGE`): `new`, `Clone`, `Copy`,
/// `Default`, and a `Debug` that prints `connector.member`.
macro_rules! member_value {
    ($name:ident, $member:ident) => {
        impl<C, const KEY: u64> $name<C, KEY> {
            /// The value (it holds nothing; it names the member).
            pub const fn new() -> Self {
                $name(std::marker::PhantomData)
            }
        }

        impl<C, const KEY: u64> Clone for $name<C, KEY> {
            fn clone(&self) -> Self {
                *self
            }
        }

        impl<C, const KEY: u64> Copy for $name<C, KEY> {}

        impl<C, const KEY: u64> Default for $name<C, KEY> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<C: $member<KEY>, const KEY: u64> std::fmt::Debug for $name<C, KEY> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let (connector, member) = (<C as $crate::Connector>::ID, <C as $member<KEY>>::ID);
                write!(f, "{}({connector}.{member})", stringify!($name))
            }
        }
    };
}
pub(crate) use member_value;

/// The action of connector `C` whose fn name hashes to `KEY`. `#[connector]` names each one
/// with a constant on the connector: `SimpleChat::SEND_MESSAGE`.
pub struct ActionOf<C, const KEY: u64>(std::marker::PhantomData<fn() -> C>);

member_value!(ActionOf, ActionFn);

impl<C: ActionFn<KEY>, const KEY: u64> Action for ActionOf<C, KEY> {
    type Connector = C;
    type Input = <C as ActionFn<KEY>>::Input;
    type Output = <C as ActionFn<KEY>>::Output;
    const ID: &'static str = <C as ActionFn<KEY>>::ID;
    const NAME: &'static str = <C as ActionFn<KEY>>::NAME;
    const DESCRIPTION: &'static str = <C as ActionFn<KEY>>::DESCRIPTION;
    const RETRY: Option<RetryPolicy> = <C as ActionFn<KEY>>::RETRY;

    fn run(
        ctx: &ActionContext<C::Config>,
        input: Self::Input,
    ) -> impl Future<Output = Result<Self::Output, ActionError>> + Send {
        <C as ActionFn<KEY>>::run(ctx, input)
    }
}

/// The trigger of connector `C` whose fn name hashes to `KEY`. `#[connector]` names each one
/// with a constant on the connector: `SimpleChat::MESSAGE_RECEIVED`.
pub struct TriggerOf<C, const KEY: u64>(std::marker::PhantomData<fn() -> C>);

member_value!(TriggerOf, TriggerFn);

impl<C: TriggerFn<KEY>, const KEY: u64> Trigger for TriggerOf<C, KEY> {
    type Connector = C;
    type Payload = <C as TriggerFn<KEY>>::Payload;
    type Output = <C as TriggerFn<KEY>>::Output;
    const ID: &'static str = <C as TriggerFn<KEY>>::ID;
    const NAME: &'static str = <C as TriggerFn<KEY>>::NAME;
    const DESCRIPTION: &'static str = <C as TriggerFn<KEY>>::DESCRIPTION;

    fn run(
        ctx: &TriggerContext<C::Config>,
        payload: Self::Payload,
    ) -> impl Future<Output = Result<Option<Self::Output>, ActionError>> + Send {
        <C as TriggerFn<KEY>>::run(ctx, payload)
    }
}

/// The key of an action or trigger fn: the 64-bit FNV-1a hash of its name. The macros compute
/// the same function at expansion time.
pub const fn fn_key(name: &str) -> u64 {
    let bytes = name.as_bytes();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

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

    pub(crate) fn auth(&self) -> &Auth {
        self.shared.http.auth()
    }

    /// Verifies the config against the service with the connector's check, saying what is
    /// wrong: the credentials, or reaching the service.
    pub async fn check(&self) -> Result<(), crate::call::CheckError> {
        if !C::HAS_CHECK {
            return Err(crate::call::CheckError::NoCheck { connector: C::ID });
        }
        C::check(&self.context()).await.map_err(|error| crate::call::CheckError::from_action(C::ID, error))
    }

    /// A context for calling an action or trigger of this instance outside a run.
    pub fn context(&self) -> ConnectorContext<C::Config> {
        ConnectorContext {
            config: Arc::clone(&self.shared.config),
            http: self.shared.http.clone(),
            logger: Logger::new(C::ID),
            idempotency_key: None,
            attempt: 1,
        }
    }

    /// Calls an action once, directly: no run, no step, no retries. For trying a connector in a
    /// test: `SimpleChat::init(config).call(SimpleChat::SEND_MESSAGE, input).await`.
    pub async fn call<A: Action<Connector = C>>(&self, _action: A, input: A::Input) -> Result<A::Output, ActionError> {
        A::run(&self.context(), input).await
    }

    pub(crate) fn step_context(&self, idempotency_key: String, attempt: u32) -> ConnectorContext<C::Config> {
        ConnectorContext { idempotency_key: Some(idempotency_key), attempt, ..self.context() }
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
    /// Requests built with it send this step's idempotency key as the `Idempotency-Key` header.
    pub fn http(&self) -> crate::http::StepHttp<'_> {
        crate::http::StepHttp::new(&self.http, self.idempotency_key.as_deref())
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
