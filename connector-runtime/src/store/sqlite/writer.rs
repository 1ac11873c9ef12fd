//! The writer: one connection, commands batched into one transaction (group commit) by whichever
//! caller finds it free, a savepoint per command so a failing one is undone alone.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

use chrono::Utc;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use super::codec::{COLUMNS, DeliveryRow, RunRow, StepRow, UpdateRow, backend, timestamp};
use super::{MAX_BATCH, Synchronous};

use crate::model::RunId;
use crate::store::StoreError;

/// A write, encoded on the caller's task before it is queued, so the batch only runs SQL.
pub(super) enum Op {
    CreateRun(Box<RunRow>),
    UpdateRun(Box<UpdateRow>),
    ClaimRun {
        id: String,
        from: &'static str,
    },
    SaveStep(Box<StepRow>),
    PutSchema {
        fingerprint: String,
        schema: String,
    },
    AcceptDelivery(Box<DeliveryRow>),
    SaveCursor {
        key: String,
        cursor: String,
    },
    SaveTokens {
        key: String,
        tokens: String,
    },
    AppendLogs {
        run: String,
        lines: Vec<LogRow>,
    },
    #[cfg(test)]
    Call(TestCall),
}

/// A log line, encoded.
pub(super) struct LogRow {
    pub(super) at: String,
    pub(super) level: &'static str,
    pub(super) source: String,
    pub(super) step: Option<String>,
    pub(super) message: String,
}

/// A closure a unit test runs on the writer's connection.
#[cfg(test)]
pub(super) type TestCall = Box<dyn FnOnce(&Connection) -> Result<Written, StoreError> + Send>;

impl Op {
    /// Whether recovery rebuilds what this write records by replaying the run, so its commit
    /// need not wait for the disk (see "What is synced" on [`SqliteStore`](super::SqliteStore)):
    /// a run marked running, and a run marked succeeded after its last step. Log lines are
    /// not rebuilt, but neither are they worth a sync: a crash may lose the last of them.
    fn rebuildable(&self) -> bool {
        matches!(self, Op::UpdateRun(row) if row.status == "running" || row.status == "succeeded")
            || matches!(self, Op::AppendLogs { .. })
    }

    /// What the write does, for the error a read-only store answers it with.
    pub(super) fn describe(&self) -> &'static str {
        match self {
            Op::CreateRun(_) => "create a run",
            Op::UpdateRun(_) => "update a run",
            Op::ClaimRun { .. } => "claim a run",
            Op::SaveStep(_) => "save a step",
            Op::PutSchema { .. } => "store a schema",
            Op::AcceptDelivery(_) => "accept a delivery",
            Op::SaveCursor { .. } => "save a cursor",
            Op::SaveTokens { .. } => "save tokens",
            Op::AppendLogs { .. } => "keep log lines",
            #[cfg(test)]
            Op::Call(_) => "run a test call",
        }
    }
}

pub(super) struct Command {
    pub(super) op: Op,
    pub(super) reply: oneshot::Sender<Result<Written, StoreError>>,
}

/// What a write did, when the caller needs more than "done".
pub(super) enum Written {
    Done,
    /// `ClaimRun` found the run in another state and changed nothing.
    NotClaimed,
    /// `AcceptDelivery` found the delivery already accepted, with these runs.
    Duplicate(Vec<RunId>),
}

/// The write connection, and the writes queued for it. There is no writer thread: a caller
/// that finds the connection free commits on its own thread (the *leader*), taking every write
/// queued meanwhile into the same transaction (group commit); a caller that finds it busy
/// queues its write and awaits the answer (a *follower*), which the leader commits next. So a
/// write with nobody else writing crosses no thread at all: on a small machine, each hand-off
/// to a sleeping thread and back costs about as much as a commit without `fsync`.
///
/// The leader blocks its thread for the transaction (an `fsync` with `Synchronous::Full`), as
/// a synchronous SQLite call would; at most one caller does at a time, so at most one tokio
/// worker is held.
pub(super) struct Writer {
    connection: Mutex<WriteConnection>,
    queue: Mutex<Vec<Command>>,
    synchronous: Synchronous,
    pub(super) commits: Commits,
}

/// The connection, with the `synchronous` level it is at.
struct WriteConnection {
    conn: Connection,
    level: Synchronous,
}

