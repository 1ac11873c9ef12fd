//! Rows: how runs, steps and deliveries are encoded into columns and decoded back, with errors
//! that name the run and the column that does not decode.
//!
//! JSON documents are kept as `text`, not `jsonb`: the store reads back exactly what serde
//! wrote (`jsonb` refuses strings holding `\u0000`, and rewrites numbers and keys), the server
//! parses nothing on the write path, and nothing queries inside the documents. Times are
//! `timestamptz`, which keeps microseconds: a time reads back truncated to the microsecond.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::model::{Run, RunId, StepKind, StepRecord, StepStatus};
use crate::store::StoreError;
use crate::store::columns::Columns;

/// How this store's text columns are encoded; errors name `postgres`.
pub(super) const COLUMNS: Columns = Columns::of("postgres");

/// The columns [`decode_run`] reads, in its order.
pub(super) const RUN_COLUMNS: &str = "id, job_id, job_version, \"trigger\", payload, status, output, error, \
                           created_at, updated_at, wake_at, executions";

/// `columns` (a list such as [`RUN_COLUMNS`]), each prefixed with `table`: for a statement
/// naming two tables.
pub(super) fn qualified(table: &str, columns: &str) -> String {
    columns.split(',').map(|column| format!("{table}.{}", column.trim())).collect::<Vec<_>>().join(", ")
}

/// How many columns [`RUN_COLUMNS`] names: in a row of a run with a step, where the step's start.
pub(super) const RUN_COLUMN_COUNT: usize = 12;

/// The columns [`decode_step`] reads, in its order.
pub(super) const STEP_COLUMNS: &str = "\"key\", kind, status, input, output, error, output_schema, attempts, \
                            started_at, finished_at, retries";

/// A failure of the database, with what was being done; the database's error is kept as the source.
pub(super) fn backend(
    context: impl std::fmt::Display,
    error: impl std::error::Error + Send + Sync + 'static,
) -> StoreError {
    StoreError::backend_with(format_args!("postgres: {context}"), error)
}

/// Whether `error` is the server refusing a row for the constraint class `state`.
pub(super) fn is_state(error: &tokio_postgres::Error, state: &SqlState) -> bool {
    error.code() == Some(state)
}

/// Column `index` of `row`, as `T`; a column of another type (a schema changed by hand) is an
/// error naming it, not a panic.
fn column<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    index: usize,
    what: &impl Fn() -> String,
) -> Result<T, StoreError> {
    row.try_get(index).map_err(|e| backend(format_args!("{}: reading column {index}", what()), e))
}

/// A run's row (the [`RUN_COLUMNS`]), without its steps.
pub(super) fn decode_run(row: &Row) -> Result<Run, StoreError> {
    let id: String = column(row, 0, &|| "a run".to_owned())?;
    let what = || format!("run `{id}`");
    let trigger: String = column(row, 3, &what)?;
    let payload: String = column(row, 4, &what)?;
    let status: String = column(row, 5, &what)?;
    let output: Option<String> = column(row, 6, &what)?;
    let executions: i64 = column(row, 11, &what)?;
    Ok(Run {
        job_id: column(row, 1, &what)?,
        job_version: column(row, 2, &what)?,
        trigger: COLUMNS.read_json(&trigger, what, "trigger")?,
        payload: COLUMNS.read_json(&payload, what, "payload")?,
        status: COLUMNS.read_enum(&status, what, "status")?,
        output: output.map(|output| COLUMNS.read_json(&output, what, "output")).transpose()?,
        error: column(row, 7, &what)?,
        created_at: column(row, 8, &what)?,
        updated_at: column(row, 9, &what)?,
        wake_at: column(row, 10, &what)?,
        executions: COLUMNS.read_count(executions, what, "executions")?,
        steps: Vec::new(),
        id: RunId::from(id),
    })
}

