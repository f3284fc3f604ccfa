//! Mux's API rate limits (MUX-apireq): per environment, POSTs "a sustained 1 request per second
//! with the ability to burst above this for short periods", every other method 5 per second, and
//! a 429 over the limit. No lock-out: a refused request costs nothing and the next one is let
//! through as soon as a token is back. Modelled as two token buckets (capacity = burst, refilled
//! at the sustained rate); the burst sizes are UNCONFIRMED.
//!
//! Like the Cloudflare limiter it keeps what it decided, for `GET /__emulator/rate-limit`.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::ratelimit::Arrival;

/// `requests` per `per_seconds` sustained, `burst` at once from full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BucketLimit {
    pub requests: u32,
    pub per_seconds: u64,
    pub burst: u32,
}

impl BucketLimit {
    fn per_second(self) -> f64 {
        f64::from(self.requests) / self.per_seconds as f64
    }
}

/// Which bucket a request draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Post,
    Other,
}

impl Kind {
    pub fn of(method: &str) -> Self {
        if method.eq_ignore_ascii_case("POST") { Self::Post } else { Self::Other }
    }
}

/// For the `X-RateLimit-Limit` / `X-RateLimit-Remaining` headers: the bucket's burst and the
/// whole tokens left after this request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Headroom {
    pub limit: u32,
    pub remaining: u32,
}

#[derive(Debug)]
struct Bucket {
    limit: BucketLimit,
    tokens: f64,
    last: Option<Instant>,
    accepted: u64,
    refused: u64,
}

impl Bucket {
    fn new(limit: BucketLimit) -> Self {
        Self { limit, tokens: f64::from(limit.burst), last: None, accepted: 0, refused: 0 }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let earned = now.saturating_duration_since(last).as_secs_f64() * self.limit.per_second();
            self.tokens = (self.tokens + earned).min(f64::from(self.limit.burst));
        }
        self.last = Some(now);
    }

    /// Takes one token; `Err` says how long until one is back.
    fn take(&mut self, now: Instant) -> Result<Headroom, Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.accepted += 1;
            Ok(self.headroom())
        } else {
            self.refused += 1;
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.limit.per_second()))
        }
    }

    fn headroom(&self) -> Headroom {
        Headroom { limit: self.limit.burst, remaining: self.tokens.floor().max(0.0) as u32 }
    }

    fn report(&self) -> Value {
        json!({
            "limit": format!("{}/{}", self.limit.requests, self.limit.per_seconds),
            "burst": self.limit.burst,
            "accepted": self.accepted,
            "refused": self.refused,
        })
    }
}

/// One refused request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// Epoch milliseconds of its arrival (the same `at_ms` as in `/__emulator/requests`).
    pub at_ms: i64,
    pub bucket: Kind,
    pub user_agent: Option<String>,
}

#[derive(Debug)]
pub struct MuxLimiter {
    post: Bucket,
    other: Bucket,
    refusals: Vec<Refusal>,
}

impl MuxLimiter {
    pub fn new(post: BucketLimit, other: BucketLimit) -> Self {
        Self { post: Bucket::new(post), other: Bucket::new(other), refusals: Vec::new() }
    }

    fn bucket(&mut self, kind: Kind) -> &mut Bucket {
        match kind {
            Kind::Post => &mut self.post,
            Kind::Other => &mut self.other,
        }
    }

    /// `Ok`: let through, with the headroom left. `Err`: refused (429), with the headroom (0
    /// remaining) and how long until a token is back.
    pub fn admit(&mut self, kind: Kind, arrival: Arrival<'_>) -> Result<Headroom, (Headroom, Duration)> {
        let bucket = self.bucket(kind);
        match bucket.take(arrival.now) {
            Ok(headroom) => Ok(headroom),
            Err(wait) => {
                let headroom = bucket.headroom();
                self.refusals.push(Refusal {
                    at_ms: arrival.at_ms,
                    bucket: kind,
                    user_agent: arrival.user_agent.map(str::to_owned),
                });
                Err((headroom, wait))
            }
        }
    }

    /// The body of `GET /__emulator/rate-limit`.
    pub fn report(&self) -> Value {
        json!({
            "post": self.post.report(),
            "other": self.other.report(),
            "accepted": self.post.accepted + self.other.accepted,
            "refused": self.post.refused + self.other.refused,
            "refusals": self.refusals,
        })
    }

    /// Full buckets, counters cleared.
    pub fn reset(&mut self) {
        *self = Self::new(self.post.limit, self.other.limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrival(now: Instant) -> Arrival<'static> {
        Arrival { now, at_ms: 0, user_agent: None }
    }

    #[test]
    fn burst_then_sustained_rate_without_lockout() {
        let limit = BucketLimit { requests: 1, per_seconds: 1, burst: 3 };
        let mut limiter = MuxLimiter::new(limit, BucketLimit { requests: 5, per_seconds: 1, burst: 5 });
        let t0 = Instant::now();
        for remaining in [2, 1, 0] {
            assert_eq!(limiter.admit(Kind::Post, arrival(t0)), Ok(Headroom { limit: 3, remaining }));
        }
        let (headroom, wait) = limiter.admit(Kind::Post, arrival(t0)).unwrap_err();
        assert_eq!(headroom, Headroom { limit: 3, remaining: 0 });
        assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6, "{wait:?}");
        // The other bucket is independent.
        assert!(limiter.admit(Kind::Other, arrival(t0)).is_ok());
        // Half a second later: still no whole token; refusals cost nothing.
        assert!(limiter.admit(Kind::Post, arrival(t0 + Duration::from_millis(500))).is_err());
        assert!(limiter.admit(Kind::Post, arrival(t0 + Duration::from_millis(1000))).is_ok());
        // A long pause refills up to the burst only.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.admit(Kind::Post, arrival(later)).is_ok());
        }
        assert!(limiter.admit(Kind::Post, arrival(later)).is_err());
        let report = limiter.report();
        assert_eq!(report["post"]["accepted"], 7);
        assert_eq!(report["post"]["refused"], 3);
        assert_eq!(report["refused"], 3);
        assert_eq!(report["refusals"].as_array().unwrap().len(), 3);
        assert_eq!(report["post"]["limit"], "1/1");
        limiter.reset();
        assert_eq!(limiter.report()["accepted"], 0);
        assert!(limiter.admit(Kind::Post, arrival(later)).is_ok());
    }

    #[test]
    fn methods_pick_buckets() {
        assert_eq!(Kind::of("POST"), Kind::Post);
        assert_eq!(Kind::of("GET"), Kind::Other);
        assert_eq!(Kind::of("DELETE"), Kind::Other);
    }
}
