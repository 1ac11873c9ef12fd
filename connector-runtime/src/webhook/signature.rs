//! Webhook signatures: checking that a delivery comes from the service it claims to, against the
//! raw request body, before anything parses it.
//!
//! A trigger names its [`SignatureScheme`]; the server calls [`SignatureScheme::verify`] on every
//! delivery and [`SignatureScheme::delivery_id`] for the id it deduplicates on.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use connector_runtime::Secret;
//! use connector_runtime::webhook::signature::{SignatureError, SignatureScheme};
//!
//! let scheme = SignatureScheme::github(Secret::new("It's a Secret to Everybody"));
//! let now = SystemTime::now();
//! let headers = scheme.sign_at(b"Hello, World!", "delivery-1", now).unwrap();
//! assert!(scheme.verify_at(&headers, b"Hello, World!", now).is_ok());
//! assert!(matches!(scheme.verify_at(&headers, b"Hello, World?", now), Err(SignatureError::Mismatch)));
//! assert_eq!(scheme.delivery_id(&headers, b"Hello, World!").as_deref(), Some("delivery-1"));
//! ```
//!
//! Every comparison of a signature runs in constant time; no input (missing, repeated or
//! non-ASCII headers, huge timestamps, an empty or non-UTF-8 body) makes a check panic; and no
//! error message carries the secret.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::model::Secret;

/// A user-supplied check of a delivery's headers and raw body, for [`SignatureScheme::Custom`].
pub type CustomVerifier = dyn Fn(&HeaderMap, &[u8]) -> Result<(), SignatureError> + Send + Sync;

/// How a trigger's webhook deliveries are signed.
///
/// Build one with a constructor ([`SignatureScheme::github`], [`SignatureScheme::hmac_sha256`],
/// ..): schemes are added without breaking code that matches on them or builds them.
#[derive(Clone)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`; the delivery id is
    /// the `X-GitHub-Delivery` header.
    GitHub {
        /// The webhook's secret, as entered in the webhook's settings on GitHub.
        secret: Secret,
    },
    /// Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>[,v1=..]`.
    /// Any `v1` may match (there are several while a secret is rolled); `v0` and unknown keys are
    /// ignored. The timestamp must be within `tolerance` of now, either way. The delivery id is
    /// the body's top-level JSON `id` (the event id).
    Stripe {
        /// The endpoint's signing secret, `whsec_..`, used as it is (not decoded).
        secret: Secret,
        /// How far the signed timestamp may be from now, in the past or the future.
        tolerance: Duration,
    },
    /// [Standard Webhooks](https://www.standardwebhooks.com): headers `webhook-id`,
    /// `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256(key,
    /// "{id}.{timestamp}.{body}")>` (a space-separated list: any `v1` may match, other versions
    /// are ignored). The timestamp must be within `tolerance` of now, either way. The delivery id
    /// is `webhook-id`.
    StandardWebhooks {
        /// `whsec_<base64 key>`, or the bare base64 key.
        secret: Secret,
        /// How far the signed timestamp may be from now, in the past or the future.
        tolerance: Duration,
    },
    /// A generic HMAC-SHA256 over the raw body, in lowercase or uppercase hex, in `header`, after
    /// `prefix` (such as `sha256=`; matched ignoring ASCII case).
    HmacSha256 {
        /// The header carrying the signature, such as `X-Signature`.
        header: &'static str,
        /// What comes before the hex digits, such as `sha256=`; `""` for none.
        prefix: &'static str,
        /// The shared secret, used as it is (its UTF-8 bytes are the HMAC key).
        secret: Secret,
        /// The header carrying the delivery's id, if the sender sends one.
        delivery_id_header: Option<&'static str>,
    },
    /// A check of the user's own: it gets the headers and the raw body.
    Custom(Arc<CustomVerifier>),
    /// The trigger is signed, but the connector instance has no secret configured for it (an
    /// optional config field left empty): every delivery is refused.
    MissingSecret {
        /// The config field that holds the secret.
        field: &'static str,
    },
}

