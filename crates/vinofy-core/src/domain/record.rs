//! The DynamoDB record's life: statuses, and the rule that decides whether an incoming object
//! version may claim the record. The DynamoDB adapter encodes the same rule as a condition
//! expression (so it holds under races); this pure copy explains a refused claim.

use std::fmt;

use super::ids::{ClaimToken, VersionKey, VideoUid};
use super::provider::{Provider, VideoRef};

/// `status` attribute values. Outside tools read them: the strings are a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// Claimed by an invocation that is submitting it to the video provider.
    #[default]
    Pending,
    /// Cloudflare accepted the copy; it is downloading / encoding.
    Submitted,
    /// Could not be submitted; `error` says why.
    Failed,
    /// Cloudflare finished encoding (set by the webhook).
    Ready,
    /// Cloudflare could not encode it (set by the webhook).
    Error,
    /// The source object was deleted and its video with it.
    Deleted,
}

impl Status {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Submitted => "submitted",
            Self::Failed => "failed",
            Self::Ready => "ready",
            Self::Error => "error",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Submitted, Self::Failed, Self::Ready, Self::Error, Self::Deleted]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record of the videos table: the README's record contract as a type. Attribute names are the
/// field names (what `vinofy export` prints); only the DynamoDB adapter reads and writes items.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct VideoRecord {
    /// `s3://<bucket>/<key>`, the partition key.
    pub source: String,
    #[serde(serialize_with = "status_str")]
    pub status: Status,
    pub bucket: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// What identifies the object version ([`super::object::ObjectVersion::version_key`]).
    pub version_key: VersionKey,
    /// Normalised S3 sequencer of the recorded version ("" when a backfill recorded it).
    pub sequencer: String,
    /// The version tag the video was created with (the attribute keeps its first name, `creator`).
    #[serde(rename = "creator", skip_serializing_if = "Option::is_none")]
    pub version_tag: Option<String>,
    /// A live invocation's credential on the record: never shown or exported.
    #[serde(skip)]
    pub claim_token: Option<ClaimToken>,
    /// Epoch ms; a `pending` claim past this belongs to a dead invocation.
    #[serde(rename = "claim_expires_at", skip_serializing_if = "Option::is_none")]
    pub claim_expires_at_ms: Option<i64>,
    /// The signed-in app user who uploaded it (the token's `sub`), for uploads into the upload
    /// space ([`super::upload::owner_of_key`]); absent for other keys (staff uploads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Who holds the video (`cloudflare` when the item has no `provider`: every record from before).
    pub provider: Provider,
    /// The video plays only with a signed token (Stream `requireSignedURLs`, a Mux `signed`
    /// playback id), as the provider reported it when the video was recorded.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub signed_playback: bool,
    /// The provider's id: the Stream uid, or the Mux asset id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_uid: Option<VideoUid>,
    /// Mux: the playback id in the URLs (Stream's URLs use the uid itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub playback_id: Option<String>,
    /// What the record pointed at before `vinofy migrate` switched it (for rollback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_provider: Option<Provider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_video_uid: Option<VideoUid>,
    /// When `vinofy migrate` switched the record (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrated_at: Option<String>,
    /// Why the last migration of this record failed (it stayed where it was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_error: Option<String>,
    /// A migration at work: its tag, and until when (epoch ms) it holds the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_tag: Option<String>,
    #[serde(rename = "migration_expires_at", skip_serializing_if = "Option::is_none")]
    pub migration_expires_at_ms: Option<i64>,
    /// The options the video was created with ([`crate::ports::VideoProvider::encoding`]);
    /// absent when not known (an adopted video, a record from before).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hls_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dash_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<String>,
    /// The provider's processing state (`downloading`, `ready`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pct_complete: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_error_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_video_uid: Option<VideoUid>,
    /// Who holds the replaced video (absent: Cloudflare, as for `provider`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_provider: Option<Provider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    /// The provider's stored size; `size` stays the S3 object's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_modified_ns: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
}

fn status_str<S: serde::Serializer>(status: &Status, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(status.as_str())
}

impl VideoRecord {
    /// What the claim rule reads.
    pub fn stored_version(&self) -> StoredVersion {
        StoredVersion {
            status: self.status,
            version_key: self.version_key.clone(),
            sequencer: self.sequencer.clone(),
            claim_expires_at_ms: self.claim_expires_at_ms.unwrap_or(0),
            video: self.video(),
            error: self.error.clone(),
            version_id: self.version_id.clone(),
        }
    }

    /// The video the record points at, at its provider.
    pub fn video(&self) -> Option<VideoRef> {
        self.video_uid.clone().map(|uid| VideoRef::new(self.provider, uid))
    }

