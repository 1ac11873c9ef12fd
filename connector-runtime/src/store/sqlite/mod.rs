//! [`SqliteStore`]: runs in one SQLite file, the engine's default durable store.
//!
//! One write connection: the caller that finds it free commits every queued command in one
//! transaction on its own thread (group commit, leader and followers, no writer thread), with a
//! `SAVEPOINT` per command so a failing command is undone alone and its error goes to its caller
//! only; reads use a small pool of read connections
//! (WAL mode, so they never wait for the writer). Durability is `PRAGMA synchronous`: `FULL` by
//! default, `NORMAL` on request (see `Synchronous`).
//!
//! The schema is versioned with `PRAGMA user_version`: `MIGRATIONS` is an append-only list, and
//! opening a file applies the ones it has not seen yet, in one transaction. To change the schema,
//! append migration N+1; never edit one that has shipped.
//!
//! Opening for writing first runs SQLite's quick integrity check (`integrity`); opening
//! read-only (`read_only`) has no write connection at all, and writes nothing.

mod codec;
mod integrity;
mod read_only;
mod reader;
mod schema;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use serde_json::Value;

use super::{Delivery, DeliveryOutcome, RunFilter, RunStore, RunUpdate, StoreError};
use crate::client::{TokenStore, TokenStoreError};
use crate::model::{LogLine, Run, RunId, RunLog, RunStatus, StepRecord};
use codec::{
    COLUMNS, DeliveryRow, RUN_COLUMNS, RawRun, RawStep, STEP_COLUMNS, StepRow, UpdateRow, backend, run_row, timestamp,
};

use reader::{Access, ReadPool};
use schema::{MigrateError, configure_writer, migrate, too_new};
use writer::{Op, Writer, Written};

/// How long a connection waits for a lock held by another connection (another process, or a
/// checkpoint) before giving up.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many commands share one transaction.
pub(super) const MAX_BATCH: usize = 1024;
/// Prepared statements kept per connection: more than the store has, so none is parsed twice
/// (rusqlite's default of 16 is fewer than a write batch and a run read use, and each miss
/// parses the SQL again).
pub(super) const STATEMENT_CACHE: usize = 64;
/// At most this many idle read connections are kept open.
pub(super) const MAX_IDLE_READERS: usize = 4;

/// When SQLite waits for the disk: see [`SqliteOptions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Synchronous {
    /// `PRAGMA synchronous = FULL`: the write-ahead log is synced on every commit, so a
    /// completed write survives a process crash and a power loss. The default.
    #[default]
    Full,
    /// `PRAGMA synchronous = NORMAL`: the log is synced at checkpoints only. A completed write
    /// survives the process being killed, but the last commits may be lost on a power loss or an
    /// OS crash. Faster, most of all on disks with slow syncs.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// How [`SqliteStore::open_with`] opens its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteOptions {
    /// What a completed write survives: [`Synchronous::Full`] (the default) survives power
    /// loss, [`Synchronous::Normal`] only process crashes.
    pub synchronous: Synchronous,
    /// Whether opening checks the file first (SQLite's `PRAGMA quick_check`) and refuses a
    /// damaged one with [`StoreError::Corrupt`] (default: yes). The check reads every page once,
    /// so its cost grows with the file: for a 15 MB store of 10,000 runs with 30,000 steps, about
    /// 30 ms when the file is in the OS's cache and a few hundred ms from a cold disk, against
    /// under a millisecond for the rest of the open; seconds for gigabytes. Turn it off only for
    /// a large store opened often, and check it some other way.
    pub check_integrity: bool,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions { synchronous: Synchronous::default(), check_integrity: true }
    }
}

