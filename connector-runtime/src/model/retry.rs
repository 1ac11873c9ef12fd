//! [`RetryPolicy`]: how often and how patiently a failing step is tried again.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a step is retried when its action fails with a retryable error (transient or rate
/// limited). Errors that cannot get better — credentials, invalid input or output, other 4xx —
/// are never retried.
///
/// The default follows Trigger.dev's: 5 attempts, delays growing by 1.8x from 1 s to at most
/// 60 s, randomized, and 60 s per attempt.
///
/// Set it per action (`#[action(retry(max_attempts = 3, min_delay = "200ms"))]`), per job
/// (`#[job(retry(..))]`), per call (`io.chat.with_retry(policy).send_message(..)`) or for the
/// whole engine (`EngineBuilder::retry_policy`); the most specific wins.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retries).
    pub max_attempts: u32,
    /// Each delay is the previous one times this.
    pub factor: f64,
    /// The delay after the first failure.
    pub min_delay: Duration,
    /// No delay is longer than this (a `Retry-After` from the service may be).
    pub max_delay: Duration,
    /// Randomize each delay between half and all of it, so clients do not retry in lockstep.
    pub jitter: bool,
    /// How long one attempt may take before it counts as a transient failure.
    pub attempt_timeout: Option<Duration>,
}

impl RetryPolicy {
    /// The default policy (see the type's docs).
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        factor: 1.8,
        min_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(60),
        jitter: true,
        attempt_timeout: Some(Duration::from_secs(60)),
    };

    /// One attempt, no retries.
    pub const fn never() -> Self {
        RetryPolicy { max_attempts: 1, ..RetryPolicy::DEFAULT }
    }

    /// The delay before attempt `failed + 1`, after attempt `failed` (from 1) failed.
    pub fn delay_after(&self, failed: u32) -> Duration {
        let exponent = failed.saturating_sub(1).min(64) as i32;
        let base = self.min_delay.as_secs_f64() * self.factor.max(1.0).powi(exponent);
        let capped = base.min(self.max_delay.as_secs_f64()).max(0.0);
        let seconds = if self.jitter { capped * (0.5 + fastrand::f64() * 0.5) } else { capped };
        Duration::from_secs_f64(seconds)
    }

    /// This policy with another attempt count.
    pub const fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// This policy with other delays.
    pub const fn with_delays(mut self, min_delay: Duration, max_delay: Duration) -> Self {
        self.min_delay = min_delay;
        self.max_delay = max_delay;
        self
    }

    /// This policy with another per-attempt timeout.
    pub const fn with_attempt_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// This policy without jitter (exact delays, for tests).
    pub const fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_by_the_factor_up_to_the_cap() {
        let policy = RetryPolicy::DEFAULT.without_jitter();
        let delays: Vec<u128> = (1..=9).map(|n| policy.delay_after(n).as_millis()).collect();
        assert_eq!(delays, [1000, 1800, 3240, 5832, 10497, 18895, 34012, 60000, 60000]);
    }

    #[test]
    fn jitter_stays_between_half_and_all() {
        let policy = RetryPolicy::DEFAULT;
        for _ in 0..200 {
            let delay = policy.delay_after(2).as_millis();
            assert!((900..=1800).contains(&delay), "{delay}");
        }
    }
}