    /// A replaced version's video still to delete.
    pub fn replaced_video(&self) -> Option<VideoRef> {
        self.replaced_video_uid.clone().map(|uid| VideoRef::new(self.replaced_provider.unwrap_or_default(), uid))
    }

    /// The object version the record holds, exactly as its claim recorded it (`None` when the record
    /// lacks the size or the eTag, which every claim writes).
    pub fn object_version(&self) -> Option<super::object::ObjectVersion> {
        Some(super::object::ObjectVersion {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            size: self.size?,
            etag: self.etag.clone()?,
            version_id: self.version_id.clone(),
            sequencer: self.sequencer.clone(),
        })
    }
}

/// Which records a scan returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFilter {
    /// Only these statuses (empty: any).
    pub statuses: Vec<Status>,
    /// Also records that still reference a replaced video, whatever their status.
    pub or_replaced_video: bool,
    /// Only records not updated since this RFC 3339 time (or never).
    pub updated_before: Option<String>,
}

/// The parts of a stored record that decide a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    pub status: Status,
    pub version_key: VersionKey,
    pub sequencer: String,
    /// Epoch milliseconds; a pending claim past this belongs to a dead invocation.
    pub claim_expires_at_ms: i64,
    /// The video the record points at (of a replaced version while a new one is claimed).
    pub video: Option<VideoRef>,
    pub error: Option<String>,
    pub version_id: Option<String>,
}

/// What an `ObjectRemoved` event may do with the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovalVerdict {
    /// Delete the Stream video (if any) and mark the record `deleted`.
    Remove {
        video: Option<VideoRef>,
    },
    /// No record: the object was never ingested (not a video, or before the function existed).
    NotIngested,
    AlreadyDeleted,
    /// The key was uploaded again after this delete (newer sequencer): the new video stays.
    Outdated,
    /// A non-current version was deleted for good; the recorded version is still there.
    OtherVersion,
}

/// Decides what a delete does. `removed_version_id` is the deleted version, for a permanent
/// delete of one version (`ObjectRemoved:Delete` in a versioned bucket); a delete marker hides the
/// object whatever its versions, so it passes `None`.
pub fn judge_removal(
    stored: Option<&StoredVersion>,
    removed_version_id: Option<&str>,
    sequencer: &str,
) -> RemovalVerdict {
    let Some(stored) = stored else { return RemovalVerdict::NotIngested };
    if stored.status == Status::Deleted {
        return RemovalVerdict::AlreadyDeleted;
    }
    if let (Some(removed), Some(current)) = (removed_version_id, stored.version_id.as_deref())
        && removed != current
    {
        return RemovalVerdict::OtherVersion;
    }
    if sequencer <= stored.sequencer.as_str() {
        return RemovalVerdict::Outdated;
    }
    RemovalVerdict::Remove { video: stored.video.clone() }
}

/// Where a provider is with a video, in the record's vocabulary (`stream_state`; Cloudflare's names,
/// which each adapter maps its provider's states onto).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoState {
    /// Waiting for its source.
    PendingUpload,
    Downloading,
    Queued,
    InProgress,
    Ready,
    Error,
    /// A state this version does not know, kept as the provider said it.
    Other(String),
}

impl VideoState {
    pub fn from_name(name: &str) -> Self {
        match name {
            "pendingupload" => Self::PendingUpload,
            "downloading" => Self::Downloading,
            "queued" => Self::Queued,
            "inprogress" => Self::InProgress,
            "ready" => Self::Ready,
            "error" => Self::Error,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::PendingUpload => "pendingupload",
            Self::Downloading => "downloading",
            Self::Queued => "queued",
            Self::InProgress => "inprogress",
            Self::Ready => "ready",
            Self::Error => "error",
            Self::Other(name) => name,
        }
    }

    /// The record status this state moves the record to; `None` leaves the status as it is (the
    /// video is still on its way).
    pub fn final_status(&self) -> Option<Status> {
        match self {
            Self::Ready => Some(Status::Ready),
            Self::Error => Some(Status::Error),
            _ => None,
        }
    }
}

