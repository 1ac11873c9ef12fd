//! [`PayloadError`]: the one way a JSON value fails to fit a Rust type (a webhook body, an event
//! sent by name, an action's input called by id), naming the path of the first field that does not.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// A JSON document that does not fit the type it is meant for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at `{path}`)")]
pub struct PayloadError {
    /// Where in the document (`.` for the whole document, `message.channel`, `items[2].id`).
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

/// Parses JSON into `T`, naming the path of the first field that does not fit.
pub fn parse_payload<T: DeserializeOwned>(body: &[u8]) -> Result<T, PayloadError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    deserializer.end().map_err(|error| PayloadError { path: ".".into(), message: error.to_string() })?;
    Ok(value)
}

/// Checks a JSON value fits `T`, naming the path of the first field that does not.
pub fn check_value<T: DeserializeOwned>(value: &Value) -> Result<T, PayloadError> {
    serde_path_to_error::deserialize(value).map_err(path_error)
}

fn path_error<E: std::fmt::Display>(error: serde_path_to_error::Error<E>) -> PayloadError {
    PayloadError { path: error.path().to_string(), message: error.inner().to_string() }
}
