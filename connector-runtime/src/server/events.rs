//! `POST /api/events`: `{"name": .., "payload": .., "id": ..}` sends an event by name.

use aide::transform::TransformOperation;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::body::JsonBody;
use super::error::ApiError;
use super::receipt;
use crate::engine::{DeliveryError, Engine, Receipt};
use crate::model::payload::parse_payload;

/// An event to send.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EventRequest {
    /// The event's name (`manual.send.message`).
    name: String,
    /// The event's payload; it must fit the event's type.
    payload: Value,
    /// The delivery's id: an event sent again with the same id starts nothing new.
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

pub(super) fn send_docs(op: TransformOperation) -> TransformOperation {
    op.summary("Send an event")
        .description("Starts the runs of every job the event starts; the runs are recorded before the answer.")
        .input::<Json<EventRequest>>()
        .response_with::<202, Json<Receipt>, _>(|r| r.description("Accepted: the runs it started."))
        .response_with::<200, Json<Receipt>, _>(|r| {
            r.description("A delivery with this id was accepted before: the runs it started, nothing new.")
        })
        .response_with::<404, ApiError, _>(|r| r.description("No job is started by an event of this name."))
        .response_with::<415, ApiError, _>(|r| r.description("The body is not declared as JSON."))
        .response_with::<422, ApiError, _>(|r| r.description("The request or its payload does not fit its type."))
}
