//! In-memory implementations of every port of `vinofy-ingest`, in the spirit of
//! serverless-rust-demo's `MemoryStore`: the use cases run against them in microseconds, with no
//! peer. They keep the adapters' contracts (conditions, not-found answers) and take the claim rule
//! from the one pure `judge_claim`; `tests/claim_rule.rs` proves the DynamoDB condition agrees.
//!
//! Each fake can be told to fail its next calls, and records what it was asked.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use vinofy_core::domain::ids::{ClaimToken, VersionKey, VideoUid};
use vinofy_core::domain::object::ObjectVersion;
use vinofy_core::domain::provider::{Provider, VideoRef};
use vinofy_core::domain::record::{ClaimVerdict, Status, StoredVersion, VideoState, judge_claim};
use vinofy_core::error::{PresignError, ProviderError, StoreError};
use vinofy_core::migrate::{Expected, MigrationMarker, MigrationStart, MigrationStore};
use vinofy_core::ports::{
    Claim, ClaimOutcome, Clock, CreateVideoRequest, ObjectPresigner, ProviderVideo, VideoDetails, VideoProvider,
    VideoReference, VideoStateStore, VideoStore,
};
use vinofy_core::secret::PresignedUrl;
use vinofy_core::video_state::processing_error;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ------------------------------------------------------------------------------------------ clock

/// A clock that runs on tokio's time: in a `#[tokio::test(start_paused = true)]`, sleeps (the
/// retry backoff) advance it at once, so deadlines are tested without waiting.
pub struct TokioClock {
    epoch_ms_at_start: i64,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn starting_at(epoch_ms: i64) -> Self {
        Self { epoch_ms_at_start: epoch_ms, start: tokio::time::Instant::now() }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        self.epoch_ms_at_start + self.start.elapsed().as_millis() as i64
    }
}

// ------------------------------------------------------------------------------------- presigner

/// Presigns fake URLs that look like S3's (so scrubbing has something to scrub).
#[derive(Default)]
pub struct MemoryPresigner {
    fail_with: Mutex<Option<String>>,
    pub calls: AtomicUsize,
}

impl MemoryPresigner {
    pub fn fail_with(&self, reason: &str) {
        *lock(&self.fail_with) = Some(reason.to_owned());
    }
}

impl ObjectPresigner for MemoryPresigner {
    async fn presign_get(&self, object: &ObjectVersion, ttl: Duration) -> Result<PresignedUrl, PresignError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(reason) = lock(&self.fail_with).clone() {
            return Err(PresignError(reason));
        }
        Ok(PresignedUrl::new(format!(
            "https://s3.test/{}/{}?X-Amz-Expires={}&X-Amz-Signature=5f2b6c1b0f3a4e7d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d",
            object.bucket,
            object.key,
            ttl.as_secs()
        )))
    }
}

/// The ingest use case's settings for a test: the required variables (`bucket` as the upload
/// bucket, a Cloudflare account and token) plus `overrides`, validated as the functions validate them.
pub fn ingest_settings(bucket: &str, overrides: &[(&str, &str)]) -> vinofy_core::ingest::IngestSettings {
    let defaults = [
        ("VIDEOS_TABLE", "videos"),
        ("UPLOAD_BUCKET", bucket),
        ("CLOUDFLARE_ACCOUNT_ID", "acct"),
        ("CLOUDFLARE_API_TOKEN", "tok"),
    ];
    let value = |k: &str| overrides.iter().chain(&defaults).find(|(name, _)| *name == k).map(|(_, v)| v.to_string());
    vinofy_adapters::config::Config::from_lookup(value).expect("valid test configuration").ingest_settings()
}

// -------------------------------------------------------------------------------------- provider

/// What a scripted provider call does instead of its normal behaviour.
#[derive(Debug, Clone)]
pub enum Scripted {
    /// Fail without doing anything.
    Fail(ProviderError),
    /// Do the work (create the video), then fail as if the reply was lost.
    DoThenFail(ProviderError),
}

/// An in-memory video provider: videos, tagged by the `creator` sent with the copy.
#[derive(Default)]
pub struct MemoryProvider {
    /// Which provider it plays (Cloudflare by default): its videos say so, and it refuses others'.
    pub provider: Provider,
    videos: Mutex<Vec<ProviderVideo>>,
    scripts: Mutex<HashMap<&'static str, VecDeque<Scripted>>>,
    /// Every call, in order: `copy`, `find`, `get`, `delete`.
    pub calls: Mutex<Vec<&'static str>>,
    next_uid: AtomicUsize,
    /// What [`VideoProvider::encoding`] says (`set_encoding`: the options changed).
    encoding: Mutex<Option<String>>,
    /// Requests per look-up, as Mux pages through its list (0 counts as 1).
    lookup_pages: u32,
    /// New videos play only with signed tokens (`requireSignedURLs`).
    pub signed_playback: std::sync::atomic::AtomicBool,
}

impl MemoryProvider {
    pub fn of(provider: Provider) -> Self {
        Self { provider, ..Self::default() }
    }