/// A step of run `run`: the [`STEP_COLUMNS`] of `row`, from column `first` on.
pub(super) fn decode_step(row: &Row, first: usize, run: &RunId) -> Result<StepRecord, StoreError> {
    let key: String = column(row, first, &|| format!("a step of run `{run}`"))?;
    let what = || format!("step `{key}` of run `{run}`");
    let kind: String = column(row, first + 1, &what)?;
    let status: String = column(row, first + 2, &what)?;
    let input: String = column(row, first + 3, &what)?;
    let output: Option<String> = column(row, first + 4, &what)?;
    let attempts: i64 = column(row, first + 7, &what)?;
    let retries: Option<String> = column(row, first + 10, &what)?;
    Ok(StepRecord {
        kind: COLUMNS.read_json::<StepKind>(&kind, what, "kind")?,
        status: COLUMNS.read_enum::<StepStatus>(&status, what, "status")?,
        input: COLUMNS.read_json(&input, what, "input")?,
        output: output.map(|output| COLUMNS.read_json(&output, what, "output")).transpose()?,
        error: column(row, first + 5, &what)?,
        output_schema: column(row, first + 6, &what)?,
        attempts: COLUMNS.read_count(attempts, what, "attempts")?,
        started_at: column(row, first + 8, &what)?,
        finished_at: column(row, first + 9, &what)?,
        retries: retries.map(|retries| COLUMNS.read_json(&retries, what, "retries")).transpose()?,
        key,
    })
}

/// A run, encoded as the parameters of an insert.
pub(super) struct RunRow {
    pub(super) id: String,
    pub(super) job_id: String,
    pub(super) job_version: String,
    pub(super) trigger: String,
    pub(super) payload: String,
    pub(super) status: &'static str,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
    pub(super) created_at: DateTime<Utc>,
    pub(super) updated_at: DateTime<Utc>,
    pub(super) wake_at: Option<DateTime<Utc>>,
    pub(super) executions: i64,
}

/// A run, encoded before any connection is taken, so a value that does not encode costs no
/// round trip.
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
        created_at: run.created_at,
        updated_at: run.updated_at,
        wake_at: run.wake_at,
        executions: i64::from(run.executions),
        id,
    })
}

impl StepRow {
    /// The parameters of the step upsert (`$1` the run, `$12` the store saving it).
    pub(super) fn params<'a>(&'a self, holder: &'a String) -> [&'a (dyn ToSql + Sync); 13] {
        [
            &self.run_id,
            &self.key,
            &self.kind,
            &self.status,
            &self.input,
            &self.output,
            &self.error,
            &self.output_schema,
            &self.attempts,
            &self.started_at,
            &self.finished_at,
            holder,
            &self.retries,
        ]
    }
}

/// A step, encoded as the parameters of its upsert.
pub(super) struct StepRow {
    pub(super) run_id: String,
    pub(super) key: String,
    pub(super) kind: String,
    pub(super) status: String,
    pub(super) input: String,
    pub(super) output: Option<String>,
    pub(super) error: Option<String>,
    pub(super) output_schema: Option<String>,
    pub(super) attempts: i64,
    pub(super) started_at: DateTime<Utc>,
    pub(super) finished_at: Option<DateTime<Utc>>,
    pub(super) retries: Option<String>,
}

/// Step `step` of run `run`, encoded.
pub(super) fn step_row(run: &RunId, step: &StepRecord) -> Result<StepRow, StoreError> {
    let what = || format!("step `{}` of run `{run}`", step.key);
    Ok(StepRow {
        run_id: run.to_string(),
        key: step.key.clone(),
        kind: COLUMNS.write_json(&step.kind, what, "kind")?,
        status: COLUMNS.write_enum(&step.status, what, "status")?,
        input: COLUMNS.write_json(&step.input, what, "input")?,
        output: step.output.as_ref().map(|output| COLUMNS.write_json(output, what, "output")).transpose()?,
        error: step.error.clone(),
        output_schema: step.output_schema.clone(),
        attempts: i64::from(step.attempts),
        started_at: step.started_at,
        finished_at: step.finished_at,
        retries: step.retries.as_ref().map(|retries| COLUMNS.write_json(retries, what, "retries")).transpose()?,
    })
}
