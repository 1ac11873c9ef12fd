//! [`ApiError`]: every error answer the server gives, as `{"error": .., "path": ..}` with its status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::engine::{DeliveryError, EngineError};

/// An error answer: a status and a message, and for a payload that does not fit, the path of
/// the field that does not.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    path: Option<String>,
}

impl ApiError {
    /// An answer with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), path: None }
    }

    /// This answer, naming the field at `path`.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// 401 with `message`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 422 for a document that does not fit its type.
    pub fn unprocessable(error: crate::model::PayloadError) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error.message).at(error.path)
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(path) = self.path {
            body["path"] = Value::String(path);
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<DeliveryError> for ApiError {
    fn from(failure: DeliveryError) -> Self {
        match failure {
            DeliveryError::NotFound(message) => ApiError::new(StatusCode::NOT_FOUND, message),
            DeliveryError::Signature(why) => ApiError::unauthorized(why.to_string()),
            DeliveryError::InvalidPayload(error) => ApiError::unprocessable(error),
            DeliveryError::Trigger(why) => ApiError::new(StatusCode::BAD_GATEWAY, format!("the trigger failed: {why}")),
            other => {
                tracing::error!(error = %other, "could not accept a delivery");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the delivery could not be recorded; send it again")
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(failure: EngineError) -> Self {
        match failure {
            EngineError::RunNotFound(_) => ApiError::new(StatusCode::NOT_FOUND, failure.to_string()),
            other => {
                tracing::error!(error = %other, "the engine failed on an API request");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, other.to_string())
            }
        }
    }
}