    /// The next calls of `operation` (`copy`, `find`, `get`, `delete`) do this, in order.
    pub fn script(&self, operation: &'static str, steps: impl IntoIterator<Item = Scripted>) {
        lock(&self.scripts).entry(operation).or_default().extend(steps);
    }

    /// A provider whose look-ups page through `pages` list requests (as Mux's do).
    pub fn with_lookup_pages(mut self, pages: u32) -> Self {
        self.lookup_pages = pages;
        self
    }

    pub fn set_encoding(&self, encoding: &str) {
        *lock(&self.encoding) = Some(encoding.to_owned());
    }

    /// Forgets the scripted steps not taken yet (the provider recovers).
    pub fn recover(&self) {
        lock(&self.scripts).clear();
    }

    pub fn videos(&self) -> Vec<ProviderVideo> {
        lock(&self.videos).clone()
    }

    pub fn count(&self, operation: &str) -> usize {
        lock(&self.calls).iter().filter(|c| **c == operation).count()
    }

    /// A video as the provider returns it right after a copy.
    pub fn new_video(&self, version_tag: Option<&str>, source: Option<&str>) -> ProviderVideo {
        let n = self.next_uid.fetch_add(1, Ordering::SeqCst);
        let uid = VideoUid::parse(&format!("{n:032x}")).expect("hex is a uid");
        ProviderVideo {
            hls_url: Some(format!("https://videos.test/{uid}/manifest/video.m3u8")),
            dash_url: Some(format!("https://videos.test/{uid}/manifest/video.mpd")),
            thumbnail_url: Some(format!("https://videos.test/{uid}/thumbnails/thumbnail.jpg")),
            preview_url: Some(format!("https://videos.test/{uid}/watch")),
            provider: self.provider,
            playback_id: (self.provider == Provider::Mux).then(|| format!("p{uid}")),
            signed_playback: self.signed_playback.load(Ordering::SeqCst),
            uid,
            state: VideoState::Downloading,
            created: Some(format!("2026-12-01T00:00:{:02}Z", n % 60)),
            version_tag: version_tag.map(str::to_owned),
            source_tag: source.map(str::to_owned),
            details: VideoDetails::default(),
        }
    }

    /// Changes a video as the provider's processing would.
    pub fn update(&self, uid: &VideoUid, change: impl FnOnce(&mut ProviderVideo)) {
        if let Some(video) = lock(&self.videos).iter_mut().find(|v| v.uid == *uid) {
            change(video);
        }
    }

    /// Adds a video as if an earlier attempt had created it.
    pub fn insert(&self, video: ProviderVideo) {
        lock(&self.videos).push(video);
    }

    fn begin(&self, operation: &'static str) -> Option<Scripted> {
        lock(&self.calls).push(operation);
        lock(&self.scripts).get_mut(operation).and_then(VecDeque::pop_front)
    }
}

impl VideoProvider for MemoryProvider {
    fn creates_on(&self) -> Provider {
        self.provider
    }

    fn requests_per_lookup(&self) -> u32 {
        self.lookup_pages.max(1)
    }

    fn encoding(&self) -> String {
        lock(&self.encoding).clone().unwrap_or_else(|| "memory-default".into())
    }

    async fn create_from_url(
        &self,
        request: &CreateVideoRequest<'_>,
        _timeout: Duration,
    ) -> Result<ProviderVideo, ProviderError> {
        let step = self.begin("copy");
        if let Some(Scripted::Fail(e)) = step {
            return Err(e);
        }
        let video = self.new_video(Some(request.version_tag), Some(&request.object.source()));
        self.insert(video.clone());
        match step {
            Some(Scripted::DoThenFail(e)) => Err(e),
            _ => Ok(video),
        }
    }

    async fn videos_with_tag(
        &self,
        version_tag: &str,
        _timeout: Duration,
    ) -> Result<Vec<ProviderVideo>, ProviderError> {
        if let Some(Scripted::Fail(e) | Scripted::DoThenFail(e)) = self.begin("find") {
            return Err(e);
        }
        Ok(lock(&self.videos).iter().filter(|v| v.version_tag.as_deref() == Some(version_tag)).cloned().collect())
    }

    async fn get(&self, video: &VideoRef, _timeout: Duration) -> Result<Option<ProviderVideo>, ProviderError> {
        let uid = video.uid_at(self.provider)?;
        if let Some(Scripted::Fail(e) | Scripted::DoThenFail(e)) = self.begin("get") {
            return Err(e);
        }
        Ok(lock(&self.videos).iter().find(|v| v.uid == *uid).cloned())
    }

    async fn delete(&self, video: &VideoRef, _timeout: Duration) -> Result<(), ProviderError> {
        let uid = video.uid_at(self.provider)?;
        let step = self.begin("delete");
        if let Some(Scripted::Fail(e)) = step {
            return Err(e);
        }
        lock(&self.videos).retain(|v| v.uid != *uid);
        match step {
            Some(Scripted::DoThenFail(e)) => Err(e),
            _ => Ok(()),
        }
    }
}

/// Both providers in memory: new videos on `primary`, gets and deletes by the video's provider.
pub struct MemoryProviders {
    pub primary: Provider,
    pub cloudflare: std::sync::Arc<MemoryProvider>,
    pub mux: std::sync::Arc<MemoryProvider>,
}

