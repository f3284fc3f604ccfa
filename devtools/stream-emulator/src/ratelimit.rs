//! Cloudflare's global API rate limit (doc §4): N requests per W seconds per token; the request
//! that exceeds it gets a 429 and then *every* call is refused for the next W seconds.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub max_requests: u32,
    pub window: Duration,
}

impl Default for Limit {
    /// 1200 requests / 5 minutes (DOC-limits).
    fn default() -> Self {
        Self { max_requests: 1200, window: Duration::from_secs(300) }
    }
}

#[derive(Debug)]
pub struct RateLimiter {
    limit: Limit,
    /// Arrival times of the accepted requests still inside the sliding window.
    accepted: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

impl RateLimiter {
    pub fn new(limit: Limit) -> Self {
        Self { limit, accepted: VecDeque::new(), blocked_until: None }
    }

    /// Counts one request. `Err` holds how long the caller must wait. Refused requests do not
    /// extend the lockout: it ends W seconds after the request that tripped it.
    pub fn check(&mut self, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.blocked_until {
            if now < until {
                return Err(until - now);
            }
            // The lockout consumed the window: start afresh.
            self.blocked_until = None;
            self.accepted.clear();
        }
        while self.accepted.front().is_some_and(|&t| now.duration_since(t) >= self.limit.window) {
            self.accepted.pop_front();
        }
        if self.accepted.len() >= self.limit.max_requests as usize {
            self.blocked_until = Some(now + self.limit.window);
            self.accepted.clear();
            return Err(self.limit.window);
        }
        self.accepted.push_back(now);
        Ok(())
    }

    pub fn reset(&mut self) {
        self.accepted.clear();
        self.blocked_until = None;
    }
}

/// `retry-after` is whole seconds, rounded up, and never 0 while still blocked.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max_requests: u32, window_secs: u64) -> RateLimiter {
        RateLimiter::new(Limit { max_requests, window: Duration::from_secs(window_secs) })
    }

    #[test]
    fn exceeding_blocks_everything_for_a_full_window() {
        let mut rl = limiter(2, 10);
        let t0 = Instant::now();
        assert!(rl.check(t0).is_ok());
        assert!(rl.check(t0 + Duration::from_secs(1)).is_ok());
        // Third within the window trips the limit: blocked for 10 s from now.
        let tripped = t0 + Duration::from_secs(2);
        assert_eq!(rl.check(tripped), Err(Duration::from_secs(10)));
        // Still blocked even after the original requests aged out of the window.
        assert_eq!(rl.check(tripped + Duration::from_secs(9)), Err(Duration::from_secs(1)));
        assert!(rl.check(tripped + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn sliding_window_forgets_old_requests() {
        let mut rl = limiter(2, 10);
        let t0 = Instant::now();
        assert!(rl.check(t0).is_ok());
        assert!(rl.check(t0 + Duration::from_secs(5)).is_ok());
        assert!(rl.check(t0 + Duration::from_secs(10)).is_ok());
        assert!(rl.check(t0 + Duration::from_secs(11)).is_err());
    }

    #[test]
    fn reset_lifts_a_lockout() {
        let mut rl = limiter(1, 10);
        let t0 = Instant::now();
        assert!(rl.check(t0).is_ok());
        assert!(rl.check(t0).is_err());
        rl.reset();
        assert!(rl.check(t0).is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(300)), 300);
    }
}
