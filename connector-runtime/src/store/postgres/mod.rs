//! [`PostgresStore`]: runs in a PostgreSQL database, shared by every process connected to it.
//!
//! A pool of connections (`deadpool-postgres`), each call taking one for its statements; a
//! write is one statement, or one transaction where it must be all or nothing (a delivery with
//! its runs) or ordered against another writer (a step's start order). The tables are the
//! SQLite store's, in PostgreSQL's types (`codec` says why JSON is `text`).
//!
//! The schema is versioned in a table of its own: `schema::MIGRATIONS` is an append-only
//! list, applied at connect under an advisory lock, so processes starting at once migrate a
//! database once. To change the schema, append migration N+1; never edit one that has shipped.

mod codec;
mod config;
mod limits;
mod listener;
mod queue;
mod schema;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Client, Pool};
use serde_json::Value;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::{Delivery, DeliveryOutcome, RunFilter, RunStore, RunUpdate, StoreError};
use crate::client::{SharedGuard, TokenStore, TokenStoreError};
use crate::model::{LogLine, Run, RunId, RunLog, RunStatus, StepRecord};
use codec::{
    COLUMNS, RUN_COLUMN_COUNT, RUN_COLUMNS, RunRow, STEP_COLUMNS, backend, decode_run, decode_step, is_state,
    qualified, run_row, step_row,
};
pub use config::PostgresOptions;

