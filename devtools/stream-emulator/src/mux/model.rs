//! The Mux `Asset` as it appears on the wire (`muxinc/mux-node-sdk`, src/resources/video/assets.ts),
//! plus the identifiers and timestamps Mux uses.
//!
//! Fields the SDK marks optional are omitted until known (`duration`, `aspect_ratio`,
//! `resolution_tier`, ... appear at `ready`; `errors` at `errored`), like the create example of the
//! reference doc (§9.3) that has only `id`, `status`, `playback_ids` and `created_at` besides the
//! settings.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Preparing,
    Ready,
    Errored,
}

/// `playback_ids[]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlaybackId {
    pub id: String,
    /// `public` or `signed`.
    pub policy: String,
}

/// `progress`: `ingesting` (0) while fetching, `transcoding` (0-99) while ffmpeg runs, then
/// `completed` (100) or `errored` (-1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub state: &'static str,
    pub progress: i64,
}

impl Progress {
    pub const INGESTING: Self = Self { state: "ingesting", progress: 0 };
    pub const COMPLETED: Self = Self { state: "completed", progress: 100 };
    pub const ERRORED: Self = Self { state: "errored", progress: -1 };

    pub fn transcoding(pct: i64) -> Self {
        Self { state: "transcoding", progress: pct.clamp(0, 99) }
    }
}

/// `errors`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Errors {
    #[serde(rename = "type")]
    pub kind: String,
    pub messages: Vec<String>,
}

/// The Asset returned by create / get / list and carried as `data` by the webhooks.
#[derive(Clone, Debug, Serialize)]
pub struct Asset {
    pub id: String,
    pub status: Status,
    /// Unix seconds, as a string (`"1609868768"`).
    pub created_at: String,
    /// One per requested policy; omitted when none was requested (the asset is then unplayable).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub playback_ids: Vec<PlaybackId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
    pub video_quality: &'static str,
    /// Deprecated twin of `video_quality` (basic = baseline, plus = smart, premium = premium).
    pub encoding_tier: &'static str,
    pub mp4_support: String,
    pub master_access: String,
    pub max_resolution_tier: &'static str,
    pub ingest_type: &'static str,
    pub normalize_audio: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
    pub progress: Progress,
    /// `[]` until ready; then a video track and, when the source has audio, an audio track.
    pub tracks: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aspect_ratio: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution_tier: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_stored_resolution: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_stored_frame_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Errors>,
}

impl Asset {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("an Asset has only string keys and finite numbers")
    }
}

/// The base-62 alphabet of Mux identifiers.
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A Mux-like identifier (asset, playback, track): 44 letters and digits, e.g.
/// `lJ4bGGsp7ZlPf02nMg015W02iHQLN9XnuuLRBsPS00xq`. Not cryptographically random: nothing the
/// emulator issues protects anything.
pub fn mux_id() -> String {
    (0..44).map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char).collect()
}

/// A UUID-shaped (version 4) identifier, as Mux uses for webhook events and attempts.
pub fn uuid() -> String {
    let bits = fastrand::u128(..) & !(0xf000 << 64) & !(0xc000 << 48) | (0x4000 << 64) | (0x8000 << 48);
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// RFC 3339 in UTC with microseconds (`2021-01-05T17:52:39.123456Z`), as webhook `created_at`.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `width:height` reduced (`16:9`, `9:16`, `4:3`).
pub fn aspect_ratio(width: i64, height: i64) -> Option<String> {
    fn gcd(a: i64, b: i64) -> i64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    (width > 0 && height > 0).then(|| {
        let divisor = gcd(width, height);
        format!("{}:{}", width / divisor, height / divisor)
    })
}

/// `resolution_tier` from the stored pixel count, capped by `max_resolution_tier`: up to
/// 1280x720 pixels is `720p`, up to 1920x1080 `1080p`, up to 2560x1440 `1440p`, above `2160p`.
pub fn resolution_tier(width: i64, height: i64, max_tier: &str) -> &'static str {
    let pixels = width.max(0) * height.max(0);
    let tier = if pixels <= 921_600 {
        "720p"
    } else if pixels <= 2_073_600 {
        "1080p"
    } else if pixels <= 3_686_400 {
        "1440p"
    } else {
        "2160p"
    };
    let rank = |t: &str| ["720p", "1080p", "1440p", "2160p"].iter().position(|x| *x == t).unwrap_or(3);
    if rank(tier) > rank(max_tier) { tier_name(max_tier) } else { tier }
}

fn tier_name(tier: &str) -> &'static str {
    match tier {
        "720p" => "720p",
        "1440p" => "1440p",
        "2160p" => "2160p",
        _ => "1080p",
    }
}

/// Deprecated `max_stored_resolution` from the shorter side: under 720 lines `SD`, under 1080
/// `HD`, under 2160 `FHD`, else `UHD` (capped by `max_resolution_tier`).
pub fn max_stored_resolution(width: i64, height: i64, max_tier: &str) -> &'static str {
    let cap = match max_tier {
        "2160p" => i64::MAX,
        "1440p" => 1440,
        _ => 1080,
    };
    match width.min(height).min(cap) {
        ..720 => "SD",
        720..1080 => "HD",
        1080..2160 => "FHD",
        _ => "UHD",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_mux_ids() {
        let id = mux_id();
        assert_eq!(id.len(), 44);
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(mux_id(), id);
        let uuid = uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.as_bytes()[14], b'4', "{uuid}");
        assert!(matches!(uuid.as_bytes()[19], b'8' | b'9' | b'a' | b'b'), "{uuid}");
        assert_eq!(uuid.matches('-').count(), 4);
    }

    #[test]
    fn media_facts() {
        assert_eq!(aspect_ratio(320, 180).as_deref(), Some("16:9"));
        assert_eq!(aspect_ratio(1080, 1920).as_deref(), Some("9:16"));
        assert_eq!(aspect_ratio(640, 480).as_deref(), Some("4:3"));
        assert_eq!(aspect_ratio(-1, 5), None);
        assert_eq!(resolution_tier(320, 180, "1080p"), "720p");
        assert_eq!(resolution_tier(1920, 1080, "1080p"), "1080p");
        assert_eq!(resolution_tier(3840, 2160, "1080p"), "1080p");
        assert_eq!(resolution_tier(3840, 2160, "2160p"), "2160p");
        assert_eq!(resolution_tier(2560, 1440, "2160p"), "1440p");
        assert_eq!(max_stored_resolution(320, 180, "1080p"), "SD");
        assert_eq!(max_stored_resolution(1280, 720, "1080p"), "HD");
        assert_eq!(max_stored_resolution(1080, 1920, "1080p"), "FHD");
        assert_eq!(max_stored_resolution(3840, 2160, "1080p"), "FHD");
        assert_eq!(max_stored_resolution(3840, 2160, "2160p"), "UHD");
    }

    #[test]
    fn webhook_times_have_microseconds() {
        let at = DateTime::parse_from_rfc3339("2021-01-05T17:52:39.5Z").unwrap().with_timezone(&Utc);
        assert_eq!(rfc3339(at), "2021-01-05T17:52:39.500000Z");
    }
}