impl Writer {
    pub(super) fn new(conn: Connection, synchronous: Synchronous) -> Self {
        Writer {
            connection: Mutex::new(WriteConnection { conn, level: synchronous }),
            queue: Mutex::new(Vec::new()),
            synchronous,
            commits: Commits::default(),
        }
    }

    /// Commits `op` (with whatever else is queued) and answers what it did.
    pub(super) async fn write(&self, op: Op) -> Result<Written, StoreError> {
        let (reply, answer) = oneshot::channel();
        lock(&self.queue).push(Command { op, reply });
        self.lead();
        // Answered already when this caller led; else the leader answers it.
        answer.await.map_err(|_| StoreError::backend("sqlite: a write was dropped unanswered".to_owned()))?
    }

    /// Commits what is queued, on this thread, unless another caller holds the connection: it
    /// drains the queue after taking the connection and looks again after letting it go, so a
    /// write queued at any moment is committed by one of them.
    fn lead(&self) {
        loop {
            let mut connection = match self.connection.try_lock() {
                Ok(connection) => connection,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            };
            let mut batch: Vec<Command> = {
                let mut queue = lock(&self.queue);
                let take = queue.len().min(MAX_BATCH);
                queue.drain(..take).collect()
            };
            if batch.is_empty() {
                return;
            }
            self.commit(&mut connection, &mut batch);
            drop(connection);
            if lock(&self.queue).is_empty() {
                return;
            }
        }
    }

    /// One batch. With `Synchronous::Full`, a batch of rebuildable writes only is committed at
    /// `NORMAL`: its WAL frames reach the disk with the next synced commit (or checkpoint).
    fn commit(&self, connection: &mut WriteConnection, batch: &mut Vec<Command>) {
        let wanted = match self.synchronous {
            Synchronous::Full if batch.iter().all(|command| command.op.rebuildable()) => Synchronous::Normal,
            configured => configured,
        };
        // `PRAGMA synchronous` applies to the next commit; it cannot change inside a transaction.
        if wanted != connection.level && connection.conn.pragma_update(None, "synchronous", wanted.pragma()).is_ok() {
            connection.level = wanted;
        }
        run_batch(&connection.conn, batch, &self.commits, connection.level == Synchronous::Full);
    }
}

/// A poisoned lock only means a panic elsewhere while it was held; SQLite rolled back whatever
/// transaction was open, so the connection is still usable.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many transactions the writer committed, and how many of them waited for the disk.
#[derive(Debug, Default)]
pub(super) struct Commits {
    pub(super) all: AtomicU64,
    pub(super) synced: AtomicU64,
}

/// Runs the commands in as few transactions as possible (one, unless a failure made SQLite
/// abandon the transaction), then answers each caller once its commit is done; counts the
/// commits (as `synced` ones too when they waited for the disk) before answering.
pub(super) fn run_batch(conn: &Connection, batch: &mut Vec<Command>, commits: &Commits, synced: bool) {
    let mut commands = batch.drain(..).peekable();
    while commands.peek().is_some() {
        if let Err(e) = execute(conn, "BEGIN IMMEDIATE") {
            let error = backend("starting a transaction".to_owned(), e);
            for command in commands {
                let _ = command.reply.send(Err(error.clone()));
            }
            return;
        }
        let mut answers = Vec::new();
        let mut abandoned = false;
        for command in commands.by_ref() {
            let result = apply_in_savepoint(conn, command.op);
            // Some errors (I/O, disk full) make SQLite roll the whole transaction back: the
            // commands before this one are lost too. Answer them, and go on in a new one.
            abandoned = result.is_err() && conn.is_autocommit();
            answers.push((command.reply, result));
            if abandoned {
                break;
            }
        }
        let failure = if abandoned {
            Some("sqlite: the transaction was rolled back by a failure of another write in the same batch".to_owned())
        } else {
            match execute(conn, "COMMIT") {
                Ok(()) => {
                    commits.all.fetch_add(1, Ordering::Relaxed);
                    if synced {
                        commits.synced.fetch_add(1, Ordering::Relaxed);
                    }
                    None
                }
                Err(e) => {
                    if !conn.is_autocommit() {
                        let _ = execute(conn, "ROLLBACK");
                    }
                    Some(format!("sqlite: committing: {e}"))
                }
            }
        };
        for (reply, result) in answers {
            let result = match (&failure, result) {
                (Some(failure), Ok(_)) => Err(StoreError::backend(failure.clone())),
                (_, result) => result,
            };
            let _ = reply.send(result);
        }
    }
}