/// Keeps runs in a SQLite file: durable, and shared by every store opened on the same file (in
/// this process or another).
///
/// # Writes: one connection, group commit on the caller's thread
///
/// Each write (`create_run`, `update_run`, `save_step`, `put_schema`, ..) is encoded on the
/// caller's task (JSON, timestamps) and queued. The caller that finds the write connection free
/// takes it (the leader), drains the queue, and runs the whole batch in one transaction on its
/// own thread, each command inside its own `SAVEPOINT`: a command that fails (a duplicate run
/// id, an unknown run) is rolled back alone and its error goes to its caller only. After the one
/// `COMMIT` every caller is answered; callers that found the connection busy (followers) wait
/// for the leader's answer. So a write completes only once its commit is done, under load one
/// commit (one sync to disk) serves many writers, and a lone write hands nothing to another
/// thread. The leader blocks its thread (a tokio worker) for the commit, as any synchronous
/// SQLite call does; only one caller leads at a time. A write whose future is dropped before it
/// completes may still be committed.
///
/// # Reads
///
/// The file is in WAL mode, so reads see the last commit without waiting for the writer. They
/// use a small pool of read connections, on tokio's blocking pool when called inside a tokio
/// runtime (inline otherwise).
///
/// # Durability
///
/// `Synchronous::Full` (the default) syncs the write-ahead log on every commit: a completed
/// write survives a process crash and a power loss. `Synchronous::Normal` syncs it only at
/// checkpoints: a completed write still survives the process being killed (SIGKILL, a panic, an
/// out-of-memory kill), but the last commits may be lost if the machine loses power or the OS
/// crashes. The file is never corrupted either way.
///
/// # What is synced
///
/// Not every write has to reach the disk on its own. With `Synchronous::Full`, a commit holding
/// only writes that recovery rebuilds by replaying the run is made at `NORMAL`: it is visible
/// at once, survives the process being killed, and reaches the disk with the next synced commit
/// (the WAL is one sequential file: syncing it syncs every frame before) or checkpoint. Those
/// writes are a run marked `running`, and a run marked `succeeded`. Everything else is synced
/// before its caller hears back: a run's creation with its delivery (a webhook is answered,
/// `dispatch` returns ids), each step's record (its output is what replay returns instead of
/// calling the service again), failures, cancellations, waits and claims, cursors and tokens.
///
/// What a power loss at each point of a three-step run leaves, and why replay makes it right:
///
/// | lost | left in the store | what recovery does |
/// | --- | --- | --- |
/// | the `running` mark | the run `queued` (or `running` from an earlier execution), its synced steps | executes it from the top: synced steps are replayed, the rest run |
/// | the `succeeded` mark after the last step | the run `running`, every step synced | executes it again: every step replays its output, no service is called, and the job returns the same output (jobs are deterministic between steps), which is recorded |
/// | nothing else can be lost | | |
///
/// So a three-step run costs four synced commits (its creation and its three steps), not six.
/// (The engine also creates a run that starts at once as `running`, so it has no `running` mark
/// to write at all: five commits in all.)
/// A `failed` mark stays synced: replaying a failed step would try it again, which would
/// change the outcome. A reader may see `succeeded` before a power loss and `running` after
/// it, until recovery records `succeeded` again with the same output.
///
/// # Read-only
///
/// [`SqliteStore::open_read_only`] opens a store that only reads (to list or inspect runs): no
/// write connection, and every write returns [`StoreError::ReadOnly`].
///
/// Every write is committed before its caller hears back, so dropping the store loses nothing.
pub struct SqliteStore {
    path: PathBuf,
    /// `None` when opened read-only.
    writer: Option<Writer>,
    readers: Arc<ReadPool>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("read_only", &self.is_read_only())
            .field("commits", &self.commits())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the store in the file at `path` with the default options (fully synced commits, the
    /// integrity checked), creating the file and its parent directories on first use and
    /// bringing its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        SqliteStore::open_with(path, SqliteOptions::default())
    }

