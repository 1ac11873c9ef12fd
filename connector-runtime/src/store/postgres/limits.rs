//! What a PostgreSQL store shares between processes for the connectors' clients: a lock per
//! connector's tokens (one refresh at a time), a rate limit counted in one row per connector,
//! and request slots per connector (its concurrency).

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio_postgres::NoTls;

use super::PostgresStore;
use super::codec::backend;
use crate::client::SharedGuard;
use crate::store::StoreError;

/// The first key of the advisory locks on tokens ("tokn" in ASCII); the second is the hash of
/// the connector's key.
const TOKEN_LOCK_CLASS: i32 = 0x746f_6b6e;

/// How long a request slot stays taken when its holder never gives it back (it died).
const SLOT_LEASE_SECONDS: f64 = 60.0;

/// How long to wait before looking for a free request slot again, at first and at most.
const SLOT_POLL: (Duration, Duration) = (Duration::from_millis(5), Duration::from_millis(50));

/// Holds a session's advisory lock: dropping the client closes its connection, and the server
/// releases the lock with it.
struct SessionLock {
    _client: tokio_postgres::Client,
}

/// A request slot, given back when dropped.
struct Slot {
    pool: Pool,
    key: String,
    slot: i32,
    holder: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (pool, key, slot, holder) = (self.pool.clone(), self.key.clone(), self.slot, self.holder.clone());
        // Outside a runtime (a process ending) the slot lapses on its own after its lease.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let released = async {
                    let client = pool.get().await.ok()?;
                    let sql = "UPDATE request_slots SET holder = NULL, until = NULL \
                               WHERE \"key\" = $1 AND slot = $2 AND holder = $3";
                    client.execute(sql, &[&key, &slot, &holder]).await.ok()
                };
                if released.await.is_none() {
                    tracing::debug!(key, slot, "could not give a request slot back; it lapses on its own");
                }
            });
        }
    }
}

fn lock_key(key: &str) -> i32 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish() as i32
}

impl PostgresStore {
    /// A session lock on `key`'s tokens, on a connection of its own.
    pub(super) async fn lock_tokens_for(&self, key: &str) -> Result<SharedGuard, StoreError> {
        let context = || format!("locking the tokens of `{key}`");
        let (client, connection) = self.connection.connect(NoTls).await.map_err(|e| backend(context(), e))?;
        tokio::spawn(connection);
        client
            .execute("SELECT pg_advisory_lock($1, $2)", &[&TOKEN_LOCK_CLASS, &lock_key(key)])
            .await
            .map_err(|e| backend(context(), e))?;
        Ok(SharedGuard::new(SessionLock { _client: client }))
    }

    /// Reserves the next request under `key`'s rate limit: the wait before it may go, by the
    /// database server's clock (the same for every process, whatever their clocks say).
    pub(super) async fn reserve_request_for(
        &self,
        key: &str,
        per_second: u32,
        burst: u32,
    ) -> Result<Duration, StoreError> {
        let context = || format!("reserving a request under the rate limit of `{key}`");
        let interval_us = 1_000_000.0 / f64::from(per_second.max(1));
        let client = self.client().await?;
        // GCRA: `tat` moves one interval per request from whichever is later, itself or now;
        // a request may go once now is within `burst` intervals of the new `tat`.
        let statement = client
            .prepare_cached(
                "INSERT INTO rate_limits (\"key\", tat) VALUES ($1, clock_timestamp() + $2 * interval '1 microsecond')
                 ON CONFLICT (\"key\") DO UPDATE
                     SET tat = greatest(rate_limits.tat, clock_timestamp()) + $2 * interval '1 microsecond'
                 RETURNING (extract(epoch FROM (tat - clock_timestamp())) * 1000000)::float8",
            )
            .await
            .map_err(|e| backend(context(), e))?;
        let row = client.query_one(&statement, &[&key, &interval_us]).await.map_err(|e| backend(context(), e))?;
        let ahead_us: f64 = row.try_get(0).map_err(|e| backend(context(), e))?;
        let wait_us = ahead_us - interval_us * f64::from(burst.max(1));
        Ok(if wait_us > 0.0 { Duration::from_micros(wait_us as u64) } else { Duration::ZERO })
    }

    /// Takes one of `limit` request slots under `key`, waiting while every one is taken.
    pub(super) async fn acquire_slot_for(&self, key: &str, limit: u32) -> Result<SharedGuard, StoreError> {
        let context = || format!("taking a request slot of `{key}`");
        let limit = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        self.ensure_slots(key, limit).await?;
        let holder = uuid::Uuid::new_v4().to_string();
        let mut poll = SLOT_POLL.0;
        loop {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(
                    "WITH free AS (
                         SELECT \"key\", slot FROM request_slots
                         WHERE \"key\" = $1 AND slot < $2 AND (holder IS NULL OR until < clock_timestamp())
                         ORDER BY slot LIMIT 1
                         FOR UPDATE SKIP LOCKED
                     )
                     UPDATE request_slots SET holder = $3, until = clock_timestamp() + $4 * interval '1 second'
                     FROM free WHERE request_slots.\"key\" = free.\"key\" AND request_slots.slot = free.slot
                     RETURNING request_slots.slot",
                )
                .await
                .map_err(|e| backend(context(), e))?;
            let taken = client
                .query_opt(&statement, &[&key, &limit, &holder, &SLOT_LEASE_SECONDS])
                .await
                .map_err(|e| backend(context(), e))?;
            drop(client);
            if let Some(row) = taken {
                let slot: i32 = row.try_get(0).map_err(|e| backend(context(), e))?;
                let slot = Slot { pool: self.pool.clone(), key: key.to_owned(), slot, holder };
                return Ok(SharedGuard::new(slot));
            }
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(SLOT_POLL.1);
        }
    }

    /// Makes `limit` slot rows for `key`, once per key and limit in this store.
    async fn ensure_slots(&self, key: &str, limit: i32) -> Result<(), StoreError> {
        let made = (key.to_owned(), limit);
        if self.slots_made.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(&made) {
            return Ok(());
        }
        let context = || format!("making the request slots of `{key}`");
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO request_slots (\"key\", slot) SELECT $1, generate_series(0, $2 - 1) ON CONFLICT DO NOTHING",
                &[&key, &limit],
            )
            .await
            .map_err(|e| backend(context(), e))?;
        self.slots_made.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(made);
        Ok(())
    }
}

/// The `(key, limit)` pairs whose slot rows this store made.
pub(super) type SlotsMade = std::sync::Mutex<HashSet<(String, i32)>>;
