//! [`PayloadError`]: the one way a JSON value fails to fit a Rust type (a webhook body, an event
//! sent by name, an action's input called by id, a token's payload), naming the path of the
//! first field that does not.
//!
//! A value fits when serde can read it into the type *and* it meets the constraints the type's
//! JSON Schema declares (`#[schemars(range(min = 1))]`, `length`, `regex`, `email`, ..): the
//! same schema the manifest shows, so what a caller reads there is what is enforced. The schema
//! of each type is compiled once per process.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use jsonschema::paths::LocationSegment;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::manifest::schema_of;

/// A JSON document that does not fit the type it is meant for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at `{path}`)")]
pub struct PayloadError {
    /// Where in the document (`.` for the whole document, `message.channel`, `items[2].id`).
    pub path: String,
    /// What is wrong there: serde's complaint, or the schema rule it breaks
    /// (`0 is less than the minimum of 1 (rule `minimum`)`).
    pub message: String,
}

/// Parses JSON into `T` with serde alone, naming the path of the first field that does not fit.
/// For documents whose type declares no constraints (the API's own request bodies).
pub fn parse_payload<T: DeserializeOwned>(body: &[u8]) -> Result<T, PayloadError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    deserializer.end().map_err(|error| PayloadError { path: ".".into(), message: error.to_string() })?;
    Ok(value)
}

/// Parses untrusted JSON into `T`: it must fit the type and meet its schema's constraints.
pub fn parse_checked<T: DeserializeOwned + JsonSchema + 'static>(body: &[u8]) -> Result<T, PayloadError> {
    let Some(validator) = validator::<T>() else {
        // Nothing beyond serde's checks: read the bytes straight into the type.
        return parse_payload(body);
    };
    let value: Value = parse_payload(body)?;
    let read = serde_path_to_error::deserialize(&value).map_err(path_error)?;
    meets(&validator, &value)?;
    Ok(read)
}

/// Checks untrusted JSON fits `T` and meets its schema's constraints, and reads it.
///
/// Serde reads it first, so a value of the wrong shape gets serde's message (`invalid type:
/// string "x", expected u64`); a value of the right shape that breaks a rule gets the rule.
pub fn check_value<T: DeserializeOwned + JsonSchema + 'static>(value: &Value) -> Result<T, PayloadError> {
    let read = serde_path_to_error::deserialize(value).map_err(path_error)?;
    check_constraints::<T>(value)?;
    Ok(read)
}

/// Checks JSON meets the constraints of `T`'s schema, without reading it: for a value made
/// from a `T` in this process (the compiler checked its shape, not its ranges).
pub fn check_constraints<T: JsonSchema + ?Sized + 'static>(value: &Value) -> Result<(), PayloadError> {
    match validator::<T>() {
        Some(validator) => meets(&validator, value),
        None => Ok(()),
    }
}

/// `value` against a compiled schema: the first rule it breaks, with its path.
fn meets(validator: &jsonschema::Validator, value: &Value) -> Result<(), PayloadError> {
    validator.validate(value).map_err(|error| PayloadError {
        path: dotted(error.instance_path().iter()),
        message: format!("{error} (rule `{}`)", error.kind().keyword()),
    })
}

/// The compiled schema of `T`, once per process; `None` when it declares nothing serde does not
/// check already (most types: then nothing is compiled or run), or when it does not compile (a
/// hand-written `JsonSchema` impl gone wrong), which is logged once and checks nothing.
fn validator<T: JsonSchema + ?Sized + 'static>() -> Option<Arc<jsonschema::Validator>> {
    type Validators = RwLock<HashMap<TypeId, Option<Arc<jsonschema::Validator>>>>;
    static VALIDATORS: OnceLock<Validators> = OnceLock::new();
    let validators = VALIDATORS.get_or_init(Validators::default);
    let id = TypeId::of::<T>();
    if let Some(found) = validators.read().unwrap_or_else(|poisoned| poisoned.into_inner()).get(&id) {
        return found.clone();
    }
    let schema = schema_of::<T>();
    let compiled = match jsonschema::options().should_validate_formats(true).build(&schema) {
        Ok(_) if !constrained(&schema) => None,
        Ok(validator) => Some(Arc::new(validator)),
        Err(error) => {
            tracing::error!(r#type = %T::schema_name(), %error, "the type's JSON Schema does not compile; its constraints are not checked");
            None
        }
    };
    let mut validators = validators.write().unwrap_or_else(|poisoned| poisoned.into_inner());
    validators.entry(id).or_insert(compiled).clone()
}

