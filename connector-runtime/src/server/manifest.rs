//! `GET /api/manifest` (every connector and job, with their schemas) and
//! `POST /api/connectors/{id}/check` (a connector's credential check).

use aide::transform::TransformOperation;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::connector::CheckError;
use crate::engine::Engine;
use crate::model::Manifest;

pub(super) async fn show(State(engine): State<Engine>) -> Json<Manifest> {
    Json(engine.manifest())
}

pub(super) fn show_docs(op: TransformOperation) -> TransformOperation {
    op.summary("The manifest")
        .description("Every connector (config, actions, triggers) and job, with the JSON Schema of each document.")
}

/// A connector, by its id.
#[derive(Deserialize, JsonSchema)]
pub(super) struct ConnectorPath {
    /// The connector's id.
    id: String,
}

/// What a credential check found.
#[derive(Serialize, JsonSchema)]
pub(super) struct Checked {
    /// The connector's id.
    connector: String,
    /// Whether the service accepted the credentials.
    ok: bool,
    /// Why not, in the service's words, secrets masked.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub(super) async fn check(
    State(engine): State<Engine>,
    Path(ConnectorPath { id }): Path<ConnectorPath>,
) -> Result<Json<Checked>, ApiError> {
    match engine.check(&id).await {
        Ok(()) => Ok(Json(Checked { connector: id, ok: true, error: None })),
        Err(error @ CheckError::UnknownConnector(_)) => Err(ApiError::new(StatusCode::NOT_FOUND, error.to_string())),
        Err(error @ CheckError::NoCheck { .. }) => Err(ApiError::new(StatusCode::CONFLICT, error.to_string())),
        Err(error) => Ok(Json(Checked { connector: id, ok: false, error: Some(error.to_string()) })),
    }
}

pub(super) fn check_docs(op: TransformOperation) -> TransformOperation {
    op.summary("Check a connector's credentials")
        .description("Calls the connector's credential check against its service; a refusal is `ok: false`.")
        .response_with::<404, ApiError, _>(|r| r.description("No connector has this id."))
        .response_with::<409, ApiError, _>(|r| r.description("The connector declares no credential check."))
}