/// Why a delivery's signature does not verify.
///
/// No message includes the secret; each says what to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The request lacks a header the scheme needs.
    #[error(
        "the request has no `{header}` header: deliveries to this trigger must be signed; check that the \
         sending service has the webhook secret configured for this trigger"
    )]
    MissingHeader {
        /// The header's name.
        header: String,
    },
    /// A header is there but cannot be read.
    #[error("the `{header}` header is malformed ({reason}): check that the sender signs the way this trigger expects")]
    Malformed {
        /// The header's name.
        header: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No signature in the request matches the body.
    #[error(
        "the signature does not match the request body: check the webhook secret configured for this trigger \
         (it must be the one the sending service signs with), and that nothing rewrites the body on its way here"
    )]
    Mismatch,
    /// The signed timestamp is older than the tolerance allows: a replayed or long-delayed delivery.
    #[error(
        "the signed timestamp is {age_secs}s old, past the tolerance: a replayed or long-delayed delivery \
         (if every delivery fails this way, check this server's clock)"
    )]
    Stale {
        /// How old the timestamp is, in seconds.
        age_secs: u64,
    },
    /// The signed timestamp is further in the future than the tolerance allows.
    #[error(
        "the signed timestamp is {ahead_secs}s in the future, past the tolerance: check this server's clock \
         (or the delivery's timestamp was forged)"
    )]
    FromTheFuture {
        /// How far ahead of now the timestamp is, in seconds.
        ahead_secs: u64,
    },
    /// The secret configured for the trigger cannot be used for this scheme.
    #[error(
        "the webhook secret configured for this trigger is unusable ({reason}): check the webhook secret configured for this trigger"
    )]
    InvalidSecret {
        /// What is wrong with it (never the secret itself).
        reason: String,
    },
    /// A [`SignatureScheme::Custom`] check failed.
    #[error("{0}")]
    Custom(String),
    /// This connector instance has no secret for the trigger's signatures.
    #[error(
        "this trigger's deliveries are signed, but the connector has no webhook secret configured \
         (`{field}` is empty): set it to the secret the sending service signs with"
    )]
    NoSecretConfigured {
        /// The config field that holds the secret.
        field: &'static str,
    },
}

impl SignatureError {
    fn malformed(header: &str, reason: &str) -> Self {
        SignatureError::Malformed { header: header.to_owned(), reason: reason.to_owned() }
    }

    fn invalid_secret(reason: &str) -> Self {
        SignatureError::InvalidSecret { reason: reason.to_owned() }
    }
}

const GITHUB_SIGNATURE: &str = "x-hub-signature-256";
const GITHUB_DELIVERY: &str = "x-github-delivery";
const GITHUB_PREFIX: &str = "sha256=";
const STRIPE_SIGNATURE: &str = "stripe-signature";
const WEBHOOK_ID: &str = "webhook-id";
const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
const WEBHOOK_SIGNATURE: &str = "webhook-signature";
const STANDARD_SECRET_PREFIX: &str = "whsec_";

/// The longest delivery id returned for deduplication; longer ones are not used.
const MAX_DELIVERY_ID_LEN: usize = 255;

/// The longest timestamp accepted, in digits (`u64::MAX` has 20).
const MAX_TIMESTAMP_DIGITS: usize = 20;

/// Base64 that accepts keys and signatures with or without their `=` padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

type HmacSha256 = Hmac<Sha256>;

impl SignatureScheme {
    /// How far a signed timestamp may be from now unless a trigger says otherwise: 5 minutes, as
    /// Stripe and the Standard Webhooks libraries have it.
    pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

    /// GitHub's scheme with the webhook's `secret`.
    pub fn github(secret: Secret) -> Self {
        SignatureScheme::GitHub { secret }
    }

    /// Stripe's scheme with the endpoint's signing `secret` and [`Self::DEFAULT_TOLERANCE`].
    pub fn stripe(secret: Secret) -> Self {
        SignatureScheme::Stripe { secret, tolerance: Self::DEFAULT_TOLERANCE }
    }