/// Whether a schema declares a rule serde does not check when it reads the type: a range, a
/// length, a pattern, a format with a meaning (`email`, `uri`, `date-time`, ..). The bounds and
/// formats schemars gives Rust's integer types (`minimum: 0`, `format: uint32`) are serde's own.
fn constrained(schema: &Value) -> bool {
    const RULES: &[&str] = &[
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "patternProperties",
        "propertyNames",
        "minItems",
        "maxItems",
        "uniqueItems",
        "contains",
        "minProperties",
        "maxProperties",
        "dependentRequired",
        "const",
        "not",
        "if",
    ];
    const FORMATS: &[&str] = &[
        "email",
        "idn-email",
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uuid",
        "date",
        "time",
        "date-time",
        "duration",
        "regex",
        "json-pointer",
        "relative-json-pointer",
        "uri-template",
    ];
    match schema {
        Value::Object(object) => {
            let (natural_min, natural_max) = integer_bounds(object.get("format").and_then(Value::as_str));
            let beyond = |key: &str, natural: Option<f64>| {
                object.get(key).and_then(Value::as_f64).is_some_and(|bound| Some(bound) != natural)
            };
            let bounded = beyond("minimum", natural_min) || beyond("maximum", natural_max);
            let format = object.get("format").and_then(Value::as_str).is_some_and(|format| FORMATS.contains(&format));
            bounded || format || RULES.iter().any(|rule| object.contains_key(*rule)) || object.values().any(constrained)
        }
        Value::Array(items) => items.iter().any(constrained),
        _ => false,
    }
}

/// The bounds schemars writes for a Rust integer type's `format`, which serde enforces itself.
fn integer_bounds(format: Option<&str>) -> (Option<f64>, Option<f64>) {
    match format {
        Some("uint8") => (Some(0.0), Some(f64::from(u8::MAX))),
        Some("uint16") => (Some(0.0), Some(f64::from(u16::MAX))),
        Some("uint32" | "uint64" | "uint128" | "uint") => (Some(0.0), None),
        Some("int8") => (Some(f64::from(i8::MIN)), Some(f64::from(i8::MAX))),
        Some("int16") => (Some(f64::from(i16::MIN)), Some(f64::from(i16::MAX))),
        _ => (None, None),
    }
}

/// `/items/2/id` as `items[2].id`, the form serde's paths take; `.` for the whole document.
fn dotted<'a>(segments: impl Iterator<Item = LocationSegment<'a>>) -> String {
    let mut path = String::new();
    for segment in segments {
        match segment {
            LocationSegment::Index(index) => path.push_str(&format!("[{index}]")),
            LocationSegment::Property(name) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&name);
            }
        }
    }
    if path.is_empty() { ".".to_owned() } else { path }
}

fn path_error<E: std::fmt::Display>(error: serde_path_to_error::Error<E>) -> PayloadError {
    PayloadError { path: error.path().to_string(), message: error.inner().to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, JsonSchema)]
    struct Order {
        #[schemars(range(min = 1))]
        quantity: u32,
        #[schemars(length(min = 1, max = 8))]
        lines: Vec<Line>,
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    struct Line {
        #[schemars(email)]
        contact: String,
    }

    #[test]
    fn constraints_are_checked_with_the_path_and_the_rule() {
        let error = check_value::<Order>(&json!({"quantity": 0, "lines": [{"contact": "a@b.example"}]})).unwrap_err();
        assert_eq!(error.path, "quantity");
        assert!(error.message.contains("minimum"), "{error}");

        let error =
            check_value::<Order>(&json!({"quantity": 1, "lines": [{"contact": "a@b.example"}, {"contact": "nope"}]}))
                .unwrap_err();
        assert_eq!(error.path, "lines[1].contact");
        assert!(error.message.contains("format"), "{error}");

        let error = check_value::<Order>(&json!({"quantity": 1, "lines": []})).unwrap_err();
        assert_eq!(error.path, "lines");

        let order = check_value::<Order>(&json!({"quantity": 2, "lines": [{"contact": "a@b.example"}]})).unwrap();
        assert_eq!((order.quantity, order.lines[0].contact.as_str()), (2, "a@b.example"));
    }

    #[derive(Debug, Deserialize, JsonSchema)]
    #[allow(dead_code)]
    struct Plain {
        count: u32,
        small: u8,
        signed: i16,
        name: String,
        tags: Vec<String>,
    }

    #[test]
    fn only_types_with_rules_serde_does_not_check_are_validated() {
        assert!(validator::<Plain>().is_none(), "integer bounds are serde's own");
        assert!(validator::<Order>().is_some());
        #[derive(Deserialize, JsonSchema)]
        struct Small {
            #[schemars(range(max = 10))]
            _n: u8,
        }
        assert!(validator::<Small>().is_some(), "a range inside the type's own bounds is a rule");
        assert!(parse_checked::<Plain>(br#"{"count": 1, "small": 2, "signed": -3, "name": "a", "tags": []}"#).is_ok());
        let error =
            parse_checked::<Plain>(br#"{"count": -1, "small": 2, "signed": -3, "name": "a", "tags": []}"#).unwrap_err();
        assert_eq!(error.path, "count");
    }

    #[test]
    fn a_wrong_shape_gets_serdes_message() {
        let error = check_value::<Order>(&json!({"quantity": "two", "lines": []})).unwrap_err();
        assert_eq!(error.path, "quantity");
        assert!(error.message.contains("invalid type"), "{error}");
    }
}
