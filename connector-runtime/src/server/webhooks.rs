//! `POST /webhooks/{connector}/{trigger}`: a connector trigger's webhook, authenticated by the
//! trigger's signature scheme (not the API key).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::body::JsonBody;
use super::error::ApiError;
use super::receipt;
use crate::engine::Engine;

pub(super) async fn receive(
    State(engine): State<Engine>,
    Path((connector, trigger)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    Ok(receipt(engine.accept_webhook(&connector, &trigger, &headers, body).await?))
}
