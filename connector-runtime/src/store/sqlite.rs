//! [`SqliteStore`]: runs in one SQLite file, the engine's default durable store.
//!
//! One writer thread owns the write connection and commits every queued command in one
//! transaction (group commit), with a `SAVEPOINT` per command so a failing command is undone
//! alone and its error goes to its caller only; reads use a small pool of read connections
//! (WAL mode, so they never wait for the writer). Durability is `PRAGMA synchronous`: `FULL` by
//! default, `NORMAL` on request (see `Synchronous`).
//!
//! The schema is versioned with `PRAGMA user_version`: `MIGRATIONS` is an append-only list, and
//! opening a file applies the ones it has not seen yet, in one transaction. To change the schema,
//! append migration N+1; never edit one that has shipped.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params, params_from_iter};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::oneshot;

use crate::client::{TokenStore, TokenStoreError};

use super::{Delivery, DeliveryOutcome, RunFilter, RunStore, RunUpdate, StoreError};
use crate::model::{Run, RunId, StepKind, StepRecord, StepStatus};

/// The schema, one migration per version: entry `i` takes a file from `user_version = i` to
/// `i + 1`. Append only: never edit a migration that has shipped, add the next one.
const MIGRATIONS: &[&str] = &[
    // 1: runs, their steps, and schemas by fingerprint.
    r#"
    CREATE TABLE runs (
        id          TEXT NOT NULL PRIMARY KEY,  -- a UUIDv7, so ids sort by creation
        job_id      TEXT NOT NULL,
        job_version TEXT NOT NULL,
        "trigger"   TEXT NOT NULL,              -- JSON (TriggerRef)
        payload     TEXT NOT NULL,              -- JSON
        status      TEXT NOT NULL,              -- queued, running, waiting, succeeded, failed
        output      TEXT,                       -- JSON
        error       TEXT,
        created_at  TEXT NOT NULL,              -- RFC 3339, UTC, nanoseconds, fixed width
        updated_at  TEXT NOT NULL,
        wake_at     TEXT,
        executions  INTEGER NOT NULL DEFAULT 0
    ) STRICT;
    CREATE INDEX runs_newest ON runs (created_at, id);
    CREATE INDEX runs_by_status ON runs (status, created_at, id);
    CREATE INDEX runs_by_job ON runs (job_id, created_at, id);

    CREATE TABLE steps (
        run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        "key"         TEXT NOT NULL,
        seq           INTEGER NOT NULL,         -- start order within the run, from 0
        kind          TEXT NOT NULL,            -- JSON (StepKind)
        status        TEXT NOT NULL,            -- running, succeeded, failed
        input         TEXT NOT NULL,            -- JSON
        output        TEXT,                     -- JSON
        error         TEXT,
        output_schema TEXT,
        attempts      INTEGER NOT NULL,
        started_at    TEXT NOT NULL,
        finished_at   TEXT,
        PRIMARY KEY (run_id, "key"),
        UNIQUE (run_id, seq)
    ) STRICT;

    CREATE TABLE schemas (
        fingerprint TEXT NOT NULL PRIMARY KEY,
        schema      TEXT NOT NULL               -- JSON
    ) STRICT;
    "#,
    // 2: deliveries accepted (for dedupe) and polling cursors.
    r#"
    CREATE TABLE deliveries (
        source      TEXT NOT NULL,              -- webhook:{connector}/{trigger}, event:{name}, poll:..
        id          TEXT NOT NULL,
        runs        TEXT NOT NULL,              -- JSON array of the run ids it started
        received_at TEXT NOT NULL,
        PRIMARY KEY (source, id)
    ) STRICT;

    CREATE TABLE cursors (
        "key"       TEXT NOT NULL PRIMARY KEY,
        cursor      TEXT NOT NULL,              -- JSON
        updated_at  TEXT NOT NULL
    ) STRICT;
    "#,
    // 2: OAuth2 tokens get a table of their own (they were kept as cursors `oauth2:{connector}`).
    r#"
    CREATE TABLE tokens (
        "key"       TEXT NOT NULL PRIMARY KEY,  -- the connector's id
        tokens      TEXT NOT NULL,              -- JSON
        updated_at  TEXT NOT NULL
    ) STRICT;
    INSERT INTO tokens ("key", tokens, updated_at)
        SELECT substr("key", 8), cursor, updated_at FROM cursors WHERE "key" LIKE 'oauth2:%';
    DELETE FROM cursors WHERE "key" LIKE 'oauth2:%';
    "#,
];