    /// The Standard Webhooks scheme with `secret` (`whsec_<base64>`) and
    /// [`Self::DEFAULT_TOLERANCE`].
    pub fn standard_webhooks(secret: Secret) -> Self {
        SignatureScheme::StandardWebhooks { secret, tolerance: Self::DEFAULT_TOLERANCE }
    }

    /// A generic HMAC-SHA256 over the raw body in `header` (hex, after `prefix`), with the
    /// delivery id in `delivery_id_header` if the sender sends one.
    pub fn hmac_sha256(
        header: &'static str,
        prefix: &'static str,
        secret: Secret,
        delivery_id_header: Option<&'static str>,
    ) -> Self {
        SignatureScheme::HmacSha256 { header, prefix, secret, delivery_id_header }
    }

    /// A check of your own over the headers and the raw body.
    pub fn custom(verify: impl Fn(&HeaderMap, &[u8]) -> Result<(), SignatureError> + Send + Sync + 'static) -> Self {
        SignatureScheme::Custom(Arc::new(verify))
    }

    /// The scheme of a trigger whose secret is not configured: it refuses every delivery,
    /// naming the config `field` to set.
    pub fn missing_secret(field: &'static str) -> Self {
        SignatureScheme::MissingSecret { field }
    }

    /// This scheme, accepting signed timestamps up to `tolerance` from now (Stripe and Standard
    /// Webhooks; the others sign no timestamp).
    pub fn with_tolerance(self, tolerance: Duration) -> Self {
        match self {
            SignatureScheme::Stripe { secret, .. } => SignatureScheme::Stripe { secret, tolerance },
            SignatureScheme::StandardWebhooks { secret, .. } => SignatureScheme::StandardWebhooks { secret, tolerance },
            other => other,
        }
    }

    /// Verifies a delivery's `headers` and raw `body` as of `now` (injected, for tests).
    ///
    /// The signature is checked before the timestamp, so [`SignatureError::Stale`] and
    /// [`SignatureError::FromTheFuture`] are only ever said of authentic deliveries.
    pub fn verify_at(&self, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), SignatureError> {
        match self {
            SignatureScheme::GitHub { secret } => {
                let key = plain_key(secret, false)?;
                verify_hex_header(headers, GITHUB_SIGNATURE, GITHUB_PREFIX, key, body)
            }
            SignatureScheme::Stripe { secret, tolerance } => verify_stripe(secret, *tolerance, headers, body, now),
            SignatureScheme::StandardWebhooks { secret, tolerance } => {
                verify_standard(secret, *tolerance, headers, body, now)
            }
            SignatureScheme::HmacSha256 { header, prefix, secret, .. } => {
                let key = plain_key(secret, false)?;
                verify_hex_header(headers, header, prefix, key, body)
            }
            SignatureScheme::Custom(check) => check(headers, body),
            SignatureScheme::MissingSecret { field } => Err(SignatureError::NoSecretConfigured { field }),
        }
    }

