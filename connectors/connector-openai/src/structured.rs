//! Structured output typed by a Rust type: its schema made fit for OpenAI's strict mode, sent as
//! the response format, and the answer checked against it and parsed back into the type.

use connector_runtime::prelude::*;
use connector_runtime::{StepError, schema_of};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::types::{ChatMessage, Structured, StructuredOutput, StructuredRequest};

/// String formats strict mode accepts; others (schemars' `uint32`, `double`, ..) are dropped.
const STRICT_FORMATS: &[&str] = &["date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"];

impl StructuredRequest {
    /// A request whose answer must be a `T`: `T`'s JSON Schema (from its `JsonSchema` derive,
    /// doc comments included) made fit for strict mode, named `name`.
    ///
    /// `T` should be a struct (strict mode wants an object at the top); an `Option` field is
    /// sent as required and nullable, so the model answers `null` rather than leaving it out.
    pub fn of<T: JsonSchema>(model: impl Into<String>, name: impl Into<String>, messages: Vec<ChatMessage>) -> Self {
        StructuredRequest {
            model: model.into(),
            messages,
            name: name.into(),
            schema: strict_schema(schema_of::<T>()),
            temperature: None,
            max_completion_tokens: None,
        }
    }

    /// This request with a sampling temperature.
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// The body of `POST /chat/completions` for this request.
    pub(crate) fn body(&self) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": self.messages,
            "response_format": {
                "type": "json_schema",
                "json_schema": { "name": self.name, "schema": self.schema, "strict": true },
            },
        });
        if let Some(temperature) = self.temperature {
            body["temperature"] = json!(temperature);
        }
        if let Some(tokens) = self.max_completion_tokens {
            body["max_completion_tokens"] = json!(tokens);
        }
        body
    }
}

impl StructuredOutput {
    /// The answer as a `T`; an answer that does not fit is [`ActionError::InvalidOutput`].
    pub fn parse<T: DeserializeOwned>(self) -> Result<Structured<T>, ActionError> {
        let value = serde_json::from_value(self.value).map_err(|error| {
            ActionError::InvalidOutput(format!("the model's answer does not fit the type: {error}"))
        })?;
        Ok(Structured { value, id: self.id, model: self.model, usage: self.usage })
    }
}

/// Checks the model's text against the schema it was asked to fit and parses it.
pub(crate) fn checked_answer(schema: &Value, content: &str) -> Result<Value, ActionError> {
    let value: Value = serde_json::from_str(content).map_err(|error| {
        ActionError::InvalidOutput(format!("the model's answer is not JSON ({error}); was it cut short?"))
    })?;
    let validator = jsonschema::validator_for(schema).map_err(|error| {
        ActionError::InvalidInput(format!("the request's schema is not a valid JSON Schema: {error}"))
    })?;
    if let Err(error) = validator.validate(&value) {
        return Err(ActionError::InvalidOutput(format!(
            "the model's answer does not fit the schema at `{}`: {error}",
            error.instance_path()
        )));
    }
    Ok(value)
}

/// `schema` in the subset strict mode accepts: every object closed (`additionalProperties:
/// false`) with every property required, `oneOf` as `anyOf`, and no `$schema`, `default` or
/// formats strict mode does not know.
pub fn strict_schema(mut schema: Value) -> Value {
    if let Value::Object(root) = &mut schema {
        root.remove("$schema");
    }
    make_strict(&mut schema);
    schema
}

fn make_strict(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            strict_object(map);
            for value in map.values_mut() {
                make_strict(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(make_strict),
        _ => {}
    }
}

fn strict_object(map: &mut Map<String, Value>) {
    map.remove("default");
    if let Some(one_of) = map.remove("oneOf") {
        map.insert("anyOf".into(), one_of);
    }
    if map.get("format").and_then(Value::as_str).is_some_and(|format| !STRICT_FORMATS.contains(&format)) {
        map.remove("format");
    }
    if let Some(Value::Object(properties)) = map.get("properties") {
        let required: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
        map.insert("required".into(), Value::Array(required));
        map.insert("additionalProperties".into(), Value::Bool(false));
    }
}

/// The step error for an answer the action accepted that still does not parse as `T`.
pub(crate) fn parse_step<T: DeserializeOwned>(key: &str, output: StructuredOutput) -> Result<Structured<T>, StepError> {
    output.parse().map_err(|source| StepError::Action {
        key: key.to_owned(),
        connector: crate::OPENAI_ID,
        action: crate::structured_id(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Recipe {
        /// The dish.
        name: String,
        /// Minutes.
        minutes: u32,
        note: Option<String>,
        steps: Vec<Step>,
    }

    #[derive(JsonSchema)]
    #[allow(dead_code)]
    struct Step {
        text: String,
    }

    #[test]
    fn every_object_is_closed_and_every_property_required() {
        let schema = strict_schema(schema_of::<Recipe>());
        assert_eq!(schema.get("$schema"), None);
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(schema["required"], json!(["minutes", "name", "note", "steps"]));
        assert_eq!(schema["properties"]["minutes"].get("format"), None, "uint32 is not a strict format");
        assert_eq!(schema["properties"]["note"]["type"], json!(["string", "null"]));
        assert_eq!(schema["$defs"]["Step"]["additionalProperties"], json!(false));
        assert_eq!(schema["$defs"]["Step"]["required"], json!(["text"]));
    }

    #[test]
    fn answers_are_checked_against_the_schema() {
        let schema = strict_schema(schema_of::<Recipe>());
        let good = r#"{"name":"soup","minutes":20,"note":null,"steps":[{"text":"boil"}]}"#;
        assert!(checked_answer(&schema, good).is_ok());
        let wrong = r#"{"name":"soup","minutes":"twenty","note":null,"steps":[]}"#;
        assert!(
            matches!(checked_answer(&schema, wrong), Err(ActionError::InvalidOutput(message)) if message.contains("/minutes"))
        );
        assert!(matches!(checked_answer(&schema, r#"{"name":"so"#), Err(ActionError::InvalidOutput(_))));
    }
}
