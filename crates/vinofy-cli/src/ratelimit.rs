//! A client-side limit on how often work that calls Cloudflare starts: evenly spaced starts, so
//! a long run stays under Cloudflare's 1,200 calls per 5 minutes whatever the concurrency.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    pub fn per_minute(rate: u32) -> Self {
        Self { interval: Duration::from_secs(60) / rate.max(1), next: Mutex::new(None) }
    }

    /// Waits for the next start slot. The first start is immediate.
    pub async fn acquire(&self) {
        let at = {
            let mut next = self.next.lock().await;
            reserve(&mut next, Instant::now(), self.interval)
        };
        tokio::time::sleep_until(at).await;
    }
}

/// Takes the next free slot at or after `now`, and moves the next one `interval` later.
fn reserve(next: &mut Option<Instant>, now: Instant, interval: Duration) -> Instant {
    let at = next.map_or(now, |n| n.max(now));
    *next = Some(at + interval);
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_spaced_evenly_and_idle_time_is_not_saved_up() {
        let interval = RateLimiter::per_minute(200).interval;
        assert_eq!(interval, Duration::from_millis(300));
        let t0 = Instant::now();
        let mut next = None;
        assert_eq!(reserve(&mut next, t0, interval), t0, "the first start is immediate");
        assert_eq!(reserve(&mut next, t0, interval), t0 + interval);
        assert_eq!(reserve(&mut next, t0, interval), t0 + interval * 2);
        // After a pause, no burst: the next start is "now", then spaced again.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(reserve(&mut next, later, interval), later);
        assert_eq!(reserve(&mut next, later, interval), later + interval);
    }

    #[test]
    fn the_maximum_rate_is_cloudflares_limit_spread_evenly() {
        // 240 a minute, evenly spaced: 1,200 starts take (almost) 5 minutes.
        let interval = RateLimiter::per_minute(crate::cli::MAX_RATE_PER_MINUTE).interval;
        assert_eq!(interval * 1_200, Duration::from_secs(300));
    }
}