impl Default for MemoryProviders {
    fn default() -> Self {
        Self {
            primary: Provider::Cloudflare,
            cloudflare: std::sync::Arc::new(MemoryProvider::of(Provider::Cloudflare)),
            mux: std::sync::Arc::new(MemoryProvider::of(Provider::Mux)),
        }
    }
}

impl MemoryProviders {
    /// The same providers, new videos on `provider`.
    pub fn creating_on(&self, provider: Provider) -> Self {
        Self { primary: provider, cloudflare: self.cloudflare.clone(), mux: self.mux.clone() }
    }

    pub fn of(&self, provider: Provider) -> &MemoryProvider {
        match provider {
            Provider::Cloudflare => &self.cloudflare,
            Provider::Mux => &self.mux,
        }
    }
}

impl VideoProvider for MemoryProviders {
    fn encoding(&self) -> String {
        self.of(self.primary).encoding()
    }

    fn creates_on(&self) -> Provider {
        self.primary
    }

    async fn create_from_url(
        &self,
        request: &CreateVideoRequest<'_>,
        timeout: Duration,
    ) -> Result<ProviderVideo, ProviderError> {
        self.of(self.primary).create_from_url(request, timeout).await
    }

    async fn videos_with_tag(&self, version_tag: &str, timeout: Duration) -> Result<Vec<ProviderVideo>, ProviderError> {
        self.of(self.primary).videos_with_tag(version_tag, timeout).await
    }

    async fn get(&self, video: &VideoRef, timeout: Duration) -> Result<Option<ProviderVideo>, ProviderError> {
        self.of(video.provider).get(video, timeout).await
    }

    async fn delete(&self, video: &VideoRef, timeout: Duration) -> Result<(), ProviderError> {
        self.of(video.provider).delete(video, timeout).await
    }
}

// ------------------------------------------------------------------------------------------ store

/// One record, with the attributes the use cases' decisions read or write.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryRecord {
    pub status: Status,
    pub bucket: String,
    pub key: String,
    pub version_key: VersionKey,
    pub version_id: Option<String>,
    pub sequencer: String,
    pub version_tag: Option<String>,
    pub claim_token: Option<ClaimToken>,
    pub claim_expires_at_ms: i64,
    /// Who holds `video_uid`.
    pub provider: Provider,
    pub video_uid: Option<VideoUid>,
    pub encoding: Option<String>,
    pub hls_url: Option<String>,
    pub stream_state: Option<String>,
    pub error: Option<String>,
    pub stream_error_code: Option<String>,
    pub last_error: Option<String>,
    pub replaced_video_uid: Option<VideoUid>,
    pub replaced_provider: Provider,
    pub stream_modified: Option<String>,
    pub duration: Option<f64>,
    pub nothing_submitted: bool,
    /// The object version's size and eTag (what a walk over the table rebuilds it from).
    pub size: u64,
    pub etag: String,
    /// `vinofy migrate`'s marker and results.
    pub migration_tag: Option<String>,
    pub migration_token: Option<ClaimToken>,
    pub migration_expires_at_ms: i64,
    pub migration_error: Option<String>,
    pub previous_video: Option<VideoRef>,
    /// The claim's owner ([`vinofy_core::domain::upload::owner_of_key`]).
    pub owner: Option<String>,
    pub signed_playback: bool,
}

impl MemoryRecord {
    /// A record of `object` in `status`, as the functions would have left it (no claim, no video).
    pub fn of(object: &ObjectVersion, status: Status) -> Self {
        Self {
            status,
            bucket: object.bucket.clone(),
            key: object.key.clone(),
            version_key: object.version_key(),
            version_id: object.version_id.clone(),
            sequencer: object.sequencer.clone(),
            version_tag: Some(object.version_tag()),
            claim_token: None,
            claim_expires_at_ms: 0,
            provider: Provider::Cloudflare,
            video_uid: None,
            encoding: None,
            hls_url: None,
            stream_state: None,
            error: None,
            stream_error_code: None,
            last_error: None,
            replaced_video_uid: None,
            replaced_provider: Provider::Cloudflare,
            stream_modified: None,
            duration: None,
            nothing_submitted: false,
            size: object.size,
            etag: object.etag.clone(),
            migration_tag: None,
            migration_token: None,
            migration_expires_at_ms: 0,
            migration_error: None,
            previous_video: None,
            owner: None,
            signed_playback: false,
        }
    }

    /// The record as a walk over the table reads it.
    pub fn video_record(&self, source: &str) -> vinofy_core::domain::record::VideoRecord {
        vinofy_core::domain::record::VideoRecord {
            source: source.to_owned(),
            status: self.status,
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            size: Some(self.size),
            etag: Some(self.etag.clone()),
            version_id: self.version_id.clone(),
            version_key: self.version_key.clone(),
            sequencer: self.sequencer.clone(),
            version_tag: self.version_tag.clone(),
            provider: self.provider,
            video_uid: self.video_uid.clone(),
            encoding: self.encoding.clone(),
            hls_url: self.hls_url.clone(),
            migration_error: self.migration_error.clone(),
            migration_tag: self.migration_tag.clone(),
            previous_provider: self.previous_video.as_ref().map(|v| v.provider),
            previous_video_uid: self.previous_video.as_ref().map(|v| v.uid.clone()),
            owner: self.owner.clone(),
            signed_playback: self.signed_playback,
            ..Default::default()
        }
    }

