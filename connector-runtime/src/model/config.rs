//! Loading a connector's config from environment variables, driven by the config type's schema.

use serde_json::{Map, Value};

use super::bounds::ConnectorConfig;
use super::manifest::schema_of;

/// Why a connector's config could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required environment variable is not set (or is empty).
    #[error("environment variable `{var}` is not set")]
    MissingEnv {
        /// The variable's name.
        var: String,
    },
    /// The values found do not make a valid config.
    #[error("invalid config from environment variables `{prefix}_*`: {reason}")]
    Invalid {
        /// The variables' common prefix.
        prefix: String,
        /// What serde said is wrong (never a value).
        reason: String,
    },
}

/// Builds a config of type `C` from the environment variables named `{PREFIX}_{FIELD}`.
///
/// The field names come from `C`'s JSON Schema, so serde renames apply: a field serialized as
/// `apiKey` is read from `{PREFIX}_API_KEY`. String fields take the variable as it is; other
/// fields parse it as JSON (`8080`, `true`, `["a","b"]`). Unset variables are left out, so
/// serde defaults and `Option` fields work as usual.
///
/// ```
/// # use connector_runtime::{Secret, config_from_env};
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// #[serde(rename_all = "camelCase")]
/// struct Config { api_key: Secret, base_url: String }
///
/// // SAFETY: single-threaded doctest.
/// unsafe {
///     std::env::set_var("DOC_CHAT_API_KEY", "k");
///     std::env::set_var("DOC_CHAT_BASE_URL", "http://127.0.0.1:1");
/// }
/// let config: Config = config_from_env("DOC_CHAT").unwrap();
/// assert_eq!(config.api_key.expose(), "k");
/// ```
pub fn config_from_env<C: ConnectorConfig>(prefix: &str) -> Result<C, ConfigError> {
    config_from_vars(prefix, |name| std::env::var(name).ok())
}

/// [`config_from_env`] reading the variables through `var` (a test's map, a secrets manager):
/// `var("SIMPLE_CHAT_API_KEY")` is the value of that variable, or `None` if it is unset.
///
/// ```
/// # use connector_runtime::{Secret, config_from_vars};
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// #[serde(rename_all = "camelCase")]
/// struct Config { api_key: Secret, port: Option<u16> }
///
/// let config: Config = config_from_vars("CHAT", |name| (name == "CHAT_API_KEY").then(|| "0123".to_owned())).unwrap();
/// assert_eq!(config.api_key.expose(), "0123", "a string field takes the text as it is");
/// assert_eq!(config.port, None);
/// ```
pub fn config_from_vars<C: ConnectorConfig>(
    prefix: &str,
    var: impl Fn(&str) -> Option<String>,
) -> Result<C, ConfigError> {
    let schema = schema_of::<C>();
    let mut fields = Map::new();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let Some(raw) = var(&name_of(prefix, name)) else {
                continue;
            };
            fields.insert(name.clone(), env_value(property, raw));
        }
    }
    serde_json::from_value(Value::Object(fields)).map_err(|error| ConfigError::Invalid {
        prefix: prefix.to_owned(),
        // serde_json's messages name the field and the expected type; values only appear for
        // non-string mismatches, and secrets are strings, so no secret reaches this message.
        reason: error.to_string(),
    })
}

fn name_of(prefix: &str, field: &str) -> String {
    format!("{prefix}_{}", screaming_snake(field))
}

/// A string field (`String`, `Secret`, `Option<Secret>`: `"string"` or `["string", "null"]`)
/// takes the text as it is, so a secret like `0123` or `true` stays the text it is; other fields
/// parse it as JSON.
fn env_value(property: &Value, raw: String) -> Value {
    let is_string = match property.get("type") {
        Some(Value::String(kind)) => kind == "string",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "string"),
        _ => false,
    };
    if is_string {
        return Value::String(raw);
    }
    serde_json::from_str(&raw).unwrap_or(Value::String(raw))
}

/// `apiKey` -> `API_KEY`, `base_url` -> `BASE_URL`.
fn screaming_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c == '-' || c == '.' || c == '_' {
            out.push('_');
            previous_lower = false;
        } else if c.is_uppercase() && previous_lower {
            out.push('_');
            out.extend(c.to_uppercase());
            previous_lower = false;
        } else {
            previous_lower = c.is_lowercase() || c.is_ascii_digit();
            out.extend(c.to_uppercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::screaming_snake;

    #[test]
    fn field_names_become_env_names() {
        assert_eq!(screaming_snake("apiKey"), "API_KEY");
        assert_eq!(screaming_snake("base_url"), "BASE_URL");
        assert_eq!(screaming_snake("oauth2ClientId"), "OAUTH2_CLIENT_ID");
        assert_eq!(screaming_snake("x-token"), "X_TOKEN");
    }
}