/// How long a connection waits for a lock held by another connection (another process, or a
/// checkpoint) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many commands share one transaction.
const MAX_BATCH: usize = 1024;
/// At most this many idle read connections are kept open.
const MAX_IDLE_READERS: usize = 4;

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SqliteOptions {
    /// What a completed write survives: [`Synchronous::Full`] (the default) survives power
    /// loss, [`Synchronous::Normal`] only process crashes.
    pub synchronous: Synchronous,
}

/// Keeps runs in a SQLite file: durable, and shared by every store opened on the same file (in
/// this process or another).
///
/// # Writes: one writer thread, group commit
///
/// A dedicated thread owns the only write connection. Each write (`create_run`, `update_run`,
/// `save_step`, `put_schema`) is encoded on the caller's task (JSON, timestamps) and sent to that
/// thread. The thread takes the first command, drains every command queued behind it, and runs
/// the whole batch in one transaction, each command inside its own `SAVEPOINT`: a command that
/// fails (a duplicate run id, an unknown run) is rolled back alone and its error goes to its
/// caller only. After the one `COMMIT` every caller is answered, so a write completes only once
/// its commit is durable, and under load one commit (one sync to disk) serves many writers.
/// A write whose future is dropped before it completes may still be committed.
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
/// Dropping the store finishes the writes already queued, then stops the writer thread.
pub struct SqliteStore {
    path: PathBuf,
    writer: Option<Writer>,
    readers: Arc<ReadPool>,
    commits: Arc<AtomicU64>,
}

