//! Mux's `Asset` (muxinc/mux-node-sdk `src/resources/video/assets.ts`) read into a provider-neutral
//! [`ProviderVideo`], and the body of `POST /video/v1/assets`.
//!
//! Only the fields we use are read; anything else in the asset is ignored. Text taken from the
//! asset (error types and messages) is scrubbed: Mux's error messages may quote the input URL, which
//! is our presigned URL.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::config::MuxOptions;
use vinofy_core::domain::ids::VideoUid;
use vinofy_core::domain::provider::Provider;
use vinofy_core::domain::record::VideoState;
use vinofy_core::domain::scrub::scrub_provider_text;
use vinofy_core::error::ProviderError;
use vinofy_core::ports::{CreateVideoRequest, ProviderVideo, VideoDetails};

/// Mux's limits on `meta` (in code points): longer values are refused with a 400.
pub const META_TITLE_MAX_CHARS: usize = 512;
pub const META_EXTERNAL_ID_MAX_CHARS: usize = 128;
/// `passthrough`: at most 255 characters (our version tags are 64).
pub const PASSTHROUGH_MAX_CHARS: usize = 255;

#[derive(Deserialize)]
pub(crate) struct AssetDto {
    id: Option<String>,
    status: Option<String>,
    /// Unix seconds: a string in the API (`"1521503163"`), a number in the SDK's webhook types.
    created_at: Option<Value>,
    pub(crate) passthrough: Option<String>,
    meta: Option<Map<String, Value>>,
    playback_ids: Option<Vec<PlaybackIdDto>>,
    duration: Option<f64>,
    errors: Option<ErrorsDto>,
    progress: Option<ProgressDto>,
    tracks: Option<Vec<TrackDto>>,
}

#[derive(Deserialize)]
struct PlaybackIdDto {
    id: Option<String>,
    policy: Option<String>,
}

