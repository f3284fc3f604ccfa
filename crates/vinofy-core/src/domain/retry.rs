//! Retries inside one invocation: exponential backoff with full jitter, honouring `retry-after`,
//! and never past the invocation deadline minus a safety margin (the time needed to record the
//! outcome before Lambda kills the process).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Kept free before the deadline for the final DynamoDB write.
    pub safety_margin: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            safety_margin: Duration::from_secs(3),
        }
    }
}

impl RetryPolicy {
    /// Delay before attempt `attempt + 1` (`attempt` counts from 1): a uniform pick in
    /// `[0, min(max, base * 2^(attempt-1))]` ("full jitter", so racing retries spread out), but never
    /// less than what the server asked for in `retry-after`. `unit` is a random number in [0, 1).
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX));
        let ceiling = exp.min(self.max_delay);
        let jittered = ceiling.mul_f64(unit.clamp(0.0, 1.0));
        retry_after.map_or(jittered, |ra| ra.max(jittered))
    }

    /// Whether another attempt that waits `wait` and then needs up to `attempt_budget` fits before
    /// the deadline, keeping the safety margin. `remaining` is the time left until the deadline.
    pub fn fits(&self, attempt: u32, wait: Duration, attempt_budget: Duration, remaining: Duration) -> bool {
        attempt < self.max_attempts && wait + attempt_budget + self.safety_margin <= remaining
    }

    /// The timeout for one request: the configured one, shortened so it ends before the margin.
    pub fn request_timeout(&self, configured: Duration, remaining: Duration) -> Option<Duration> {
        let usable = remaining.checked_sub(self.safety_margin)?;
        let t = configured.min(usable);
        (t >= Duration::from_millis(100)).then_some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: RetryPolicy = RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(10),
        safety_margin: Duration::from_secs(3),
    };

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        assert_eq!(P.backoff(1, None, 0.999_999).as_millis(), 199);
        assert_eq!(P.backoff(3, None, 0.5), Duration::from_millis(400));
        assert_eq!(P.backoff(10, None, 1.0), Duration::from_secs(10));
        assert_eq!(P.backoff(40, None, 1.0), Duration::from_secs(10));
        assert_eq!(P.backoff(2, None, 0.0), Duration::ZERO);
    }

    #[test]
    fn retry_after_is_a_floor() {
        assert_eq!(P.backoff(1, Some(Duration::from_secs(2)), 0.5), Duration::from_secs(2));
        assert_eq!(P.backoff(8, Some(Duration::from_millis(1)), 0.5), Duration::from_secs(5));
    }

    #[test]
    fn never_plans_past_the_deadline() {
        let s = Duration::from_secs;
        assert!(P.fits(1, s(1), s(10), s(14)));
        assert!(!P.fits(1, s(2), s(10), s(14)));
        assert!(!P.fits(5, s(0), s(0), s(600)), "attempt cap");
        assert_eq!(P.request_timeout(s(10), s(60)), Some(s(10)));
        assert_eq!(P.request_timeout(s(10), s(5)), Some(s(2)));
        assert_eq!(P.request_timeout(s(10), s(3)), None);
    }
}