struct Writer {
    commands: mpsc::Sender<Command>,
    thread: JoinHandle<()>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("commits", &self.commits())
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the store in the file at `path` with the default options (fully synced commits),
    /// creating the file and its parent directories on first use and bringing its
    /// schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        SqliteStore::open_with(path, SqliteOptions::default())
    }

    /// Opens the store in the file at `path`, as [`open`](Self::open) does, with `options`.
    ///
    /// Fails when the file cannot be opened, is not a SQLite database, or was written by a newer
    /// version of this crate (its schema version is one this version does not know).
    pub fn open_with(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| backend(format!("creating the directory `{}`", parent.display()), e))?;
        }
        let mut conn = Connection::open(&path).map_err(|e| backend(format!("opening `{shown}`"), e))?;
        configure_writer(&conn, options.synchronous, &shown)?;
        migrate(&mut conn).map_err(|e| match e {
            MigrateError::Sqlite(e) => backend(format!("migrating the schema of `{shown}`"), e),
            MigrateError::TooNew(found) => StoreError::Backend(format!(
                "sqlite: `{shown}` has schema version {found}, newer than the {} this version knows; \
                 open it with a newer version",
                MIGRATIONS.len()
            )),
        })?;

        let commits = Arc::new(AtomicU64::new(0));
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".to_owned())
            .spawn({
                let commits = Arc::clone(&commits);
                move || write_loop(conn, receiver, &commits)
            })
            .map_err(|e| backend("starting the writer thread".to_owned(), e))?;

        Ok(SqliteStore {
            readers: Arc::new(ReadPool { path: path.clone(), idle: Mutex::new(Vec::new()) }),
            path,
            writer: Some(Writer { commands: sender, thread }),
            commits,
        })
    }

    /// The file the store keeps its runs in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many transactions the writer thread committed: fewer than the writes when group
    /// commit batches them. For tests and benchmarks.
    #[doc(hidden)]
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Sends `op` to the writer thread and waits for its commit.
    async fn write(&self, op: Op) -> Result<(), StoreError> {
        self.write_for(op).await.map(|_| ())
    }

    /// [`SqliteStore::write`], answering what the write did.
    async fn write_for(&self, op: Op) -> Result<Written, StoreError> {
        let stopped = || StoreError::Backend("sqlite: the writer thread has stopped".to_owned());
        let writer = self.writer.as_ref().ok_or_else(stopped)?;
        let (reply, answer) = oneshot::channel();
        writer.commands.send(Command { op, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The JSON document `sql` selects by `key` (one column of one row), if there is one.
    async fn read_json(&self, sql: &'static str, key: &str, what: &'static str) -> Result<Option<Value>, StoreError> {
        let key = key.to_owned();
        self.read(move |conn| {
            let text: Option<String> = conn
                .prepare_cached(sql)
                .and_then(|mut statement| statement.query_row([&key], |row| row.get(0)).optional())
                .map_err(|e| backend(format!("reading {what} `{key}`"), e))?;
            text.map(|text| from_json(&text, || format!("{what} `{key}`"), what)).transpose()
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
                .map_err(|e| StoreError::Backend(format!("sqlite: a read task failed: {e}")))?,
            Err(_) => job(),
        }
    }

    /// Runs `f` on the writer thread's connection, inside the batch transaction.
    #[cfg(test)]
    async fn with_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let op = Op::Call(Box::new(move |conn| {
            let _ = tx.send(f(conn).map_err(|e| backend("test call".to_owned(), e))?);
            Ok(Written::Done)
        }));
        self.write(op).await?;
        rx.await.map_err(|_| StoreError::Backend("sqlite: no answer".to_owned()))
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Readers first, so the writer's connection is the last one: closing it checkpoints the
        // log into the database file.
        self.readers.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
        if let Some(Writer { commands, thread }) = self.writer.take() {
            // The thread finishes the commands queued, sees the channel closed, and returns.
            drop(commands);
            let _ = thread.join();
        }
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
            output: update.output.as_ref().map(|output| to_json(output, what, "output")).transpose()?,
            error: update.error.clone(),
            wake_at: update.wake_at.as_ref().map(timestamp),
            new_execution: update.new_execution,
        };
        self.write(Op::UpdateRun(Box::new(row))).await
    }

    async fn run(&self, id: &RunId) -> Result<Option<Run>, StoreError> {
        let id = id.clone();
        self.read(move |conn| {
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
        .await
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

    async fn step(&self, run: &RunId, key: &str) -> Result<Option<StepRecord>, StoreError> {
        let (run, key) = (run.clone(), key.to_owned());
        self.read(move |conn| {
            let context = || format!("reading step `{key}` of run `{run}`");
            let tx = conn.transaction().map_err(|e| backend(context(), e))?;
            let raw = tx
                .prepare_cached(&format!("SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ?1 AND \"key\" = ?2"))
                .and_then(|mut statement| statement.query_row([run.as_str(), &key], RawStep::from_row).optional())
                .map_err(|e| backend(context(), e))?;
            if let Some(raw) = raw {
                return raw.decode(&run).map(Some);
            }
            let exists = tx
                .prepare_cached("SELECT 1 FROM runs WHERE id = ?1")
                .and_then(|mut statement| statement.exists([run.as_str()]))
                .map_err(|e| backend(context(), e))?;
            if exists { Ok(None) } else { Err(StoreError::RunNotFound(run)) }
        })
        .await
    }

    async fn save_step(&self, run: &RunId, step: &StepRecord) -> Result<(), StoreError> {
        let what = || format!("step `{}` of run `{run}`", step.key);
        let row = StepRow {
            run_id: run.to_string(),
            key: step.key.clone(),
            kind: to_json(&step.kind, what, "kind")?,
            status: enum_text(&step.status, what, "status")?,
            input: to_json(&step.input, what, "input")?,
            output: step.output.as_ref().map(|output| to_json(output, what, "output")).transpose()?,
            error: step.error.clone(),
            output_schema: step.output_schema.clone(),
            attempts: step.attempts,
            started_at: timestamp(&step.started_at),
            finished_at: step.finished_at.as_ref().map(timestamp),
        };
        self.write(Op::SaveStep(Box::new(row))).await
    }

    async fn put_schema(&self, fingerprint: &str, schema: &Value) -> Result<(), StoreError> {
        let schema = to_json(schema, || format!("schema `{fingerprint}`"), "schema")?;
        self.write(Op::PutSchema { fingerprint: fingerprint.to_owned(), schema }).await
    }

    async fn accept_delivery(&self, delivery: &Delivery, runs: &[Run]) -> Result<DeliveryOutcome, StoreError> {
        let ids: Vec<&RunId> = runs.iter().map(|run| &run.id).collect();
        let row = DeliveryRow {
            source: delivery.source.clone(),
            id: delivery.id.clone(),
            received_at: timestamp(&delivery.received_at),
            runs: runs.iter().map(run_row).collect::<Result<_, _>>()?,
            run_ids: to_json(&ids, || format!("delivery `{}`", delivery.id), "runs")?,
        };
        match self.write_for(Op::AcceptDelivery(Box::new(row))).await? {
            Written::Done => Ok(DeliveryOutcome::New),
            Written::Duplicate(runs) => Ok(DeliveryOutcome::Duplicate { runs }),
        }
    }

    async fn cursor(&self, key: &str) -> Result<Option<Value>, StoreError> {
        self.read_json("SELECT cursor FROM cursors WHERE \"key\" = ?1", key, "cursor").await
    }

    async fn save_cursor(&self, key: &str, cursor: &Value) -> Result<(), StoreError> {
        let text = to_json(cursor, || format!("cursor `{key}`"), "cursor")?;
        self.write(Op::SaveCursor { key: key.to_owned(), cursor: text }).await
    }

    async fn schema(&self, fingerprint: &str) -> Result<Option<Value>, StoreError> {
        self.read_json("SELECT schema FROM schemas WHERE fingerprint = ?1", fingerprint, "schema").await
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
            let text = to_json(tokens, || format!("the tokens of `{key}`"), "tokens")?;
            self.write(Op::SaveTokens { key: key.to_owned(), tokens: text }).await
        };
        saved.await.map_err(|error| TokenStoreError(Box::new(error)))
    }
}

// ---------------------------------------------------------------------------------------------
// Opening

fn configure_writer(conn: &Connection, synchronous: Synchronous, shown: &str) -> Result<(), StoreError> {
    let context = || format!("configuring `{shown}`");
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| backend(context(), e))?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| backend(context(), e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!("sqlite: `{shown}` refused WAL mode (it stays in `{mode}` mode)")));
    }
    conn.pragma_update(None, "synchronous", synchronous.pragma())
        .and_then(|()| conn.pragma_update(None, "foreign_keys", true))
        .map_err(|e| backend(context(), e))
}

