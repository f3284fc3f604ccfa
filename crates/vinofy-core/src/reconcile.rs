//! Reconcile: records that stopped moving, brought in line with the provider (`vinofy reconcile`).
//! The decision per record is [`actions`]; the steps are [`refresh`] and [`delete_replaced`] (a dead
//! claim is re-ingested with the ingest use case itself, which adopts the video it made).

use std::time::Duration;

use crate::domain::object::ObjectVersion;
use crate::domain::provider::VideoRef;
use crate::domain::record::{Status, VideoRecord, VideoState};
use crate::ingest::rfc3339;
use crate::ports::{ProviderVideo, VideoDetails, VideoProvider, VideoStateStore, VideoStore};
use crate::video_state::{StateUpdateOutcome, apply_video_state};

/// The error code a record gets when the provider no longer has its video.
pub const MISSING_VIDEO_CODE: &str = "ERR_VIDEO_MISSING";

/// What to do about one record (a record may need two things).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `submitted`: ask the provider for the video's state.
    Refresh {
        video: VideoRef,
    },
    /// `pending` with an expired claim: ingest this object version again.
    Reingest {
        object: ObjectVersion,
    },
    /// `pending` with a live claim: its invocation is still at work.
    LeaveClaim {
        until_ms: i64,
    },
    /// A replaced version's video that could not be deleted.
    DeleteReplaced {
        video: VideoRef,
    },
    Unreadable(String),
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Refresh { .. } => "refresh",
            Self::Reingest { .. } => "reingest",
            Self::LeaveClaim { .. } => "leave_claim",
            Self::DeleteReplaced { .. } => "delete_replaced",
            Self::Unreadable(_) => "none",
        }
    }
}

/// Decides what a stale record needs.
pub fn actions(record: &VideoRecord, now_ms: i64, delete_replaced: bool) -> Vec<Action> {
    let mut actions = Vec::new();
    match record.status {
        Status::Submitted => match record.video() {
            Some(video) => actions.push(Action::Refresh { video }),
            None => actions.push(Action::Unreadable("submitted, but no video_uid".into())),
        },
        Status::Pending => {
            let until_ms = record.claim_expires_at_ms.unwrap_or(0);
            if until_ms >= now_ms {
                actions.push(Action::LeaveClaim { until_ms });
            } else {
                match record.object_version() {
                    Some(object) => actions.push(Action::Reingest { object }),
                    None => actions.push(Action::Unreadable("pending, but the object version is incomplete".into())),
                }
            }
        }
        _ => {}
    }
    if delete_replaced && let Some(video) = record.replaced_video() {
        actions.push(Action::DeleteReplaced { video });
    }
    actions
}

/// What the provider not knowing a video any more means for the record: it is gone for good.
pub fn missing_video(video: &VideoRef, now_ms: i64) -> ProviderVideo {
    ProviderVideo {
        provider: video.provider,
        uid: video.uid.clone(),
        playback_id: None,
        signed_playback: false,
        state: VideoState::Error,
        hls_url: None,
        dash_url: None,
        thumbnail_url: None,
        preview_url: None,
        created: None,
        version_tag: None,
        source_tag: None,
        details: VideoDetails {
            modified: Some(rfc3339(now_ms)),
            error_code: Some(MISSING_VIDEO_CODE.into()),
            error_text: Some("the video provider no longer has this video (deleted outside the pipeline?)".into()),
            ..VideoDetails::default()
        },
    }
}

/// Asks the provider where a submitted video is and (unless `dry_run`) applies it to the record, as
/// the webhook would. Returns what the provider said and, when written, what the write did.
pub async fn refresh<P: VideoProvider, S: VideoStateStore>(
    provider: &P,
    store: &S,
    video: &VideoRef,
    timeout: Duration,
    now_ms: i64,
    dry_run: bool,
) -> Result<(ProviderVideo, Option<StateUpdateOutcome>), String> {
    let video = match provider.get(video, timeout).await.map_err(|e| e.to_string())? {
        Some(found) => found,
        None => missing_video(video, now_ms),
    };
    if dry_run {
        return Ok((video, None));
    }
    let outcome = apply_video_state(store, &video, now_ms).await.map_err(|e| e.to_string())?;
    Ok((video, Some(outcome)))
}

