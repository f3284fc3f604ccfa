//! `vinofy migrate --to P`: a record's source is ingested again into provider P, and once the new
//! video is ready the record is switched to it in one conditional write, which only succeeds while
//! the record still points at the same object version and old video. An upload or a delete during
//! the migration wins; the new video is then deleted again. `--to` the record's own provider
//! re-creates the video with the current options (a re-encode).
//!
//! Exactly once, as for ingest: the record carries a marker while a migration works on it (its tag
//! and token, until when it holds); the tag is derived from the object version, the target and its
//! options, so a run that resumes after a crash looks the video up by that tag before creating one.

use std::time::Duration;

use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::domain::ids::{ClaimToken, VersionKey};
use crate::domain::provider::{Provider, VideoRef};
use crate::domain::record::{Status, VideoRecord, VideoState};
use crate::error::{IngestError, PresignError, StoreError};
use crate::ingest::{Deadline, Ingestor, SubmitError};
use crate::ports::{Claim, ObjectPresigner, ProviderVideo, VideoProvider, VideoStore};

/// The statuses of a record with a video of a complete object version.
pub const MOVABLE: [Status; 3] = [Status::Ready, Status::Submitted, Status::Error];

/// Why a record is migrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// It is on another provider.
    Move,
    /// It is on the target, made with other (or unknown) options.
    Reencode,
}

impl Need {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Move => "move",
            Self::Reencode => "re-encode",
        }
    }
}

/// Whether `record` needs migrating to `target`, whose new videos get `target_encoding`. Only records
/// with a video of a complete object version: `pending` ones are being ingested (the ingest makes
/// them on the provider of new uploads), `failed` and `deleted` ones have nothing to move.
pub fn migration_need(record: &VideoRecord, target: Provider, target_encoding: &str) -> Option<Need> {
    let movable = MOVABLE.contains(&record.status);
    if !movable || record.video_uid.is_none() || record.object_version().is_none() {
        return None;
    }
    if record.provider != target {
        Some(Need::Move)
    } else if record.encoding.as_deref() != Some(target_encoding) {
        Some(Need::Reencode)
    } else {
        None
    }
}

/// The tag the migrated video is created with: the same for every attempt at one object version,
/// target and set of options (so a resumed run finds what a crashed one made), and never an
/// ingest's version tag.
pub fn migration_tag(version_tag: &str, target: Provider, target_encoding: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"vinofy migrate\n");
    h.update(version_tag.as_bytes());
    h.update(b"\n");
    h.update(target.as_str().as_bytes());
    h.update(b"\n");
    h.update(target_encoding.as_bytes());
    hex::encode(h.finalize())
}

/// What the record must still hold for the migration to go on.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub version_key: &'a VersionKey,
    pub video: &'a VideoRef,
}

impl Expected<'_> {
    /// The record still holds the object version and video, past submission: the one rule a
    /// migration's writes are conditioned on (the DynamoDB adapter states it as a condition
    /// expression; tests/migrate_store.rs proves the two agree).
    pub fn held_by(&self, record: &VideoRecord) -> bool {
        &record.version_key == self.version_key
            && record.video().as_ref() == Some(self.video)
            && MOVABLE.contains(&record.status)
    }
}

/// One migration's hold on one record.
#[derive(Debug, Clone)]
pub struct MigrationMarker<'a> {
    pub tag: &'a str,
    pub token: &'a ClaimToken,
    /// Epoch ms; past it, another run may take the record over.
    pub expires_at_ms: i64,
    pub now_ms: i64,
}

/// What placing the marker found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationStart {
    /// The marker is ours. `resumed`: an earlier migration with the same tag let go or died, so a
    /// video of it may exist (look it up before creating).
    Started { resumed: bool },
    /// The record no longer holds the expected version and video (an upload, a delete).
    Changed,
    /// Another migration holds it until then.
    Busy { until_ms: i64 },
}

/// The record's writes of a migration.
pub trait MigrationStore: Send + Sync {
    /// Places the marker, if the record still holds `expected` and no live marker is on it.
    fn begin_migration(
        &self,
        source: &str,
        expected: &Expected<'_>,
        marker: &MigrationMarker<'_>,
    ) -> impl std::future::Future<Output = Result<MigrationStart, StoreError>> + Send;

    /// Points the record at `video` (ready), keeping the old one as `previous_*`, and removes the
    /// marker: only while the record still holds `expected` and our marker. `Ok(false)`: refused.
    fn switch_migrated(
        &self,
        source: &str,
        expected: &Expected<'_>,
        token: &ClaimToken,
        video: &ProviderVideo,
        encoding: &str,
        now_ms: i64,
    ) -> impl std::future::Future<Output = Result<bool, StoreError>> + Send;