    fn holds(&self, expected: &Expected<'_>) -> bool {
        expected.held_by(&self.video_record(""))
    }

    pub fn video(&self) -> Option<VideoRef> {
        self.video_uid.clone().map(|uid| VideoRef::new(self.provider, uid))
    }

    fn stored_version(&self) -> StoredVersion {
        StoredVersion {
            status: self.status,
            version_key: self.version_key.clone(),
            sequencer: self.sequencer.clone(),
            claim_expires_at_ms: self.claim_expires_at_ms,
            video: self.video(),
            error: self.error.clone(),
            version_id: self.version_id.clone(),
        }
    }
}

/// The video table in memory: records by `source`, and the `by_video_uid` index.
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<HashMap<String, MemoryRecord>>,
    failures: Mutex<HashMap<&'static str, VecDeque<StoreError>>>,
    /// The index does not know any uid yet (it is eventually consistent).
    pub index_lags: AtomicBool,
    /// Before the next `complete`, a newer version of the object claims the record.
    steal_next_complete: Mutex<Option<ObjectVersion>>,
    /// The next `complete` is applied but answers `false`, as a write the SDK resent after its
    /// first attempt succeeded (the condition then fails on our own write).
    resend_next_complete: AtomicBool,
    /// Before the next `mark_deleted`, the key is uploaded again (a newer sequencer).
    reupload_before_delete: AtomicBool,
    /// Before the next `switch_migrated`, a newer version of the object claims the record.
    upload_before_next_switch: Mutex<Option<ObjectVersion>>,
    /// Before the next `mark_deleted`, `vinofy migrate` switches the record to this video.
    switch_before_next_delete: Mutex<Option<VideoRef>>,
    /// Before the next `switch_migrated`, another run (whose marker replaced ours once ours lapsed)
    /// switches the record to the same video.
    another_run_switches_first: AtomicBool,
}

fn is_newer(sequencer: &str, than: &str) -> bool {
    sequencer > than
}

impl MemoryStore {
    pub fn record(&self, source: &str) -> Option<MemoryRecord> {
        lock(&self.records).get(source).cloned()
    }

    pub fn records(&self) -> HashMap<String, MemoryRecord> {
        lock(&self.records).clone()
    }

    /// Stores a record as it stands (a test's starting point).
    pub fn put(&self, source: &str, record: MemoryRecord) {
        lock(&self.records).insert(source.to_owned(), record);
    }

    /// The next calls of `operation` (`claim`, `complete`, `fail`, `release`, `stored`,
    /// `mark_deleted`, `source_of_video`, `video_reference`, `write_video_state`) fail like this.
    pub fn fail_next(&self, operation: &'static str, error: StoreError) {
        lock(&self.failures).entry(operation).or_default().push_back(error);
    }

    pub fn resend_next_complete(&self) {
        self.resend_next_complete.store(true, Ordering::SeqCst);
    }

    pub fn steal_next_complete(&self, newer: ObjectVersion) {
        *lock(&self.steal_next_complete) = Some(newer);
    }

    pub fn upload_before_next_switch(&self, newer: ObjectVersion) {
        *lock(&self.upload_before_next_switch) = Some(newer);
    }

    pub fn another_run_switches_first(&self) {
        self.another_run_switches_first.store(true, Ordering::SeqCst);
    }

    pub fn switch_before_next_delete(&self, video: VideoRef) {
        *lock(&self.switch_before_next_delete) = Some(video);
    }

    pub fn reupload_before_next_delete(&self) {
        self.reupload_before_delete.store(true, Ordering::SeqCst);
    }

    fn check(&self, operation: &'static str) -> Result<(), StoreError> {
        match lock(&self.failures).get_mut(operation).and_then(VecDeque::pop_front) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A claim's write, as the DynamoDB adapter's `UpdateItem` makes it.
    fn write_claim(records: &mut HashMap<String, MemoryRecord>, claim: &Claim<'_>) {
        let o = claim.object;
        let previous = records.remove(claim.source);
        let record = MemoryRecord {
            status: Status::Pending,
            bucket: o.bucket.clone(),
            key: o.key.clone(),
            version_key: claim.version_key.clone(),
            version_id: o.version_id.clone(),
            sequencer: o.sequencer.clone(),
            version_tag: Some(claim.version_tag.clone()),
            claim_token: Some(claim.token.clone()),
            claim_expires_at_ms: claim.expires_at_ms,
            error: None,
            last_error: None,
            nothing_submitted: false,
            size: o.size,
            etag: o.etag.clone(),
            encoding: None,
            migration_tag: None,
            migration_token: None,
            migration_expires_at_ms: 0,
            migration_error: None,
            previous_video: None,
            owner: claim.owner.clone(),
            ..previous.unwrap_or_else(|| MemoryRecord::of(o, Status::Pending))
        };
        records.insert(claim.source.to_owned(), record);
    }
}

impl VideoStore for MemoryStore {
    async fn claim(&self, claim: &Claim<'_>) -> Result<ClaimOutcome, StoreError> {
        self.check("claim")?;
        let mut records = lock(&self.records);
        let stored = records.get(claim.source).map(MemoryRecord::stored_version);
        let verdict =
            judge_claim(stored.as_ref(), &claim.version_key, &claim.object.sequencer, claim.now_ms, claim.retry_failed);
        match verdict {
            ClaimVerdict::Claim | ClaimVerdict::TakeOver | ClaimVerdict::RetryFailed => {
                let current_video = stored.and_then(|s| s.video);
                let nothing_submitted = records.get(claim.source).is_some_and(|r| r.nothing_submitted);
                Self::write_claim(&mut records, claim);
                Ok(ClaimOutcome::Claimed { verdict, current_video, nothing_submitted })
            }
            refusal => Ok(ClaimOutcome::Refused(refusal)),
        }
    }

