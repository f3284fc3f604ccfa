//! The small interfaces the ingest logic needs from the outside world. Adapters in
//! [`crate::adapters`] implement them for S3, Cloudflare Stream and DynamoDB.

use std::future::Future;
use std::time::Duration;

use crate::config::StreamOptions;
use crate::domain::object::ObjectVersion;
use crate::domain::record::ClaimVerdict;
use crate::error::{StoreError, StreamError};
use crate::secret::PresignedUrl;

/// Presigns short-lived GET URLs for objects.
pub trait ObjectPresigner: Send + Sync {
    fn presign_get(
        &self,
        object: &ObjectVersion,
        ttl: Duration,
    ) -> impl Future<Output = Result<PresignedUrl, String>> + Send;
}

/// A copy request: everything Cloudflare needs to fetch the object and label the video.
#[derive(Debug)]
pub struct CopyRequest<'a> {
    pub url: &'a PresignedUrl,
    pub object: &'a ObjectVersion,
    pub creator: &'a str,
    pub options: &'a StreamOptions,
}

/// What we keep of a Stream video. Deliberately not `meta`: Cloudflare echoes the source URL (our
/// presigned URL, a credential) there as `downloaded-from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamVideo {
    pub uid: String,
    pub state: String,
    pub hls_url: Option<String>,
    pub dash_url: Option<String>,
    pub thumbnail_url: Option<String>,
    pub preview_url: Option<String>,
    pub created: Option<String>,
}

/// Cloudflare Stream, one request per call (retries are the caller's decision).
pub trait StreamClient: Send + Sync {
    fn copy(
        &self,
        request: &CopyRequest<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<StreamVideo, StreamError>> + Send;
    /// The oldest video created with this `creator`, if any.
    fn find_by_creator(
        &self,
        creator: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<StreamVideo>, StreamError>> + Send;
    /// Deletes a video; an unknown uid counts as deleted.
    fn delete(&self, uid: &str, timeout: Duration) -> impl Future<Output = Result<(), StreamError>> + Send;
}

/// One invocation's claim on one object version.
#[derive(Debug, Clone)]
pub struct Claim {
    pub object: ObjectVersion,
    pub source: String,
    pub version_key: String,
    pub creator: String,
    /// Random per attempt: only the holder may complete or fail the record.
    pub token: String,
    /// The invocation deadline (epoch ms): past it, the claim is free to take over.
    pub expires_at_ms: i64,
    pub now_ms: i64,
}

/// The result of trying to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// We hold the claim. `verdict` is `Claim` or `TakeOver`; `current_video_uid` is the video the
    /// record pointed at before (a replaced version's, or one adopted by a crashed attempt).
    Claimed { verdict: ClaimVerdict, current_video_uid: Option<String> },
    /// Someone else's state wins; nothing was written.
    Refused(ClaimVerdict),
}

/// The video table.
pub trait VideoStore: Send + Sync {
    /// Claims the record for this object version with one conditional write.
    fn claim(&self, claim: &Claim) -> impl Future<Output = Result<ClaimOutcome, StoreError>> + Send;
    /// Records the submitted video. `Ok(false)`: the claim was lost (a newer version took the
    /// record), so this video is not referenced by it.
    fn complete(
        &self,
        claim: &Claim,
        video: &StreamVideo,
        replaced_video_uid: Option<&str>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Marks the version failed for good, with a readable reason.
    fn fail(&self, claim: &Claim, reason: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Gives the claim up after a retryable failure, so the retry need not wait for it to expire.
    fn release(&self, claim: &Claim, reason: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Forgets a replaced video once it is deleted from Stream.
    fn clear_replaced(
        &self,
        source: &str,
        replaced_video_uid: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
