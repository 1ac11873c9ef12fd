//! Rows: how runs, steps and deliveries are encoded into columns and decoded back, with errors
//! that name the run and the column that does not decode.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::{Run, RunId, StepKind, StepRecord, StepStatus};
use crate::store::StoreError;
use crate::store::columns::Columns;

/// How this store's text columns are encoded; errors name `sqlite`.
pub(super) const COLUMNS: Columns = Columns::of("sqlite");

pub(super) const RUN_COLUMNS: &str = "id, job_id, job_version, \"trigger\", payload, status, output, error, \
                           created_at, updated_at, wake_at, executions";

/// A run's row as text, decoded outside rusqlite so bad data becomes a [`StoreError`].
pub(super) struct RawRun {
    pub(super) id: String,
    pub(super) job_id: String,
    pub(super) job_version: String,
    pub(super) trigger: String,
    pub(super) payload: String,
    pub(super) status: String,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    pub(super) wake_at: Option<String>,
    pub(super) executions: i64,
}

impl RawRun {
    pub(super) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawRun {
            id: row.get(0)?,
            job_id: row.get(1)?,
            job_version: row.get(2)?,
            trigger: row.get(3)?,
            payload: row.get(4)?,
            status: row.get(5)?,
            output: row.get(6)?,
            error: row.get(7)?,
            created_at: row.get(8)?,
            updated_at: row.get(9)?,
            wake_at: row.get(10)?,
            executions: row.get(11)?,
        })
    }

    pub(super) fn decode(self) -> Result<Run, StoreError> {
        let id = self.id;
        let what = || format!("run `{id}`");
        Ok(Run {
            job_id: self.job_id,
            job_version: self.job_version,
            trigger: COLUMNS.read_json(&self.trigger, what, "trigger")?,
            payload: COLUMNS.read_json(&self.payload, what, "payload")?,
            status: COLUMNS.read_enum(&self.status, what, "status")?,
            output: self.output.map(|output| COLUMNS.read_json(&output, what, "output")).transpose()?,
            error: self.error,
            created_at: parse_timestamp(&self.created_at, what, "created_at")?,
            updated_at: parse_timestamp(&self.updated_at, what, "updated_at")?,
            wake_at: self.wake_at.map(|wake_at| parse_timestamp(&wake_at, what, "wake_at")).transpose()?,
            executions: COLUMNS.read_count(self.executions, what, "executions")?,
            steps: Vec::new(),
            id: RunId::from(id),
        })
    }
}

pub(super) const STEP_COLUMNS: &str = "\"key\", kind, status, input, output, error, output_schema, attempts, \
                            started_at, finished_at, retries";

/// A step's row as text, decoded outside rusqlite so bad data becomes a [`StoreError`].
pub(super) struct RawStep {
    pub(super) key: String,
    pub(super) kind: String,
    pub(super) status: String,
    pub(super) input: String,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
    pub(super) output_schema: Option<String>,
    pub(super) attempts: i64,
    pub(super) started_at: String,
    pub(super) finished_at: Option<String>,
    pub(super) retries: Option<String>,
}

impl RawStep {
    pub(super) fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawStep {
            key: row.get(0)?,
            kind: row.get(1)?,
            status: row.get(2)?,
            input: row.get(3)?,
            output: row.get(4)?,
            error: row.get(5)?,
            output_schema: row.get(6)?,
            attempts: row.get(7)?,
            started_at: row.get(8)?,
            finished_at: row.get(9)?,
            retries: row.get(10)?,
        })
    }

    pub(super) fn decode(self, run: &RunId) -> Result<StepRecord, StoreError> {
        let key = self.key;
        let what = || format!("step `{key}` of run `{run}`");
        Ok(StepRecord {
            kind: COLUMNS.read_json::<StepKind>(&self.kind, what, "kind")?,
            status: COLUMNS.read_enum::<StepStatus>(&self.status, what, "status")?,
            input: COLUMNS.read_json(&self.input, what, "input")?,
            output: self.output.map(|output| COLUMNS.read_json(&output, what, "output")).transpose()?,
            error: self.error,
            output_schema: self.output_schema,
            attempts: COLUMNS.read_count(self.attempts, what, "attempts")?,
            started_at: parse_timestamp(&self.started_at, what, "started_at")?,
            finished_at: self.finished_at.map(|at| parse_timestamp(&at, what, "finished_at")).transpose()?,
            retries: self.retries.map(|retries| COLUMNS.read_json(&retries, what, "retries")).transpose()?,
            key,
        })
    }
}

/// A failure of the database, with what was being done; the database's error is kept as the source.
pub(super) fn backend(context: String, error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::backend_with(format_args!("sqlite: {context}"), error)
}

/// Fixed width (nanoseconds, `Z`), so the text sorts as the time does.
pub(super) fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(super) fn parse_timestamp(
    text: &str,
    what: impl Fn() -> String,
    column: &str,
) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&Utc)).map_err(|e| {
        StoreError::backend_with(format_args!("sqlite: {}: `{column}` is not an RFC 3339 time ({text:?})", what()), e)
    })
}

pub(super) struct RunRow {
    pub(super) id: String,
    pub(super) job_id: String,
    pub(super) job_version: String,
    pub(super) trigger: String,
    pub(super) payload: String,
    pub(super) status: &'static str,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    pub(super) wake_at: Option<String>,
    pub(super) executions: u32,
}

pub(super) struct DeliveryRow {
    pub(super) source: String,
    pub(super) id: String,
    pub(super) received_at: String,
    pub(super) runs: Vec<RunRow>,
    /// JSON array of the runs' ids.
    pub(super) run_ids: String,
}

pub(super) struct UpdateRow {
    pub(super) id: String,
    pub(super) status: &'static str,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
    pub(super) wake_at: Option<String>,
    pub(super) new_execution: bool,
}

pub(super) struct StepRow {
    pub(super) run_id: String,
    pub(super) key: String,
    pub(super) kind: String,
    pub(super) status: String,
    pub(super) input: String,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
    pub(super) output_schema: Option<String>,
    pub(super) attempts: u32,
    pub(super) started_at: String,
    pub(super) finished_at: Option<String>,
    pub(super) retries: Option<String>,
}

/// A run, encoded for the writer.
pub(super) fn run_row(run: &Run) -> Result<RunRow, StoreError> {
    let id = run.id.to_string();
    let what = || format!("run `{id}`");
    Ok(RunRow {
        job_id: run.job_id.clone(),
        job_version: run.job_version.clone(),
        trigger: COLUMNS.write_json(&run.trigger, what, "trigger")?,
        payload: COLUMNS.write_json(&run.payload, what, "payload")?,
        status: run.status.as_str(),
        output: run.output.as_ref().map(|output| COLUMNS.write_json(output, what, "output")).transpose()?,
        error: run.error.clone(),
        created_at: timestamp(&run.created_at),
        updated_at: timestamp(&run.updated_at),
        wake_at: run.wake_at.as_ref().map(timestamp),
        executions: run.executions,
        id,
    })
}