    /// Opens the store in the file at `path`, as [`open`](Self::open) does, with `options`.
    ///
    /// Fails when the file cannot be opened, is not a SQLite database, is damaged
    /// ([`StoreError::Corrupt`], unless [`SqliteOptions::check_integrity`] is off), or was
    /// written by a newer version of this crate (its schema version is one this version does
    /// not know).
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| backend(format!("creating the directory `{}`", parent.display()), e))?;
            ignore_store_folder(parent);
        }
        let mut conn = Connection::open(&path).map_err(|e| backend(format!("opening `{shown}`"), e))?;
        configure_writer(&conn, options.synchronous, &shown)?;
        if options.check_integrity {
            integrity::check(&conn, &shown)?;
        }
        migrate(&mut conn).map_err(|e| match e {
            MigrateError::Sqlite(e) => backend(format!("migrating the schema of `{shown}`"), e),
            MigrateError::TooNew(found) => too_new(found, &shown),
        })?;

        Ok(SqliteStore {
            readers: Arc::new(ReadPool::new(path.clone(), Access::BesideWriter)),
            path,
            writer: Some(Writer::new(conn, options.synchronous)),
        })
    }

    /// Opens the store in the file at `path` for reading only: runs, steps, schemas, cursors
    /// and tokens read as usual, and every write returns [`StoreError::ReadOnly`]. It works on a
    /// file and directory this process cannot write, and never waits for a store writing the
    /// same file: nothing is migrated, the journal mode is left alone, there is no write connection,
    /// and the file is opened read-only.
    ///
    /// When the file is in use (its `-wal` file is there), reads see every commit, as any other
    /// store's do. When it is not, and its directory has no write permission or the `-wal` and
    /// `-shm` files cannot be created in it (another user's directory, a read-only mount), the
    /// file is read as immutable: nothing is created and no locks are taken, but a writer that
    /// starts on the file while this store is open is not seen, and its checkpoints can fail
    /// reads. In a directory it can write, SQLite may leave the (empty) `-wal` and `-shm` files
    /// behind; the next store opened for writing takes them over.
    ///
    /// Fails when there is no file at `path` (none is created), it is not a SQLite database, or
    /// its schema is not this version's: a newer one needs a newer version, an older one must be
    /// opened for writing once, which migrates it. No integrity check is run: reads of a damaged
    /// file fail one by one, and what is intact can still be read.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let readers = read_only::open(&path, &path.display().to_string())?;
        Ok(SqliteStore { readers: Arc::new(readers), path, writer: None })
    }

    /// Whether the store was opened with [`open_read_only`](Self::open_read_only).
    pub fn is_read_only(&self) -> bool {
        self.writer.is_none()
    }

    /// The file the store keeps its runs in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many transactions were committed: fewer than the writes when group commit batches
    /// them. For tests and benchmarks.
    #[doc(hidden)]
    pub fn commits(&self) -> u64 {
        self.writer.as_ref().map_or(0, |writer| writer.commits.all.load(Ordering::Relaxed))
    }

    /// How many of those commits waited for the disk (`Synchronous::Full` ones; see "What is
    /// synced"). For tests and benchmarks.
    #[doc(hidden)]
    pub fn synced_commits(&self) -> u64 {
        self.writer.as_ref().map_or(0, |writer| writer.commits.synced.load(Ordering::Relaxed))
    }

    /// Commits `op` and waits for the commit.
    async fn write(&self, op: Op) -> Result<(), StoreError> {
        self.write_for(op).await.map(|_| ())
    }

    /// [`SqliteStore::write`], answering what the write did.
    async fn write_for(&self, op: Op) -> Result<Written, StoreError> {
        let Some(writer) = &self.writer else {
            return Err(StoreError::ReadOnly { location: self.path.display().to_string(), operation: op.describe() });
        };
        writer.write(op).await
    }

    /// The JSON document `sql` selects by `key` (one column of one row), if there is one.
    async fn read_json(&self, sql: &'static str, key: &str, what: &'static str) -> Result<Option<Value>, StoreError> {
        let key = key.to_owned();
        self.read(move |conn| {
            let text: Option<String> = conn
                .prepare_cached(sql)
                .and_then(|mut statement| statement.query_row([&key], |row| row.get(0)).optional())
                .map_err(|e| backend(format!("reading {what} `{key}`"), e))?;
            text.map(|text| COLUMNS.read_json(&text, || format!("{what} `{key}`"), what)).transpose()
        })
        .await
    }

    /// Runs `read` with a read connection, on tokio's blocking pool when there is one.
    async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let job = move || readers.with(read);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime
                .spawn_blocking(job)
                .await
                .map_err(|e| StoreError::backend(format!("sqlite: a read task failed: {e}")))?,
            Err(_) => job(),
        }
    }

    /// Runs `f` on the write connection, inside a batch transaction.
    #[cfg(test)]
    async fn with_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let op = Op::Call(Box::new(move |conn| {
            let _ = tx.send(f(conn).map_err(|e| backend("test call".to_owned(), e))?);
            Ok(Written::Done)
        }));
        self.write(op).await?;
        rx.await.map_err(|_| StoreError::backend("sqlite: no answer".to_owned()))
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Readers first, so the writer's connection is the last one: closing it checkpoints the
        // log into the database file. Nothing is queued: every write was committed by its
        // caller, or by the leader of its batch, before its caller was answered.
        self.readers.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
        drop(self.writer.take());
    }
}

