//! [`RateLimit`]: how fast a connector instance may call its service, shared by every run that
//! uses the instance, so actions wait instead of hitting 429.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A connector's limits, declared with `#[connector(rate_limit(per_second = 10, concurrency = 4))]`
/// or set on an instance with [`Integration::with_rate_limit`](crate::Integration::with_rate_limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Requests per second, on average.
    pub per_second: Option<u32>,
    /// Requests that may go at once after a quiet spell (default: `per_second`).
    pub burst: Option<u32>,
    /// Requests in flight at once.
    pub concurrency: Option<u32>,
}

impl RateLimit {
    /// No limit.
    pub const NONE: RateLimit = RateLimit { per_second: None, burst: None, concurrency: None };
}

/// The shared state of one instance's limits.
#[derive(Debug)]
pub(crate) struct Limiter {
    rate: Option<DefaultDirectRateLimiter>,
    concurrency: Option<Arc<Semaphore>>,
}

/// Held while a request is in flight.
#[derive(Debug)]
pub(crate) struct Admission {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Option<Self> {
        let rate = limit.per_second.and_then(NonZeroU32::new).map(|per_second| {
            let burst = limit.burst.and_then(NonZeroU32::new).unwrap_or(per_second);
            RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst))
        });
        let concurrency = limit.concurrency.map(|n| Arc::new(Semaphore::new(n.max(1) as usize)));
        (rate.is_some() || concurrency.is_some()).then_some(Limiter { rate, concurrency })
    }

    /// Waits until one more request may go.
    pub(crate) async fn admit(&self) -> Admission {
        let permit = match &self.concurrency {
            // The semaphore is never closed, so acquiring only fails if it were.
            Some(semaphore) => Arc::clone(semaphore).acquire_owned().await.ok(),
            None => None,
        };
        if let Some(rate) = &self.rate {
            rate.until_ready().await;
        }
        Admission { _permit: permit }
    }
}
