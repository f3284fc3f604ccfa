//! Errors, classified as retryable or not. The class decides what Lambda does: a retryable error
//! fails the invocation so Lambda retries it; the `errorType` reported to Lambda says which class
//! and which kind, so the logs and the failure destination mean something.

use std::time::Duration;

use crate::domain::event::EventError;

/// A failed call to Cloudflare Stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Connection refused or reset, timeout: the request may or may not have been processed.
    #[error("could not complete the request to the video provider: {0}")]
    Transport(String),
    /// An HTTP error status, with Cloudflare's error codes and messages.
    #[error("the video provider answered HTTP {status}: {message}")]
    Http { status: u16, message: String, retry_after: Option<Duration> },
    /// A 2xx answer that is not a success: `success: false`, malformed JSON, no `uid`.
    #[error("the video provider sent an unusable response: {0}")]
    InvalidResponse(String),
    /// The shared call budget has no slot within the time this call may wait: nothing was sent.
    #[error("the video provider's call budget has no slot for {} ms", wait.as_millis())]
    OverBudget { wait: Duration },
    /// Nothing was sent, for a reason of ours: no time left before the deadline, or the call
    /// budget could not be read or written.
    #[error("nothing was sent to the video provider: {0}")]
    NotSent(String),
    /// The video is at a provider this process has no configuration for (a record on Mux, with
    /// only Cloudflare configured): nothing was sent, and repeating will not help until it is.
    #[error("{0}")]
    Unconfigured(String),
}

impl ProviderError {
    /// Cloudflare's own SDKs retry connection errors, 408, 409, 429 and 5xx; never other 4xx.
    /// A 2xx we cannot read may hide a created video: retried, after a look-up.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) | Self::InvalidResponse(_) | Self::OverBudget { .. } | Self::NotSent(_) => true,
            Self::Http { status, .. } => matches!(status, 408 | 409 | 429 | 500..=599),
            Self::Unconfigured(_) => false,
        }
    }

    /// The same error with every text taken from the provider scrubbed of credentials
    /// ([`crate::domain::scrub`]): the adapter applies it to everything it builds from a response.
    pub fn scrubbed(self) -> Self {
        use crate::domain::scrub::scrub_provider_text as scrub;
        match self {
            Self::Transport(m) => Self::Transport(scrub(&m)),
            Self::Http { status, message, retry_after } => Self::Http { status, message: scrub(&message), retry_after },
            Self::InvalidResponse(m) => Self::InvalidResponse(scrub(&m)),
            over @ Self::OverBudget { .. } => over,
            Self::NotSent(m) => Self::NotSent(scrub(&m)),
            unconfigured @ Self::Unconfigured(_) => unconfigured,
        }
    }

    /// The provider refused the call before doing anything (no slot in the budget, its rate limit
    /// or lock-out, Stream's limit on videos in flight: all 429): nothing was created, so the call
    /// is repeated as it is, with no look-up first, and it is never the video's failure.
    pub fn is_refusal(&self) -> bool {
        matches!(self, Self::OverBudget { .. } | Self::NotSent(_) | Self::Http { status: 429, .. })
    }

    /// A refusal that says for how long every call is refused: the lock-out of the provider's rate
    /// limit (a 429 with `retry-after`). Stream's in-flight limit sends none.
    pub fn lockout(&self) -> Option<Duration> {
        match self {
            Self::Http { status: 429, retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Http { retry_after, .. } => *retry_after,
            Self::OverBudget { wait } => Some(*wait),
            _ => None,
        }
    }
}

/// Presigning the object's URL failed (no credentials, a bad TTL): nothing reached the provider,
/// so the invocation is retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PresignError(pub String);

/// Whether a failed call to the video table is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// Throttling, a timeout, a 5xx, a concurrent change: the same call may succeed later.
    Transient,
    /// A rejected request or an unreadable record: it fails the same way every time.
    Permanent,
}

/// A failed call to the video table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("video table: {message}")]
pub struct StoreError {
    pub kind: StoreErrorKind,
    pub message: String,
}

impl StoreError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self { kind: StoreErrorKind::Transient, message: message.into() }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self { kind: StoreErrorKind::Permanent, message: message.into() }
    }

    pub fn is_retryable(&self) -> bool {
        self.kind == StoreErrorKind::Transient
    }
}