enum MigrateError {
    Sqlite(rusqlite::Error),
    TooNew(i64),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(error: rusqlite::Error) -> Self {
        MigrateError::Sqlite(error)
    }
}

/// Applies the migrations the file has not seen, in one transaction (taken for writing first,
/// so two processes opening a new file at once do not both migrate it).
fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let known = MIGRATIONS.len();
    let applied =
        usize::try_from(version).ok().filter(|applied| *applied <= known).ok_or(MigrateError::TooNew(version))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Reads

struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    fn with<T>(&self, read: impl FnOnce(&mut Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.connect()?,
        };
        let result = read(&mut conn);
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        result
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let context = || format!("opening a read connection to `{}`", self.path.display());
        // Not `Connection::open`: a reader must not create an empty file where the store's was.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| backend(context(), e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .and_then(|()| conn.pragma_update(None, "query_only", true))
            .map_err(|e| backend(context(), e))?;
        Ok(conn)
    }
}

const RUN_COLUMNS: &str = "id, job_id, job_version, \"trigger\", payload, status, output, error, \
                           created_at, updated_at, wake_at, executions";

/// A run's row as text, decoded outside rusqlite so bad data becomes a [`StoreError`].
struct RawRun {
    id: String,
    job_id: String,
    job_version: String,
    trigger: String,
    payload: String,
    status: String,
    output: Option<String>,
    error: Option<String>,
    created_at: String,
    updated_at: String,
    wake_at: Option<String>,
    executions: i64,
}

impl RawRun {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
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

    fn decode(self) -> Result<Run, StoreError> {
        let id = self.id;
        let what = || format!("run `{id}`");
        Ok(Run {
            job_id: self.job_id,
            job_version: self.job_version,
            trigger: from_json(&self.trigger, what, "trigger")?,
            payload: from_json(&self.payload, what, "payload")?,
            status: from_enum_text(&self.status, what, "status")?,
            output: self.output.map(|output| from_json(&output, what, "output")).transpose()?,
            error: self.error,
            created_at: parse_timestamp(&self.created_at, what, "created_at")?,
            updated_at: parse_timestamp(&self.updated_at, what, "updated_at")?,
            wake_at: self.wake_at.map(|wake_at| parse_timestamp(&wake_at, what, "wake_at")).transpose()?,
            executions: from_integer(self.executions, what, "executions")?,
            steps: Vec::new(),
            id: RunId::from(id),
        })
    }
}

const STEP_COLUMNS: &str = "\"key\", kind, status, input, output, error, output_schema, attempts, \
                            started_at, finished_at";

