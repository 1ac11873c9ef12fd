//! `GET /api/runs` (`?status=failed&job=..&limit=..`), `GET /api/runs/{id}`,
//! `GET /api/runs/{id}/logs`, and `POST /api/runs/{id}/cancel`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::engine::{Engine, EngineError};
use crate::model::{Run, RunId, RunLog, RunStatus};
use crate::store::RunFilter;

#[derive(Deserialize)]
pub(super) struct RunsQuery {
    status: Option<RunStatus>,
    job: Option<String>,
    limit: Option<usize>,
}

pub(super) async fn list(
    State(engine): State<Engine>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "query: `status` is one of queued, running, waiting, succeeded, failed; `limit` a number",
        )
    })?;
    let filter = RunFilter {
        job_id: query.job,
        statuses: query.status.into_iter().collect(),
        limit: Some(query.limit.unwrap_or(100)),
    };
    Ok(Json(json!({ "runs": engine.runs(&filter).await? })))
}

pub(super) async fn show(State(engine): State<Engine>, Path(id): Path<String>) -> Result<Json<Run>, ApiError> {
    match engine.run(&RunId::from(id.as_str())).await? {
        Some(run) => Ok(Json(run)),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no run with id `{id}`"))),
    }
}

pub(super) async fn logs(State(engine): State<Engine>, Path(id): Path<String>) -> Result<Json<RunLog>, ApiError> {
    let id = RunId::from(id.as_str());
    if engine.run(&id).await?.is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no run with id `{id}`")));
    }
    Ok(Json(engine.logs(&id).await?))
}

pub(super) async fn cancel(State(engine): State<Engine>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    match engine.cancel(&RunId::from(id.as_str())).await {
        Ok(status) => Ok(Json(json!({ "id": id, "status": status }))),
        Err(error @ EngineError::NotCancellable { .. }) => Err(ApiError::new(StatusCode::CONFLICT, error.to_string())),
        Err(other) => Err(other.into()),
    }
}