/// Deletes a replaced version's video at the provider, then forgets it in the record.
pub async fn delete_replaced<P: VideoProvider, S: VideoStore>(
    provider: &P,
    store: &S,
    source: &str,
    video: &VideoRef,
    timeout: Duration,
) -> Result<(), String> {
    provider.delete(video, timeout).await.map_err(|e| format!("deleting replaced video: {e}"))?;
    store.clear_replaced(source, &video.uid).await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::VideoUid;
    use crate::domain::provider::Provider;

    fn record(status: Status) -> VideoRecord {
        VideoRecord { source: "s3://b/k.mp4".into(), status, version_key: "etag:e".into(), ..VideoRecord::default() }
    }

    #[test]
    fn each_stale_state_gets_its_remedy() {
        let uid = |u: &str| VideoUid::parse(u).unwrap();
        let video = |p, u| VideoRef::new(p, uid(u));
        let submitted = VideoRecord { video_uid: Some(uid("abc")), ..record(Status::Submitted) };
        assert_eq!(actions(&submitted, 0, true), [Action::Refresh { video: video(Provider::Cloudflare, "abc") }]);
        let on_mux = VideoRecord { provider: Provider::Mux, ..submitted.clone() };
        assert_eq!(actions(&on_mux, 0, true), [Action::Refresh { video: video(Provider::Mux, "abc") }]);
        assert!(matches!(actions(&record(Status::Submitted), 0, true)[..], [Action::Unreadable(_)]));
        let pending = VideoRecord {
            bucket: "b".into(),
            key: "k.mp4".into(),
            size: Some(5),
            etag: Some("e".into()),
            sequencer: "0055".into(),
            claim_expires_at_ms: Some(1000),
            ..record(Status::Pending)
        };
        assert_eq!(actions(&pending, 500, true), [Action::LeaveClaim { until_ms: 1000 }]);
        let [Action::Reingest { object }] = &actions(&pending, 2000, true)[..] else { panic!() };
        assert_eq!((object.key.as_str(), object.size, object.sequencer.as_str()), ("k.mp4", 5, "0055"));
        assert!(matches!(actions(&record(Status::Pending), 1, true)[..], [Action::Unreadable(_)]));
        let replaced = VideoRecord { replaced_video_uid: Some(uid("old")), ..record(Status::Ready) };
        assert_eq!(actions(&replaced, 0, true), [Action::DeleteReplaced { video: video(Provider::Cloudflare, "old") }]);
        let replaced_on_mux = VideoRecord { replaced_provider: Some(Provider::Mux), ..replaced.clone() };
        assert_eq!(actions(&replaced_on_mux, 0, true), [Action::DeleteReplaced { video: video(Provider::Mux, "old") }]);
        assert_eq!(actions(&replaced, 0, false), [], "REPLACED_VIDEO_POLICY=keep keeps them");
        for done in [Status::Ready, Status::Error, Status::Failed, Status::Deleted] {
            assert_eq!(actions(&record(done), 0, true), [], "{done}");
        }
    }

    #[test]
    fn a_missing_video_becomes_an_error_with_a_code_and_a_reason() {
        let v = missing_video(&VideoRef::new(Provider::Mux, VideoUid::parse("abc").unwrap()), 1_764_064_800_123);
        assert_eq!(v.provider, Provider::Mux, "still the record's provider");
        assert_eq!(v.state.final_status(), Some(Status::Error));
        assert_eq!(v.details.error_code.as_deref(), Some(MISSING_VIDEO_CODE));
        assert_eq!(v.details.modified.as_deref(), Some("2025-11-25T10:00:00.123Z"));
    }
}