    /// Verifies a delivery's `headers` and raw `body` as of the system clock's now.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
        self.verify_at(headers, body, SystemTime::now())
    }

    /// The delivery's id, for deduplication, if the scheme carries one: `X-GitHub-Delivery` for
    /// GitHub, the body's top-level JSON `id` for Stripe, `webhook-id` for Standard Webhooks, the
    /// `delivery_id_header` for [`SignatureScheme::HmacSha256`]; never one for
    /// [`SignatureScheme::Custom`]. Empty ids and ids over 255 bytes are not returned.
    ///
    /// Call it after [`verify`](Self::verify): it reads the id, it does not check it.
    pub fn delivery_id(&self, headers: &HeaderMap, body: &[u8]) -> Option<String> {
        let id = match self {
            SignatureScheme::GitHub { .. } => single_header(headers, GITHUB_DELIVERY).ok()?.to_owned(),
            SignatureScheme::Stripe { .. } => {
                #[derive(serde::Deserialize)]
                struct Event {
                    id: String,
                }
                serde_json::from_slice::<Event>(body).ok()?.id
            }
            SignatureScheme::StandardWebhooks { .. } => single_header(headers, WEBHOOK_ID).ok()?.to_owned(),
            SignatureScheme::HmacSha256 { delivery_id_header, .. } => {
                single_header(headers, (*delivery_id_header)?).ok()?.to_owned()
            }
            SignatureScheme::Custom(_) | SignatureScheme::MissingSecret { .. } => return None,
        };
        (!id.is_empty() && id.len() <= MAX_DELIVERY_ID_LEN).then_some(id)
    }

    /// Signs `body` the way the scheme expects, as of `now`, and returns the headers to send with
    /// it — for tests, and for services that send deliveries.
    ///
    /// `delivery_id` goes in the scheme's id header (`X-GitHub-Delivery`, `webhook-id`, the
    /// `delivery_id_header`); Stripe's id is inside the body, so there it is unused. `None` for
    /// [`SignatureScheme::Custom`] and [`SignatureScheme::MissingSecret`], and when the inputs cannot make a valid request: an unusable
    /// secret, a header name or delivery id that cannot be a header, `now` before 1970, or an
    /// empty `delivery_id` for Standard Webhooks (which signs it).
    pub fn sign_at(&self, body: &[u8], delivery_id: &str, now: SystemTime) -> Option<HeaderMap> {
        let mut headers = HeaderMap::new();
        match self {
            SignatureScheme::GitHub { secret } => {
                let mac = mac(plain_key(secret, false).ok()?, &[body]).ok()?;
                insert(&mut headers, GITHUB_SIGNATURE, &format!("{GITHUB_PREFIX}{}", hex::encode(mac)))?;
                if !delivery_id.is_empty() {
                    insert(&mut headers, GITHUB_DELIVERY, delivery_id)?;
                }
            }
            SignatureScheme::Stripe { secret, .. } => {
                let timestamp = unix_seconds(now)?.to_string();
                let mac = mac(plain_key(secret, true).ok()?, &[timestamp.as_bytes(), b".", body]).ok()?;
                insert(&mut headers, STRIPE_SIGNATURE, &format!("t={timestamp},v1={}", hex::encode(mac)))?;
            }
            SignatureScheme::StandardWebhooks { secret, .. } => {
                if delivery_id.is_empty() {
                    return None;
                }
                let key = standard_key(secret).ok()?;
                let timestamp = unix_seconds(now)?.to_string();
                let mac = mac(&key, &[delivery_id.as_bytes(), b".", timestamp.as_bytes(), b".", body]).ok()?;
                insert(&mut headers, WEBHOOK_ID, delivery_id)?;
                insert(&mut headers, WEBHOOK_TIMESTAMP, &timestamp)?;
                insert(&mut headers, WEBHOOK_SIGNATURE, &format!("v1,{}", BASE64.encode(mac)))?;
            }
            SignatureScheme::HmacSha256 { header, prefix, secret, delivery_id_header } => {
                let mac = mac(plain_key(secret, false).ok()?, &[body]).ok()?;
                insert(&mut headers, header, &format!("{prefix}{}", hex::encode(mac)))?;
                if let Some(id_header) = delivery_id_header
                    && !delivery_id.is_empty()
                {
                    insert(&mut headers, id_header, delivery_id)?;
                }
            }
            SignatureScheme::Custom(_) | SignatureScheme::MissingSecret { .. } => return None,
        }
        Some(headers)
    }
}

/// Prints the variant's name only: never the secret, nor anything else of the configuration.
impl fmt::Debug for SignatureScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SignatureScheme::GitHub { .. } => "SignatureScheme::GitHub",
            SignatureScheme::Stripe { .. } => "SignatureScheme::Stripe",
            SignatureScheme::StandardWebhooks { .. } => "SignatureScheme::StandardWebhooks",
            SignatureScheme::HmacSha256 { .. } => "SignatureScheme::HmacSha256",
            SignatureScheme::Custom(_) => "SignatureScheme::Custom",
            SignatureScheme::MissingSecret { .. } => "SignatureScheme::MissingSecret",
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The schemes

