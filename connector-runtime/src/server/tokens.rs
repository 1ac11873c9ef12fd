//! `POST /api/tokens/{token}/complete`: completes the token a run waits for; the body is the
//! payload the run resumes with.

use aide::transform::TransformOperation;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::body::JsonBody;
use super::error::ApiError;
use crate::engine::{Engine, EngineError};
use crate::model::payload::parse_payload;

/// A token, by its id.
#[derive(Deserialize, JsonSchema)]
pub(super) struct TokenPath {
    /// The token: `{run id}:{step key}` of the step that waits for it.
    token: String,
}

/// A completed token.
#[derive(Serialize, JsonSchema)]
pub(super) struct Completed {
    /// The token.
    token: String,
    /// Always `true`.
    completed: bool,
}

pub(super) async fn complete(
    State(engine): State<Engine>,
    Path(TokenPath { token }): Path<TokenPath>,
    JsonBody(body): JsonBody,
) -> Result<Json<Completed>, ApiError> {
    let payload: Value = parse_payload(&body).map_err(ApiError::unprocessable)?;
    match engine.complete_token(&token, payload).await {
        Ok(()) => Ok(Json(Completed { token, completed: true })),
        Err(error @ EngineError::TokenNotFound(_)) => Err(ApiError::new(StatusCode::NOT_FOUND, error.to_string())),
        Err(error @ EngineError::TokenClosed { .. }) => Err(ApiError::new(StatusCode::CONFLICT, error.to_string())),
        Err(EngineError::TokenPayload { error, .. }) => Err(ApiError::unprocessable(error)),
        Err(other) => Err(other.into()),
    }
}

pub(super) fn complete_docs(op: TransformOperation) -> TransformOperation {
    op.summary("Complete a token")
        .description("The body is the payload the waiting run resumes with; it must fit the type the run waits for.")
        .input::<Json<Value>>()
        .response_with::<404, ApiError, _>(|r| r.description("No run waits for this token."))
        .response_with::<409, ApiError, _>(|r| r.description("The token was completed already or timed out."))
        .response_with::<415, ApiError, _>(|r| r.description("The body is not declared as JSON."))
        .response_with::<422, ApiError, _>(|r| r.description("The payload does not fit the token's type."))
}