#[async_trait]
impl RunStore for SqliteStore {
    async fn create_run(&self, run: &Run) -> Result<(), StoreError> {
        self.write(Op::CreateRun(Box::new(run_row(run)?))).await
    }

    async fn update_run(&self, id: &RunId, update: &RunUpdate) -> Result<(), StoreError> {
        let what = || format!("run `{id}`");
        let row = UpdateRow {
            id: id.to_string(),
            status: update.status.as_str(),
            output: update.output.as_ref().map(|output| COLUMNS.write_json(output, what, "output")).transpose()?,
            error: update.error.clone(),
            wake_at: update.wake_at.as_ref().map(timestamp),
            new_execution: update.new_execution,
        };
        self.write(Op::UpdateRun(Box::new(row))).await
    }

    async fn claim_run(&self, id: &RunId, from: RunStatus) -> Result<bool, StoreError> {
        let written = self.write_for(Op::ClaimRun { id: id.to_string(), from: from.as_str() }).await?;
        Ok(matches!(written, Written::Done))
    }

    async fn run(&self, id: &RunId) -> Result<Option<Run>, StoreError> {
        let id = id.clone();
        // On the caller's thread: one run by its key is a short read (WAL readers never wait for
        // the writer), shorter than handing it to another thread and back.
        self.readers.with(move |conn| {
            let context = || format!("reading run `{id}`");
            // One read transaction, so the run and its steps are from the same commit.
            let tx = conn.transaction().map_err(|e| backend(context(), e))?;
            let raw = tx
                .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))
                .and_then(|mut statement| statement.query_row([id.as_str()], RawRun::from_row).optional())
                .map_err(|e| backend(context(), e))?;
            let Some(raw) = raw else { return Ok(None) };
            let steps = tx
                .prepare_cached(&format!("SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ?1 ORDER BY seq"))
                .and_then(|mut statement| {
                    statement.query_map([id.as_str()], RawStep::from_row)?.collect::<Result<Vec<_>, _>>()
                })
                .map_err(|e| backend(context(), e))?;
            let mut run = raw.decode()?;
            run.steps = steps.into_iter().map(|step| step.decode(&run.id)).collect::<Result<_, _>>()?;
            Ok(Some(run))
        })
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| {
            let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE 1");
            let mut args: Vec<String> = Vec::new();
            if let Some(job) = &filter.job_id {
                sql.push_str(" AND job_id = ?");
                args.push(job.clone());
            }
            if !filter.statuses.is_empty() {
                let marks = vec!["?"; filter.statuses.len()].join(", ");
                sql.push_str(&format!(" AND status IN ({marks})"));
                args.extend(filter.statuses.iter().map(|status| status.as_str().to_owned()));
            }
            if let Some(before) = &filter.before {
                sql.push_str(" AND (created_at, id) < ((SELECT created_at FROM runs WHERE id = ?), ?)");
                args.extend([before.to_string(), before.to_string()]);
            }
            if let Some(at) = &filter.created_after {
                sql.push_str(" AND created_at >= ?");
                args.push(timestamp(at));
            }
            if let Some(at) = &filter.created_before {
                sql.push_str(" AND created_at < ?");
                args.push(timestamp(at));
            }
            if let Some(prefix) = &filter.id_prefix {
                sql.push_str(&format!(" AND substr(id, 1, {}) = ?", prefix.chars().count()));
                args.push(prefix.clone());
            }
            if let Some(delivery) = &filter.delivery_id {
                // Deliveries are keyed by (source, id): a lookup by id alone reads them all,
                // which only this filter asks for.
                sql.push_str(
                    " AND id IN (SELECT value FROM deliveries, json_each(deliveries.runs) WHERE deliveries.id = ?)",
                );
                args.push(delivery.clone());
            }
            sql.push_str(" ORDER BY created_at DESC, id DESC");
            if let Some(limit) = filter.limit {
                sql.push_str(&format!(" LIMIT {}", i64::try_from(limit).unwrap_or(i64::MAX)));
            }
            let raws = conn
                .prepare_cached(&sql)
                .and_then(|mut statement| {
                    statement.query_map(params_from_iter(&args), RawRun::from_row)?.collect::<Result<Vec<_>, _>>()
                })
                .map_err(|e| backend("listing runs".to_owned(), e))?;
            raws.into_iter().map(RawRun::decode).collect()
        })
        .await
    }

    async fn save_step(&self, run: &RunId, step: &StepRecord) -> Result<(), StoreError> {
        let what = || format!("step `{}` of run `{run}`", step.key);
        let row = StepRow {
            run_id: run.to_string(),
            key: step.key.clone(),
            kind: COLUMNS.write_json(&step.kind, what, "kind")?,
            status: COLUMNS.write_enum(&step.status, what, "status")?,
            input: COLUMNS.write_json(&step.input, what, "input")?,
            output: step.output.as_ref().map(|output| COLUMNS.write_json(output, what, "output")).transpose()?,
            error: step.error.clone(),
            output_schema: step.output_schema.clone(),
            attempts: step.attempts,
            started_at: timestamp(&step.started_at),
            finished_at: step.finished_at.as_ref().map(timestamp),
            retries: step.retries.as_ref().map(|retries| COLUMNS.write_json(retries, what, "retries")).transpose()?,
        };
        self.write(Op::SaveStep(Box::new(row))).await
    }

    async fn put_schema(&self, fingerprint: &str, schema: &Value) -> Result<(), StoreError> {
        let schema = COLUMNS.write_json(schema, || format!("schema `{fingerprint}`"), "schema")?;
        self.write(Op::PutSchema { fingerprint: fingerprint.to_owned(), schema }).await
    }

    async fn accept_delivery(&self, delivery: &Delivery, runs: &[Run]) -> Result<DeliveryOutcome, StoreError> {
        let ids: Vec<&RunId> = runs.iter().map(|run| &run.id).collect();
        let row = DeliveryRow {
            source: delivery.source.clone(),
            id: delivery.id.clone(),
            received_at: timestamp(&delivery.received_at),
            runs: runs.iter().map(run_row).collect::<Result<_, _>>()?,
            run_ids: COLUMNS.write_json(&ids, || format!("delivery `{}`", delivery.id), "runs")?,
        };
        match self.write_for(Op::AcceptDelivery(Box::new(row))).await? {
            Written::Duplicate(runs) => Ok(DeliveryOutcome::Duplicate { runs }),
            Written::Done | Written::NotClaimed => Ok(DeliveryOutcome::New),
        }
    }

    async fn cursor(&self, key: &str) -> Result<Option<Value>, StoreError> {
        self.read_json("SELECT cursor FROM cursors WHERE \"key\" = ?1", key, "cursor").await
    }

    async fn save_cursor(&self, key: &str, cursor: &Value) -> Result<(), StoreError> {
        let text = COLUMNS.write_json(cursor, || format!("cursor `{key}`"), "cursor")?;
        self.write(Op::SaveCursor { key: key.to_owned(), cursor: text }).await
    }

    async fn schema(&self, fingerprint: &str) -> Result<Option<Value>, StoreError> {
        self.read_json("SELECT schema FROM schemas WHERE fingerprint = ?1", fingerprint, "schema").await
    }

    async fn append_logs(&self, run: &RunId, lines: &[LogLine]) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        let lines = lines
            .iter()
            .map(|line| writer::LogRow {
                at: timestamp(&line.at),
                level: line.level.as_str(),
                source: line.source.clone(),
                step: line.step.clone(),
                message: line.message.clone(),
            })
            .collect();
        self.write(Op::AppendLogs { run: run.to_string(), lines }).await
    }

    async fn logs(&self, run: &RunId) -> Result<RunLog, StoreError> {
        let id = run.clone();
        self.read(move |conn| {
            let context = || format!("reading the log of run `{id}`");
            let tx = conn.transaction().map_err(|e| backend(context(), e))?;
            let rows: Vec<(String, String, String, Option<String>, String)> = tx
                .prepare_cached("SELECT at, level, source, step, message FROM run_logs WHERE run_id = ?1 ORDER BY seq")
                .and_then(|mut statement| {
                    statement
                        .query_map([id.as_str()], |row| {
                            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
                        })?
                        .collect::<Result<Vec<_>, _>>()
                })
                .map_err(|e| backend(context(), e))?;
            let dropped: Option<i64> = tx
                .prepare_cached("SELECT dropped FROM run_log_drops WHERE run_id = ?1")
                .and_then(|mut statement| statement.query_row([id.as_str()], |row| row.get(0)).optional())
                .map_err(|e| backend(context(), e))?;
            let what = || format!("a log line of run `{id}`");
            let lines = rows
                .into_iter()
                .map(|(at, level, source, step, message)| {
                    Ok(LogLine {
                        at: codec::parse_timestamp(&at, what, "at")?,
                        level: COLUMNS.read_enum(&level, what, "level")?,
                        source,
                        step,
                        message,
                    })
                })
                .collect::<Result<_, StoreError>>()?;
            Ok(RunLog { lines, dropped: dropped.unwrap_or(0).max(0) as u64 })
        })
        .await
    }
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn tokens(&self, key: &str) -> Result<Option<Value>, TokenStoreError> {
        let tokens = self.read_json("SELECT tokens FROM tokens WHERE \"key\" = ?1", key, "tokens").await;
        tokens.map_err(|error| TokenStoreError(Box::new(error)))
    }

    async fn save_tokens(&self, key: &str, tokens: &Value) -> Result<(), TokenStoreError> {
        let saved = async {
            let text = COLUMNS.write_json(tokens, || format!("the tokens of `{key}`"), "tokens")?;
            self.write(Op::SaveTokens { key: key.to_owned(), tokens: text }).await
        };
        saved.await.map_err(|error| TokenStoreError(Box::new(error)))
    }
}

