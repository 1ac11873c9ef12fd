//! The schema of a PostgreSQL run store: its migrations, and applying them at connect so that
//! several processes starting at once migrate a database exactly once.

use deadpool_postgres::Client;

use super::codec::backend;
use crate::store::StoreError;

/// The schema, one migration per version: entry `i` takes a database from version `i` to
/// `i + 1`. Append only: never edit a migration that has shipped, add the next one. The same
/// tables as the SQLite store's (at its version 3), in PostgreSQL's types, plus the work queue.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: runs and their steps, schemas by fingerprint, deliveries (for dedupe), polling
    // cursors and OAuth2 tokens.
    r#"
    CREATE TABLE runs (
        id          text NOT NULL PRIMARY KEY,  -- a UUIDv7, so ids sort by creation
        job_id      text NOT NULL,
        job_version text NOT NULL,
        "trigger"   text NOT NULL,              -- JSON (TriggerRef)
        payload     text NOT NULL,              -- JSON
        status      text NOT NULL,              -- queued, running, waiting, succeeded, failed, cancelled
        output      text,                       -- JSON
        error       text,
        created_at  timestamptz NOT NULL,
        updated_at  timestamptz NOT NULL,
        wake_at     timestamptz,
        executions  bigint NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_newest ON runs (created_at, id);
    CREATE INDEX runs_by_status ON runs (status, created_at, id);
    CREATE INDEX runs_by_job ON runs (job_id, created_at, id);

    CREATE TABLE steps (
        run_id        text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        "key"         text NOT NULL,
        seq           bigint NOT NULL,          -- start order within the run, from 0
        kind          text NOT NULL,            -- JSON (StepKind)
        status        text NOT NULL,            -- running, succeeded, failed
        input         text NOT NULL,            -- JSON
        output        text,                     -- JSON
        error         text,
        output_schema text,
        attempts      bigint NOT NULL,
        started_at    timestamptz NOT NULL,
        finished_at   timestamptz,
        PRIMARY KEY (run_id, "key"),
        UNIQUE (run_id, seq)
    );

    CREATE TABLE schemas (
        fingerprint text NOT NULL PRIMARY KEY,
        schema      text NOT NULL               -- JSON
    );

    CREATE TABLE deliveries (
        source      text NOT NULL,              -- webhook:{connector}/{trigger}, event:{name}, poll:..
        id          text NOT NULL,
        runs        text NOT NULL,              -- JSON array of the run ids it started
        received_at timestamptz NOT NULL,
        PRIMARY KEY (source, id)
    );

    CREATE TABLE cursors (
        "key"       text NOT NULL PRIMARY KEY,
        cursor      text NOT NULL,              -- JSON
        updated_at  timestamptz NOT NULL
    );

    CREATE TABLE tokens (
        "key"       text NOT NULL PRIMARY KEY,  -- the connector's id
        tokens      text NOT NULL,              -- JSON
        updated_at  timestamptz NOT NULL
    );
    "#,
    // 2: the work queue. A run executing is leased to the store that holds it (its
    // `lease_owner`, until `lease_until`); queued runs are found through a partial index of
    // them, stale ones (a lapsed lease, a wait over) through one of every unfinished run; a trigger tells listening processes when a run becomes claimable
    // (`connector_runtime_work`) and when one finishes or parks (`connector_runtime_change`,
    // with the run's id), so an idle worker wakes within milliseconds and a waiter need not poll.
    // Each says which schema it is from, so stores in other schemas of the database ignore it.
    r#"
    ALTER TABLE runs ADD COLUMN lease_owner text, ADD COLUMN lease_until timestamptz;
    CREATE INDEX runs_queued ON runs (created_at, id) WHERE status = 'queued';
    CREATE INDEX runs_runnable ON runs (created_at, id) WHERE status IN ('queued', 'running', 'waiting');

    CREATE FUNCTION connector_runtime_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.status = 'queued' THEN
            PERFORM pg_notify('connector_runtime_work', TG_TABLE_SCHEMA);
        ELSIF NEW.status IN ('succeeded', 'failed', 'cancelled', 'waiting') THEN
            PERFORM pg_notify('connector_runtime_change', TG_TABLE_SCHEMA || ' ' || NEW.id);
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER runs_notify AFTER INSERT OR UPDATE OF status ON runs
        FOR EACH ROW EXECUTE FUNCTION connector_runtime_notify();
    "#,
    // 3: limits shared by every process: a connector's rate limit as the theoretical arrival
    // time of its next request (GCRA), and its concurrency as slots taken under a lease.
    r#"
    CREATE TABLE rate_limits (
        "key"       text NOT NULL PRIMARY KEY,  -- the connector's id
        tat         timestamptz NOT NULL        -- when the next request is due, with no burst
    );

    CREATE TABLE request_slots (
        "key"       text NOT NULL,              -- the connector's id
        slot        integer NOT NULL,           -- 0 .. concurrency - 1
        holder      text,                       -- who has it, while it is taken
        until       timestamptz,                -- when it is free again if never given back
        PRIMARY KEY ("key", slot)
    );
    "#,
    // 4: the log lines of runs (at most `MAX_LOG_LINES_PER_RUN` a run; the rest counted).
    r#"
    CREATE TABLE run_logs (
        run_id      text NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        seq         bigint NOT NULL,            -- the order they were logged in, from 0
        at          timestamptz NOT NULL,
        level       text NOT NULL,              -- debug, info, warn, error
        source      text NOT NULL,              -- the job's or the connector's id
        step        text,
        message     text NOT NULL,
        PRIMARY KEY (run_id, seq)
    );

    CREATE TABLE run_log_drops (
        run_id      text NOT NULL PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
        dropped     bigint NOT NULL
    );
    "#,
    // 5: the failed attempts of a retried step, with the policy that retried it (JSON, NULL
    // for a step whose first attempt ended it).
    r#"
    ALTER TABLE steps ADD COLUMN retries text;
    "#,
    // 6: less work per statement on the hot path. A step's run is checked by the step's own
    // upsert (it selects the run, under the lease), and runs are never deleted, so the foreign
    // key only cost a second lookup and a row lock on the run per step saved. The notification
    // trigger fires only for the statuses it announces: a claim (`running`) calls no function.
    r#"
    ALTER TABLE steps DROP CONSTRAINT steps_run_id_fkey;
    DROP TRIGGER runs_notify ON runs;
    CREATE TRIGGER runs_notify AFTER INSERT OR UPDATE OF status ON runs
        FOR EACH ROW WHEN (NEW.status <> 'running') EXECUTE FUNCTION connector_runtime_notify();
    "#,
];