    async fn complete(
        &self,
        claim: &Claim<'_>,
        video: &ProviderVideo,
        replaced_video: Option<&VideoRef>,
        encoding: Option<&str>,
    ) -> Result<bool, StoreError> {
        self.check("complete")?;
        let mut records = lock(&self.records);
        if let Some(newer) = lock(&self.steal_next_complete).take() {
            let theirs = Claim {
                object: &newer,
                source: claim.source,
                version_key: newer.version_key(),
                version_tag: newer.version_tag(),
                token: ClaimToken::from_stored("a-newer-invocation"),
                expires_at_ms: i64::MAX,
                now_ms: claim.now_ms,
                retry_failed: false,
                owner: None,
            };
            Self::write_claim(&mut records, &theirs);
        }
        let Some(r) = records.get_mut(claim.source) else { return Ok(false) };
        if r.version_key != claim.version_key || r.claim_token.as_ref() != Some(&claim.token) {
            return Ok(false);
        }
        r.status = Status::Submitted;
        r.provider = video.provider;
        r.signed_playback = video.signed_playback;
        r.encoding = encoding.map(str::to_owned);
        r.video_uid = Some(video.uid.clone());
        r.hls_url = video.hls_url.clone();
        r.stream_state = Some(video.state.as_str().to_owned());
        r.claim_token = None;
        r.claim_expires_at_ms = 0;
        r.error = None;
        r.last_error = None;
        if let Some(old) = replaced_video {
            r.replaced_video_uid = Some(old.uid.clone());
            r.replaced_provider = old.provider;
        }
        Ok(!self.resend_next_complete.swap(false, Ordering::SeqCst))
    }

    async fn fail(&self, claim: &Claim<'_>, reason: &str) -> Result<(), StoreError> {
        self.check("fail")?;
        if let Some(r) = lock(&self.records).get_mut(claim.source)
            && r.claim_token.as_ref() == Some(&claim.token)
        {
            r.status = Status::Failed;
            r.error = Some(reason.to_owned());
            r.claim_token = None;
            r.claim_expires_at_ms = 0;
        }
        Ok(())
    }

    async fn release(&self, claim: &Claim<'_>, reason: &str, nothing_submitted: bool) -> Result<(), StoreError> {
        self.check("release")?;
        if let Some(r) = lock(&self.records).get_mut(claim.source)
            && r.claim_token.as_ref() == Some(&claim.token)
        {
            r.claim_expires_at_ms = 0;
            r.last_error = Some(reason.to_owned());
            r.nothing_submitted = nothing_submitted;
            r.claim_token = None;
        }
        Ok(())
    }

    async fn clear_replaced(&self, source: &str, replaced_video_uid: &VideoUid) -> Result<(), StoreError> {
        self.check("clear_replaced")?;
        if let Some(r) = lock(&self.records).get_mut(source)
            && r.replaced_video_uid.as_ref() == Some(replaced_video_uid)
        {
            r.replaced_video_uid = None;
        }
        Ok(())
    }

    async fn stored(&self, source: &str) -> Result<Option<StoredVersion>, StoreError> {
        self.check("stored")?;
        Ok(lock(&self.records).get(source).map(MemoryRecord::stored_version))
    }

    async fn mark_deleted(&self, source: &str, sequencer: &str) -> Result<bool, StoreError> {
        self.check("mark_deleted")?;
        let mut records = lock(&self.records);
        let Some(r) = records.get_mut(source) else { return Ok(false) };
        if let Some(switched) = lock(&self.switch_before_next_delete).take() {
            r.provider = switched.provider;
            r.video_uid = Some(switched.uid);
        }
        if self.reupload_before_delete.swap(false, Ordering::SeqCst) {
            r.sequencer = format!("{sequencer}F");
            r.status = Status::Submitted;
        }
        if r.status == Status::Deleted || !is_newer(sequencer, &r.sequencer) {
            return Ok(false);
        }
        r.status = Status::Deleted;
        r.sequencer = sequencer.to_owned();
        r.claim_token = None;
        r.claim_expires_at_ms = 0;
        Ok(true)
    }
}

impl MigrationStore for MemoryStore {
    async fn begin_migration(
        &self,
        source: &str,
        expected: &Expected<'_>,
        marker: &MigrationMarker<'_>,
    ) -> Result<MigrationStart, StoreError> {
        self.check("begin_migration")?;
        let mut records = lock(&self.records);
        let Some(r) = records.get_mut(source).filter(|r| r.holds(expected)) else {
            return Ok(MigrationStart::Changed);
        };
        if r.migration_token.is_some() && r.migration_expires_at_ms >= marker.now_ms {
            return Ok(MigrationStart::Busy { until_ms: r.migration_expires_at_ms });
        }
        let resumed = r.migration_tag.as_deref() == Some(marker.tag);
        r.migration_tag = Some(marker.tag.to_owned());
        r.migration_token = Some(marker.token.clone());
        r.migration_expires_at_ms = marker.expires_at_ms;
        Ok(MigrationStart::Started { resumed })
    }

