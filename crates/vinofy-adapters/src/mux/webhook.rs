//! [`WebhookVerifier`] for Mux: `mux-signature` ([`super::signature`]), then the event envelope
//! `{type, created_at, data: Asset, id, object, environment, attempts, ...}`.
//!
//! Mux sends every event of the environment to the endpoint (there is no subscription to some
//! types). Three say where a video is: `video.asset.ready`, `video.asset.errored` and
//! `video.asset.deleted`; the rest (`created`, `updated`, tracks, static renditions, uploads, live
//! streams, ...) are to be acknowledged and ignored — [`MuxWebhookVerifier::verify_event`] says
//! which is which.
//!
//! The event's `created_at` (when it happened) is the video's `modified`: it orders the updates,
//! so a redelivered `ready` never overwrites a later `deleted`.

use serde::Deserialize;
use serde_json::Value;

use super::asset::{Observation, created_rfc3339, parse_asset};
use super::config::MuxOptions;
use crate::hmac_signature::WebhookKey;
use vinofy_core::domain::record::VideoState;
use vinofy_core::ports::{ProviderVideo, WebhookRejection, WebhookVerifier};
use vinofy_core::reconcile::MISSING_VIDEO_CODE;
use vinofy_core::secret::SecretString;

pub const ASSET_READY: &str = "video.asset.ready";
pub const ASSET_ERRORED: &str = "video.asset.errored";
pub const ASSET_DELETED: &str = "video.asset.deleted";

/// What a verified delivery says.
#[derive(Debug, Clone, PartialEq)]
pub enum MuxWebhookEvent {
    /// A video's new state.
    Video(Box<ProviderVideo>),
    /// An event type that says nothing the record keeps: acknowledge it (2xx) so Mux stops
    /// redelivering it, and change nothing.
    Ignored { event_type: String },
}

pub struct MuxWebhookVerifier {
    key: WebhookKey,
    options: MuxOptions,
}

impl MuxWebhookVerifier {
    /// `options`: the playback policy and URL bases the asset's URLs are built with.
    pub fn new(secret: SecretString, tolerance_seconds: i64, options: MuxOptions) -> Self {
        Self { key: WebhookKey::new(secret, tolerance_seconds), options }
    }

    /// Authenticates the delivery, then reads the event.
    pub fn verify_event(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
        now_s: i64,
    ) -> Result<MuxWebhookEvent, WebhookRejection> {
        self.key.authenticate(super::signature::verify, header("mux-signature"), body, now_s)?;
        read_event(body, &self.options)
    }
}

impl WebhookVerifier for MuxWebhookVerifier {
    /// An event type the records keep nothing of is acknowledged ([`WebhookRejection::Ignored`]).
    fn verify(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
        now_s: i64,
    ) -> Result<ProviderVideo, WebhookRejection> {
        match self.verify_event(header, body, now_s)? {
            MuxWebhookEvent::Video(video) => Ok(*video),
            MuxWebhookEvent::Ignored { event_type } => Err(WebhookRejection::Ignored(format!(
                "Mux event {event_type} is not one this function handles ({ASSET_READY}, {ASSET_ERRORED}, {ASSET_DELETED})"
            ))),
        }
    }
}

#[derive(Deserialize)]
struct EventDto {
    #[serde(rename = "type")]
    kind: Option<String>,
    created_at: Option<Value>,
    data: Option<Value>,
}

/// An event type as it may be quoted back: Mux's names are dotted lower-case words.
fn printable_type(kind: &str) -> String {
    if kind.len() <= 80 && kind.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)) {
        kind.to_owned()
    } else {
        "(unreadable type)".to_owned()
    }
}