/// What the ingest function reports for an invocation that did not fully succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    #[error("invalid event: {0}")]
    InvalidEvent(#[from] EventError),
    #[error("{source_uri}: the video provider refused the copy: {reason}")]
    CopyRejected { source_uri: String, reason: String },
    #[error("{source_uri}: the video provider could not be reached in time (will be retried): {reason}")]
    StreamUnavailable { source_uri: String, reason: String },
    #[error("{source_uri}: this object version failed earlier and is recorded as failed: {reason}")]
    PreviouslyFailed { source_uri: String, reason: String },
    /// No call could be made in the time the invocation has left (the budget's next slot, a
    /// lock-out, Stream's in-flight limit): nothing was created and the claim is released. The event
    /// goes back to be tried again in `retry_in` (an SQS message's visibility delay).
    #[error("{source_uri}: handed back, to be tried again in {} s: {reason}", retry_in.as_secs_f64().ceil())]
    Deferred { source_uri: String, reason: String, retry_in: Duration },
    #[error("{source_uri}: could not presign the object URL: {reason}")]
    Presign { source_uri: String, reason: String },
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The invocation reached its deadline with work unfinished: it stopped there, as Lambda would
    /// stop it, so nothing it started can land after another invocation took over.
    #[error("the invocation reached its deadline with work unfinished (it will be retried)")]
    OutOfTime,
}

impl IngestError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::StreamUnavailable { .. } | Self::Deferred { .. } | Self::Presign { .. } | Self::OutOfTime => true,
            Self::Store(e) => e.is_retryable(),
            Self::InvalidEvent(_) | Self::CopyRejected { .. } | Self::PreviouslyFailed { .. } => false,
        }
    }

    /// The kind, without the class: stable names for dashboards and alarms.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidEvent(_) => "InvalidEvent",
            Self::CopyRejected { .. } => "CopyRejected",
            Self::StreamUnavailable { .. } => "StreamUnavailable",
            Self::Deferred { .. } => "Deferred",
            Self::PreviouslyFailed { .. } => "PreviouslyFailed",
            Self::Presign { .. } => "Presign",
            Self::OutOfTime => "OutOfTime",
            Self::Store(_) => "VideoStore",
        }
    }

    /// `Retryable.<Kind>` or `NonRetryable.<Kind>`: Lambda's `errorType`.
    pub fn error_type(&self) -> String {
        let class = if self.is_retryable() { "Retryable" } else { "NonRetryable" };
        format!("{class}.{}", self.kind())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> ProviderError {
        ProviderError::Http { status, message: "x".into(), retry_after: None }
    }

    #[test]
    fn cloudflare_errors_are_classified_like_its_sdks() {
        for s in [408, 409, 429, 500, 502, 503, 599] {
            assert!(http(s).is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 405, 413, 422] {
            assert!(!http(s).is_retryable(), "{s}");
        }
        assert!(ProviderError::Transport("reset".into()).is_retryable());
        assert!(ProviderError::InvalidResponse("no uid".into()).is_retryable());
    }

    #[test]
    fn refusals_are_429s_and_budget_waits_and_only_a_retry_after_is_a_lockout() {
        let lockout =
            ProviderError::Http { status: 429, message: "x".into(), retry_after: Some(Duration::from_secs(300)) };
        let in_flight = http(429);
        let over = ProviderError::OverBudget { wait: Duration::from_secs(2) };
        for e in [&lockout, &in_flight, &over] {
            assert!(e.is_refusal() && e.is_retryable(), "{e}");
        }
        assert_eq!(lockout.lockout(), Some(Duration::from_secs(300)));
        assert_eq!(in_flight.lockout(), None);
        assert_eq!(over.lockout(), None, "our own budget is not the provider's lock-out");
        for e in [http(500), http(503), ProviderError::Transport("reset".into()), http(400)] {
            assert!(!e.is_refusal(), "{e} may have done something");
        }
    }

    #[test]
    fn error_types_name_class_and_kind() {
        let e = IngestError::CopyRejected { source_uri: "s3://b/k".into(), reason: "HTTP 400".into() };
        assert_eq!(e.error_type(), "NonRetryable.CopyRejected");
        assert!(e.to_string().contains("s3://b/k"));
        let e = IngestError::Store(StoreError::transient("throttled"));
        assert_eq!(e.error_type(), "Retryable.VideoStore");
        assert_eq!(
            IngestError::InvalidEvent(EventError("no Records".into())).error_type(),
            "NonRetryable.InvalidEvent"
        );
    }
}
