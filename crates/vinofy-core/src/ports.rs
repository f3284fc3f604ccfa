//! The small, provider-neutral interfaces the use cases need from the outside world. Adapters in
//! [`crate::adapters`] implement them for S3, DynamoDB and Cloudflare Stream; a second video
//! provider is one more implementation of [`VideoProvider`] and [`WebhookVerifier`].

use std::future::Future;
use std::time::Duration;

use crate::domain::ids::{ClaimToken, VersionKey, VideoUid};
use crate::domain::object::ObjectVersion;
use crate::domain::provider::{Provider, VideoRef};
use crate::domain::record::{ClaimVerdict, RecordFilter, Status, StoredVersion, VideoRecord, VideoState};
use crate::error::{PresignError, ProviderError, StoreError};
use crate::secret::PresignedUrl;

/// The time, injected so that the use cases can be tested without waiting on the wall clock.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock: what every function and the CLI run with.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::ingest::now_ms()
    }
}

/// Presigns short-lived GET URLs for objects.
pub trait ObjectPresigner: Send + Sync {
    fn presign_get(
        &self,
        object: &ObjectVersion,
        ttl: Duration,
    ) -> impl Future<Output = Result<PresignedUrl, PresignError>> + Send;
}

/// Everything a provider needs to fetch the object and label the video. How the video is created
/// (playback policy, origins, thumbnails) is the adapter's configuration, not the use case's.
#[derive(Debug)]
pub struct CreateVideoRequest<'a> {
    pub url: &'a PresignedUrl,
    pub object: &'a ObjectVersion,
    /// [`ObjectVersion::version_tag`]: every attempt at one version sends the same tag.
    pub version_tag: &'a str,
}

/// What we keep of a provider's video. Deliberately not the provider's metadata: Cloudflare echoes
/// the source URL (our presigned URL, a credential) there as `downloaded-from`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderVideo {
    /// Who holds it; `uid` is that provider's id (a Stream uid, a Mux asset id).
    pub provider: Provider,
    pub uid: VideoUid,
    /// The id that names the video in playback URLs, when it is not `uid` (Mux's playback id).
    pub playback_id: Option<String>,
    /// It plays only with a signed token (Stream `requireSignedURLs`, a Mux `signed` playback id).
    pub signed_playback: bool,
    pub state: VideoState,
    pub hls_url: Option<String>,
    pub dash_url: Option<String>,
    pub thumbnail_url: Option<String>,
    pub preview_url: Option<String>,
    pub created: Option<String>,
    /// The version tag we created it with ([`ObjectVersion::version_tag`]): how a video is found again.
    pub version_tag: Option<String>,
    /// `meta.source` we sent (`s3://bucket/key`). Only this key of `meta` is kept: Cloudflare adds
    /// the presigned URL there as `downloaded-from`.
    pub source_tag: Option<String>,
    /// What finished processing tells (the webhook and `GET /stream/{uid}` carry it).
    pub details: VideoDetails,
}

impl ProviderVideo {
    pub fn video_ref(&self) -> VideoRef {
        VideoRef::new(self.provider, self.uid.clone())
    }
}

/// Processing results. `modified` orders updates: an older one never overwrites a newer one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoDetails {
    pub modified: Option<String>,
    pub ready_at: Option<String>,
    /// Seconds; absent while unknown (Cloudflare sends -1).
    pub duration: Option<f64>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub size: Option<u64>,
    pub pct_complete: Option<String>,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
}

