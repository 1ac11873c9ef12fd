//! `GET /api/runs` (`?status=failed,running&job=..&since=..&until=..&id=..&limit=..&before=..`),
//! `GET /api/runs/{id}`,
//! `GET /api/runs/{id}/logs`, and `POST /api/runs/{id}/cancel`.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiError;
use crate::engine::{Engine, EngineError};
use crate::model::{Run, RunId, RunLog, RunStatus, UnknownStatus};
use crate::store::RunFilter;

/// The most runs one page holds.
const MAX_PAGE: usize = 500;

#[derive(Deserialize)]
pub(super) struct RunsQuery {
    /// Statuses, comma-separated.
    status: Option<String>,
    job: Option<String>,
    limit: Option<usize>,
    /// The `next` of the previous page.
    before: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    /// The start of a run's id.
    id: Option<String>,
}

/// A page of runs, newest first; `next` (when the page is full) asks for the one after it.
pub(super) async fn list(
    State(engine): State<Engine>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "query: `limit` is a number; `since` and `until` are RFC 3339 times (2026-12-01T10:00:00Z)",
        )
    })?;
    let statuses = match &query.status {
        Some(list) => list.split(',').filter(|s| !s.trim().is_empty()).map(parse_status).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let filter = RunFilter {
        job_id: query.job,
        statuses,
        limit: Some(limit),
        before: query.before.map(|id| RunId::from(id.as_str())),
        created_after: query.since,
        created_before: query.until,
        id_prefix: query.id.filter(|prefix| !prefix.is_empty()),
    };
    let runs = engine.runs(&filter).await?;
    let next = (runs.len() == limit).then(|| runs.last().map(|run| run.id.to_string())).flatten();
    Ok(Json(json!({ "runs": runs, "next": next })))
}

fn parse_status(text: &str) -> Result<RunStatus, ApiError> {
    text.trim()
        .parse()
        .map_err(|error: UnknownStatus| ApiError::new(StatusCode::BAD_REQUEST, format!("query: {error}")))
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