pub(super) fn execute(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Applies one command inside a savepoint, so its failure undoes it alone.
pub(super) fn apply_in_savepoint(conn: &Connection, op: Op) -> Result<Written, StoreError> {
    execute(conn, "SAVEPOINT command").map_err(|e| backend("opening a savepoint".to_owned(), e))?;
    let result = apply(conn, op);
    if conn.is_autocommit() {
        // SQLite abandoned the transaction; the caller sees it.
        return result;
    }
    let end = match result {
        Ok(_) => execute(conn, "RELEASE command"),
        Err(_) => execute(conn, "ROLLBACK TO command").and_then(|()| execute(conn, "RELEASE command")),
    };
    match (result, end) {
        (Ok(_), Err(e)) => Err(backend("releasing a savepoint".to_owned(), e)),
        (result, _) => result,
    }
}

/// Keeps `lines` after run `run`'s others, up to the cap; the rest are counted as dropped.
fn append_logs(conn: &Connection, run: &str, lines: Vec<LogRow>) -> Result<(), StoreError> {
    let context = || format!("keeping log lines of run `{run}`");
    let next: Option<i64> = conn
        .prepare_cached(
            "SELECT (SELECT COALESCE(MAX(seq) + 1, 0) FROM run_logs WHERE run_id = ?1) FROM runs WHERE id = ?1",
        )
        .and_then(|mut statement| statement.query_row([run], |row| row.get(0)).optional())
        .map_err(|e| backend(context(), e))?;
    let Some(next) = next else { return Err(StoreError::RunNotFound(RunId::from(run))) };
    let room = (crate::model::MAX_LOG_LINES_PER_RUN as i64 - next).max(0) as usize;
    let dropped = lines.len().saturating_sub(room) as i64;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO run_logs (run_id, seq, at, level, source, step, message) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .map_err(|e| backend(context(), e))?;
    for (offset, line) in lines.into_iter().take(room).enumerate() {
        let seq = next + offset as i64;
        insert
            .execute(params![run, seq, line.at, line.level, line.source, line.step, line.message])
            .map_err(|e| backend(context(), e))?;
    }
    if dropped > 0 {
        conn.prepare_cached(
            "INSERT INTO run_log_drops (run_id, dropped) VALUES (?1, ?2)
             ON CONFLICT (run_id) DO UPDATE SET dropped = dropped + excluded.dropped",
        )
        .and_then(|mut statement| statement.execute(params![run, dropped]))
        .map_err(|e| backend(context(), e))?;
    }
    Ok(())
}

pub(super) fn apply(conn: &Connection, op: Op) -> Result<Written, StoreError> {
    match op {
        Op::CreateRun(run) => insert_run(conn, *run)?,
        Op::AcceptDelivery(delivery) => {
            let DeliveryRow { source, id, received_at, runs, run_ids } = *delivery;
            let context = || format!("accepting delivery `{id}` from `{source}`");
            let earlier: Option<String> = conn
                .prepare_cached("SELECT runs FROM deliveries WHERE source = ?1 AND id = ?2")
                .and_then(|mut statement| statement.query_row(params![source, id], |row| row.get(0)).optional())
                .map_err(|e| backend(context(), e))?;
            if let Some(earlier) = earlier {
                let runs: Vec<RunId> = COLUMNS.read_json(&earlier, context, "runs")?;
                return Ok(Written::Duplicate(runs));
            }
            for run in runs {
                insert_run(conn, run)?;
            }
            conn.prepare_cached("INSERT INTO deliveries (source, id, runs, received_at) VALUES (?1, ?2, ?3, ?4)")
                .and_then(|mut statement| statement.execute(params![source, id, run_ids, received_at]))
                .map_err(|e| backend(context(), e))?;
        }
        Op::SaveCursor { key, cursor } => {
            conn.prepare_cached(
                "INSERT INTO cursors (\"key\", cursor, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (\"key\") DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            )
            .and_then(|mut statement| statement.execute(params![key, cursor, timestamp(&Utc::now())]))
            .map_err(|e| backend(format!("saving cursor `{key}`"), e))?;
        }
        Op::AppendLogs { run, lines } => append_logs(conn, &run, lines)?,
        Op::SaveTokens { key, tokens } => {
            conn.prepare_cached(
                "INSERT INTO tokens (\"key\", tokens, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (\"key\") DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
            )
            .and_then(|mut statement| statement.execute(params![key, tokens, timestamp(&Utc::now())]))
            .map_err(|e| backend(format!("saving the tokens of `{key}`"), e))?;
        }
        Op::ClaimRun { id, from } => {
            let claimed = conn
                .prepare_cached(
                    "UPDATE runs SET status = 'queued', wake_at = NULL, updated_at = ?3 WHERE id = ?1 AND status = ?2",
                )
                .and_then(|mut statement| statement.execute(params![id, from, timestamp(&Utc::now())]))
                .map_err(|e| backend(format!("claiming run `{id}`"), e))?;
            if claimed == 0 {
                let exists = conn
                    .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")
                    .and_then(|mut statement| statement.exists([id.as_str()]))
                    .map_err(|e| backend(format!("claiming run `{id}`"), e))?;
                if !exists {
                    return Err(StoreError::RunNotFound(RunId::from(id.as_str())));
                }
                return Ok(Written::NotClaimed);
            }
        }
        Op::UpdateRun(update) => {
            let updated = conn
                .prepare_cached(
                    "UPDATE runs SET status = ?2, output = ?3, error = ?4, wake_at = ?5, \
                     executions = executions + ?6, updated_at = ?7 WHERE id = ?1",
                )
                .and_then(|mut statement| {
                    statement.execute(params![
                        update.id,
                        update.status,
                        update.output,
                        update.error,
                        update.wake_at,
                        i64::from(update.new_execution),
                        timestamp(&Utc::now()),
                    ])
                })
                .map_err(|e| backend(format!("updating run `{}`", update.id), e))?;
            if updated == 0 {
                return Err(StoreError::RunNotFound(RunId::from(update.id)));
            }
        }
        Op::SaveStep(step) => {
            let context = || format!("inserting step `{}` of run `{}`", step.key, step.run_id);
            // The foreign key checks the run exists (a read of its key), without writing the run's
            // row: one page less per step. The run's `updated_at` is its own last change; a
            // step's progress is in the step's own times.
            // A new key gets the next seq; a known key keeps its seq (its start order).
            conn.prepare_cached(
                "INSERT INTO steps (run_id, \"key\", seq, kind, status, input, output, error, output_schema, \
                                    attempts, started_at, finished_at, retries)
                 VALUES (?1, ?2, (SELECT COALESCE(MAX(seq) + 1, 0) FROM steps WHERE run_id = ?1),
                         ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (run_id, \"key\") DO UPDATE SET
                     kind = excluded.kind, status = excluded.status, input = excluded.input,
                     output = excluded.output, error = excluded.error,
                     output_schema = excluded.output_schema, attempts = excluded.attempts,
                     started_at = excluded.started_at, finished_at = excluded.finished_at,
                     retries = excluded.retries",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    step.run_id,
                    step.key,
                    step.kind,
                    step.status,
                    step.input,
                    step.output,
                    step.error,
                    step.output_schema,
                    step.attempts,
                    step.started_at,
                    step.finished_at,
                    step.retries,
                ])
            })
            .map_err(|e| match e.sqlite_error().map(|error| error.extended_code) {
                Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => {
                    StoreError::RunNotFound(RunId::from(step.run_id.clone()))
                }
                _ => backend(context(), e),
            })?;
        }
        Op::PutSchema { fingerprint, schema } => {
            conn.prepare_cached("INSERT INTO schemas (fingerprint, schema) VALUES (?1, ?2) ON CONFLICT DO NOTHING")
                .and_then(|mut statement| statement.execute(params![fingerprint, schema]))
                .map_err(|e| backend(format!("storing schema `{fingerprint}`"), e))?;
        }
        #[cfg(test)]
        Op::Call(call) => return call(conn),
    }
    Ok(Written::Done)
}

/// Inserts a run; an existing id is `DuplicateRun`.
pub(super) fn insert_run(conn: &Connection, run: RunRow) -> Result<(), StoreError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO runs (id, job_id, job_version, \"trigger\", payload, status, output, error, \
                               created_at, updated_at, wake_at, executions)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (id) DO NOTHING",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                run.id,
                run.job_id,
                run.job_version,
                run.trigger,
                run.payload,
                run.status,
                run.output,
                run.error,
                run.created_at,
                run.updated_at,
                run.wake_at,
                run.executions,
            ])
        })
        .map_err(|e| backend(format!("inserting run `{}`", run.id), e))?;
    if inserted == 0 {
        return Err(StoreError::DuplicateRun(RunId::from(run.id)));
    }
    Ok(())
}