/// A store folder named `.connector-runtime` (the default's) gets a `.gitignore` that ignores
/// everything in it, so a project's local run store never reaches its repository.
fn ignore_store_folder(folder: &Path) {
    if folder.file_name().is_none_or(|name| name != ".connector-runtime") {
        return;
    }
    let ignore = folder.join(".gitignore");
    if !ignore.exists() {
        // Best effort: a folder the store can write its file to takes this one too.
        let _ = std::fs::write(ignore, "# The run store of connector-runtime: local state, not source.\n*\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use codec::parse_timestamp;
    use schema::MIGRATIONS;

    #[test]
    fn migrations_are_valid_sql_and_versioned() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("m.db")).unwrap();
        assert!(migrate(&mut conn).is_ok());
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        assert!(migrate(&mut conn).is_ok(), "migrating twice is a no-op");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn oauth2_tokens_kept_as_cursors_move_to_their_own_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.db");
        drop(SqliteStore::open(&path).unwrap());
        // A file as version 2 left it: tokens under the cursor key `oauth2:{connector}`.
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch(
            "DROP TABLE tokens; DROP TABLE run_logs; DROP TABLE run_log_drops; ALTER TABLE steps DROP COLUMN retries;
             PRAGMA user_version = 2;
             INSERT INTO cursors VALUES ('oauth2:tracker', '{\"access_token\":\"a\"}', '2026-01-01T00:00:00Z');
             INSERT INTO cursors VALUES ('poll:tracker/new', '7', '2026-01-01T00:00:00Z');",
        )
        .unwrap();
        drop(raw);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.tokens("tracker").await.unwrap(), Some(serde_json::json!({"access_token": "a"})));
        assert_eq!(store.cursor("oauth2:tracker").await.unwrap(), None, "the tokens left the cursors");
        assert_eq!(store.cursor("poll:tracker/new").await.unwrap(), Some(serde_json::json!(7)), "cursors stay");
    }

    #[test]
    fn timestamps_sort_as_text() {
        let early = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let later = early + chrono::Duration::nanoseconds(1);
        assert!(timestamp(&early) < timestamp(&later));
        assert_eq!(timestamp(&early).len(), timestamp(&later).len());
        assert_eq!(parse_timestamp(&timestamp(&later), String::new, "t").unwrap(), later);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn options_set_the_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        for (synchronous, expected) in [(Synchronous::Full, 2), (Synchronous::Normal, 1)] {
            let options = SqliteOptions { synchronous, ..SqliteOptions::default() };
            let store = SqliteStore::open_with(dir.path().join("p.db"), options).unwrap();
            let (level, mode, keys) = store
                .with_writer(|conn| {
                    let level: i64 = conn.pragma_query_value(None, "synchronous", |row| row.get(0))?;
                    let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
                    let keys: i64 = conn.pragma_query_value(None, "foreign_keys", |row| row.get(0))?;
                    Ok((level, mode, keys))
                })
                .await
                .unwrap();
            assert_eq!((level, mode.as_str(), keys), (expected, "wal", 1), "{synchronous:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_three_step_run_waits_for_the_disk_four_times() {
        use crate::model::{StepKind, StepStatus};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("synced.db");
        let store = SqliteStore::open(&path).unwrap();
        let run = crate::store::conformance::sample_run("three");
        let (commits, synced) = (store.commits(), store.synced_commits());
        store.create_run(&run).await.unwrap();
        store
            .update_run(&run.id, &RunUpdate { new_execution: true, ..RunUpdate::status(RunStatus::Running) })
            .await
            .unwrap();
        for key in ["one", "two", "three"] {
            let mut step = StepRecord::running(key, StepKind::Task, serde_json::json!(null));
            step.status = StepStatus::Succeeded;
            step.output = Some(serde_json::json!(key));
            store.save_step(&run.id, &step).await.unwrap();
        }
        let succeeded = RunUpdate { output: Some(serde_json::json!(3)), ..RunUpdate::status(RunStatus::Succeeded) };
        store.update_run(&run.id, &succeeded).await.unwrap();
        assert_eq!(store.commits() - commits, 6, "every write committed");
        assert_eq!(store.synced_commits() - synced, 4, "the running and succeeded marks ride on others' syncs");

        // A failure is synced; and what was committed unsynced is there after a reopen.
        let failed = RunUpdate { error: Some("no".to_owned()), ..RunUpdate::status(RunStatus::Failed) };
        let synced = store.synced_commits();
        store.update_run(&run.id, &failed).await.unwrap();
        assert_eq!(store.synced_commits() - synced, 1);
        store.update_run(&run.id, &succeeded).await.unwrap();
        drop(store);
        let reopened = SqliteStore::open(&path).unwrap();
        let back = reopened.run(&run.id).await.unwrap().unwrap();
        assert_eq!((back.status, back.steps.len(), back.executions), (RunStatus::Succeeded, 3, 1));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failing_write_does_not_undo_its_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path().join("b.db")).unwrap());
        let run = crate::store::conformance::sample_run("job");
        store.create_run(&run).await.unwrap();
        // Many writes at once, every other one failing: the good ones all land.
        let mut tasks = Vec::new();
        for i in 0..200 {
            let store = Arc::clone(&store);
            let id = if i % 2 == 0 { run.id.clone() } else { RunId::new() };
            tasks.push(tokio::spawn(async move {
                store.save_step(&id, &crate::store::conformance::sample_step(&format!("s{i}"))).await
            }));
        }
        for (i, task) in tasks.into_iter().enumerate() {
            let result = task.await.unwrap();
            if i % 2 == 0 {
                result.unwrap();
            } else {
                assert!(matches!(result, Err(StoreError::RunNotFound(_))), "{result:?}");
            }
        }
        assert_eq!(store.run(&run.id).await.unwrap().unwrap().steps.len(), 100);
    }
}