/// A step's row as text, decoded outside rusqlite so bad data becomes a [`StoreError`].
struct RawStep {
    key: String,
    kind: String,
    status: String,
    input: String,
    output: Option<String>,
    error: Option<String>,
    output_schema: Option<String>,
    attempts: i64,
    started_at: String,
    finished_at: Option<String>,
}

impl RawStep {
    fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
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
        })
    }

    fn decode(self, run: &RunId) -> Result<StepRecord, StoreError> {
        let key = self.key;
        let what = || format!("step `{key}` of run `{run}`");
        Ok(StepRecord {
            kind: from_json::<StepKind>(&self.kind, what, "kind")?,
            status: from_enum_text::<StepStatus>(&self.status, what, "status")?,
            input: from_json(&self.input, what, "input")?,
            output: self.output.map(|output| from_json(&output, what, "output")).transpose()?,
            error: self.error,
            output_schema: self.output_schema,
            attempts: from_integer(self.attempts, what, "attempts")?,
            started_at: parse_timestamp(&self.started_at, what, "started_at")?,
            finished_at: self.finished_at.map(|at| parse_timestamp(&at, what, "finished_at")).transpose()?,
            key,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Writes

/// A write, encoded on the caller's task so the writer thread only runs SQL.
enum Op {
    CreateRun(Box<RunRow>),
    UpdateRun(Box<UpdateRow>),
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
    #[cfg(test)]
    Call(TestCall),
}

/// A closure a unit test runs on the writer's connection.
#[cfg(test)]
type TestCall = Box<dyn FnOnce(&Connection) -> Result<Written, StoreError> + Send>;

struct Command {
    op: Op,
    reply: oneshot::Sender<Result<Written, StoreError>>,
}

/// What a write did, when the caller needs more than "done".
enum Written {
    Done,
    /// `AcceptDelivery` found the delivery already accepted, with these runs.
    Duplicate(Vec<RunId>),
}

struct RunRow {
    id: String,
    job_id: String,
    job_version: String,
    trigger: String,
    payload: String,
    status: &'static str,
    output: Option<String>,
    error: Option<String>,
    created_at: String,
    updated_at: String,
    wake_at: Option<String>,
    executions: u32,
}

struct DeliveryRow {
    source: String,
    id: String,
    received_at: String,
    runs: Vec<RunRow>,
    /// JSON array of the runs' ids.
    run_ids: String,
}

struct UpdateRow {
    id: String,
    status: &'static str,
    output: Option<String>,
    error: Option<String>,
    wake_at: Option<String>,
    new_execution: bool,
}

struct StepRow {
    run_id: String,
    key: String,
    kind: String,
    status: String,
    input: String,
    output: Option<String>,
    error: Option<String>,
    output_schema: Option<String>,
    attempts: u32,
    started_at: String,
    finished_at: Option<String>,
}

/// The writer thread: takes a command, drains the queue behind it, runs the batch, until every
/// sender is gone (the store was dropped) and the queue is empty.
fn write_loop(conn: Connection, commands: mpsc::Receiver<Command>, commits: &AtomicU64) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = commands.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        run_batch(&conn, &mut batch, commits);
    }
}

/// Runs the commands in as few transactions as possible (one, unless a failure made SQLite
/// abandon the transaction), then answers each caller once its commit is done.
fn run_batch(conn: &Connection, batch: &mut Vec<Command>, commits: &AtomicU64) {
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
                    commits.fetch_add(1, Ordering::Relaxed);
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
                (Some(failure), Ok(_)) => Err(StoreError::Backend(failure.clone())),
                (_, result) => result,
            };
            let _ = reply.send(result);
        }
    }
}