    /// The record as it is now (strongly consistent), to decide whether a video may be deleted.
    fn record_now(
        &self,
        source: &str,
    ) -> impl std::future::Future<Output = Result<Option<VideoRecord>, StoreError>> + Send;

    /// Lets go of our marker (if still ours). `keep_tag`: a video of this migration may exist, so
    /// the next run must look it up (the marker stays, expired). `error`: why it failed, for the
    /// record's `migration_error`.
    fn end_migration(
        &self,
        source: &str,
        token: &ClaimToken,
        keep_tag: bool,
        error: Option<&str>,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, Clone)]
pub struct MigrationSettings {
    pub delete_old: bool,
    /// How long the new video may take to be ready; then the record is let go, to be resumed.
    pub ready_timeout: Duration,
    pub poll_every: Duration,
}

impl MigrationSettings {
    /// The marker holds past the wait, so that no other run takes a record over while we wait.
    fn hold(&self) -> Duration {
        self.ready_timeout + Duration::from_secs(300)
    }
}

/// How one record's migration ended.
#[derive(Debug, Clone, PartialEq)]
pub enum MigrationOutcome {
    /// The record points at the new video. `old_deleted`: with `--delete-old`, whether the old
    /// video is gone (`Some(false)`: deleting failed; the record names it in `previous_video_uid`).
    Migrated { new: VideoRef, adopted: bool, old_deleted: Option<bool> },
    /// The record changed meanwhile (an upload or a delete won); any new video was deleted again.
    Superseded,
    /// It stays on its provider, with the reason in `migration_error`.
    Failed { reason: String },
    /// The new video was not ready in time; running again continues with it.
    NotReadyYet { new: VideoRef },
    /// Another run is migrating it.
    Busy { until_ms: i64 },
}

impl MigrationOutcome {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Migrated { .. } => "migrated",
            Self::Superseded => "superseded",
            Self::Failed { .. } => "failed",
            Self::NotReadyYet { .. } => "not_ready_yet",
            Self::Busy { .. } => "busy",
        }
    }
}