/// Keeps runs in a PostgreSQL database: durable (a write completes once the server committed
/// it), and shared by every store connected to the same database and schema, in this process or
/// another.
///
/// Connect with [`PostgresStore::connect`] (a URL such as `postgres://user@host:5432/db`) or
/// [`PostgresStore::connect_with`] (a schema of its own, the pool's size). Connecting opens one
/// connection and brings the schema up to date; later calls take a connection from the pool,
/// opening one when none is idle. No TLS: for a server on loopback or a private network.
///
/// Every call keeps the [`RunStore`] contract as the SQLite store does; the differences are
/// times, kept to the microsecond (PostgreSQL's `timestamptz`), and that a write is committed
/// on its own (no group commit: the server's commits are concurrent).
///
/// # What is synced
///
/// A write the engine depends on waits for the server's WAL flush (`synchronous_commit`, the
/// server's default): a run's acceptance (with its delivery), every step, a cancel, a failure, a
/// park. Writes that recovery rebuilds by replay do not wait: a claim, a lease renewal, marking
/// a run running or succeeded. The server writes WAL in order, so the next synced commit (of
/// any connection) flushes them too; a server crash can lose only the last of them, and then:
/// a lost claim leaves its run queued or with a lapsed lease (another claim takes it, and its
/// steps, each synced, replay); a lost `succeeded` leaves the run running until its lease lapses,
/// when a sweep executes it again and every step replays from the store, with the same output.
/// These go through connections of their own: a quarter of
/// [`max_connections`](PostgresOptions::max_connections), at least one.
///
/// Several processes on one database share its runs through the store's work queue
/// ([`RunStore::queue`]): a run executes under a lease held by one store value (one process),
/// renewed while it works; a run whose lease lapsed is claimed by another. Writes to a run held
/// by another store fail with [`StoreError::LeaseLost`], except a cancel, which any process may
/// make.
pub struct PostgresStore {
    pool: Pool,
    /// Connections whose commits do not wait for the WAL flush (`synchronous_commit = off`):
    /// for the writes recovery rebuilds by replay (see "What is synced").
    relaxed: Pool,
    /// The URL, its password masked, and the schema: how errors and `Debug` name the store.
    shown: String,
    /// This store's name in leases.
    holder: String,
    /// How long a lease lasts.
    lease: Duration,
    /// How long taking a connection may take.
    connect_timeout: Duration,
    /// The server refused the relaxed pool its first connection: those writes use the main
    /// pool's connections.
    relaxed_starved: std::sync::atomic::AtomicBool,
    /// The work queue's notifications.
    listener: listener::Listener,
    /// How to open a connection of its own (a token lock's).
    connection: tokio_postgres::Config,
    /// The request slots made in the database by this store.
    slots_made: limits::SlotsMade,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // By hand: the URL is shown with its password masked, and the pool's own `Debug` would
        // print its configuration.
        let (synced, relaxed) = (self.pool.status(), self.relaxed.status());
        f.debug_struct("PostgresStore")
            .field("database", &self.shown)
            .field("connections", &(synced.size + relaxed.size))
            .field("max_connections", &(synced.max_size + relaxed.max_size))
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` with the default options (the server's `search_path`,
    /// 16 connections at most), bringing its schema up to date.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        PostgresStore::connect_with(url, PostgresOptions::default()).await
    }

    /// Connects to the database at `url`, as [`connect`](Self::connect) does, with `options`.
    ///
    /// Fails with [`StoreError::Backend`] when the URL does not parse, the server cannot be
    /// reached within [`PostgresOptions::connect_timeout`], refuses the login, or holds a store
    /// migrated by a newer version of this crate. No error shows the URL's password.
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        let masked = config::mask_password(url);
        let shown = match &options.schema {
            Some(schema) => format!("{masked} (schema {schema})"),
            None => masked,
        };
        let connection = config::connection(url, &shown, &options)?;
        let (synced, relaxed) = config::pool_sizes(options.max_connections);
        let pool = config::pool(connection.clone(), &shown, &options, synced)?;
        let relaxed = config::pool(config::relaxed(&connection), &shown, &options, relaxed)?;
        let holder = uuid::Uuid::new_v4().to_string();
        let mut client = config_client(&pool, &shown).await?;
        schema::migrate(&mut client, options.schema.as_deref(), &shown).await?;
        // The schema the tables are in, as the trigger names it: notifications from others are not ours.
        let current = client
            .query_one("SELECT current_schema()", &[])
            .await
            .and_then(|row| row.try_get::<_, String>(0))
            .map_err(|e| backend(format_args!("reading the schema of `{shown}`"), e))?;
        drop(client);
        let listener = listener::Listener::start(connection.clone(), shown.clone(), current);
        let store = PostgresStore {
            pool,
            relaxed,
            shown,
            holder,
            lease: options.lease,
            connect_timeout: options.connect_timeout,
            relaxed_starved: Default::default(),
            listener,
            connection,
            slots_made: Default::default(),
        };
        Ok(store)
    }

    /// The database as errors and `Debug` name it: the URL with its password masked, and the
    /// schema.
    pub fn location(&self) -> &str {
        &self.shown
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<Client, StoreError> {
        self.take(&self.pool, None).await
    }

    /// A connection whose commits do not wait for the WAL flush, for writes recovery rebuilds;
    /// a connection of the main pool when the server left none for these.
    async fn relaxed_client(&self) -> Result<Client, StoreError> {
        if self.relaxed_starved.load(std::sync::atomic::Ordering::Relaxed) {
            return self.client().await;
        }
        self.take(&self.relaxed, Some(&self.pool)).await
    }

    /// A connection from `pool`. A server that refuses one more connection (its
    /// `max_connections` are taken, by this process and others) is not a failure of the call:
    /// the pool keeps the connections it has from then on, and the call waits for one of them,
    /// up to the connect timeout; a pool left with none takes one from `fallback` instead.
    /// Failing would leave a run half-executed until its lease lapsed.
    async fn take(&self, mut pool: &Pool, mut fallback: Option<&Pool>) -> Result<Client, StoreError> {
        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        let mut pause = Duration::from_millis(2);
        loop {
            match pool.get().await {
                Ok(client) => return Ok(client),
                Err(deadpool_postgres::PoolError::Backend(error))
                    if is_state(&error, &SqlState::TOO_MANY_CONNECTIONS)
                        && tokio::time::Instant::now() + pause < deadline =>
                {
                    let status = pool.status();
                    if status.size == 0
                        && let Some(other) = fallback.take()
                    {
                        // Only the relaxed pool has a fallback: its writes may wait for the
                        // flush, they are only slower for it.
                        self.relaxed_starved.store(true, std::sync::atomic::Ordering::Relaxed);
                        pool = other;
                        continue;
                    }
                    if status.size > 0 && status.size < status.max_size {
                        tracing::warn!(
                            database = %self.shown,
                            connections = status.size,
                            "the server refuses more connections (its max_connections are taken); \
                             this store keeps the ones it has"
                        );
                        pool.resize(status.size);
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(error) => return Err(backend(format_args!("connecting to `{}`", self.shown), error)),
            }
        }
    }

    /// The JSON document `sql` selects by `key` (one column of one row), if there is one.
    async fn read_json(&self, sql: &'static str, key: &str, what: &'static str) -> Result<Option<Value>, StoreError> {
        let context = || format!("reading {what} `{key}`");
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await.map_err(|e| backend(context(), e))?;
        let row = client.query_opt(&statement, &[&key]).await.map_err(|e| backend(context(), e))?;
        let Some(row) = row else { return Ok(None) };
        let text: String = row.try_get(0).map_err(|e| backend(context(), e))?;
        COLUMNS.read_json(&text, || format!("{what} `{key}`"), what).map(Some)
    }

    /// How long a lease lasts, in milliseconds: leases end at the database server's `now()`
    /// plus this, so the clocks of the processes sharing the database never matter.
    fn lease_ms(&self) -> f64 {
        self.lease.as_secs_f64() * 1000.0
    }

    /// The lease a run recorded `running` gets: this store's, for as long as a lease lasts.
    fn lease_for(&self, row: &RunRow) -> Option<(&str, f64)> {
        (row.status == RunStatus::Running.as_str()).then(|| (self.holder.as_str(), self.lease_ms()))
    }

    /// Runs one statement (prepared once per connection) and answers how many rows it changed.
    async fn execute(
        &self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
        context: impl Fn() -> String,
    ) -> Result<u64, StoreError> {
        self.execute_on(&self.client().await?, sql, params, context).await
    }

    /// [`execute`](Self::execute) on `client`.
    async fn execute_on(
        &self,
        client: &Client,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
        context: impl Fn() -> String,
    ) -> Result<u64, StoreError> {
        let statement = client.prepare_cached(sql).await.map_err(|e| backend(context(), e))?;
        client.execute(&statement, params).await.map_err(|e| backend(context(), e))
    }
}

/// Inserts a run; an existing id is `DuplicateRun`.
const INSERT_RUN: &str = "INSERT INTO runs (id, job_id, job_version, \"trigger\", payload, status, output, error, \
                                            created_at, updated_at, wake_at, executions, lease_owner, lease_until)
                          VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
                                  now() + $14 * interval '1 millisecond')
                          ON CONFLICT (id) DO NOTHING";

/// Runs [`INSERT_RUN`] for `run` on `client` (a connection or a transaction), leased to
/// `lease`'s holder until its time when there is one (a run created `running`).
async fn insert_run(
    client: &impl deadpool_postgres::GenericClient,
    run: &RunRow,
    lease: Option<(&str, f64)>,
) -> Result<(), StoreError> {
    let (owner, until) = (lease.map(|(owner, _)| owner), lease.map(|(_, ms)| ms));
    let context = || format!("inserting run `{}`", run.id);
    let statement = client.prepare_cached(INSERT_RUN).await.map_err(|e| backend(context(), e))?;
    let inserted = client
        .execute(
            &statement,
            &[
                &run.id,
                &run.job_id,
                &run.job_version,
                &run.trigger,
                &run.payload,
                &run.status,
                &run.output,
                &run.error,
                &run.created_at,
                &run.updated_at,
                &run.wake_at,
                &run.executions,
                &owner,
                &until,
            ],
        )
        .await
        .map_err(|e| backend(context(), e))?;
    if inserted == 0 {
        return Err(StoreError::DuplicateRun(RunId::from(run.id.as_str())));
    }
    Ok(())
}

/// A connection from `pool`, before the store exists.
async fn config_client(pool: &Pool, shown: &str) -> Result<Client, StoreError> {
    pool.get().await.map_err(|e| backend(format_args!("connecting to `{shown}`"), e))
}

#[async_trait]
impl RunStore for PostgresStore {
    async fn create_run(&self, run: &Run) -> Result<(), StoreError> {
        let row = run_row(run)?;
        insert_run(&self.client().await?, &row, self.lease_for(&row)).await
    }

    async fn update_run(&self, id: &RunId, update: &RunUpdate) -> Result<(), StoreError> {
        let what = || format!("run `{id}`");
        let output = update.output.as_ref().map(|output| COLUMNS.write_json(output, what, "output")).transpose()?;
        // A run marked `running` is leased to this store; any other status ends the lease. Only
        // the lease's holder may change a run while the lease lasts, except to cancel it.
        let running = update.status == RunStatus::Running;
        let (owner, lease_ms) =
            if running { (Some(self.holder.as_str()), Some(self.lease_ms())) } else { (None, None) };
        let now = Utc::now();
        // Marking a run running or succeeded is rebuilt by replay if a crash loses it (see
        // "What is synced"): it need not wait for the WAL flush.
        let rebuildable = matches!(update.status, RunStatus::Running | RunStatus::Succeeded);
        let client = if rebuildable { self.relaxed_client().await? } else { self.client().await? };
        let updated = self
            .execute_on(
                &client,
                "UPDATE runs SET status = $2, output = $3, error = $4, wake_at = $5, \
                 executions = executions + $6, updated_at = $7, lease_owner = $8, \
                 lease_until = now() + $9 * interval '1 millisecond' \
                 WHERE id = $1 AND (lease_owner IS NULL OR lease_owner = $10 OR lease_until < now() \
                                    OR $2 = 'cancelled')",
                &[
                    &id.as_str(),
                    &update.status.as_str(),
                    &output,
                    &update.error,
                    &update.wake_at,
                    &i64::from(update.new_execution),
                    &now,
                    &owner,
                    &lease_ms,
                    &self.holder,
                ],
                || format!("updating run `{id}`"),
            )
            .await?;
        if updated == 0 {
            return Err(self.missing_or_taken(id).await);
        }
        Ok(())
    }

    async fn claim_run(&self, id: &RunId, from: RunStatus) -> Result<bool, StoreError> {
        // One statement: under READ COMMITTED, a second claimer waits for the first's row lock
        // and then re-checks `status` on the row the first left, so exactly one claim wins.
        let context = || format!("claiming run `{id}`");
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "UPDATE runs SET status = 'queued', wake_at = NULL, updated_at = $3, lease_owner = NULL, \
                 lease_until = NULL WHERE id = $1 AND status = $2",
            )
            .await
            .map_err(|e| backend(context(), e))?;
        let claimed = client
            .execute(&statement, &[&id.as_str(), &from.as_str(), &Utc::now()])
            .await
            .map_err(|e| backend(context(), e))?;
        if claimed > 0 {
            return Ok(true);
        }
        match run_exists(&client, id).await? {
            true => Ok(false),
            false => Err(StoreError::RunNotFound(id.clone())),
        }
    }

    async fn run(&self, id: &RunId) -> Result<Option<Run>, StoreError> {
        let context = || format!("reading run `{id}`");
        let client = self.client().await?;
        // One statement, so one snapshot: the run's columns on every row, a step's after them
        // (none, NULL, for a run without steps).
        let read = client.prepare_cached(&RUN_WITH_STEPS).await.map_err(|e| backend(context(), e))?;
        let rows = client.query(&read, &[&id.as_str()]).await.map_err(|e| backend(context(), e))?;
        let Some(first) = rows.first() else { return Ok(None) };
        let mut run = decode_run(first)?;
        run.steps = rows
            .iter()
            .filter(|row| row.try_get::<_, Option<&str>>(RUN_COLUMN_COUNT).ok().flatten().is_some())
            .map(|row| decode_step(row, RUN_COLUMN_COUNT, &run.id))
            .collect::<Result<_, _>>()?;
        Ok(Some(run))
    }

    async fn run_status(&self, id: &RunId) -> Result<Option<RunStatus>, StoreError> {
        let context = || format!("reading the status of run `{id}`");
        let client = self.client().await?;
        let statement =
            client.prepare_cached("SELECT status FROM runs WHERE id = $1").await.map_err(|e| backend(context(), e))?;
        let row = client.query_opt(&statement, &[&id.as_str()]).await.map_err(|e| backend(context(), e))?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.try_get(0).map_err(|e| backend(context(), e))?;
        COLUMNS.read_enum(&status, || format!("run `{id}`"), "status").map(Some)
    }

    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        // One shape of statement per combination of filters given, each prepared once per
        // connection; the statuses are one array parameter, the limit one (NULL: no limit).
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE true");
        let statuses: Vec<&str> = filter.statuses.iter().map(|status| status.as_str()).collect();
        let limit = filter.limit.map(|limit| i64::try_from(limit).unwrap_or(i64::MAX));
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&limit];
        if let Some(job) = &filter.job_id {
            params.push(job);
            sql.push_str(&format!(" AND job_id = ${}", params.len()));
        }
        if !statuses.is_empty() {
            params.push(&statuses);
            sql.push_str(&format!(" AND status = ANY(${})", params.len()));
        }
        let before = filter.before.as_ref().map(RunId::as_str);
        if let Some(before) = &before {
            params.push(before);
            let n = params.len();
            sql.push_str(&format!(" AND (created_at, id) < ((SELECT created_at FROM runs WHERE id = ${n}), ${n})"));
        }
        if let Some(at) = &filter.created_after {
            params.push(at);
            sql.push_str(&format!(" AND created_at >= ${}", params.len()));
        }
        if let Some(at) = &filter.created_before {
            params.push(at);
            sql.push_str(&format!(" AND created_at < ${}", params.len()));
        }
        let prefix_len = filter.id_prefix.as_ref().map(|prefix| prefix.chars().count() as i32);
        if let (Some(prefix), Some(len)) = (&filter.id_prefix, &prefix_len) {
            params.push(len);
            params.push(prefix);
            sql.push_str(&format!(" AND left(id, ${}) = ${}", params.len() - 1, params.len()));
        }
        if let Some(delivery) = &filter.delivery_id {
            params.push(delivery);
            // Deliveries are keyed by (source, id): a lookup by id alone reads them all, which
            // only this filter asks for.
            sql.push_str(&format!(
                " AND id IN (SELECT jsonb_array_elements_text(runs::jsonb) FROM deliveries WHERE id = ${})",
                params.len()
            ));
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT $1");
        let context = || "listing runs".to_owned();
        let client = self.client().await?;
        let statement = client.prepare_cached(&sql).await.map_err(|e| backend(context(), e))?;
        let rows = client.query(&statement, &params).await.map_err(|e| backend(context(), e))?;
        rows.iter().map(decode_run).collect()
    }

    async fn save_step(&self, run: &RunId, step: &StepRecord) -> Result<(), StoreError> {
        let row = step_row(run, step)?;
        let context = || format!("saving step `{}` of run `{run}`", step.key);
        // One statement, one round trip: the run must exist and not be held by another store
        // (a live lease of someone else's). Two new steps of one run saved at once can both read
        // the same `MAX(seq)`; the later then breaks `UNIQUE (run_id, seq)` and is saved again,
        // with a fresh snapshot that sees the other.
        let client = self.client().await?;
        let upsert = client.prepare_cached(UPSERT_STEP).await.map_err(|e| backend(context(), e))?;
        let mut tries = 0;
        loop {
            tries += 1;
            match client.execute(&upsert, &row.params(&self.holder)).await {
                Ok(1) => return Ok(()),
                Ok(_) => return Err(self.missing_or_taken(run).await),
                Err(e) if is_state(&e, &SqlState::UNIQUE_VIOLATION) && tries < SEQ_RACE_TRIES => {
                    tokio::task::yield_now().await;
                }
                Err(e) => return Err(backend(context(), e)),
            }
        }
    }

    async fn put_schema(&self, fingerprint: &str, schema: &Value) -> Result<(), StoreError> {
        let text = COLUMNS.write_json(schema, || format!("schema `{fingerprint}`"), "schema")?;
        self.execute(
            "INSERT INTO schemas (fingerprint, schema) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&fingerprint, &text],
            || format!("storing schema `{fingerprint}`"),
        )
        .await
        .map(|_| ())
    }

    async fn schema(&self, fingerprint: &str) -> Result<Option<Value>, StoreError> {
        self.read_json("SELECT schema FROM schemas WHERE fingerprint = $1", fingerprint, "schema").await
    }

    async fn accept_delivery(&self, delivery: &Delivery, runs: &[Run]) -> Result<DeliveryOutcome, StoreError> {
        let rows: Vec<RunRow> = runs.iter().map(run_row).collect::<Result<_, _>>()?;
        let ids: Vec<&RunId> = runs.iter().map(|run| &run.id).collect();
        let run_ids = COLUMNS.write_json(&ids, || format!("delivery `{}`", delivery.id), "runs")?;
        let context = || format!("accepting delivery `{}` from `{}`", delivery.id, delivery.source);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| backend(context(), e))?;
        // The delivery first: its key is taken at once, so the same delivery accepted at the same
        // time by another process waits for this transaction and then finds it (or, if this one
        // rolls back, takes it itself).
        let insert = tx
            .prepare_cached(
                "INSERT INTO deliveries (source, id, runs, received_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(|e| backend(context(), e))?;
        let inserted = tx
            .execute(&insert, &[&delivery.source, &delivery.id, &run_ids, &delivery.received_at])
            .await
            .map_err(|e| backend(context(), e))?;
        if inserted == 0 {
            let earlier = tx
                .prepare_cached("SELECT runs FROM deliveries WHERE source = $1 AND id = $2")
                .await
                .map_err(|e| backend(context(), e))?;
            let row =
                tx.query_one(&earlier, &[&delivery.source, &delivery.id]).await.map_err(|e| backend(context(), e))?;
            let text: String = row.try_get(0).map_err(|e| backend(context(), e))?;
            // Nothing was written: dropping the transaction rolls it back.
            let runs: Vec<RunId> = COLUMNS.read_json(&text, context, "runs")?;
            return Ok(DeliveryOutcome::Duplicate { runs });
        }
        for row in &rows {
            // A duplicate run id returns early: the transaction is dropped, so rolled back, and
            // neither the delivery nor any of its runs is kept.
            insert_run(&tx, row, self.lease_for(row)).await?;
        }
        tx.commit().await.map_err(|e| backend(context(), e))?;
        Ok(DeliveryOutcome::New)
    }

    async fn cursor(&self, key: &str) -> Result<Option<Value>, StoreError> {
        self.read_json("SELECT cursor FROM cursors WHERE \"key\" = $1", key, "cursor").await
    }

    fn queue(&self) -> Option<&dyn super::RunQueue> {
        Some(self)
    }

    async fn append_logs(&self, run: &RunId, lines: &[LogLine]) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        let context = || format!("keeping log lines of run `{run}`");
        // Lost in a crash, a line is not worth a WAL flush of its own (see "What is synced").
        let mut client = self.relaxed_client().await?;
        let tx = client.transaction().await.map_err(|e| backend(context(), e))?;
        // Locked, so two executions' flushes of one run number their lines apart.
        let next = tx
            .prepare_cached(
                "SELECT (SELECT COALESCE(MAX(seq) + 1, 0) FROM run_logs WHERE run_id = $1) FROM runs \
                 WHERE id = $1 FOR NO KEY UPDATE",
            )
            .await
            .map_err(|e| backend(context(), e))?;
        let Some(row) = tx.query_opt(&next, &[&run.as_str()]).await.map_err(|e| backend(context(), e))? else {
            return Err(StoreError::RunNotFound(run.clone()));
        };
        let next: i64 = row.try_get(0).map_err(|e| backend(context(), e))?;
        let room = (crate::model::MAX_LOG_LINES_PER_RUN as i64 - next).max(0) as usize;
        let kept: Vec<&LogLine> = lines.iter().take(room).collect();
        if !kept.is_empty() {
            let seqs: Vec<i64> = (0..kept.len() as i64).map(|offset| next + offset).collect();
            let at: Vec<DateTime<Utc>> = kept.iter().map(|line| line.at).collect();
            let levels: Vec<&str> = kept.iter().map(|line| line.level.as_str()).collect();
            let sources: Vec<&str> = kept.iter().map(|line| line.source.as_str()).collect();
            let steps: Vec<Option<&str>> = kept.iter().map(|line| line.step.as_deref()).collect();
            let messages: Vec<&str> = kept.iter().map(|line| line.message.as_str()).collect();
            let insert = tx
                .prepare_cached(
                    "INSERT INTO run_logs (run_id, seq, at, level, source, step, message)
                     SELECT $1, * FROM unnest($2::bigint[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[])",
                )
                .await
                .map_err(|e| backend(context(), e))?;
            tx.execute(&insert, &[&run.as_str(), &seqs, &at, &levels, &sources, &steps, &messages])
                .await
                .map_err(|e| backend(context(), e))?;
        }
        let dropped = (lines.len() - kept.len()) as i64;
        if dropped > 0 {
            let count = tx
                .prepare_cached(
                    "INSERT INTO run_log_drops (run_id, dropped) VALUES ($1, $2)
                     ON CONFLICT (run_id) DO UPDATE SET dropped = run_log_drops.dropped + excluded.dropped",
                )
                .await
                .map_err(|e| backend(context(), e))?;
            tx.execute(&count, &[&run.as_str(), &dropped]).await.map_err(|e| backend(context(), e))?;
        }
        tx.commit().await.map_err(|e| backend(context(), e))
    }

    async fn logs(&self, run: &RunId) -> Result<RunLog, StoreError> {
        let context = || format!("reading the log of run `{run}`");
        let client = self.client().await?;
        let lines = client
            .prepare_cached("SELECT at, level, source, step, message FROM run_logs WHERE run_id = $1 ORDER BY seq")
            .await
            .map_err(|e| backend(context(), e))?;
        let dropped = client
            .prepare_cached("SELECT dropped FROM run_log_drops WHERE run_id = $1")
            .await
            .map_err(|e| backend(context(), e))?;
        let key = run.as_str();
        let params: [&(dyn ToSql + Sync); 1] = [&key];
        let (rows, dropped) = futures::try_join!(client.query(&lines, &params), client.query_opt(&dropped, &params))
            .map_err(|e| backend(context(), e))?;
        let what = || format!("a log line of run `{run}`");
        let lines = rows
            .iter()
            .map(|row| {
                let level: String = row.try_get(1).map_err(|e| backend(context(), e))?;
                Ok(LogLine {
                    at: row.try_get(0).map_err(|e| backend(context(), e))?,
                    level: COLUMNS.read_enum(&level, what, "level")?,
                    source: row.try_get(2).map_err(|e| backend(context(), e))?,
                    step: row.try_get(3).map_err(|e| backend(context(), e))?,
                    message: row.try_get(4).map_err(|e| backend(context(), e))?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let dropped: i64 = match dropped {
            Some(row) => row.try_get(0).map_err(|e| backend(context(), e))?,
            None => 0,
        };
        Ok(RunLog { lines, dropped: dropped.max(0) as u64 })
    }

    async fn save_cursor(&self, key: &str, cursor: &Value) -> Result<(), StoreError> {
        let text = COLUMNS.write_json(cursor, || format!("cursor `{key}`"), "cursor")?;
        self.execute(
            "INSERT INTO cursors (\"key\", cursor, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (\"key\") DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            &[&key, &text, &Utc::now()],
            || format!("saving cursor `{key}`"),
        )
        .await
        .map(|_| ())
    }
}

/// Inserts a step, or replaces the one with its key: a new key gets the next seq, a known key
/// keeps its seq (its start order). Taken only if run `$1` exists and no other store (`$12` is
/// this one) holds a live lease on it.
const UPSERT_STEP: &str = "INSERT INTO steps (run_id, \"key\", seq, kind, status, input, output, error, output_schema,
                                              attempts, started_at, finished_at, retries)
                           SELECT $1, $2, (SELECT COALESCE(MAX(seq) + 1, 0) FROM steps WHERE run_id = $1),
                                  $3, $4, $5, $6, $7, $8, $9, $10, $11, $13
                           FROM runs WHERE id = $1
                             AND (lease_owner IS NULL OR lease_owner = $12 OR lease_until < now())
                           ON CONFLICT (run_id, \"key\") DO UPDATE SET
                               kind = excluded.kind, status = excluded.status, input = excluded.input,
                               output = excluded.output, error = excluded.error,
                               output_schema = excluded.output_schema, attempts = excluded.attempts,
                               started_at = excluded.started_at, finished_at = excluded.finished_at,
                               retries = excluded.retries";

/// Run `$1` and its steps in start order: one row per step, or one row with NULL steps.
static RUN_WITH_STEPS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT {}, {} FROM runs LEFT JOIN steps ON steps.run_id = runs.id WHERE runs.id = $1 ORDER BY steps.seq",
        qualified("runs", RUN_COLUMNS),
        qualified("steps", STEP_COLUMNS)
    )
});

/// Whether run `id` exists.
async fn run_exists(client: &Client, id: &RunId) -> Result<bool, StoreError> {
    let context = || format!("reading run `{id}`");
    let statement =
        client.prepare_cached("SELECT 1 FROM runs WHERE id = $1").await.map_err(|e| backend(context(), e))?;
    let row = client.query_opt(&statement, &[&id.as_str()]).await.map_err(|e| backend(context(), e))?;
    Ok(row.is_some())
}

/// How often a step is saved again after losing a race for its start order to a step of the
/// same run saved at the same moment.
const SEQ_RACE_TRIES: u32 = 32;

impl PostgresStore {
    /// Why an update of run `id` changed no row: it does not exist, or another store holds it.
    async fn missing_or_taken(&self, id: &RunId) -> StoreError {
        let exists = async { run_exists(&self.client().await?, id).await };
        match exists.await {
            Ok(true) => StoreError::LeaseLost(id.clone()),
            Ok(false) => StoreError::RunNotFound(id.clone()),
            Err(error) => error,
        }
    }
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn tokens(&self, key: &str) -> Result<Option<Value>, TokenStoreError> {
        let tokens = self.read_json("SELECT tokens FROM tokens WHERE \"key\" = $1", key, "tokens").await;
        tokens.map_err(|error| TokenStoreError(Box::new(error)))
    }

    async fn save_tokens(&self, key: &str, tokens: &Value) -> Result<(), TokenStoreError> {
        let saved = async {
            let text = COLUMNS.write_json(tokens, || format!("the tokens of `{key}`"), "tokens")?;
            self.execute(
                "INSERT INTO tokens (\"key\", tokens, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (\"key\") DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
                &[&key, &text, &Utc::now()],
                || format!("saving the tokens of `{key}`"),
            )
            .await
            .map(|_| ())
        };
        saved.await.map_err(|error| TokenStoreError(Box::new(error)))
    }

    async fn lock_tokens(&self, key: &str) -> Result<Option<SharedGuard>, TokenStoreError> {
        self.lock_tokens_for(key).await.map(Some).map_err(|error| TokenStoreError(Box::new(error)))
    }

    async fn reserve_request(
        &self,
        key: &str,
        per_second: u32,
        burst: u32,
    ) -> Result<Option<Duration>, TokenStoreError> {
        let reserved = self.reserve_request_for(key, per_second, burst).await;
        reserved.map(Some).map_err(|error| TokenStoreError(Box::new(error)))
    }

    async fn acquire_request_slot(&self, key: &str, limit: u32) -> Result<Option<SharedGuard>, TokenStoreError> {
        self.acquire_slot_for(key, limit).await.map(Some).map_err(|error| TokenStoreError(Box::new(error)))
    }
}