fn execute(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

/// Applies one command inside a savepoint, so its failure undoes it alone.
fn apply_in_savepoint(conn: &Connection, op: Op) -> Result<Written, StoreError> {
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

fn apply(conn: &Connection, op: Op) -> Result<Written, StoreError> {
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
                let runs: Vec<RunId> = from_json(&earlier, context, "runs")?;
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
        Op::SaveTokens { key, tokens } => {
            conn.prepare_cached(
                "INSERT INTO tokens (\"key\", tokens, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (\"key\") DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
            )
            .and_then(|mut statement| statement.execute(params![key, tokens, timestamp(&Utc::now())]))
            .map_err(|e| backend(format!("saving the tokens of `{key}`"), e))?;
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
            // Touching the run checks it exists, and records the change.
            let touched = conn
                .prepare_cached("UPDATE runs SET updated_at = ?2 WHERE id = ?1")
                .and_then(|mut statement| statement.execute(params![step.run_id, timestamp(&Utc::now())]))
                .map_err(|e| backend(context(), e))?;
            if touched == 0 {
                return Err(StoreError::RunNotFound(RunId::from(step.run_id)));
            }
            // A new key gets the next seq; a known key keeps its seq (its start order).
            conn.prepare_cached(
                "INSERT INTO steps (run_id, \"key\", seq, kind, status, input, output, error, output_schema, \
                                    attempts, started_at, finished_at)
                 VALUES (?1, ?2, (SELECT COALESCE(MAX(seq) + 1, 0) FROM steps WHERE run_id = ?1),
                         ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (run_id, \"key\") DO UPDATE SET
                     kind = excluded.kind, status = excluded.status, input = excluded.input,
                     output = excluded.output, error = excluded.error,
                     output_schema = excluded.output_schema, attempts = excluded.attempts,
                     started_at = excluded.started_at, finished_at = excluded.finished_at",
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
                ])
            })
            .map_err(|e| backend(context(), e))?;
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

/// A run, encoded for the writer thread.
fn run_row(run: &Run) -> Result<RunRow, StoreError> {
    let id = run.id.to_string();
    let what = || format!("run `{id}`");
    Ok(RunRow {
        job_id: run.job_id.clone(),
        job_version: run.job_version.clone(),
        trigger: to_json(&run.trigger, what, "trigger")?,
        payload: to_json(&run.payload, what, "payload")?,
        status: run.status.as_str(),
        output: run.output.as_ref().map(|output| to_json(output, what, "output")).transpose()?,
        error: run.error.clone(),
        created_at: timestamp(&run.created_at),
        updated_at: timestamp(&run.updated_at),
        wake_at: run.wake_at.as_ref().map(timestamp),
        executions: run.executions,
        id,
    })
}

/// Inserts a run; an existing id is `DuplicateRun`.
fn insert_run(conn: &Connection, run: RunRow) -> Result<(), StoreError> {
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

// ---------------------------------------------------------------------------------------------
// Encoding

fn backend(context: String, error: impl fmt::Display) -> StoreError {
    StoreError::Backend(format!("sqlite: {context}: {error}"))
}

/// Fixed width (nanoseconds, `Z`), so the text sorts as the time does.
fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn parse_timestamp(text: &str, what: impl Fn() -> String, column: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&Utc)).map_err(|e| {
        StoreError::Backend(format!("sqlite: {}: `{column}` is not an RFC 3339 time ({e}): {text:?}", what()))
    })
}

fn to_json<T: Serialize + ?Sized>(value: &T, what: impl Fn() -> String, column: &str) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Backend(format!("sqlite: {}: cannot encode `{column}` as JSON: {e}", what())))
}

fn from_json<T: DeserializeOwned>(text: &str, what: impl Fn() -> String, column: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Backend(format!("sqlite: {}: `{column}` holds invalid JSON ({e})", what())))
}

/// A unit enum variant as its serde name (`"running"`).
fn enum_text<T: Serialize>(value: &T, what: impl Fn() -> String, column: &str) -> Result<String, StoreError> {
    match serde_json::to_value(value) {
        Ok(Value::String(text)) => Ok(text),
        _ => Err(StoreError::Backend(format!("sqlite: {}: cannot encode `{column}` as text", what()))),
    }
}

fn from_enum_text<T: DeserializeOwned>(text: &str, what: impl Fn() -> String, column: &str) -> Result<T, StoreError> {
    serde_json::from_value(Value::String(text.to_owned()))
        .map_err(|_| StoreError::Backend(format!("sqlite: {}: unknown `{column}` {text:?}", what())))
}

fn from_integer(value: i64, what: impl Fn() -> String, column: &str) -> Result<u32, StoreError> {
    u32::try_from(value)
        .map_err(|_| StoreError::Backend(format!("sqlite: {}: `{column}` is out of range: {value}", what())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid_sql_and_versioned() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("m.db")).unwrap();
        assert!(migrate(&mut conn).is_ok());
        let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        assert!(migrate(&mut conn).is_ok(), "migrating twice is a no-op");
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
            let store = SqliteStore::open_with(dir.path().join("p.db"), SqliteOptions { synchronous }).unwrap();
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