impl<P: ObjectPresigner, S: VideoProvider, V: VideoStore + MigrationStore> Ingestor<P, S, V> {
    /// Migrates one record to this ingestor's provider of new videos. Refusals (budget, lock-out)
    /// are waited out: an operator's run has no Lambda deadline to fit.
    pub async fn migrate(
        &self,
        record: &VideoRecord,
        settings: &MigrationSettings,
    ) -> Result<MigrationOutcome, IngestError> {
        let source = record.source.as_str();
        let (Some(object), Some(old)) = (record.object_version(), record.video()) else {
            return Ok(MigrationOutcome::Failed {
                reason: "the record has no complete object version and video".into(),
            });
        };
        let encoding = self.provider.encoding();
        let target = self.provider_of_new_videos();
        let tag = migration_tag(&object.version_tag(), target, &encoding);
        let version_key = object.version_key();
        let expected = Expected { version_key: &version_key, video: &old };
        let token = ClaimToken::random();
        let now = self.clock.now_ms();
        let hold_ms = settings.hold().as_millis() as i64;
        let marker = MigrationMarker { tag: &tag, token: &token, expires_at_ms: now + hold_ms, now_ms: now };
        let resumed = match self.store.begin_migration(source, &expected, &marker).await? {
            MigrationStart::Started { resumed } => resumed,
            MigrationStart::Changed => return Ok(MigrationOutcome::Superseded),
            MigrationStart::Busy { until_ms } => return Ok(MigrationOutcome::Busy { until_ms }),
        };
        info!(source, old = %old, target = %target, resumed, "migrating");

        let claim = Claim {
            object: &object,
            source,
            version_key: version_key.clone(),
            version_tag: tag.clone(),
            token: token.clone(),
            expires_at_ms: now + hold_ms,
            now_ms: now,
            retry_failed: false,
            // Only the create call reads this claim; the record keeps the owner its ingest wrote.
            owner: None,
        };
        let mut look_up_first = resumed;
        let (video, adopted) = loop {
            let deadline = Deadline { epoch_ms: self.clock.now_ms() + SUBMIT_WINDOW.as_millis() as i64 };
            match self.submit(&claim, look_up_first, deadline).await {
                Ok(done) => break done,
                Err(SubmitError::Deferred { retry_in, nothing_submitted, reason }) => {
                    info!(source, retry_in_ms = retry_in.as_millis() as u64, reason = %reason, "waiting for a provider call");
                    look_up_first = look_up_first || !nothing_submitted;
                    tokio::time::sleep(retry_in).await;
                }
                // A video of this migration may exist (a resumed run, an ambiguous attempt): keep the
                // tag, so that the next run looks it up instead of making a second one.
                Err(SubmitError::Rejected(reason)) => return self.fail(source, &token, look_up_first, reason).await,
                Err(SubmitError::Presign(PresignError(reason))) => {
                    return self.fail(source, &token, look_up_first, reason).await;
                }
                Err(SubmitError::Unavailable(reason)) => return self.fail(source, &token, true, reason).await,
            }
        };
        let new = video.video_ref();

        let ready = match self.wait_until_ready(video, settings).await {
            Ok(ready) => ready,
            Err(Waited::TimedOut) => {
                self.store.end_migration(source, &token, true, None).await?;
                return Ok(MigrationOutcome::NotReadyYet { new });
            }
            Err(Waited::Failed(reason)) => {
                self.delete_video(&new).await;
                return self.fail(source, &token, false, reason).await;
            }
        };

        if !self.store.switch_migrated(source, &expected, &token, &ready, &encoding, self.clock.now_ms()).await? {
            // Never delete a video the record points at, or that the run now holding the record
            // (ours lapsed during a long wait) may still adopt by the same tag.
            let now = self.store.record_now(source).await?;
            let still_wanted = now.as_ref().is_some_and(|r| {
                r.video().as_ref() == Some(&new)
                    || (expected.held_by(r)
                        && r.migration_tag.as_deref() == Some(tag.as_str())
                        && r.migration_expires_at_ms.unwrap_or(0) >= self.clock.now_ms())
            });
            if still_wanted {
                warn!(source, new = %new, "another migration run holds the record now; leaving the new video to it");
                return Ok(MigrationOutcome::Busy {
                    until_ms: now.and_then(|r| r.migration_expires_at_ms).unwrap_or(0),
                });
            }
            warn!(source, new = %new, "the record changed during the migration; deleting the new video again");
            self.delete_video(&new).await;
            self.store.end_migration(source, &token, false, None).await?;
            return Ok(MigrationOutcome::Superseded);
        }
        info!(source, old = %old, new = %new, "switched the record to the new video");
        let old_deleted = if settings.delete_old && old != new { Some(self.delete_video(&old).await) } else { None };
        Ok(MigrationOutcome::Migrated { new, adopted, old_deleted })
    }

    fn provider_of_new_videos(&self) -> Provider {
        self.provider.creates_on()
    }

    fn request_timeout(&self) -> Duration {
        self.config.provider_request_timeout
    }

    async fn fail(
        &self,
        source: &str,
        token: &ClaimToken,
        keep_tag: bool,
        reason: String,
    ) -> Result<MigrationOutcome, IngestError> {
        warn!(source, reason = %reason, "the migration failed; the record stays where it is");
        self.store.end_migration(source, token, keep_tag, Some(&reason)).await?;
        Ok(MigrationOutcome::Failed { reason })
    }

    /// Polls the provider (each call within its budget) until the video is ready or failed.
    async fn wait_until_ready(
        &self,
        mut video: ProviderVideo,
        settings: &MigrationSettings,
    ) -> Result<ProviderVideo, Waited> {
        let until = self.clock.now_ms() + settings.ready_timeout.as_millis() as i64;
        let reference = video.video_ref();
        loop {
            match video.state {
                VideoState::Ready => return Ok(video),
                VideoState::Error => {
                    let d = &video.details;
                    let what =
                        d.error_text.clone().or(d.error_code.clone()).unwrap_or_else(|| "no reason given".into());
                    return Err(Waited::Failed(format!("the new video {reference} failed to process: {what}")));
                }
                _ => {}
            }
            if self.clock.now_ms() + settings.poll_every.as_millis() as i64 > until {
                return Err(Waited::TimedOut);
            }
            tokio::time::sleep(settings.poll_every).await;
            match self.provider.get(&reference, self.request_timeout()).await {
                Ok(Some(now)) => video = now,
                Ok(None) => {
                    return Err(Waited::Failed(format!("the new video {reference} was deleted at the provider")));
                }
                // A failed poll is polled again (a refusal or a blip); the timeout bounds it.
                Err(e) => warn!(video = %reference, error = %e, "could not poll the new video"),
            }
        }
    }
}

/// How long one round of create (with its retries) may take before it is waited out and repeated.
const SUBMIT_WINDOW: Duration = Duration::from_secs(120);

enum Waited {
    TimedOut,
    Failed(String),
}
