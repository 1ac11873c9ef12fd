//! `POST /api/tokens/{token}/complete`: completes the token a run waits for; the body is the
//! payload the run resumes with.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::body::JsonBody;
use super::error::ApiError;
use crate::engine::{Engine, EngineError};
use crate::model::payload::parse_payload;

pub(super) async fn complete(
    State(engine): State<Engine>,
    Path(token): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let payload: Value = parse_payload(&body).map_err(ApiError::unprocessable)?;
    match engine.complete_token(&token, payload).await {
        Ok(()) => Ok(Json(json!({ "token": token, "completed": true }))),
        Err(error @ EngineError::TokenNotFound(_)) => Err(ApiError::new(StatusCode::NOT_FOUND, error.to_string())),
        Err(error @ EngineError::TokenClosed { .. }) => Err(ApiError::new(StatusCode::CONFLICT, error.to_string())),
        Err(EngineError::TokenPayload { error, .. }) => Err(ApiError::unprocessable(error)),
        Err(other) => Err(other.into()),
    }
}