    async fn switch_migrated(
        &self,
        source: &str,
        expected: &Expected<'_>,
        token: &ClaimToken,
        video: &ProviderVideo,
        encoding: &str,
        _now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.check("switch_migrated")?;
        let mut records = lock(&self.records);
        if let Some(newer) = lock(&self.upload_before_next_switch).take() {
            let theirs = Claim {
                object: &newer,
                source,
                version_key: newer.version_key(),
                version_tag: newer.version_tag(),
                token: ClaimToken::from_stored("an-upload-meanwhile"),
                expires_at_ms: i64::MAX,
                now_ms: 0,
                retry_failed: false,
                owner: None,
            };
            Self::write_claim(&mut records, &theirs);
        }
        let Some(r) = records.get_mut(source) else { return Ok(false) };
        if self.another_run_switches_first.swap(false, Ordering::SeqCst) {
            r.previous_video = r.video();
            r.provider = video.provider;
            r.video_uid = Some(video.uid.clone());
            (r.migration_tag, r.migration_token) = (None, None);
        }
        if !r.holds(expected) || r.migration_token.as_ref() != Some(token) {
            return Ok(false);
        }
        r.previous_video = r.video();
        r.provider = video.provider;
        r.video_uid = Some(video.uid.clone());
        r.hls_url = video.hls_url.clone();
        r.stream_state = Some(video.state.as_str().to_owned());
        r.status = Status::Ready;
        r.encoding = Some(encoding.to_owned());
        r.migration_tag = None;
        r.migration_token = None;
        r.migration_expires_at_ms = 0;
        r.migration_error = None;
        r.error = None;
        Ok(true)
    }

    async fn record_now(&self, source: &str) -> Result<Option<vinofy_core::domain::record::VideoRecord>, StoreError> {
        let records = lock(&self.records);
        Ok(records.get(source).map(|r| {
            let mut record = r.video_record(source);
            record.migration_expires_at_ms = r.migration_token.as_ref().map(|_| r.migration_expires_at_ms);
            record
        }))
    }

    async fn end_migration(
        &self,
        source: &str,
        token: &ClaimToken,
        keep_tag: bool,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.check("end_migration")?;
        let mut records = lock(&self.records);
        if let Some(r) = records.get_mut(source).filter(|r| r.migration_token.as_ref() == Some(token)) {
            r.migration_token = None;
            r.migration_expires_at_ms = 0;
            if !keep_tag {
                r.migration_tag = None;
            }
            if let Some(error) = error {
                r.migration_error = Some(error.to_owned());
            }
        }
        Ok(())
    }
}

impl VideoStateStore for MemoryStore {
    async fn source_of_video(&self, uid: &VideoUid) -> Result<Option<String>, StoreError> {
        self.check("source_of_video")?;
        if self.index_lags.load(Ordering::SeqCst) {
            return Ok(None);
        }
        Ok(lock(&self.records).iter().find(|(_, r)| r.video_uid.as_ref() == Some(uid)).map(|(s, _)| s.clone()))
    }

    async fn video_reference(&self, source: &str) -> Result<Option<VideoReference>, StoreError> {
        self.check("video_reference")?;
        Ok(lock(&self.records).get(source).map(|r| VideoReference {
            status: r.status,
            provider: r.provider,
            video_uid: r.video_uid.clone(),
            version_tag: r.version_tag.clone(),
        }))
    }