/// GitHub and the generic scheme: `<prefix><hex HMAC-SHA256(key, body)>` in `header`.
fn verify_hex_header(
    headers: &HeaderMap,
    header: &str,
    prefix: &str,
    key: &[u8],
    body: &[u8],
) -> Result<(), SignatureError> {
    let value = single_header(headers, header)?;
    let digits = value
        .get(..prefix.len())
        .filter(|start| start.eq_ignore_ascii_case(prefix))
        .and_then(|_| value.get(prefix.len()..))
        .ok_or_else(|| SignatureError::malformed(header, &format!("it does not start with `{prefix}`")))?;
    let sent = decode_hex_digest(digits)
        .ok_or_else(|| SignatureError::malformed(header, "the signature is not 64 hex digits (an HMAC-SHA256)"))?;
    let expected = mac(key, &[body])?;
    if any_matches(&expected, [sent.as_slice()]) { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// Stripe: `t=<unix>,v1=<hex>[,v1=<hex>..]` over `"{t}.{body}"`.
fn verify_stripe(
    secret: &Secret,
    tolerance: Duration,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), SignatureError> {
    let key = plain_key(secret, true)?;
    let value = single_header(headers, STRIPE_SIGNATURE)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in value.split(',') {
        let Some((name, content)) = item.split_once('=') else { continue };
        match name.trim() {
            "t" if timestamp.is_some() => {
                return Err(SignatureError::malformed(STRIPE_SIGNATURE, "it has more than one timestamp `t=`"));
            }
            "t" => timestamp = Some(content.trim()),
            "v1" => signatures.push(content.trim()),
            _ => {} // v0 (a test-mode signature) and keys of later versions
        }
    }
    let timestamp = timestamp.ok_or_else(|| SignatureError::malformed(STRIPE_SIGNATURE, "it has no timestamp `t=`"))?;
    let seconds = parse_timestamp(STRIPE_SIGNATURE, timestamp)?;
    if signatures.is_empty() {
        return Err(SignatureError::malformed(STRIPE_SIGNATURE, "it has no `v1=` signature"));
    }
    let expected = mac(key, &[timestamp.as_bytes(), b".", body])?;
    // A `v1` that is not hex cannot match; it is no reason to reject the others.
    let sent: Vec<_> = signatures.iter().filter_map(|digits| decode_hex_digest(digits)).collect();
    if !any_matches(&expected, sent.iter().map(|mac| mac.as_slice())) {
        return Err(SignatureError::Mismatch);
    }
    check_timestamp(seconds, tolerance, now)
}

/// Standard Webhooks: `webhook-signature: v1,<base64>[ v1,<base64>..]` over
/// `"{webhook-id}.{webhook-timestamp}.{body}"`.
fn verify_standard(
    secret: &Secret,
    tolerance: Duration,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Result<(), SignatureError> {
    let key = standard_key(secret)?;
    let id = single_header(headers, WEBHOOK_ID)?;
    let timestamp = single_header(headers, WEBHOOK_TIMESTAMP)?;
    let signatures = single_header(headers, WEBHOOK_SIGNATURE)?;
    if id.is_empty() {
        return Err(SignatureError::malformed(WEBHOOK_ID, "it is empty"));
    }
    let seconds = parse_timestamp(WEBHOOK_TIMESTAMP, timestamp)?;
    let versioned: Vec<&str> = signatures
        .split_ascii_whitespace()
        .filter_map(|signature| signature.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .map(|(_, signature)| signature)
        .collect();
    if versioned.is_empty() {
        return Err(SignatureError::malformed(WEBHOOK_SIGNATURE, "it has no `v1,` signature"));
    }
    let expected = mac(&key, &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body])?;
    // A `v1` that is not base64 cannot match; it is no reason to reject the others.
    let sent: Vec<_> = versioned.iter().filter_map(|signature| BASE64.decode(signature).ok()).collect();
    if !any_matches(&expected, sent.iter().map(Vec::as_slice)) {
        return Err(SignatureError::Mismatch);
    }
    check_timestamp(seconds, tolerance, now)
}

// ---------------------------------------------------------------------------------------------
// Pieces

/// The value of `name`, trimmed: missing, repeated or not visible ASCII is an error.
fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, SignatureError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or_else(|| SignatureError::MissingHeader { header: name.to_owned() })?;
    if values.next().is_some() {
        return Err(SignatureError::malformed(name, "it is sent more than once"));
    }
    let value = value.to_str().map_err(|_| SignatureError::malformed(name, "it is not visible ASCII"))?.trim();
    if value.is_empty() {
        return Err(SignatureError::malformed(name, "it is empty"));
    }
    Ok(value)
}

/// A secret used as it is. `strict` (for secrets a service generates) also refuses leading or
/// trailing whitespace, a sign of a secret pasted with a newline.
fn plain_key(secret: &Secret, strict: bool) -> Result<&[u8], SignatureError> {
    let value = secret.expose();
    if value.is_empty() {
        return Err(SignatureError::invalid_secret("it is empty"));
    }
    if strict && value.trim() != value {
        return Err(SignatureError::invalid_secret("it has leading or trailing whitespace"));
    }
    Ok(value.as_bytes())
}

/// A Standard Webhooks key: `whsec_<base64>` or the bare base64, decoded.
fn standard_key(secret: &Secret) -> Result<Vec<u8>, SignatureError> {
    let value = secret.expose();
    if value.trim() != value {
        return Err(SignatureError::invalid_secret("it has leading or trailing whitespace"));
    }
    let encoded = value.strip_prefix(STANDARD_SECRET_PREFIX).unwrap_or(value);
    let key = BASE64
        .decode(encoded)
        .map_err(|_| SignatureError::invalid_secret("it is not `whsec_` followed by base64, nor base64"))?;
    if key.is_empty() {
        return Err(SignatureError::invalid_secret("it is empty"));
    }
    Ok(key)
}

/// HMAC-SHA256 of the concatenated `parts` under `key`.
fn mac(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], SignatureError> {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
        .map_err(|_| SignatureError::invalid_secret("HMAC-SHA256 cannot take it as a key"))?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().into())
}

/// Whether any of `sent` equals `expected`, each compared in constant time.
fn any_matches<'a>(expected: &[u8; 32], sent: impl IntoIterator<Item = &'a [u8]>) -> bool {
    let matched = sent.into_iter().fold(subtle::Choice::from(0), |matched, mac| matched | expected.ct_eq(mac));
    matched.into()
}

