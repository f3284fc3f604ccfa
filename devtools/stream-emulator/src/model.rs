//! The Cloudflare Stream `Video` object as it appears on the wire (doc §2.2-§2.4).
//!
//! Field order and the "unknown yet" values (`duration: -1`, `input: {-1,-1}`, `uploadExpiry: null`,
//! `maxSizeBytes: 0`, ...) follow the verbatim `/copy` response example of the reference doc, so
//! that clients are exercised against the same shape they will get from Cloudflare.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Serialize, Serializer};
use serde_json::{Map, Number, Value};

/// A point in time, serialized as RFC 3339 in UTC with nanoseconds
/// (`2020-10-16T20:20:17.872170843Z`), like every Cloudflare example.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Self {
        Self(Utc::now())
    }

    /// Parses any RFC 3339 date-time (offsets are normalised to UTC).
    pub fn parse(text: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(text).ok().map(|t| Self(t.with_timezone(&Utc)))
    }

    pub fn plus(self, delta: TimeDelta) -> Self {
        Self(self.0 + delta)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Nanos, true))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `status.state` (doc §2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum State {
    #[serde(rename = "pendingupload")]
    PendingUpload,
    #[serde(rename = "downloading")]
    Downloading,
    #[serde(rename = "queued")]
    Queued,
    #[serde(rename = "inprogress")]
    InProgress,
    #[serde(rename = "ready")]
    Ready,
    #[serde(rename = "error")]
    Error,
    /// Stream Live only; the emulator never produces it but accepts it as a list filter.
    #[serde(rename = "live-inprogress")]
    LiveInProgress,
}

impl FromStr for State {
    type Err = ();

    fn from_str(text: &str) -> Result<Self, ()> {
        Ok(match text {
            "pendingupload" => Self::PendingUpload,
            "downloading" => Self::Downloading,
            "queued" => Self::Queued,
            "inprogress" => Self::InProgress,
            "ready" => Self::Ready,
            "error" => Self::Error,
            "live-inprogress" => Self::LiveInProgress,
            _ => return Err(()),
        })
    }
}

/// The `status` object. `pctComplete` is a *string* on the wire (doc §2.4).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<&'static str>,
    pub pct_complete: String,
    pub error_reason_code: String,
    pub error_reason_text: String,
}

impl Status {
    pub fn new(state: State, pct_complete: f64) -> Self {
        Self {
            state,
            step: None,
            pct_complete: format!("{pct_complete:.6}"),
            error_reason_code: String::new(),
            error_reason_text: String::new(),
        }
    }

    pub fn failed(code: &str, text: &str) -> Self {
        Self { error_reason_code: code.to_owned(), error_reason_text: text.to_owned(), ..Self::new(State::Error, 0.0) }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Dimensions {
    pub width: i64,
    pub height: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Playback {
    pub hls: String,
    pub dash: String,
}

/// The Video object returned by copy / get / edit / list and sent as the webhook body.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Video {
    pub uid: String,
    pub creator: Option<String>,
    pub thumbnail: String,
    /// Kept as the JSON number the client sent, so `0` stays `0` and `0.529241` stays as is.
    pub thumbnail_timestamp_pct: Number,
    pub ready_to_stream: bool,
    /// "empty if the video is not ready": omitted until then, like the doc's copy example.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_to_stream_at: Option<Timestamp>,
    pub status: Status,
    pub meta: Map<String, Value>,
    pub created: Timestamp,
    pub modified: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_deletion: Option<Timestamp>,
    pub size: u64,
    pub preview: String,
    pub allowed_origins: Vec<String>,
    #[serde(rename = "requireSignedURLs")]
    pub require_signed_urls: bool,
    pub uploaded: Option<Timestamp>,
    pub upload_expiry: Option<Timestamp>,
    pub max_size_bytes: Option<u64>,
    pub max_duration_seconds: Option<i64>,
    /// Seconds (float64 on the wire, e.g. `5.5`); `-1` = unknown, which it stays unless the
    /// emulator transcodes (`--transcode`).
    pub duration: Number,
    pub input: Dimensions,
    pub playback: Playback,
    pub watermark: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_details: Option<Value>,
}

impl Video {
    /// A freshly accepted `/copy` upload: `downloading`, nothing known about the media yet.
    /// `public_base_url` has no trailing slash.
    pub fn new_copy(uid: String, public_base_url: &str, now: Timestamp) -> Self {
        let base = format!("{public_base_url}/{uid}");
        Self {
            thumbnail: format!("{base}/thumbnails/thumbnail.jpg"),
            preview: format!("{base}/watch"),
            playback: Playback {
                hls: format!("{base}/manifest/video.m3u8"),
                dash: format!("{base}/manifest/video.mpd"),
            },
            uid,
            creator: None,
            thumbnail_timestamp_pct: Number::from(0),
            ready_to_stream: false,
            ready_to_stream_at: None,
            status: Status::new(State::Downloading, 0.0),
            meta: Map::new(),
            created: now,
            modified: now,
            scheduled_deletion: None,
            size: 0,
            allowed_origins: Vec::new(),
            require_signed_urls: false,
            uploaded: Some(now),
            upload_expiry: None,
            max_size_bytes: Some(0),
            max_duration_seconds: Some(0),
            duration: Number::from(-1),
            input: Dimensions { width: -1, height: -1 },
            watermark: None,
            public_details: None,
        }
    }

    /// Bumps `modified`, strictly increasing even if the clock has not moved, because
    /// clients are told to ignore webhook/GET bodies whose `modified` is not newer (doc §5.2).
    pub fn touch(&mut self) {
        let now = Timestamp::now();
        self.modified = if now > self.modified { now } else { self.modified.plus(TimeDelta::nanoseconds(1)) };
    }
}

/// A new 32-hex-digit identifier (video uid, webhook secret). Not cryptographically random:
/// this is a local test double and nothing it issues protects anything.
pub fn random_hex32() -> String {
    format!("{:032x}", fastrand::u128(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_nanoseconds_and_z() {
        let t = Timestamp::parse("2020-10-16T20:20:17.872170843Z").unwrap();
        assert_eq!(t.to_string(), "2020-10-16T20:20:17.872170843Z");
        let shifted = Timestamp::parse("2020-10-16T22:20:17+02:00").unwrap();
        assert_eq!(shifted.to_string(), "2020-10-16T20:20:17.000000000Z");
    }

    #[test]
    fn copy_video_matches_doc_shape() {
        let now = Timestamp::parse("2020-10-16T20:20:17.872170843Z").unwrap();
        let video = Video::new_copy("ab".repeat(16), "http://127.0.0.1:9", now);
        let json = serde_json::to_value(&video).unwrap();
        assert_eq!(json["status"]["state"], "downloading");
        assert_eq!(json["status"]["pctComplete"], "0.000000");
        assert_eq!(json["thumbnailTimestampPct"], 0);
        assert_eq!(json["duration"], -1);
        assert_eq!(json["requireSignedURLs"], false);
        assert_eq!(json["uploadExpiry"], Value::Null);
        assert_eq!(json["playback"]["hls"], format!("http://127.0.0.1:9/{}/manifest/video.m3u8", "ab".repeat(16)));
        assert!(json.get("readyToStreamAt").is_none());
    }

    #[test]
    fn touch_is_strictly_increasing() {
        let mut video = Video::new_copy(random_hex32(), "http://x", Timestamp::now());
        video.modified = Timestamp::now().plus(TimeDelta::hours(1));
        let before = video.modified;
        video.touch();
        assert!(video.modified > before);
    }

    #[test]
    fn random_hex32_is_32_hex_digits() {
        let id = random_hex32();
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
