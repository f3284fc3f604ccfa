//! Cloudflare's global API rate limit (doc §4): N requests per W seconds per token; the request
//! that exceeds it gets a 429 and then *every* call is refused for the next W seconds.
//!
//! The limiter also keeps what it decided (`GET /__emulator/rate-limit`): how many requests it let
//! through, how many it refused, and one entry per lock-out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

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

/// Why a request was refused: how long the caller must wait, and whether this very request
/// tripped the limit (starting a lock-out) rather than arriving during one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub wait: Duration,
    pub tripped: bool,
}

/// One request as the limiter sees it: when it arrived (monotonic, for the window; wall clock,
/// for the report) and its `User-Agent`.
#[derive(Clone, Copy, Debug)]
pub struct Arrival<'a> {
    pub now: Instant,
    /// Epoch milliseconds.
    pub at_ms: i64,
    pub user_agent: Option<&'a str>,
}

/// A lock-out, recorded when the limit trips.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Lockout {
    /// Epoch milliseconds of the request that tripped the limit.
    pub at_ms: i64,
    /// Epoch milliseconds when the lock-out ends (`at_ms` + the window).
    pub until_ms: i64,
    pub user_agent: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LimitReport {
    pub max_requests: u32,
    pub window_seconds: u64,
}

/// The body of `GET /__emulator/rate-limit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub limit: LimitReport,
    /// Requests the limiter let through.
    pub accepted: u64,
    /// Requests answered 429 (code 971): the one that tripped each lock-out plus those during one.
    pub refused: u64,
    pub lockouts: Vec<Lockout>,
}

#[derive(Debug)]
pub struct RateLimiter {
    limit: Limit,
    /// Arrival times of the accepted requests still inside the sliding window.
    accepted: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    accepted_total: u64,
    refused_total: u64,
    lockouts: Vec<Lockout>,
}

impl RateLimiter {
    pub fn new(limit: Limit) -> Self {
        Self {
            limit,
            accepted: VecDeque::new(),
            blocked_until: None,
            accepted_total: 0,
            refused_total: 0,
            lockouts: Vec::new(),
        }
    }

    /// [`check`](Self::check) plus the bookkeeping behind [`report`](Self::report). `Err` holds how
    /// long the caller must wait.
    pub fn admit(&mut self, arrival: Arrival<'_>) -> Result<(), Duration> {
        match self.check(arrival.now) {
            Ok(()) => {
                self.accepted_total += 1;
                Ok(())
            }
            Err(refusal) => {
                self.refused_total += 1;
                if refusal.tripped {
                    let window_ms = i64::try_from(self.limit.window.as_millis()).unwrap_or(i64::MAX);
                    self.lockouts.push(Lockout {
                        at_ms: arrival.at_ms,
                        until_ms: arrival.at_ms.saturating_add(window_ms),
                        user_agent: arrival.user_agent.map(str::to_owned),
                    });
                }
                Err(refusal.wait)
            }
        }
    }

    /// Counts one request against the window. Refused requests do not extend the lockout: it
    /// ends W seconds after the request that tripped it.
    pub fn check(&mut self, now: Instant) -> Result<(), Refusal> {
        if let Some(until) = self.blocked_until {
            if now < until {
                return Err(Refusal { wait: until - now, tripped: false });
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
            return Err(Refusal { wait: self.limit.window, tripped: true });
        }
        self.accepted.push_back(now);
        Ok(())
    }

    pub fn report(&self) -> Report {
        Report {
            limit: LimitReport { max_requests: self.limit.max_requests, window_seconds: self.limit.window.as_secs() },
            accepted: self.accepted_total,
            refused: self.refused_total,
            lockouts: self.lockouts.clone(),
        }
    }

    /// Lifts any lock-out, empties the window and clears the counters.
    pub fn reset(&mut self) {
        self.accepted.clear();
        self.blocked_until = None;
        self.accepted_total = 0;
        self.refused_total = 0;
        self.lockouts.clear();
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
        assert_eq!(rl.check(tripped), Err(Refusal { wait: Duration::from_secs(10), tripped: true }));
        // Still blocked even after the original requests aged out of the window.
        assert_eq!(
            rl.check(tripped + Duration::from_secs(9)),
            Err(Refusal { wait: Duration::from_secs(1), tripped: false })
        );
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
    fn admit_counts_and_records_only_the_tripping_request() {
        let mut rl = limiter(2, 3);
        let t0 = Instant::now();
        let arrival = |offset_ms: u64, user_agent| Arrival {
            now: t0 + Duration::from_millis(offset_ms),
            at_ms: 1_000_000 + offset_ms as i64,
            user_agent,
        };
        assert!(rl.admit(arrival(0, Some("a"))).is_ok());
        assert!(rl.admit(arrival(10, None)).is_ok());
        assert_eq!(rl.admit(arrival(20, Some("burst"))), Err(Duration::from_secs(3)));
        assert_eq!(rl.admit(arrival(1020, Some("late"))), Err(Duration::from_secs(2)));
        assert!(rl.admit(arrival(3020, None)).is_ok());
        let expected = Report {
            limit: LimitReport { max_requests: 2, window_seconds: 3 },
            accepted: 3,
            refused: 2,
            lockouts: vec![Lockout { at_ms: 1_000_020, until_ms: 1_003_020, user_agent: Some("burst".into()) }],
        };
        assert_eq!(rl.report(), expected);

        rl.reset();
        let report = rl.report();
        assert_eq!((report.accepted, report.refused, report.lockouts.len()), (0, 0, 0));
        assert_eq!(report.limit, expected.limit);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(300)), 300);
    }
}
