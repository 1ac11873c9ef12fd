//! [`Secret`]: a string that never shows its value by accident.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a [`Secret`] prints and serializes as, wherever it would otherwise show its value.
pub const REDACTED: &str = "[redacted]";

/// A credential (API key, token, password) in a connector's config.
///
/// `Debug`, `Display` and `Serialize` all print [`REDACTED`], so a secret that slips into a log line,
/// an error message, a manifest or a stored run shows no value. The only way to the value is
/// [`Secret::expose`], which reads as what it is at the call site.
///
/// In a config type's JSON Schema a secret is a string marked `"writeOnly": true`.
///
/// ```
/// use connector_runtime::Secret;
///
/// let key = Secret::new("sk_live_123");
/// assert_eq!(format!("{key:?} {key}"), "[redacted] [redacted]");
/// assert_eq!(serde_json::to_string(&key).unwrap(), r#""[redacted]""#);
/// assert_eq!(key.expose(), "sk_live_123");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a value; from now on [`redact`] masks it in any text.
    pub fn new(value: impl Into<String>) -> Self {
        let value: Arc<str> = Arc::from(value.into());
        remember_shared(&value);
        Secret(value)
    }

    /// Reads the secret from the environment variable `name`.
    pub fn from_env(name: &str) -> Result<Self, super::config::ConfigError> {
        match std::env::var(name) {
            Ok(value) if !value.is_empty() => Ok(Secret::new(value)),
            _ => Err(super::config::ConfigError::MissingEnv { var: name.to_owned() }),
        }
    }

    /// The value itself: use it only where it leaves the process for its service (a header, a body).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Secrets shorter than this are not masked in free text: masking every `"a"` would garble
/// messages and protect nothing.
const MIN_REDACTED_LEN: usize = 6;

/// How many secret values are remembered for masking (the oldest are forgotten first).
const MAX_REMEMBERED: usize = 4096;

/// The secret values known to this process: in the order they were learnt (the oldest goes
/// first when the list is full), and longest first, the order [`redact`] masks them in, so a
/// secret that contains another is masked whole.
#[derive(Default)]
struct Known {
    learnt: VecDeque<Arc<str>>,
    longest_first: Vec<Arc<str>>,
}

fn remembered() -> &'static Mutex<Known> {
    static KNOWN: OnceLock<Mutex<Known>> = OnceLock::new();
    KNOWN.get_or_init(Mutex::default)
}

fn remember_shared(value: &Arc<str>) {
    if value.len() < MIN_REDACTED_LEN {
        return;
    }
    let mut known = remembered().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // The forms a service may echo the value in: as it is, JSON-escaped, URL-encoded.
    let json = serde_json::to_string(&**value).ok().map(|quoted| quoted[1..quoted.len() - 1].to_owned());
    let forms = [Some(Arc::clone(value)), json.map(Arc::from), Some(Arc::from(url_encoded(value)))];
    let mut changed = false;
    for form in forms.into_iter().flatten() {
        if known.learnt.iter().any(|existing| **existing == *form) {
            continue;
        }
        if known.learnt.len() == MAX_REMEMBERED {
            known.learnt.pop_front();
        }
        known.learnt.push_back(form);
        changed = true;
    }
    if changed {
        let mut longest_first: Vec<Arc<str>> = known.learnt.iter().cloned().collect();
        longest_first.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        known.longest_first = longest_first;
    }
}

/// `value` percent-encoded as a query or form value would carry it.
fn url_encoded(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Remembers a credential that never was a [`Secret`] (a token a service issued), so
/// [`redact`] masks it too.
pub(crate) fn remember(value: &str) {
    remember_shared(&Arc::from(value));
}

/// `text` with every known secret value replaced by [`REDACTED`]. The engine passes error
/// messages (the service's own words included), stored step and run errors, and the logger's
/// lines through it, so a secret that comes back inside an upstream error body is masked too.
pub fn redact(text: &str) -> Cow<'_, str> {
    let known = remembered().lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut text = Cow::Borrowed(text);
    for secret in &known.longest_first {
        if text.contains(&**secret) {
            text = Cow::Owned(text.replace(&**secret, REDACTED));
        }
    }
    text
}

/// `message` as text with every known secret masked ([`redact`] of its `Display`): what the
/// engine stores and shows of an error or a log line.
pub(crate) fn masked(message: impl fmt::Display) -> String {
    redact(&message.to_string()).into_owned()
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if EXPOSED.get() { serializer.serialize_str(&self.0) } else { serializer.serialize_str(REDACTED) }
    }
}

std::thread_local! {
    /// Set while [`with_secrets_exposed`] runs: secrets then serialize as their values.
    static EXPOSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `serialize` with every [`Secret`] serializing as its value instead of `[redacted]`: for
/// the copy of a step's input that stays in memory and reaches the action, never for what is
/// stored or logged. Serialization is synchronous, so the flag never spans an `.await`.
pub(crate) fn with_secrets_exposed<T>(serialize: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            EXPOSED.set(self.0);
        }
    }
    let _reset = Reset(EXPOSED.replace(true));
    serialize()
}

/// `recorded` with each `[redacted]` string replaced by what `live` holds at the same place: a
/// step's input as first recorded (so a resumed step sends what the first sent), with the
/// secrets this execution has.
pub(crate) fn unseal(recorded: &serde_json::Value, live: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match (recorded, live) {
        (Value::String(text), Value::String(_)) if text == REDACTED => live.clone(),
        (Value::Object(recorded), Value::Object(live)) => Value::Object(
            recorded
                .iter()
                .map(|(name, value)| {
                    let value = live.get(name).map_or_else(|| value.clone(), |live| unseal(value, live));
                    (name.clone(), value)
                })
                .collect(),
        ),
        (Value::Array(recorded), Value::Array(live)) => Value::Array(
            recorded
                .iter()
                .enumerate()
                .map(|(i, value)| live.get(i).map_or_else(|| value.clone(), |live| unseal(value, live)))
                .collect(),
        ),
        _ => recorded.clone(),
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> Cow<'static, str> {
        "Secret".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "writeOnly": true })
    }
}
