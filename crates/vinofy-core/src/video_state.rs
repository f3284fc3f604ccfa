//! Applying a provider's view of a video to its record: the one entry point of the webhook and of
//! `vinofy reconcile`. The store answers reads and makes one conditional write; what they mean is
//! decided here.

use tracing::debug;

use crate::domain::record::Status;
use crate::error::StoreError;
use crate::ports::{ProviderVideo, VideoReference, VideoStateStore};

/// What applying a video state did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateUpdateOutcome {
    /// The record for `source` now reflects the video (`status` when it changed it).
    Applied { source: String, status: Option<Status> },
    /// The record already holds newer information, or no longer points at this video.
    Ignored { source: String },
    /// No record references this video.
    UnknownVideo,
    /// The record of this video's object version is still being submitted (the state outran the
    /// completing write): worth a redelivery.
    NotRecordedYet { source: String },
}

/// Where a video whose uid the index does not know (yet) belongs, given the record its
/// `meta.source` names: the index is eventually consistent, and a webhook can outrun the
/// completing write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unindexed {
    /// The record holds this video: apply the state to it.
    Recorded,
    /// The record is claiming the very object version this video was made from (same `creator`).
    BeingRecorded,
    /// Nothing references this video.
    Unknown,
}

pub fn judge_unindexed(reference: Option<&VideoReference>, video: &ProviderVideo) -> Unindexed {
    let Some(reference) = reference else { return Unindexed::Unknown };
    if reference.video_uid.as_ref() == Some(&video.uid) && reference.provider == video.provider {
        Unindexed::Recorded
    } else if reference.status == Status::Pending
        && video.version_tag.is_some()
        && reference.version_tag == video.version_tag
    {
        Unindexed::BeingRecorded
    } else {
        Unindexed::Unknown
    }
}

/// Finds the record of `video` and applies its state to it.
pub async fn apply_video_state<S: VideoStateStore>(
    store: &S,
    video: &ProviderVideo,
    now_ms: i64,
) -> Result<StateUpdateOutcome, StoreError> {
    let source = match store.source_of_video(&video.uid).await? {
        Some(source) => source,
        None => {
            let Some(source) = video.source_tag.as_deref() else { return Ok(StateUpdateOutcome::UnknownVideo) };
            let reference = store.video_reference(source).await?;
            match judge_unindexed(reference.as_ref(), video) {
                Unindexed::Recorded => {
                    debug!(source, "found the video's record by meta.source (not indexed yet)");
                    source.to_owned()
                }
                Unindexed::BeingRecorded => {
                    return Ok(StateUpdateOutcome::NotRecordedYet { source: source.to_owned() });
                }
                Unindexed::Unknown => return Ok(StateUpdateOutcome::UnknownVideo),
            }
        }
    };
    if store.write_video_state(&source, video, now_ms).await? {
        Ok(StateUpdateOutcome::Applied { source, status: video.state.final_status() })
    } else {
        Ok(StateUpdateOutcome::Ignored { source })
    }
}

/// The record's `error` and `stream_error_code` for a video the provider could not process.
pub fn processing_error(code: Option<&str>, text: Option<&str>) -> (String, String) {
    let code = code.unwrap_or("ERR_UNKNOWN");
    let text = text.unwrap_or("the video provider could not process the video");
    (code.to_owned(), format!("{code}: {text}"))
}