/// A video platform (Cloudflare Stream today), one request per call: retries are the use case's
/// decision, because no provider's create is idempotent (a repeated create is a second, billed video).
pub trait VideoProvider: Send + Sync {
    /// The options new videos are created with, in a stable short form (`playback_policy=public;…`):
    /// recorded with each video (`encoding`), so that `vinofy migrate --to` its own provider knows
    /// which videos predate a change of options.
    fn encoding(&self) -> String;
    /// The provider new videos are created on.
    fn creates_on(&self) -> Provider;
    /// The most API requests one [`Self::videos_with_tag`] makes (Mux pages through its list): each
    /// takes its slot of the call budget.
    fn requests_per_lookup(&self) -> u32 {
        1
    }
    /// Creates a video that the provider fetches from the presigned URL, tagged with the version tag.
    fn create_from_url(
        &self,
        request: &CreateVideoRequest<'_>,
        timeout: Duration,
    ) -> impl Future<Output = Result<ProviderVideo, ProviderError>> + Send;
    /// Every video created with this version tag (normally none or one).
    fn videos_with_tag(
        &self,
        version_tag: &str,
        timeout: Duration,
    ) -> impl Future<Output = Result<Vec<ProviderVideo>, ProviderError>> + Send;
    /// One video, or `None` if the provider does not know it (deleted).
    fn get(
        &self,
        video: &VideoRef,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<ProviderVideo>, ProviderError>> + Send;
    /// Deletes a video; an unknown uid counts as deleted.
    fn delete(&self, video: &VideoRef, timeout: Duration) -> impl Future<Output = Result<(), ProviderError>> + Send;
}

/// The video provider's call budget, shared by every process that calls it (its API's rate limit).
pub trait CallBudgetGate: Send + Sync {
    /// Takes one call, waiting for its slot at most `max_wait`; returns how long it waited, or
    /// [`ProviderError::OverBudget`] with the wait a slot would need.
    fn take_call(&self, max_wait: Duration) -> impl Future<Output = Result<Duration, ProviderError>> + Send;

    /// The provider refused a call with `retry_after` (its rate limit's lock-out, which anyone on the
    /// same account may trip): every process holds its calls that long, instead of each finding out
    /// with a refused call of its own. Best effort: a hold that cannot be stored is only logged.
    fn hold_for(&self, retry_after: Duration) -> impl Future<Output = ()> + Send;
}

/// A budget shared by reference (both gates of a [`crate::paced::Paced`] that counts every call alike).
impl<G: CallBudgetGate> CallBudgetGate for std::sync::Arc<G> {
    fn take_call(&self, max_wait: Duration) -> impl Future<Output = Result<Duration, ProviderError>> + Send {
        G::take_call(self, max_wait)
    }

    fn hold_for(&self, retry_after: Duration) -> impl Future<Output = ()> + Send {
        G::hold_for(self, retry_after)
    }
}

/// One invocation's claim on one object version.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    /// Borrowed from the decoded event: a claim adds no copy of the object version.
    pub object: &'a ObjectVersion,
    pub source: &'a str,
    pub version_key: VersionKey,
    pub version_tag: String,
    /// Random per attempt: only the holder may complete or fail the record.
    pub token: ClaimToken,
    /// The invocation deadline (epoch ms): past it, the claim is free to take over.
    pub expires_at_ms: i64,
    pub now_ms: i64,
    /// A `failed` record of this version may be claimed again (operator retry only).
    pub retry_failed: bool,
    /// [`crate::domain::upload::owner_of_key`] of the key: written with the claim.
    pub owner: Option<String>,
}

/// The result of trying to claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// We hold the claim. `verdict` is `Claim` or `TakeOver`; `current_video` is the video the
    /// record pointed at before (a replaced version's, or one adopted by a crashed attempt).
    /// `nothing_submitted`: the previous holder released this version's claim having proved that
    /// no video exists for it (it was only refused), so a take-over need not look it up.
    Claimed { verdict: ClaimVerdict, current_video: Option<VideoRef>, nothing_submitted: bool },
    /// Someone else's state wins; nothing was written.
    Refused(ClaimVerdict),
}