/// The key of the transaction-level advisory lock migrations hold: every process migrating a
/// store in this database takes it first, so exactly one applies each migration and the
/// others find it applied. (An arbitrary constant: "connrt" in ASCII.)
pub(super) const MIGRATION_LOCK: i64 = 0x636f_6e6e_7274;

/// The table recording how many migrations are applied: one row, created by the first connect.
pub(super) const VERSION_TABLE: &str = "connector_runtime_schema_version";

/// Brings the schema up to date in one transaction: the lock, the schema itself when one is
/// configured, the version, the migrations not applied yet. A database at a version newer than
/// this crate's is refused, and nothing is changed.
pub(super) async fn migrate(client: &mut Client, schema: Option<&str>, shown: &str) -> Result<(), StoreError> {
    let context = || format!("migrating the schema of `{shown}`");
    let tx = client.transaction().await.map_err(|e| backend(context(), e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(|e| backend(context(), e))?;
    if let Some(schema) = schema {
        // Under the lock: two `CREATE SCHEMA IF NOT EXISTS` at once can both try to create it.
        // The name was checked to be plain (`config::check_schema`).
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await.map_err(|e| backend(context(), e))?;
    }
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
             one     boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (one),
             version bigint NOT NULL
         )"
    ))
    .await
    .map_err(|e| backend(context(), e))?;
    let found: Option<i64> = tx
        .query_opt(&format!("SELECT version FROM {VERSION_TABLE}"), &[])
        .await
        .map_err(|e| backend(context(), e))?
        .map(|row| row.try_get(0))
        .transpose()
        .map_err(|e| backend(context(), e))?;
    let version = found.unwrap_or(0);
    let known = MIGRATIONS.len();
    let applied =
        usize::try_from(version).ok().filter(|applied| *applied <= known).ok_or_else(|| too_new(version, shown))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.batch_execute(sql).await.map_err(|e| backend(format!("{}: migration {}", context(), index + 1), e))?;
    }
    if applied < known || found.is_none() {
        let now = known as i64;
        tx.execute(
            &format!(
                "INSERT INTO {VERSION_TABLE} (one, version) VALUES (true, $1) \
                 ON CONFLICT (one) DO UPDATE SET version = excluded.version"
            ),
            &[&now],
        )
        .await
        .map_err(|e| backend(context(), e))?;
    }
    tx.commit().await.map_err(|e| backend(context(), e))
}

/// A database whose schema is newer than this version's: migrated by a newer version of this crate.
fn too_new(found: i64, shown: &str) -> StoreError {
    StoreError::backend(format!(
        "postgres: `{shown}` has run store schema version {found}, newer than the {} this version knows; \
         connect with a newer version",
        MIGRATIONS.len()
    ))
}
