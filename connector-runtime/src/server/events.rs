//! `POST /api/events`: `{"name": .., "payload": .., "id": ..}` sends an event by name.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::body::JsonBody;
use super::error::ApiError;
use super::receipt;
use crate::engine::{DeliveryError, Engine};
use crate::model::payload::parse_payload;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRequest {
    name: String,
    payload: Value,
    #[serde(default)]
    id: Option<String>,
}

pub(super) async fn send(State(engine): State<Engine>, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let request: EventRequest = parse_payload(&body).map_err(ApiError::unprocessable)?;
    match engine.accept_event(&request.name, request.payload, request.id).await {
        Ok(accepted) => Ok(receipt(accepted)),
        // The path is within the request document, where the payload is a field.
        Err(DeliveryError::InvalidPayload(mut error)) => {
            error.path = format!("payload.{}", error.path);
            Err(ApiError::unprocessable(error))
        }
        Err(failure) => Err(failure.into()),
    }
}