/// The video table.
pub trait VideoStore: Send + Sync {
    /// Claims the record for this object version with one conditional write.
    fn claim(&self, claim: &Claim<'_>) -> impl Future<Output = Result<ClaimOutcome, StoreError>> + Send;
    /// Records the submitted video. `Ok(false)`: the claim was lost (a newer version took the
    /// record), so this video is not referenced by it.
    fn complete(
        &self,
        claim: &Claim<'_>,
        video: &ProviderVideo,
        replaced_video: Option<&VideoRef>,
        encoding: Option<&str>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Marks the version failed for good, with a readable reason.
    fn fail(&self, claim: &Claim<'_>, reason: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Gives the claim up after a retryable failure, so the retry need not wait for it to expire.
    /// `nothing_submitted`: this attempt proved no video exists for the version (the next claim's
    /// [`ClaimOutcome::Claimed::nothing_submitted`]).
    fn release(
        &self,
        claim: &Claim<'_>,
        reason: &str,
        nothing_submitted: bool,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Forgets a replaced video once it is deleted from Stream.
    fn clear_replaced(
        &self,
        source: &str,
        replaced_video_uid: &VideoUid,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The stored version of a source, if any (strongly consistent).
    fn stored(&self, source: &str) -> impl Future<Output = Result<Option<StoredVersion>, StoreError>> + Send;
    /// Marks the record `deleted` (kept, with `deleted_at`) unless a newer upload (a sequencer not
    /// below `sequencer`) is recorded. Also voids any claim in flight. `Ok(false)`: nothing changed.
    fn mark_deleted(&self, source: &str, sequencer: &str) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Where the next page of a scan starts (opaque to the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken(pub String);

/// A stored item that is not a valid record (a missing or unknown status, no version key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_uri}: the stored record cannot be read: {problem}")]
pub struct UnreadableRecord {
    pub source_uri: String,
    pub problem: String,
}

impl From<UnreadableRecord> for StoreError {
    fn from(e: UnreadableRecord) -> Self {
        StoreError::permanent(e.to_string())
    }
}

/// A walk over the table reports an unreadable item on its own, so that one bad item does not stop it.
pub type ReadRecord = Result<VideoRecord, UnreadableRecord>;

/// One page of a scan; `next` is `None` on the last page.
#[derive(Debug, Clone, Default)]
pub struct RecordPage {
    pub records: Vec<ReadRecord>,
    pub next: Option<PageToken>,
}

/// The reads that the CLI and the operators' tools make of the video table (all strongly
/// consistent, except the index).
pub trait VideoRecords: Send + Sync {
    /// The record of one source.
    fn record(&self, source: &str) -> impl Future<Output = Result<Option<VideoRecord>, StoreError>> + Send;
    /// The records that reference a video uid (the `by_video_uid` index; normally one).
    fn records_of_video(&self, uid: &VideoUid) -> impl Future<Output = Result<Vec<VideoRecord>, StoreError>> + Send;
    /// The records of many sources at once, by source; sources without a record are absent.
    fn records_of(
        &self,
        sources: &[String],
    ) -> impl Future<Output = Result<std::collections::HashMap<String, ReadRecord>, StoreError>> + Send;
    /// One page of the records that match `filter`, from `start` (`None`: the first page).
    fn scan(
        &self,
        filter: &RecordFilter,
        start: Option<PageToken>,
    ) -> impl Future<Output = Result<RecordPage, StoreError>> + Send;
}

/// Why a webhook delivery is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    /// Unsigned, forged or stale: the delivery is not the provider's (HTTP 401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but not a video the provider describes (HTTP 400).
    #[error("{0}")]
    Malformed(String),
    /// Authenticated, and of a kind the record keeps nothing of (a Mux `video.asset.created`):
    /// acknowledged (HTTP 200) so the provider stops delivering it, and nothing changes.
    #[error("{0}")]
    Ignored(String),
}

/// A provider's webhook deliveries: authenticated, then read into a provider-neutral video. The
/// signature scheme and the body's format are the adapter's.
pub trait WebhookVerifier: Send + Sync {
    /// `header` looks a request header up by its lower-cased name; `now_s` is Unix seconds.
    fn verify(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
        now_s: i64,
    ) -> Result<ProviderVideo, WebhookRejection>;
}

/// What a record says about the video it references (a consistent read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoReference {
    pub status: Status,
    /// Who holds `video_uid`.
    pub provider: Provider,
    pub video_uid: Option<VideoUid>,
    /// The version tag of the object version the record holds (or is claiming).
    pub version_tag: Option<String>,
}

/// Keeps records in step with the provider's view of their videos (webhook, reconcile). The
/// decisions are the use case's ([`crate::video_state::apply_video_state`]); these are its reads and
/// its one conditional write.
pub trait VideoStateStore: Send + Sync {
    /// The source of the record that references this video uid (an eventually consistent index).
    fn source_of_video(&self, uid: &VideoUid) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// What the record of `source` references, if there is a record (strongly consistent).
    fn video_reference(&self, source: &str) -> impl Future<Output = Result<Option<VideoReference>, StoreError>> + Send;
    /// Writes the video's state into the record of `source`, only while the record still points at
    /// this video and is past submission, and only forwards in the provider's `modified` time.
    /// `Ok(false)`: the condition refused it (nothing written).
    fn write_video_state(
        &self,
        source: &str,
        video: &ProviderVideo,
        now_ms: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Who made an API request: the identity provider's subject (`sub`), once its token verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub subject: String,
}

/// Why a bearer token is not accepted. The reasons name a check, never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthRejection {
    /// Forged, expired, for someone else, malformed (HTTP 401, `error="invalid_token"`).
    #[error("{0}")]
    InvalidToken(String),
    /// The identity provider's keys could not be fetched (HTTP 503: the token may be fine).
    #[error("{0}")]
    Unavailable(String),
}

/// Verifies the identity provider's tokens (OpenID Connect JWTs against its JWKS).
pub trait TokenVerifier: Send + Sync {
    fn verify(&self, token: &str) -> impl Future<Output = Result<Caller, AuthRejection>> + Send;
}

/// A request the client makes itself with what we signed: it must send exactly these headers.
/// The URL is a credential (a presigned S3 URL): it goes to the caller and nowhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub method: &'static str,
    pub url: PresignedUrl,
    pub headers: Vec<(String, String)>,
}

/// An object a caller is about to upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectUpload<'a> {
    pub key: &'a str,
    pub content_type: &'a str,
    /// Bytes of a single PUT (signed as its `Content-Length`).
    pub size: u64,
    /// The client's file name, as a metadata value ([`crate::domain::upload::metadata_label`]).
    pub label: &'a str,
}

/// Why the upload store refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadStoreError {
    /// S3 is unreachable or throttling (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
    /// No such multipart upload (completed, aborted, or never this key's): HTTP 404.
    #[error("no such upload")]
    NoSuchUpload,
    /// S3 refused the request as made (HTTP 409, with S3's reason).
    #[error("{0}")]
    Refused(String),
}

/// The upload bucket as the API uses it: presigned PUTs, and multipart uploads.
pub trait UploadSigner: Send + Sync {
    /// A PUT of exactly `upload.size` bytes of `upload.content_type` to `upload.key`.
    fn presign_put(
        &self,
        upload: &ObjectUpload<'_>,
        ttl: Duration,
    ) -> impl Future<Output = Result<SignedRequest, UploadStoreError>> + Send;
    /// Starts a multipart upload; returns S3's upload id.
    fn start_multipart(
        &self,
        upload: &ObjectUpload<'_>,
    ) -> impl Future<Output = Result<String, UploadStoreError>> + Send;
    /// A PUT of part `number`, exactly `size` bytes.
    fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u64,
        size: u64,
        ttl: Duration,
    ) -> impl Future<Output = Result<SignedRequest, UploadStoreError>> + Send;
    /// The parts S3 holds for an open upload.
    fn uploaded_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<Vec<crate::domain::upload::UploadedPart>, UploadStoreError>> + Send;
    fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[crate::domain::upload::UploadedPart],
    ) -> impl Future<Output = Result<(), UploadStoreError>> + Send;
    /// The size of the object at `key`, `None` when there is none.
    fn object_size(&self, key: &str) -> impl Future<Output = Result<Option<u64>, UploadStoreError>> + Send;
}

/// Playback URLs of one video.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaybackUrls {
    pub hls_url: Option<String>,
    pub dash_url: Option<String>,
    pub thumbnail_url: Option<String>,
}

/// Why signed URLs could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaybackSignError {
    /// No signing key for the record's provider is configured (HTTP 503).
    #[error("no playback signing key is configured for {0}")]
    Unconfigured(Provider),
    /// The record's URLs are not the provider's shape (HTTP 500; never an unsigned URL instead).
    #[error("{0}")]
    Unsignable(String),
}

/// Signs playback of private videos, in each provider's token format (Stream: a JWT in place of
/// the uid; Mux: `?token=` per host and audience). The tokens are credentials.
pub trait PlaybackSigner: Send + Sync {
    /// URLs of `record`'s video that play until `expires_at_s` (epoch seconds).
    fn signed_urls(&self, record: &VideoRecord, expires_at_s: i64) -> Result<PlaybackUrls, PlaybackSignError>;
}
