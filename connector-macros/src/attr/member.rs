//! `#[action(..)]` and `#[trigger(..)]`'s arguments, and the lists inside them: `retry(..)`,
//! `webhook(..)`, `poll(..)`.

use darling::FromMeta;
use darling::util::SpannedValue;

use super::Keys;
use super::value::{Duration, Field, Flag, Float, FnPath, Int, Str};

/// `#[action(id = "..", name = "..", description = "..")]` and `#[trigger(..)]` alike; which of
/// the lists a kind of member may have is a rule of `valid`.
#[derive(Debug, FromMeta)]
pub struct MemberArgs {
    pub id: Str,
    pub name: Str,
    #[darling(default)]
    pub description: Option<Str>,
    /// Actions: the action's own retry policy.
    #[darling(default)]
    pub retry: Option<SpannedValue<RetryArgs>>,
    /// Webhook triggers: how deliveries are signed, and the webhook's registration.
    #[darling(default)]
    pub webhook: Option<SpannedValue<WebhookArgs>>,
    /// Polling triggers: how often the trigger polls.
    #[darling(default)]
    pub poll: Option<SpannedValue<PollArgs>>,
    /// Actions: changes nothing at the service (`read_only`).
    #[darling(default)]
    pub read_only: Option<SpannedValue<Flag>>,
    /// Actions: may delete or overwrite (`destructive`), or only adds (`destructive = false`).
    #[darling(default)]
    pub destructive: Option<SpannedValue<Flag>>,
    /// Actions: calling again with the same input changes nothing more (`idempotent`).
    #[darling(default)]
    pub idempotent: Option<SpannedValue<Flag>>,
}

impl MemberArgs {
    /// Whether flag `flag` is set (written bare, or `= true`).
    pub fn flag(flag: &Option<SpannedValue<Flag>>) -> bool {
        flag.as_ref().is_some_and(|flag| flag.0)
    }

