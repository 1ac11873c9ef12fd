//! [`ApiError`]: every error answer the server gives, as `{"error": .., "path": ..}`
//! ([`ErrorBody`]) with its status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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

/// The body of every error answer: what went wrong, and for a document that does not fit its
/// type, where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorBody {
    /// What went wrong, in a sentence.
    pub error: String,
    /// For a payload that does not fit its type: the path of the field that does not
    /// (`payload.channel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody { error: self.message, path: self.path })).into_response()
    }
}

// Documented as the default answer of every operation (any status not listed), with the
// statuses an operation is known to answer listed on the operation itself.
impl aide::OperationOutput for ApiError {
    type Inner = ErrorBody;

    fn operation_response(
        ctx: &mut aide::generate::GenContext,
        operation: &mut aide::openapi::Operation,
    ) -> Option<aide::openapi::Response> {
        let mut response = Json::<ErrorBody>::operation_response(ctx, operation)?;
        response.description = "An error: what went wrong, and where for a document that does not fit.".into();
        Some(response)
    }

    fn inferred_responses(
        ctx: &mut aide::generate::GenContext,
        operation: &mut aide::openapi::Operation,
    ) -> Vec<(Option<aide::openapi::StatusCode>, aide::openapi::Response)> {
        Self::operation_response(ctx, operation).map(|response| vec![(None, response)]).unwrap_or_default()
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
