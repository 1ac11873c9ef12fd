//! The work queue of a PostgreSQL store ([`RunQueue`]): runs are claimed with
//! `FOR UPDATE SKIP LOCKED`, so processes claiming at once take different runs without waiting
//! for each other, and are held under leases this store renews.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{broadcast, watch};

use super::PostgresStore;
use super::codec::{RUN_COLUMNS, STEP_COLUMNS, backend, decode_run, decode_step, qualified};
use crate::model::{Run, RunId};
use crate::store::{RunQueue, StoreError};

/// Which runs a claim looks at.
const QUEUED: &str = "status = 'queued'";

/// What a sweep looks at too: running runs whose lease lapsed (or that never had one: written
/// by an older version), waiting runs whose wake-up time passed. Scanning every unfinished run,
/// so only sweeps do it, not the claims that follow every notification.
const QUEUED_OR_STALE: &str = "status IN ('queued', 'running', 'waiting')
               AND (status = 'queued'
                    OR (status = 'running' AND (lease_until IS NULL OR lease_until < now()))
                    OR (status = 'waiting' AND wake_at <= now()))";

/// Takes up to `$2` of the runs `which` selects, oldest first, for holder `$1` for `$3`
/// milliseconds (by the server's clock). One statement, so a run is claimed whole or not at all.
fn claim_sql(which: &str) -> String {
    format!(
        "WITH picked AS (
             SELECT id FROM runs
             WHERE {which}
             ORDER BY created_at, id
             LIMIT $2
             FOR UPDATE SKIP LOCKED
         )
         UPDATE runs SET status = 'running', lease_owner = $1,
                         lease_until = now() + $3 * interval '1 millisecond', wake_at = NULL,
                         executions = executions + 1, updated_at = now()
         FROM picked WHERE runs.id = picked.id
         RETURNING {}",
        qualified("runs", RUN_COLUMNS)
    )
}

/// How many columns [`STEP_COLUMNS`] names: the run's id comes after them.
const STEP_COLUMN_COUNT: usize = 11;

#[async_trait]
impl RunQueue for PostgresStore {
    fn lease(&self) -> Duration {
        self.lease
    }

    async fn claim(&self, limit: usize) -> Result<Vec<Run>, StoreError> {
        self.claim_where(QUEUED, limit).await
    }

    async fn sweep(&self, limit: usize) -> Result<Vec<Run>, StoreError> {
        self.claim_where(QUEUED_OR_STALE, limit).await
    }

    async fn renew(&self, runs: &[RunId]) -> Result<Vec<RunId>, StoreError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let context = || "renewing leases".to_owned();
        let ids: Vec<&str> = runs.iter().map(RunId::as_str).collect();
        let client = self.relaxed_client().await?;
        let renew = client
            .prepare_cached(
                "UPDATE runs SET lease_until = now() + $3 * interval '1 millisecond' \
                 WHERE lease_owner = $1 AND id = ANY($2) AND status = 'running' \
                 RETURNING id",
            )
            .await
            .map_err(|e| backend(context(), e))?;
        let rows =
            client.query(&renew, &[&self.holder, &ids, &self.lease_ms()]).await.map_err(|e| backend(context(), e))?;
        let held: Vec<String> =
            rows.iter().map(|row| row.try_get(0)).collect::<Result<_, _>>().map_err(|e| backend(context(), e))?;
        Ok(runs.iter().filter(|id| !held.iter().any(|held| held == id.as_str())).cloned().collect())
    }

    fn work_signal(&self) -> watch::Receiver<u64> {
        self.listener.work()
    }

    fn run_changes(&self) -> broadcast::Receiver<Option<RunId>> {
        self.listener.changes()
    }
}

impl PostgresStore {
    /// Claims up to `limit` of the runs `which` selects.
    async fn claim_where(&self, which: &str, limit: usize) -> Result<Vec<Run>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let context = || "claiming runs".to_owned();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let client = self.relaxed_client().await?;
        let claim = client.prepare_cached(&claim_sql(which)).await.map_err(|e| backend(context(), e))?;
        let rows =
            client.query(&claim, &[&self.holder, &limit, &self.lease_ms()]).await.map_err(|e| backend(context(), e))?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut runs: Vec<Run> = rows.iter().map(decode_run).collect::<Result<_, _>>()?;
        runs.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        // A first execution has no steps yet: nothing more to read.
        if runs.iter().all(|run| run.executions == 1) {
            return Ok(runs);
        }
        // Their steps in one query: a resumed run replays them instead of calling again. The
        // lease is held, so no other process writes them meanwhile.
        let ids: Vec<&str> = runs.iter().map(|run| run.id.as_str()).collect();
        let steps = client
            .prepare_cached(&format!(
                "SELECT {STEP_COLUMNS}, run_id FROM steps WHERE run_id = ANY($1) ORDER BY run_id, seq"
            ))
            .await
            .map_err(|e| backend(context(), e))?;
        let step_rows = client.query(&steps, &[&ids]).await.map_err(|e| backend(context(), e))?;
        let mut by_run: HashMap<String, Vec<tokio_postgres::Row>> = HashMap::new();
        for row in step_rows {
            let run: String = row.try_get(STEP_COLUMN_COUNT).map_err(|e| backend(context(), e))?;
            by_run.entry(run).or_default().push(row);
        }
        for run in &mut runs {
            if let Some(rows) = by_run.remove(run.id.as_str()) {
                run.steps = rows.iter().map(|row| decode_step(row, 0, &run.id)).collect::<Result<_, _>>()?;
            }
        }
        Ok(runs)
    }
}