    /// The effect hints given (`read_only`, `destructive`, `idempotent`), with their spans.
    pub fn hints(&self) -> [(&'static str, &Option<SpannedValue<Flag>>); 3] {
        [("read_only", &self.read_only), ("destructive", &self.destructive), ("idempotent", &self.idempotent)]
    }
}

const ACTION_KEYS: &[(&str, &str)] = &[
    ("id", "\"..\""),
    ("name", "\"..\""),
    ("description", "\"..\""),
    ("retry", "(max_attempts = 3)"),
    ("read_only", "true"),
    ("destructive", "true"),
    ("idempotent", "true"),
];
const TRIGGER_KEYS: &[(&str, &str)] = &[
    ("id", "\"..\""),
    ("name", "\"..\""),
    ("description", "\"..\""),
    ("webhook", "(github(secret = webhook_secret))"),
    ("poll", "(every = \"30s\")"),
];
const MEMBER_NESTED: &[(&str, &Keys)] = &[("retry", &RETRY), ("webhook", &WEBHOOK), ("poll", &POLL)];

pub const ACTION: Keys = Keys { attr: "`#[action(..)]`", keys: ACTION_KEYS, nested: MEMBER_NESTED };
pub const TRIGGER: Keys = Keys { attr: "`#[trigger(..)]`", keys: TRIGGER_KEYS, nested: MEMBER_NESTED };

/// `retry(max_attempts = 3, factor = 2.0, min_delay = "200ms", max_delay = "10s", jitter = false,
/// timeout = "30s")`; unset keys keep the runtime's default. Also `#[job(retry(..))]`.
#[derive(Debug, Default, FromMeta)]
pub struct RetryArgs {
    #[darling(default)]
    pub max_attempts: Option<Int>,
    #[darling(default)]
    pub factor: Option<Float>,
    #[darling(default)]
    pub min_delay: Option<Duration>,
    #[darling(default)]
    pub max_delay: Option<Duration>,
    #[darling(default)]
    pub jitter: Option<Flag>,
    #[darling(default)]
    pub timeout: Option<Duration>,
}

pub const RETRY: Keys = Keys {
    attr: "`retry(..)`",
    keys: &[
        ("max_attempts", "3"),
        ("factor", "2.0"),
        ("min_delay", "\"200ms\""),
        ("max_delay", "\"10s\""),
        ("jitter", "false"),
        ("timeout", "\"30s\""),
    ],
    nested: &[],
};

/// `webhook(github(secret = field))`, `webhook(stripe(secret = field, tolerance = "5m"))`,
/// `webhook(standard(secret = field))`,
/// `webhook(hmac_sha256(header = "X-Signature", prefix = "sha256=", secret = field, delivery_id = "X-Delivery"))`,
/// `webhook(verify = path::to::fn)`, `webhook(unsigned)`; and `subscribe = Self::f, unsubscribe = Self::g`.
#[derive(Debug, Default, FromMeta)]
pub struct WebhookArgs {
    #[darling(default)]
    pub github: Option<SpannedValue<SecretArgs>>,
    #[darling(default)]
    pub stripe: Option<SpannedValue<SecretArgs>>,
    #[darling(default)]
    pub standard: Option<SpannedValue<SecretArgs>>,
    #[darling(default)]
    pub hmac_sha256: Option<SpannedValue<HmacArgs>>,
    #[darling(default)]
    pub verify: Option<SpannedValue<FnPath>>,
    #[darling(default)]
    pub subscribe: Option<SpannedValue<FnPath>>,
    #[darling(default)]
    pub unsubscribe: Option<SpannedValue<FnPath>>,
    /// `unsigned`: the webhook takes deliveries nobody signed, on purpose (the engine refuses
    /// a webhook trigger with no scheme otherwise).
    #[darling(default)]
    pub unsigned: Option<SpannedValue<Flag>>,
}

pub const WEBHOOK: Keys = Keys {
    attr: "`webhook(..)`",
    keys: &[
        ("github", "(secret = webhook_secret)"),
        ("stripe", "(secret = webhook_secret)"),
        ("standard", "(secret = webhook_secret)"),
        ("hmac_sha256", "(header = \"X-Signature\", secret = webhook_secret)"),
        ("verify", "Self::verify"),
        ("subscribe", "Self::subscribe"),
        ("unsubscribe", "Self::unsubscribe"),
        ("unsigned", "true"),
    ],
    nested: &[("github", &GITHUB), ("stripe", &STRIPE), ("standard", &STANDARD), ("hmac_sha256", &HMAC)],
};

/// The config field holding the signing secret, and a timestamp tolerance where the scheme has
/// one (Stripe, Standard Webhooks).
#[derive(Debug, FromMeta)]
pub struct SecretArgs {
    pub secret: Field,
    #[darling(default)]
    pub tolerance: Option<Duration>,
}

const SECRET_KEYS: &[(&str, &str)] = &[("secret", "webhook_secret"), ("tolerance", "\"5m\"")];
pub const GITHUB: Keys = Keys { attr: "`github(..)`", keys: &[("secret", "webhook_secret")], nested: &[] };
pub const STRIPE: Keys = Keys { attr: "`stripe(..)`", keys: SECRET_KEYS, nested: &[] };
pub const STANDARD: Keys = Keys { attr: "`standard(..)`", keys: SECRET_KEYS, nested: &[] };

/// A generic HMAC-SHA256 signature over the raw body.
#[derive(Debug, FromMeta)]
pub struct HmacArgs {
    pub header: Str,
    #[darling(default)]
    pub prefix: Option<Str>,
    pub secret: Field,
    #[darling(default)]
    pub delivery_id: Option<Str>,
}

pub const HMAC: Keys = Keys {
    attr: "`hmac_sha256(..)`",
    keys: &[
        ("header", "\"X-Signature\""),
        ("prefix", "\"sha256=\""),
        ("secret", "webhook_secret"),
        ("delivery_id", "\"X-Delivery\""),
    ],
    nested: &[],
};

/// `poll(every = "30s")`.
#[derive(Debug, FromMeta)]
pub struct PollArgs {
    pub every: Duration,
}

pub const POLL: Keys = Keys { attr: "`poll(..)`", keys: &[("every", "\"30s\"")], nested: &[] };
