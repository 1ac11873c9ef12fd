//! The runs: `GET /api/runs` (a page, filtered by status, job, time, id prefix or delivery),
//! `GET /api/runs/{id}` (one, with its steps), `GET /api/runs/{id}/logs`, and what can be done
//! to one: `POST /api/runs/{id}/cancel`, `/resume` (retry from the failed step) and `/replay`
//! (a new run with the same payload).

use aide::transform::TransformOperation;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use crate::engine::{Engine, EngineError};
use crate::model::{Run, RunId, RunLog, RunStatus, UnknownStatus};
use crate::store::RunFilter;

/// The most runs one page holds.
const MAX_PAGE: usize = 500;

/// Which runs to list.
#[derive(Deserialize, JsonSchema)]
pub(super) struct RunsQuery {
    /// Statuses, comma-separated (`failed,running`); any status when absent.
    status: Option<String>,
    /// Only runs of this job.
    job: Option<String>,
    /// How many runs a page holds (1 to 500, default 100).
    limit: Option<usize>,
    /// The `next` of the previous page: runs older than this one.
    before: Option<String>,
    /// Only runs created at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// Only runs created before this time (RFC 3339).
    until: Option<DateTime<Utc>>,
    /// Only runs whose id starts with this.
    id: Option<String>,
    /// Only runs a delivery with this id started: an event's `id`, a webhook's delivery id
    /// (the idempotency key the sender chose).
    delivery: Option<String>,
}

/// A page of runs, newest first, without their steps.
#[derive(Serialize, JsonSchema)]
pub(super) struct RunsPage {
    /// The runs.
    runs: Vec<Run>,
    /// When the page is full: the `before` that asks for the next one.
    next: Option<String>,
}

/// A run, by its id.
#[derive(Deserialize, JsonSchema)]
pub(super) struct RunPath {
    /// The run's id.
    id: String,
}

impl RunPath {
    fn run(&self) -> RunId {
        RunId::from(self.id.as_str())
    }
}

/// A run after an action: its id and its status now.
#[derive(Serialize, JsonSchema)]
pub(super) struct RunState {
    /// The run's id.
    id: RunId,
    /// Its status after the action.
    status: RunStatus,
}

/// The new run a replay started.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Replayed {
    /// The new run's id.
    id: RunId,
    /// The run it replays.
    replay_of: RunId,
}

pub(super) async fn list(
    State(engine): State<Engine>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> Result<Json<RunsPage>, ApiError> {
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
        delivery_id: query.delivery.filter(|delivery| !delivery.is_empty()),
    };
    let runs = engine.runs(&filter).await?;
    let next = filter.next_page(&runs).map(|id| id.to_string());
    Ok(Json(RunsPage { runs, next }))
}

pub(super) fn list_docs(op: TransformOperation) -> TransformOperation {
    op.summary("List runs")
        .description("A page of runs, newest first, without their steps; `next` asks for the page after it.")
        .response_with::<400, ApiError, _>(|r| r.description("A query that does not parse (a status, a time)."))
}

fn parse_status(text: &str) -> Result<RunStatus, ApiError> {
    text.trim()
        .parse()
        .map_err(|error: UnknownStatus| ApiError::new(StatusCode::BAD_REQUEST, format!("query: {error}")))
}

fn no_run(id: &RunId) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no run with id `{id}`"))
}

pub(super) async fn show(State(engine): State<Engine>, Path(path): Path<RunPath>) -> Result<Json<Run>, ApiError> {
    let id = path.run();
    engine.run(&id).await?.map(Json).ok_or_else(|| no_run(&id))
}

pub(super) fn show_docs(op: TransformOperation) -> TransformOperation {
    op.summary("Show a run")
        .description("The run with its steps, in the order they started: inputs, outputs, errors, attempts.")
        .response_with::<404, ApiError, _>(|r| r.description("No run has this id."))
}

pub(super) async fn logs(State(engine): State<Engine>, Path(path): Path<RunPath>) -> Result<Json<RunLog>, ApiError> {
    let id = path.run();
    // Whether the run exists, without reading its steps.
    if engine.store().run_status(&id).await.map_err(EngineError::from)?.is_none() {
        return Err(no_run(&id));
    }
    Ok(Json(engine.logs(&id).await?))
}

pub(super) fn logs_docs(op: TransformOperation) -> TransformOperation {
    op.summary("A run's log")
        .description("The lines its job and actions logged, secrets masked, and how many were dropped past the cap.")
        .response_with::<404, ApiError, _>(|r| r.description("No run has this id."))
}

pub(super) async fn cancel(
    State(engine): State<Engine>,
    Path(path): Path<RunPath>,
) -> Result<Json<RunState>, ApiError> {
    let id = path.run();
    let status = engine.cancel(&id).await.map_err(refused)?;
    Ok(Json(RunState { id, status }))
}

pub(super) fn cancel_docs(op: TransformOperation) -> TransformOperation {
    op.summary("Cancel a run")
        .description(
            "A run executing here stops at its next step boundary; a queued or waiting one is cancelled at once. \
             It can be resumed later like a failed one.",
        )
        .response_with::<404, ApiError, _>(|r| r.description("No run has this id."))
        .response_with::<409, ApiError, _>(|r| r.description("The run has finished."))
}

pub(super) async fn resume(
    State(engine): State<Engine>,
    Path(path): Path<RunPath>,
) -> Result<Json<RunState>, ApiError> {
    let id = engine.resume(&path.run()).await.map_err(refused)?;
    let status = engine.run(&id).await?.map(|run| run.status).unwrap_or(RunStatus::Queued);
    Ok(Json(RunState { id, status }))
}

pub(super) fn resume_docs(op: TransformOperation) -> TransformOperation {
    op.summary("Retry a run from its failed step")
        .description(
            "Executes a failed or cancelled run again: the steps that succeeded keep their outputs and are not \
             run again; the failed step and those after it run.",
        )
        .response_with::<404, ApiError, _>(|r| r.description("No run has this id."))
        .response_with::<409, ApiError, _>(|r| r.description("The run succeeded, or executes now."))
}

pub(super) async fn replay(
    State(engine): State<Engine>,
    Path(path): Path<RunPath>,
) -> Result<Json<Replayed>, ApiError> {
    let replay_of = path.run();
    let id = engine.replay(&replay_of).await.map_err(refused)?;
    Ok(Json(Replayed { id, replay_of }))
}

pub(super) fn replay_docs(op: TransformOperation) -> TransformOperation {
    op.summary("Replay a run as a new run")
        .description("Starts a new run of the same job with the same payload; every step runs again.")
        .response_with::<404, ApiError, _>(|r| r.description("No run has this id."))
        .response_with::<409, ApiError, _>(|r| r.description("The run cannot be replayed (a child run, say)."))
}

/// An action the run's state refused is a conflict; an unknown run is not found.
fn refused(error: EngineError) -> ApiError {
    match error {
        error @ (EngineError::NotCancellable { .. } | EngineError::NotResumable { .. }) => {
            ApiError::new(StatusCode::CONFLICT, error.to_string())
        }
        other => other.into(),
    }
}