impl fmt::Display for VideoState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A webhook's `modified` orders updates (a record only moves forward in it). A signed body could
/// still carry any time, and one past `latest_unix_s` would make every genuine later update look
/// older; past 2262 it would not even fit the nanosecond counter. So it counts as `latest_unix_s`
/// at most. Unreadable values are kept as they are (the store treats them as oldest).
pub fn clamp_modified(modified: Option<String>, latest_unix_s: i64) -> Option<String> {
    let text = modified?;
    match chrono::DateTime::parse_from_rfc3339(&text) {
        Ok(t) if t.timestamp() >= latest_unix_s => chrono::DateTime::from_timestamp(latest_unix_s, 0)
            .map(|latest| latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        _ => Some(text),
    }
}

/// What an incoming object version may do with the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimVerdict {
    /// No record, or a newer version than the stored one: claim it and submit.
    Claim,
    /// The same version, claimed by an invocation that died (its deadline passed): take over. An
    /// earlier attempt may already have created the video, so look it up before copying.
    TakeOver,
    /// The same version is already submitted (or further along): a duplicate delivery.
    Duplicate(Status),
    /// The same version is being submitted right now by another invocation.
    InProgress,
    /// The same version failed for good earlier.
    PreviouslyFailed(Option<String>),
    /// The same version failed earlier, and the operator asked to retry it (`vinofy backfill
    /// --retry-failed`): claim it again, looking up first as for a take-over.
    RetryFailed,
    /// A newer version of the object is already recorded: this event arrived late.
    Outdated,
}