    async fn write_video_state(&self, source: &str, video: &ProviderVideo, _now_ms: i64) -> Result<bool, StoreError> {
        self.check("write_video_state")?;
        let mut records = lock(&self.records);
        let Some(r) = records.get_mut(source) else { return Ok(false) };
        let past_submission = matches!(r.status, Status::Submitted | Status::Ready | Status::Error);
        // RFC 3339 of one format order as strings here; the adapter compares epoch nanoseconds.
        let newer = match (&r.stream_modified, &video.details.modified) {
            (None, _) => true,
            (Some(stored), Some(new)) => new > stored,
            (Some(_), None) => false,
        };
        if r.video() != Some(video.video_ref()) || !past_submission || !newer {
            return Ok(false);
        }
        r.stream_state = Some(video.state.as_str().to_owned());
        r.stream_modified = video.details.modified.clone();
        r.duration = video.details.duration;
        match video.state.final_status() {
            Some(Status::Error) => {
                let (code, error) =
                    processing_error(video.details.error_code.as_deref(), video.details.error_text.as_deref());
                r.status = Status::Error;
                r.stream_error_code = Some(code);
                r.error = Some(error);
            }
            Some(status) => {
                r.status = status;
                r.error = None;
                r.stream_error_code = None;
            }
            None => {}
        }
        Ok(true)
    }
}

// ---------------------------------------------------------------------------------------- budget

/// A call budget in memory: every call takes a slot (counted); scripted answers say "no slot".
#[derive(Default)]
pub struct MemoryBudget {
    refusals: Mutex<VecDeque<Duration>>,
    pub taken: AtomicUsize,
    /// Every hold passed on (a lock-out's `retry-after`), in order.
    pub holds: Mutex<Vec<Duration>>,
}

impl MemoryBudget {
    /// The next calls find no slot for this long, in order.
    pub fn refuse(&self, waits: impl IntoIterator<Item = Duration>) {
        lock(&self.refusals).extend(waits);
    }
}

impl vinofy_core::ports::CallBudgetGate for MemoryBudget {
    async fn take_call(&self, max_wait: Duration) -> Result<Duration, ProviderError> {
        match lock(&self.refusals).pop_front() {
            Some(wait) if wait > max_wait => Err(ProviderError::OverBudget { wait }),
            waited => {
                self.taken.fetch_add(1, Ordering::SeqCst);
                Ok(waited.unwrap_or_default())
            }
        }
    }

    async fn hold_for(&self, retry_after: Duration) {
        lock(&self.holds).push(retry_after);
    }
}

// ------------------------------------------------------------------------------------------ api

/// The identity provider in memory: known tokens name their subject; `unavailable` makes every
/// verification fail as a JWKS outage would.
#[derive(Default)]
pub struct MemoryTokens {
    subjects: Mutex<HashMap<String, String>>,
    pub unavailable: AtomicBool,
}

impl MemoryTokens {
    /// A valid token for `subject` (the token text is `token-of-<subject>`).
    pub fn token_for(&self, subject: &str) -> String {
        let token = format!("token-of-{subject}");
        lock(&self.subjects).insert(token.clone(), subject.to_owned());
        token
    }
}

impl vinofy_core::ports::TokenVerifier for MemoryTokens {
    async fn verify(&self, token: &str) -> Result<vinofy_core::ports::Caller, vinofy_core::ports::AuthRejection> {
        use vinofy_core::ports::{AuthRejection, Caller};
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(AuthRejection::Unavailable("the JWKS cannot be fetched".into()));
        }
        lock(&self.subjects)
            .get(token)
            .map(|subject| Caller { subject: subject.clone() })
            .ok_or_else(|| AuthRejection::InvalidToken("unknown token".into()))
    }
}

/// The upload bucket in memory: what was presigned, the open multipart uploads and their parts.
#[derive(Default)]
pub struct MemoryUploads {
    /// Every call: `presign_put`, `start_multipart`, `presign_part`, `uploaded_parts`, `complete`.
    pub calls: Mutex<Vec<String>>,
    /// Open uploads: upload id → (key, parts uploaded so far).
    pub open: Mutex<HashMap<String, (String, Vec<vinofy_core::domain::upload::UploadedPart>)>>,
    pub completed: Mutex<Vec<String>>,
    /// The objects in the bucket (key → size): a completed upload's, or one put there by a test.
    pub objects: Mutex<HashMap<String, u64>>,
    /// The next call of this operation (`presign_put`, `complete`, `object_size`, …) fails with this.
    pub fail_on: Mutex<HashMap<&'static str, vinofy_core::ports::UploadStoreError>>,
}

impl MemoryUploads {
    /// Uploads part `number` of `size` bytes, as a client with the part's URL would.
    pub fn upload_part(&self, upload_id: &str, number: u64, size: u64) {
        let mut open = lock(&self.open);
        let (_, parts) = open.get_mut(upload_id).expect("an open upload");
        parts.push(vinofy_core::domain::upload::UploadedPart { number, size, etag: format!("etag-{number}") });
    }

    /// Records the call (`op` and what it was about), then fails it if a test asked for that.
    fn call(&self, op: &'static str, detail: String) -> Result<(), vinofy_core::ports::UploadStoreError> {
        lock(&self.calls).push(format!("{op} {detail}"));
        lock(&self.fail_on).remove(op).map_or(Ok(()), Err)
    }

    fn signed(url: String, headers: Vec<(String, String)>) -> vinofy_core::ports::SignedRequest {
        vinofy_core::ports::SignedRequest { method: "PUT", url: PresignedUrl::new(url), headers }
    }
}

impl vinofy_core::ports::UploadSigner for MemoryUploads {
    async fn presign_put(
        &self,
        upload: &vinofy_core::ports::ObjectUpload<'_>,
        ttl: Duration,
    ) -> Result<vinofy_core::ports::SignedRequest, vinofy_core::ports::UploadStoreError> {
        self.call("presign_put", upload.key.to_owned())?;
        let headers = vec![
            ("content-length".to_owned(), upload.size.to_string()),
            ("content-type".to_owned(), upload.content_type.to_owned()),
        ];
        Ok(Self::signed(
            format!("https://s3.test/{}?X-Amz-Expires={}&X-Amz-Signature=sig", upload.key, ttl.as_secs()),
            headers,
        ))
    }