/// 64 hex digits (either case) as the 32 bytes of an HMAC-SHA256.
fn decode_hex_digest(digits: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).ok()?;
    Some(out)
}

/// A unix timestamp in seconds: ASCII digits only, as the schemes send it.
fn parse_timestamp(header: &str, text: &str) -> Result<u64, SignatureError> {
    if text.is_empty() || text.len() > MAX_TIMESTAMP_DIGITS || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(SignatureError::malformed(header, "the timestamp is not a unix time in whole seconds"));
    }
    text.parse().map_err(|_| SignatureError::malformed(header, "the timestamp is out of range"))
}

/// Whether `seconds` is within `tolerance` of `now`, either way.
fn check_timestamp(seconds: u64, tolerance: Duration, now: SystemTime) -> Result<(), SignatureError> {
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(since) => i128::from(since.as_secs()),
        Err(before) => -i128::from(before.duration().as_secs()),
    };
    let tolerance = i128::from(tolerance.as_secs());
    let age = now - i128::from(seconds);
    let saturate = |secs: i128| u64::try_from(secs).unwrap_or(u64::MAX);
    if age > tolerance {
        Err(SignatureError::Stale { age_secs: saturate(age) })
    } else if -age > tolerance {
        Err(SignatureError::FromTheFuture { ahead_secs: saturate(-age) })
    } else {
        Ok(())
    }
}

/// `now` as whole seconds since 1970, if it is after.
fn unix_seconds(now: SystemTime) -> Option<u64> {
    Some(now.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// Sets header `name` (any case) to `value`; `None` if either cannot be a header.
fn insert(headers: &mut HeaderMap, name: &str, value: &str) -> Option<()> {
    let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
    let value = HeaderValue::from_str(value).ok()?;
    headers.insert(name, value);
    Some(())
}