/// Decides what the incoming version may do, given the stored record (if any) and the time.
/// `retry_failed` (operator only; never for a notification) lets a `failed` version be claimed again.
pub fn judge_claim(
    stored: Option<&StoredVersion>,
    version_key: &VersionKey,
    sequencer: &str,
    now_ms: i64,
    retry_failed: bool,
) -> ClaimVerdict {
    let Some(stored) = stored else { return ClaimVerdict::Claim };
    if stored.status == Status::Deleted && sequencer > stored.sequencer.as_str() {
        // Uploaded again after a delete: even the same bytes (same eTag) need a new video.
        return ClaimVerdict::Claim;
    }
    if stored.version_key == *version_key {
        return match stored.status {
            Status::Pending if stored.claim_expires_at_ms < now_ms => ClaimVerdict::TakeOver,
            Status::Pending => ClaimVerdict::InProgress,
            Status::Failed if retry_failed => ClaimVerdict::RetryFailed,
            Status::Failed => ClaimVerdict::PreviouslyFailed(stored.error.clone()),
            other => ClaimVerdict::Duplicate(other),
        };
    }
    if sequencer > stored.sequencer.as_str() { ClaimVerdict::Claim } else { ClaimVerdict::Outdated }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(status: Status, vk: &str, seq: &str, expires: i64) -> StoredVersion {
        StoredVersion {
            status,
            version_key: vk.into(),
            sequencer: seq.into(),
            claim_expires_at_ms: expires,
            video: Some(VideoRef::new(Provider::Mux, VideoUid::parse("uid").unwrap())),
            error: Some("bad".into()),
            version_id: None,
        }
    }

    #[test]
    fn a_record_serialises_as_the_contract_says_without_its_claim_token() {
        let record = VideoRecord {
            source: "s3://b/k.mp4".into(),
            status: Status::Pending,
            version_key: "etag:e".into(),
            version_tag: Some("tag".into()),
            claim_token: Some(ClaimToken::from_stored("live-claim")),
            claim_expires_at_ms: Some(5),
            duration: Some(5.5),
            ..VideoRecord::default()
        };
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(json["status"], "pending");
        assert_eq!(json["creator"], "tag", "the attribute keeps its name");
        assert_eq!(json["claim_expires_at"], 5);
        assert_eq!(json["duration"], 5.5);
        assert!(json.get("video_uid").is_none(), "absent attributes are left out");
        let text = json.to_string();
        assert!(!text.contains("claim_token") && !text.contains("live-claim"), "{text}");
        assert_eq!(record.stored_version().claim_expires_at_ms, 5);
        assert_eq!(record.object_version(), None, "no size or eTag recorded");
    }

    #[test]
    fn removal_respects_versions_and_order() {
        let live = stored(Status::Ready, "etag:a", "05", 0);
        assert_eq!(judge_removal(None, None, "06"), RemovalVerdict::NotIngested);
        assert_eq!(
            judge_removal(Some(&live), None, "06"),
            RemovalVerdict::Remove { video: Some(VideoRef::new(Provider::Mux, VideoUid::parse("uid").unwrap())) }
        );
        assert_eq!(judge_removal(Some(&live), None, "04"), RemovalVerdict::Outdated, "a re-upload came after");
        let deleted = stored(Status::Deleted, "etag:a", "05", 0);
        assert_eq!(judge_removal(Some(&deleted), None, "09"), RemovalVerdict::AlreadyDeleted);
        let mut versioned = live.clone();
        versioned.version_id = Some("v2".into());
        assert_eq!(judge_removal(Some(&versioned), Some("v1"), "06"), RemovalVerdict::OtherVersion);
        assert!(matches!(judge_removal(Some(&versioned), Some("v2"), "06"), RemovalVerdict::Remove { .. }));
    }

    #[test]
    fn only_final_video_states_change_the_status() {
        assert_eq!(VideoState::from_name("ready").final_status(), Some(Status::Ready));
        assert_eq!(VideoState::from_name("error").final_status(), Some(Status::Error));
        for s in ["downloading", "queued", "inprogress", "pendingupload", "weird"] {
            let state = VideoState::from_name(s);
            assert_eq!(state.final_status(), None);
            assert_eq!(state.as_str(), s, "names round-trip");
        }
        assert_eq!(VideoState::from_name("weird"), VideoState::Other("weird".into()));
    }

    #[test]
    fn far_future_modified_times_are_clamped() {
        let now = 1_764_590_400; // 2025-12-01T12:00:00Z
        let clamp = |m: &str| clamp_modified(Some(m.into()), now + 300);
        assert_eq!(clamp("2300-01-01T00:00:00Z").as_deref(), Some("2025-12-01T12:05:00Z"));
        assert_eq!(clamp("9999-12-31T23:59:59.999999Z").as_deref(), Some("2025-12-01T12:05:00Z"));
        assert_eq!(clamp("2025-12-01T12:04:59.5Z").as_deref(), Some("2025-12-01T12:04:59.5Z"));
        assert_eq!(clamp("not a time").as_deref(), Some("not a time"));
        assert_eq!(clamp_modified(None, now), None);
    }

    #[test]
    fn first_delivery_claims() {
        assert_eq!(judge_claim(None, &"etag:a".into(), "01", 0, false), ClaimVerdict::Claim);
    }

    #[test]
    fn same_version_transitions() {
        let now = 1_000;
        let cases = [
            (Status::Pending, 2_000, ClaimVerdict::InProgress),
            (Status::Pending, 999, ClaimVerdict::TakeOver),
            (Status::Submitted, 0, ClaimVerdict::Duplicate(Status::Submitted)),
            (Status::Ready, 0, ClaimVerdict::Duplicate(Status::Ready)),
            (Status::Error, 0, ClaimVerdict::Duplicate(Status::Error)),
            (Status::Failed, 0, ClaimVerdict::PreviouslyFailed(Some("bad".into()))),
            (Status::Deleted, 0, ClaimVerdict::Duplicate(Status::Deleted)),
        ];
        for (status, expires, want) in cases {
            assert_eq!(
                judge_claim(Some(&stored(status, "etag:a", "05", expires)), &"etag:a".into(), "05", now, false),
                want,
                "{status}"
            );
        }
    }

    #[test]
    fn only_an_operator_retry_reclaims_a_failed_version() {
        let failed = stored(Status::Failed, "etag:a", "05", 0);
        assert_eq!(judge_claim(Some(&failed), &"etag:a".into(), "05", 0, true), ClaimVerdict::RetryFailed);
        assert_eq!(
            judge_claim(Some(&failed), &"etag:a".into(), "05", 0, false),
            ClaimVerdict::PreviouslyFailed(Some("bad".into()))
        );
        // The retry flag changes nothing else.
        let ready = stored(Status::Ready, "etag:a", "05", 0);
        assert_eq!(judge_claim(Some(&ready), &"etag:a".into(), "05", 0, true), ClaimVerdict::Duplicate(Status::Ready));
        assert_eq!(judge_claim(Some(&ready), &"etag:b".into(), "04", 0, true), ClaimVerdict::Outdated);
    }

    #[test]
    fn versions_are_ordered_by_sequencer() {
        let s = stored(Status::Ready, "etag:a", "05", 0);
        assert_eq!(judge_claim(Some(&s), &"etag:b".into(), "06", 0, false), ClaimVerdict::Claim);
        assert_eq!(judge_claim(Some(&s), &"etag:b".into(), "04", 0, false), ClaimVerdict::Outdated);
        // A newer version may replace one that is still pending elsewhere.
        let p = stored(Status::Pending, "etag:a", "05", i64::MAX);
        assert_eq!(judge_claim(Some(&p), &"etag:b".into(), "06", 0, false), ClaimVerdict::Claim);
    }

    #[test]
    fn reupload_after_delete_is_a_new_video_even_with_the_same_etag() {
        let d = stored(Status::Deleted, "etag:a", "05", 0);
        assert_eq!(judge_claim(Some(&d), &"etag:a".into(), "07", 0, false), ClaimVerdict::Claim);
        assert_eq!(judge_claim(Some(&d), &"etag:a".into(), "04", 0, false), ClaimVerdict::Duplicate(Status::Deleted));
    }

    #[test]
    fn status_strings_round_trip() {
        for s in ["pending", "submitted", "failed", "ready", "error", "deleted"] {
            assert_eq!(Status::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(Status::parse("PENDING"), None);
    }
}