/// Reads a verified body. Messages never quote the body: an asset's error messages may hold our
/// presigned URL.
pub fn read_event(body: &[u8], options: &MuxOptions) -> Result<MuxWebhookEvent, WebhookRejection> {
    let malformed = |what: &str| WebhookRejection::Malformed(what.to_owned());
    let event: EventDto = serde_json::from_slice(body).map_err(|_| malformed("body is not a Mux event object"))?;
    let kind = event.kind.ok_or_else(|| malformed("the Mux event has no type"))?;
    if ![ASSET_READY, ASSET_ERRORED, ASSET_DELETED].contains(&kind.as_str()) {
        return Ok(MuxWebhookEvent::Ignored { event_type: printable_type(&kind) });
    }
    // RFC 3339 in Mux's deliveries; Unix seconds accepted too.
    let happened = created_rfc3339(event.created_at.as_ref());
    let data = event.data.ok_or_else(|| malformed("the Mux event has no data"))?;
    let mut video = parse_asset(data, Observation { options, modified: happened.clone() })
        .map_err(|_| malformed("the Mux event's data is not an asset"))?;
    match kind.as_str() {
        ASSET_READY => {
            video.state = VideoState::Ready;
            // Mux's asset has no time of readiness: the event's time is the closest.
            video.details.ready_at = happened;
        }
        ASSET_ERRORED => video.state = VideoState::Error,
        _ => {
            // Gone for good: as reconcile records a video the provider no longer has (and our own
            // deletes leave no record pointing at the asset, so they change nothing).
            video.state = VideoState::Error;
            video.details.error_code = Some(MISSING_VIDEO_CODE.into());
            video.details.error_text = Some("Mux deleted the asset (video.asset.deleted)".into());
            video.hls_url = None;
            video.thumbnail_url = None;
        }
    }
    Ok(MuxWebhookEvent::Video(Box::new(video)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mux::signature::sign;
    use serde_json::json;
    use vinofy_core::domain::provider::Provider;

    const SECRET: &str = "whsec_0123456789abcdef";
    const NOW: i64 = 1_764_590_400;

    fn verifier() -> MuxWebhookVerifier {
        MuxWebhookVerifier::new(SecretString::new(SECRET), 300, MuxOptions::default())
    }

    fn event(kind: &str, data: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "id": "3a56ac3d-33da-4366-855b-f592d898409d",
            "created_at": "2025-12-01T12:00:00.123456Z",
            "object": {"type": "asset", "id": data.get("id").cloned().unwrap_or(Value::Null)},
            "environment": {"name": "Production", "id": "j0863n"},
            "data": data,
            "attempts": [],
            "accessor_source": null, "accessor": null, "request_id": null
        }))
        .unwrap()
    }

    fn deliver(body: &[u8], at: i64) -> Result<MuxWebhookEvent, WebhookRejection> {
        let header = sign(body, SECRET.as_bytes(), at);
        verifier().verify_event(&|name| (name == "mux-signature").then(|| header.clone()), body, NOW)
    }

    fn asset(status: &str) -> Value {
        json!({"id": "lJ4bGGsp7ZlPf02nMg015W02iHQLN9XnuuLRBsPS00xq", "status": status, "created_at": 1764590000,
            "passthrough": "0123abcd", "meta": {"external_id": "s3://b/videos/a.mp4"},
            "playback_ids": [{"id": "pbk0123", "policy": "public"}], "duration": 12.5,
            "tracks": [{"type": "video", "max_width": 1280, "max_height": 720}]})
    }

    fn video(result: Result<MuxWebhookEvent, WebhookRejection>) -> ProviderVideo {
        match result {
            Ok(MuxWebhookEvent::Video(v)) => *v,
            other => panic!("not a video: {other:?}"),
        }
    }

    #[test]
    fn a_ready_event_is_the_video_ready_as_of_the_event() {
        let v = video(deliver(&event("video.asset.ready", asset("ready")), NOW - 5));
        assert_eq!((v.provider, v.uid.as_str()), (Provider::Mux, "lJ4bGGsp7ZlPf02nMg015W02iHQLN9XnuuLRBsPS00xq"));
        assert_eq!(v.state, VideoState::Ready);
        assert_eq!(v.details.modified.as_deref(), Some("2025-12-01T12:00:00.123456Z"));
        assert_eq!(v.details.ready_at.as_deref(), Some("2025-12-01T12:00:00.123456Z"));
        assert_eq!((v.details.width, v.details.height, v.details.duration), (Some(1280), Some(720), Some(12.5)));
        assert_eq!(v.hls_url.as_deref(), Some("https://stream.mux.com/pbk0123.m3u8"));
        assert_eq!(
            (v.version_tag.as_deref(), v.source_tag.as_deref()),
            (Some("0123abcd"), Some("s3://b/videos/a.mp4"))
        );
        assert_eq!(v.created.as_deref(), Some("2025-12-01T11:53:20Z"));
        // Through the trait as well.
        let body = event("video.asset.ready", asset("ready"));
        let header = sign(&body, SECRET.as_bytes(), NOW);
        let through_trait = verifier().verify(&|n| (n == "mux-signature").then(|| header.clone()), &body, NOW).unwrap();
        assert_eq!(through_trait, v);
    }

    #[test]
    fn an_errored_event_carries_the_scrubbed_reason() {
        let mut data = asset("errored");
        data["errors"] = json!({"type": "invalid_input",
            "messages": ["Unable to download https://s3/b/k.mp4?X-Amz-Signature=5f2b6c1b0f3a4e7d9c8b7a6f5e4d3c2b1a0f9e8d"]});
        let v = video(deliver(&event("video.asset.errored", data), NOW));
        assert_eq!(v.state, VideoState::Error);
        assert_eq!(v.details.error_code.as_deref(), Some("invalid_input"));
        let text = v.details.error_text.unwrap();
        assert!(text.starts_with("Unable to download <redacted>") && !text.contains("X-Amz"), "{text}");
    }

    #[test]
    fn a_deleted_event_means_the_video_is_gone() {
        let v = video(deliver(&event("video.asset.deleted", asset("ready")), NOW));
        assert_eq!(v.state, VideoState::Error);
        assert_eq!(v.details.error_code.as_deref(), Some(MISSING_VIDEO_CODE));
        assert_eq!((v.hls_url, v.thumbnail_url), (None, None));
        assert_eq!(v.details.modified.as_deref(), Some("2025-12-01T12:00:00.123456Z"));
    }

    #[test]
    fn other_events_are_ignored_and_the_trait_says_why() {
        for kind in ["video.asset.created", "video.asset.updated", "video.asset.track.ready", "video.upload.created"] {
            let body = event(kind, json!({"id": "x", "asset_id": "abc"}));
            assert_eq!(deliver(&body, NOW), Ok(MuxWebhookEvent::Ignored { event_type: kind.into() }));
            let header = sign(&body, SECRET.as_bytes(), NOW);
            let err = verifier().verify(&|n| (n == "mux-signature").then(|| header.clone()), &body, NOW).unwrap_err();
            assert!(matches!(&err, WebhookRejection::Ignored(m) if m.contains(kind)), "{err:?}");
        }
        let weird = event("<script>", json!({}));
        assert_eq!(deliver(&weird, NOW), Ok(MuxWebhookEvent::Ignored { event_type: "(unreadable type)".into() }));
    }

    #[test]
    fn unsigned_forged_and_stale_deliveries_are_unauthenticated() {
        let body = event("video.asset.ready", asset("ready"));
        let v = verifier();
        assert!(matches!(v.verify_event(&|_| None, &body, NOW), Err(WebhookRejection::Unauthenticated(_))));
        let forged = sign(&body, b"not the secret", NOW);
        assert!(matches!(
            v.verify_event(&|_| Some(forged.clone()), &body, NOW),
            Err(WebhookRejection::Unauthenticated(_))
        ));
        assert!(matches!(deliver(&body, NOW - 301), Err(WebhookRejection::Unauthenticated(_))));
        // Cloudflare's header is not Mux's.
        let header = sign(&body, SECRET.as_bytes(), NOW);
        assert!(matches!(
            v.verify_event(&|n| (n == "webhook-signature").then(|| header.clone()), &body, NOW),
            Err(WebhookRejection::Unauthenticated(_))
        ));
    }

    #[test]
    fn signed_bodies_that_are_not_asset_events_are_malformed_without_quoting_them() {
        let secretish = "https://s3/k?X-Amz-Signature=abc";
        for body in [
            b"not json".to_vec(),
            br#"{"data": {}}"#.to_vec(),
            br#"{"type": "video.asset.ready"}"#.to_vec(),
            event("video.asset.ready", json!({"id": "../x"})),
            event("video.asset.errored", json!({"id": "abc", "duration": secretish})),
        ] {
            match deliver(&body, NOW) {
                Err(WebhookRejection::Malformed(m)) => assert!(!m.contains("X-Amz"), "{m}"),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(&body)),
            }
        }
    }
}
