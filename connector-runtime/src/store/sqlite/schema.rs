//! The schema of a SQLite run store: its migrations, applied in order on open, the versions a
//! read-only store reads, and the pragmas the writer connection runs with.

use rusqlite::{Connection, TransactionBehavior};

use super::codec::backend;
use super::{BUSY_TIMEOUT, Synchronous};
use crate::store::StoreError;

/// The schema, one migration per version: entry `i` takes a file from `user_version = i` to
/// `i + 1`. Append only: never edit a migration that has shipped, add the next one.
pub(super) const MIGRATIONS: &[&str] = &[
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
    // 3: OAuth2 tokens get a table of their own (they were kept as cursors `oauth2:{connector}`).
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
    // 4: the log lines of runs (at most `MAX_LOG_LINES_PER_RUN` a run; the rest counted).
    r#"
    CREATE TABLE run_logs (
        run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq         INTEGER NOT NULL,           -- the order they were logged in, from 0
        at          TEXT NOT NULL,
        level       TEXT NOT NULL,              -- debug, info, warn, error
        source      TEXT NOT NULL,              -- the job's or the connector's id
        step        TEXT,
        message     TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE run_log_drops (
        run_id      TEXT NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
        dropped     INTEGER NOT NULL
    ) STRICT;
    "#,
    // 5: the failed attempts of a retried step, with the policy that retried it (JSON, NULL
    // for a step whose first attempt ended it).
    r#"
    ALTER TABLE steps ADD COLUMN retries TEXT;
    "#,
];

pub(super) fn configure_writer(conn: &Connection, synchronous: Synchronous, shown: &str) -> Result<(), StoreError> {
    let context = || format!("configuring `{shown}`");
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| backend(context(), e))?;
    conn.set_prepared_statement_cache_capacity(super::STATEMENT_CACHE);
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|e| backend(context(), e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::backend(format!("sqlite: `{shown}` refused WAL mode (it stays in `{mode}` mode)")));
    }
    conn.pragma_update(None, "synchronous", synchronous.pragma())
        .and_then(|()| conn.pragma_update(None, "foreign_keys", true))
        .map_err(|e| backend(context(), e))
}

/// A file whose schema is newer than this version's: written by a newer version of this crate.
pub(super) fn too_new(found: i64, shown: &str) -> StoreError {
    StoreError::backend(format!(
        "sqlite: `{shown}` has schema version {found}, newer than the {} this version knows; \
         open it with a newer version",
        MIGRATIONS.len()
    ))
}

/// Whether a store opened read-only can read a file at schema `version`: only the current
/// version's. A read-only store cannot migrate, and a read of an older schema would fail on
/// what it lacks (a table, a column) or find less than is there (tokens kept elsewhere) midway
/// through a command; refusing at open says what to do instead.
pub(super) fn check_version_for_reading(version: i64, shown: &str) -> Result<(), StoreError> {
    let current = MIGRATIONS.len() as i64;
    match version {
        _ if version > current => Err(too_new(version, shown)),
        0 => Err(StoreError::backend(format!(
            "sqlite: `{shown}` is not a run store yet (it has no schema); opening it read-only does not create one"
        ))),
        _ if version < current => Err(StoreError::backend(format!(
            "sqlite: `{shown}` has schema version {version}, older than the {current} this version reads; \
             open it for writing once (that migrates it), then read it"
        ))),
        _ => Ok(()),
    }
}

pub(super) enum MigrateError {
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
pub(super) fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
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