#[derive(Deserialize)]
struct ErrorsDto {
    #[serde(rename = "type")]
    kind: Option<String>,
    messages: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct ProgressDto {
    /// 0–100 while ingesting, transcoding or completed; -1 when live or errored.
    progress: Option<f64>,
}

#[derive(Deserialize)]
struct TrackDto {
    #[serde(rename = "type")]
    kind: Option<String>,
    max_width: Option<i64>,
    max_height: Option<i64>,
}

/// The record's vocabulary for Mux's `status` (`preparing | ready | errored`). `preparing` covers
/// fetching the input and transcoding it, which Cloudflare names `inprogress` once it has the file;
/// Mux does not tell the two apart in `status` (only in `progress.state`), so it is `InProgress`.
pub fn state_of_status(status: Option<&str>) -> VideoState {
    match status {
        Some("preparing") => VideoState::InProgress,
        Some("ready") => VideoState::Ready,
        Some("errored") => VideoState::Error,
        // Kept as Mux said it when it is a plain word (the record stores it as `stream_state`).
        Some(other)
            if !other.is_empty()
                && other.len() <= 32
                && other.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
        {
            VideoState::Other(other.to_owned())
        }
        _ => VideoState::Other("unknown".into()),
    }
}

/// Mux's Unix-seconds `created_at` (a string or a number; an RFC 3339 text is accepted too) as
/// RFC 3339 in UTC (`2018-03-19T23:46:03Z`), so it reads and sorts like Cloudflare's `created`.
pub fn created_rfc3339(value: Option<&Value>) -> Option<String> {
    let seconds = match value? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok()?,
        Value::String(s) => return normalise_rfc3339(s),
        _ => return None,
    };
    chrono::DateTime::from_timestamp(seconds, 0).map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// An RFC 3339 time re-emitted in UTC with `Z` (fractional digits as needed), or `None`.
pub fn normalise_rfc3339(text: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// A Mux playback id is spliced into URLs: only letters and digits are taken.
fn is_plain_id(id: &str) -> bool {
    (1..=255).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// How a verified asset is presented: what each caller knows besides the asset.
pub(crate) struct Observation<'a> {
    pub options: &'a MuxOptions,
    /// [`VideoDetails::modified`]: when this view of the asset was true (see [`super::MuxVideo`]).
    pub modified: Option<String>,
}

/// Reads an asset, insisting on a valid id. Errors and error texts are scrubbed.
pub(crate) fn parse_asset(value: Value, seen: Observation<'_>) -> Result<ProviderVideo, ProviderError> {
    let dto: AssetDto = serde_json::from_value(value)
        // A serde message may quote a value of the asset (an error message quoting our URL): scrubbed.
        .map_err(|e| {
            ProviderError::InvalidResponse(format!("unexpected asset object: {}", scrub_provider_text(&e.to_string())))
        })?;
    asset_to_video(dto, seen)
}

pub(crate) fn asset_to_video(dto: AssetDto, seen: Observation<'_>) -> Result<ProviderVideo, ProviderError> {
    let uid =
        dto.id.as_deref().and_then(|id| VideoUid::parse(id).ok()).ok_or_else(|| {
            ProviderError::InvalidResponse("the asset has no valid id (1-64 letters and digits)".into())
        })?;
    let options = seen.options;
    // The configured policy's playback id, else the first usable one (an asset created elsewhere).
    let playback_ids: Vec<(String, Option<String>)> = dto
        .playback_ids
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.id.filter(|id| is_plain_id(id)).map(|id| (id, p.policy)))
        .collect();
    let playback = playback_ids
        .iter()
        .find(|(_, policy)| policy.as_deref() == Some(options.playback_policy.as_str()))
        .or_else(|| playback_ids.first());
    let playback_id = playback.map(|(id, _)| id.clone());
    let signed_playback = playback.is_some_and(|(_, policy)| policy.as_deref() == Some("signed"));
    let video_track = dto.tracks.unwrap_or_default().into_iter().find(|t| t.kind.as_deref() == Some("video"));
    let non_empty = |s: String| Some(s).filter(|s| !s.trim().is_empty());
    let (error_code, error_text) = match dto.errors {
        Some(errors) => (
            errors.kind.map(|k| scrub_provider_text(&k)).and_then(non_empty),
            errors.messages.map(|m| scrub_provider_text(&m.join("; "))).and_then(non_empty),
        ),
        None => (None, None),
    };
    let details = VideoDetails {
        modified: seen.modified,
        // Mux's asset has no time of readiness; the webhook sets it from the event (webhook.rs).
        ready_at: None,
        duration: dto.duration.filter(|d| d.is_finite() && *d >= 0.0),
        width: video_track.as_ref().and_then(|t| t.max_width).filter(|w| *w > 0),
        height: video_track.as_ref().and_then(|t| t.max_height).filter(|h| *h > 0),
        // Mux does not report the stored size.
        size: None,
        pct_complete: dto
            .progress
            .and_then(|p| p.progress)
            .filter(|p| p.is_finite() && *p >= 0.0)
            .map(|p| p.to_string()),
        error_code,
        error_text,
    };
    Ok(ProviderVideo {
        provider: Provider::Mux,
        uid,
        signed_playback,
        state: state_of_status(dto.status.as_deref()),
        hls_url: playback_id.as_ref().map(|id| format!("{}/{id}.m3u8", options.stream_url)),
        // Mux serves HLS only.
        dash_url: None,
        thumbnail_url: playback_id.as_ref().map(|id| format!("{}/{id}/thumbnail.jpg", options.image_url)),
        // Mux's hosted player (`https://player.mux.com/{playback id}`) is not the emulator's, and
        // with signed playback it needs a token: no preview URL is recorded (apps build one).
        preview_url: None,
        playback_id,
        created: created_rfc3339(dto.created_at.as_ref()),
        version_tag: dto.passthrough.filter(|p| !p.is_empty()),
        // What we sent as `meta.external_id` (only when the source fitted; see `create_body`).
        source_tag: dto
            .meta
            .as_ref()
            .and_then(|m| m.get("external_id"))
            .and_then(Value::as_str)
            .filter(|s| s.starts_with("s3://"))
            .map(str::to_owned),
        details,
    })
}

fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The JSON body of `POST /video/v1/assets`. Our version tag is Mux's `passthrough` (echoed in the
/// asset and its webhooks: how a video is found again). `meta` — which Mux warns "may be publicly
/// available via the video player" — carries what Cloudflare's `meta` carries, within Mux's limits:
/// - `title`: the object key, cut to Mux's 512 code points;
/// - `external_id`: the record's source (`s3://bucket/key`) when it fits Mux's 128 code points,
///   else it is left out (a cut source would name another record). It is read back as
///   [`ProviderVideo::source_tag`], which finds the record of a webhook that outran the index.
pub fn create_body(request: &CreateVideoRequest<'_>, options: &MuxOptions) -> Value {
    let object = request.object;
    let source = object.source();
    let mut meta = Map::new();
    meta.insert("title".into(), json!(truncate_chars(&object.key, META_TITLE_MAX_CHARS)));
    if source.chars().count() <= META_EXTERNAL_ID_MAX_CHARS {
        meta.insert("external_id".into(), json!(source));
    }
    json!({
        "inputs": [{"url": request.url.expose()}],
        "playback_policies": [options.playback_policy.as_str()],
        "passthrough": request.version_tag,
        "video_quality": options.video_quality.as_str(),
        "meta": meta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mux::config::{PlaybackPolicy, VideoQuality};
    use vinofy_core::domain::object::ObjectVersion;
    use vinofy_core::secret::PresignedUrl;

    pub(crate) fn options() -> MuxOptions {
        MuxOptions {
            playback_policy: PlaybackPolicy::Public,
            video_quality: VideoQuality::Basic,
            stream_url: "https://stream.mux.com".into(),
            image_url: "https://image.mux.com".into(),
        }
    }

    fn parse(value: Value) -> Result<ProviderVideo, ProviderError> {
        parse_asset(value, Observation { options: &options(), modified: Some("2026-01-01T00:00:00Z".into()) })
    }

    fn object(key: &str) -> ObjectVersion {
        ObjectVersion {
            bucket: "vinofy-uploads".into(),
            key: key.into(),
            size: 5,
            etag: "e".into(),
            version_id: Some("v1".into()),
            sequencer: String::new(),
        }
    }

    #[test]
    fn create_body_carries_input_policy_passthrough_quality_and_meta() {
        let object = object("videos/a b+(1).mp4");
        let url = PresignedUrl::new("https://s3/b/videos/a%20b.mp4?X-Amz-Signature=s");
        let tag = object.version_tag();
        let request = CreateVideoRequest { url: &url, object: &object, version_tag: &tag };
        let options =
            MuxOptions { playback_policy: PlaybackPolicy::Signed, video_quality: VideoQuality::Plus, ..options() };
        let body = create_body(&request, &options);
        assert_eq!(body["inputs"], json!([{"url": url.expose()}]));
        assert_eq!(body["playback_policies"], json!(["signed"]));
        assert_eq!(body["passthrough"], tag.as_str());
        assert_eq!(body["video_quality"], "plus");
        assert_eq!(
            body["meta"],
            json!({"title": "videos/a b+(1).mp4", "external_id": "s3://vinofy-uploads/videos/a b+(1).mp4"})
        );
        assert_eq!(body.as_object().unwrap().len(), 5, "nothing else: {body}");
    }

    #[test]
    fn meta_stays_within_muxs_limits() {
        let long_key = format!("videos/{}.mp4", "é".repeat(600));
        let object = object(&long_key);
        let url = PresignedUrl::new("https://s3/x");
        let request = CreateVideoRequest { url: &url, object: &object, version_tag: "t" };
        let body = create_body(&request, &options());
        assert_eq!(body["meta"]["title"].as_str().unwrap().chars().count(), META_TITLE_MAX_CHARS);
        assert!(body["meta"].get("external_id").is_none(), "a cut source would name another record");
        // Exactly at the limit, the source is kept.
        let key = "k".repeat(META_EXTERNAL_ID_MAX_CHARS - "s3://vinofy-uploads/".len());
        let object = self::object(&key);
        let request = CreateVideoRequest { url: &url, object: &object, version_tag: "t" };
        assert_eq!(create_body(&request, &options())["meta"]["external_id"].as_str().unwrap().chars().count(), 128);
    }

    /// The reference doc's create example (HEX-mux-assets fixture, §9.3).
    #[test]
    fn reads_the_documented_create_response() {
        let envelope: Value = serde_json::from_str(
            r#"{"data":{"created_at":"1521503163","id":"00ecNLnqiG8v00TLqqeZ00uCE5wCAaO3kKc",
                "playback_ids":[{"id":"CypWdvOIUrxjI7RlRAbVm01fGxFMO6wfH","policy":"public"}],"status":"preparing"}}"#,
        )
        .unwrap();
        let v = parse(envelope["data"].clone()).unwrap();
        assert_eq!(v.provider, Provider::Mux);
        assert_eq!(v.uid, "00ecNLnqiG8v00TLqqeZ00uCE5wCAaO3kKc");
        assert_eq!(v.playback_id.as_deref(), Some("CypWdvOIUrxjI7RlRAbVm01fGxFMO6wfH"));
        assert_eq!(v.state, VideoState::InProgress);
        assert_eq!(v.hls_url.as_deref(), Some("https://stream.mux.com/CypWdvOIUrxjI7RlRAbVm01fGxFMO6wfH.m3u8"));
        assert_eq!(
            v.thumbnail_url.as_deref(),
            Some("https://image.mux.com/CypWdvOIUrxjI7RlRAbVm01fGxFMO6wfH/thumbnail.jpg")
        );
        assert_eq!((v.dash_url.as_deref(), v.preview_url.as_deref()), (None, None));
        assert_eq!(v.created.as_deref(), Some("2018-03-19T23:46:03Z"));
        assert_eq!(v.details.modified.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!((v.version_tag.as_deref(), v.source_tag.as_deref()), (None, None));
    }

    /// A ready asset with the SDK's fields (assets.ts `Asset`, `Track`).
    #[test]
    fn reads_a_ready_asset_with_tracks_meta_and_progress() {
        let v = parse(json!({
            "id": "lJ4bGGsp7ZlPf02nMg015W02iHQLN9XnuuLRBsPS00xq",
            "created_at": "1609868768",
            "status": "ready",
            "duration": 23.857167,
            "aspect_ratio": "16:9",
            "max_stored_frame_rate": 29.97,
            "resolution_tier": "1080p",
            "video_quality": "basic",
            "encoding_tier": "baseline",
            "max_resolution_tier": "1080p",
            "master_access": "none",
            "mp4_support": "none",
            "ingest_type": "on_demand_url",
            "passthrough": "0123abcd",
            "meta": {"title": "videos/a.mp4", "external_id": "s3://b/videos/a.mp4"},
            "progress": {"state": "completed", "progress": 100},
            "playback_ids": [
                {"id": "signedPlaybackId01", "policy": "signed"},
                {"id": "publicPlaybackId01", "policy": "public"}
            ],
            "tracks": [
                {"type": "audio", "id": "a1", "duration": 23.8, "max_channels": 2, "primary": true},
                {"type": "video", "id": "v1", "duration": 23.857167, "max_width": 1920, "max_height": 1080, "max_frame_rate": 29.97}
            ]
        }))
        .unwrap();
        assert_eq!(v.state, VideoState::Ready);
        assert_eq!(v.playback_id.as_deref(), Some("publicPlaybackId01"), "the configured policy's id wins");
        let d = &v.details;
        assert_eq!((d.duration, d.width, d.height, d.size), (Some(23.857167), Some(1920), Some(1080), None));
        assert_eq!(d.pct_complete.as_deref(), Some("100"));
        assert_eq!(
            (v.version_tag.as_deref(), v.source_tag.as_deref()),
            (Some("0123abcd"), Some("s3://b/videos/a.mp4"))
        );
        assert_eq!(v.created.as_deref(), Some("2021-01-05T17:46:08Z"));
    }

    #[test]
    fn an_asset_of_another_policy_still_gets_urls_and_one_without_ids_gets_none() {
        let v =
            parse(json!({"id": "abc", "status": "ready", "playback_ids": [{"id": "onlySigned", "policy": "signed"}]}))
                .unwrap();
        assert_eq!(v.playback_id.as_deref(), Some("onlySigned"));
        let v = parse(json!({"id": "abc", "status": "ready", "playback_ids": [{"id": "../x", "policy": "public"}]}))
            .unwrap();
        assert_eq!((v.playback_id, v.hls_url, v.thumbnail_url), (None, None, None), "unsafe ids are not spliced");
        let v = parse(json!({"id": "abc", "status": "preparing"})).unwrap();
        assert_eq!(v.playback_id, None);
    }

    #[test]
    fn statuses_map_onto_the_records_states() {
        assert_eq!(state_of_status(Some("preparing")), VideoState::InProgress);
        assert_eq!(state_of_status(Some("ready")), VideoState::Ready);
        assert_eq!(state_of_status(Some("errored")), VideoState::Error);
        assert_eq!(state_of_status(Some("archived")), VideoState::Other("archived".into()));
        assert_eq!(state_of_status(Some("Bad Value!")), VideoState::Other("unknown".into()));
        assert_eq!(state_of_status(None), VideoState::Other("unknown".into()));
        assert_eq!(VideoState::InProgress.final_status(), None, "preparing leaves the record's status alone");
    }

    #[test]
    fn errored_assets_carry_scrubbed_type_and_messages() {
        let echo = "https://s3/b/k.mp4?X-Amz-Signature=5f2b6c1b0f3a4e7d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b";
        let v = parse(json!({"id": "abc", "status": "errored", "progress": {"state": "errored", "progress": -1},
            "errors": {"type": "invalid_input", "messages": ["Failed to download input file", format!("url {echo}")]}}))
        .unwrap();
        assert_eq!(v.state, VideoState::Error);
        assert_eq!(v.details.error_code.as_deref(), Some("invalid_input"));
        let text = v.details.error_text.unwrap();
        assert!(text.starts_with("Failed to download input file; url "), "{text}");
        assert!(!text.contains("X-Amz") && text.contains("<redacted>"), "{text}");
        assert_eq!(v.details.pct_complete, None, "-1 is not a percentage");
    }

    #[test]
    fn assets_need_a_valid_id_and_errors_do_not_quote_the_asset() {
        for bad in [
            json!({}),
            json!({"id": ""}),
            json!({"id": "a/b"}),
            json!({"id": "a".repeat(65)}),
            json!("s"),
            json!({"id": 5}),
        ] {
            assert!(matches!(parse(bad.clone()), Err(ProviderError::InvalidResponse(_))), "{bad}");
        }
        let secretish = "https://s3/k?X-Amz-Signature=abc";
        let err = parse(json!({"id": "abc", "duration": secretish})).unwrap_err();
        assert!(!err.to_string().contains("X-Amz"), "{err}");
    }

    #[test]
    fn created_times_read_in_every_shape() {
        assert_eq!(created_rfc3339(Some(&json!("1591664030"))).as_deref(), Some("2020-06-09T00:53:50Z"));
        assert_eq!(created_rfc3339(Some(&json!(1591664030))).as_deref(), Some("2020-06-09T00:53:50Z"));
        assert_eq!(
            created_rfc3339(Some(&json!("2021-01-05T17:52:39.123456+00:00"))).as_deref(),
            Some("2021-01-05T17:52:39.123456Z")
        );
        for bad in [json!("soon"), json!(null), json!(""), json!(true)] {
            assert_eq!(created_rfc3339(Some(&bad)), None, "{bad}");
        }
        assert_eq!(created_rfc3339(None), None);
    }
}
