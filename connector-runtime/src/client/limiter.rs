//! The limiter that enforces a connector instance's [`RateLimit`], and pauses when the service's
//! own headers say its limit is spent. One per instance, shared by every run that uses it; on a
//! store several processes share, the rate and the concurrency are counted in the store, so
//! they hold across all of them.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::{SharedGuard, TokenStore};
use crate::model::RateLimit;

/// The shared state of one instance's limits, and of what the service said about them.
pub(crate) struct Limiter {
    limit: RateLimit,
    rate: Option<DefaultDirectRateLimiter>,
    concurrency: Option<Arc<Semaphore>>,
    /// Set from the service's own rate-limit headers: no request goes before this.
    paused_until: Mutex<Option<Instant>>,
    /// The store the limits are counted in when it is shared, and the key they are kept under.
    store: OnceLock<(Arc<dyn TokenStore>, String)>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("limit", &self.limit).finish_non_exhaustive()
    }
}

/// Held while a request is in flight.
#[derive(Debug)]
pub(crate) struct Admission {
    _permit: Option<OwnedSemaphorePermit>,
    _slot: Option<SharedGuard>,
}

/// The longest pause a service's headers can impose on its connector.
const MAX_PAUSE: Duration = Duration::from_secs(3600);

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        let rate = limit.per_second.and_then(NonZeroU32::new).map(|per_second| {
            let burst = limit.burst.and_then(NonZeroU32::new).unwrap_or(per_second);
            RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))
        });
        let concurrency = limit.concurrency.map(|n| Arc::new(Semaphore::new(n.max(1) as usize)));
        Limiter { limit, rate, concurrency, paused_until: Mutex::new(None), store: OnceLock::new() }
    }

    /// Counts the limits in `store` under `key` from now on, when the store shares them between
    /// processes (the first store given wins).
    pub(crate) fn attach_store(&self, store: Arc<dyn TokenStore>, key: String) {
        let _ = self.store.set((store, key));
    }

    /// Waits until one more request may go.
    pub(crate) async fn admit(&self) -> Admission {
        // This process's semaphore first: only requests that would go now ask the store.
        let permit = match &self.concurrency {
            // The semaphore is never closed, so acquiring only fails if it were.
            Some(semaphore) => Arc::clone(semaphore).acquire_owned().await.ok(),
            None => None,
        };
        let slot = self.shared_slot().await;
        loop {
            let until = *self.paused_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => break,
            }
        }
        if let Some(rate) = &self.rate
            && !self.shared_rate().await
        {
            rate.until_ready().await;
        }
        Admission { _permit: permit, _slot: slot }
    }

    /// Waits for the store's slot when the concurrency is shared between processes.
    async fn shared_slot(&self) -> Option<SharedGuard> {
        let limit = self.limit.concurrency?;
        let (store, key) = self.store.get()?;
        match store.acquire_request_slot(key, limit.max(1)).await {
            Ok(slot) => slot,
            Err(error) => {
                tracing::warn!(%error, "cannot take a shared request slot; counting this process's requests only");
                None
            }
        }
    }

    /// Waits for the store's rate limit when it is shared; `false` when it is not (or the store
    /// failed), so the caller waits for this process's own limiter.
    async fn shared_rate(&self) -> bool {
        let (Some(per_second), Some((store, key))) = (self.limit.per_second, self.store.get()) else {
            return false;
        };
        let burst = self.limit.burst.unwrap_or(per_second).max(1);
        match store.reserve_request(key, per_second.max(1), burst).await {
            Ok(Some(wait)) => {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                true
            }
            Ok(None) => false,
            Err(error) => {
                tracing::warn!(%error, "cannot reserve a request under the shared rate limit; counting this process's only");
                false
            }
        }
    }

    /// Reads an answer's rate-limit headers: `Retry-After` on a 429 (or 503), and
    /// `RateLimit-Remaining`/`RateLimit-Reset` or `X-RateLimit-Remaining`/`X-RateLimit-Reset`
    /// saying nothing is left until the reset. Later requests wait until then.
    pub(crate) fn observe(&self, status: StatusCode, headers: &HeaderMap) {
        let limited = status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE;
        if limited && let Some(wait) = super::http::retry_after(headers) {
            self.pause_for(wait);
            return;
        }
        for (remaining, reset) in
            [("ratelimit-remaining", "ratelimit-reset"), ("x-ratelimit-remaining", "x-ratelimit-reset")]
        {
            let Some(left) = number(headers, remaining) else { continue };
            if left > 0 {
                return;
            }
            if let Some(reset) = number(headers, reset) {
                self.pause_for(reset_wait(reset));
            }
            return;
        }
    }

    fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_PAUSE);
        let mut paused = self.paused_until.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if paused.is_none_or(|current| current < until) {
            tracing::info!(
                wait_ms = wait.as_millis() as u64,
                "the service's rate limit is spent; pausing its requests"
            );
            *paused = Some(until);
        }
    }
}

fn number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// A reset is seconds from now, or (GitHub and others) a Unix time in seconds.
fn reset_wait(reset: u64) -> Duration {
    const A_UNIX_TIME: u64 = 1_000_000_000;
    if reset >= A_UNIX_TIME {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        Duration::from_secs(reset.saturating_sub(now))
    } else {
        Duration::from_secs(reset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, value.parse().unwrap());
        }
        headers
    }

    fn paused(limiter: &Limiter) -> Option<Duration> {
        let until = (*limiter.paused_until.lock().unwrap())?;
        Some(until.saturating_duration_since(Instant::now()))
    }

    #[test]
    fn spent_limits_pause_the_connector() {
        let limiter = Limiter::new(RateLimit::NONE);
        limiter.observe(StatusCode::OK, &headers(&[("ratelimit-remaining", "3"), ("ratelimit-reset", "30")]));
        assert_eq!(paused(&limiter), None, "requests are left");
        limiter.observe(StatusCode::OK, &headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "2")]));
        let wait = paused(&limiter).unwrap();
        assert!(wait > Duration::from_millis(1500) && wait <= Duration::from_secs(2), "{wait:?}");
        let limiter = Limiter::new(RateLimit::NONE);
        limiter.observe(StatusCode::TOO_MANY_REQUESTS, &headers(&[("retry-after", "5")]));
        assert!(paused(&limiter).unwrap() > Duration::from_secs(4));
    }

    #[test]
    fn unix_time_resets_are_read_as_such() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let wait = reset_wait(now + 10);
        assert!(wait >= Duration::from_secs(9) && wait <= Duration::from_secs(10), "{wait:?}");
        assert_eq!(reset_wait(20), Duration::from_secs(20));
    }
}
