//! [`RateLimit`]: how fast a connector instance may call its service. The client's limiter
//! enforces it, shared by every run that uses the instance, so actions wait instead of hitting 429.

use serde::{Deserialize, Serialize};

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