    async fn start_multipart(
        &self,
        upload: &vinofy_core::ports::ObjectUpload<'_>,
    ) -> Result<String, vinofy_core::ports::UploadStoreError> {
        self.call("start_multipart", upload.key.to_owned())?;
        let id = format!("upload-{}", lock(&self.open).len() + 1);
        lock(&self.open).insert(id.clone(), (upload.key.to_owned(), Vec::new()));
        Ok(id)
    }

    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u64,
        size: u64,
        _ttl: Duration,
    ) -> Result<vinofy_core::ports::SignedRequest, vinofy_core::ports::UploadStoreError> {
        self.call("presign_part", number.to_string())?;
        let url = format!("https://s3.test/{key}?partNumber={number}&uploadId={upload_id}&X-Amz-Signature=sig");
        Ok(Self::signed(url, vec![("content-length".to_owned(), size.to_string())]))
    }

    async fn uploaded_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<vinofy_core::domain::upload::UploadedPart>, vinofy_core::ports::UploadStoreError> {
        self.call("uploaded_parts", key.to_owned())?;
        // S3: an upload id of another key (or none) is NoSuchUpload.
        match lock(&self.open).get(upload_id) {
            Some((open_key, parts)) if open_key == key => Ok(parts.clone()),
            _ => Err(vinofy_core::ports::UploadStoreError::NoSuchUpload),
        }
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[vinofy_core::domain::upload::UploadedPart],
    ) -> Result<(), vinofy_core::ports::UploadStoreError> {
        self.call("complete", format!("{key} {}", parts.len()))?;
        lock(&self.open).remove(upload_id);
        lock(&self.completed).push(key.to_owned());
        lock(&self.objects).insert(key.to_owned(), parts.iter().map(|p| p.size).sum());
        Ok(())
    }

    async fn object_size(&self, key: &str) -> Result<Option<u64>, vinofy_core::ports::UploadStoreError> {
        self.call("object_size", key.to_owned())?;
        Ok(lock(&self.objects).get(key).copied())
    }
}

/// Records as `vinofy_core::ports::VideoRecords` reads them.
#[derive(Default)]
pub struct MemoryRecords {
    pub records: Mutex<Vec<vinofy_core::domain::record::VideoRecord>>,
    /// The next read fails (transiently).
    pub fail_next: AtomicBool,
}

impl MemoryRecords {
    fn check(&self) -> Result<(), StoreError> {
        if self.fail_next.swap(false, Ordering::SeqCst) { Err(StoreError::transient("injected")) } else { Ok(()) }
    }
}

impl vinofy_core::ports::VideoRecords for MemoryRecords {
    async fn record(&self, source: &str) -> Result<Option<vinofy_core::domain::record::VideoRecord>, StoreError> {
        self.check()?;
        Ok(lock(&self.records).iter().find(|r| r.source == source).cloned())
    }

    async fn records_of_video(
        &self,
        uid: &VideoUid,
    ) -> Result<Vec<vinofy_core::domain::record::VideoRecord>, StoreError> {
        self.check()?;
        Ok(lock(&self.records).iter().filter(|r| r.video_uid.as_ref() == Some(uid)).cloned().collect())
    }

    async fn records_of(
        &self,
        sources: &[String],
    ) -> Result<HashMap<String, vinofy_core::ports::ReadRecord>, StoreError> {
        self.check()?;
        Ok(lock(&self.records)
            .iter()
            .filter(|r| sources.contains(&r.source))
            .map(|r| (r.source.clone(), Ok(r.clone())))
            .collect())
    }

    async fn scan(
        &self,
        _filter: &vinofy_core::domain::record::RecordFilter,
        _start: Option<vinofy_core::ports::PageToken>,
    ) -> Result<vinofy_core::ports::RecordPage, StoreError> {
        self.check()?;
        Ok(vinofy_core::ports::RecordPage {
            records: lock(&self.records).iter().cloned().map(Ok).collect(),
            next: None,
        })
    }
}

/// Playback signing in memory: `token-<provider>-<exp>` appended, or a scripted error.
#[derive(Default)]
pub struct MemoryPlaybackSigner {
    pub fail_with: Mutex<Option<vinofy_core::ports::PlaybackSignError>>,
}

impl vinofy_core::ports::PlaybackSigner for MemoryPlaybackSigner {
    fn signed_urls(
        &self,
        record: &vinofy_core::domain::record::VideoRecord,
        expires_at_s: i64,
    ) -> Result<vinofy_core::ports::PlaybackUrls, vinofy_core::ports::PlaybackSignError> {
        if let Some(e) = lock(&self.fail_with).clone() {
            return Err(e);
        }
        let sign = |url: &Option<String>| url.as_ref().map(|u| format!("{u}?token=signed-until-{expires_at_s}"));
        Ok(vinofy_core::ports::PlaybackUrls {
            hls_url: sign(&record.hls_url),
            dash_url: sign(&record.dash_url),
            thumbnail_url: sign(&record.thumbnail_url),
        })
    }
}
