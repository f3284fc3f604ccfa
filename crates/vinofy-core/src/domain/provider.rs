//! Which video provider holds a video. The record says so (`provider`); a record without it is
//! Cloudflare's (every record written before there was a second provider).

use std::fmt;

use crate::domain::ids::VideoUid;

/// `provider` attribute values: a contract with the apps, like `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Cloudflare Stream: `video_uid` is the Stream uid.
    #[default]
    Cloudflare,
    /// Mux Video: `video_uid` is the asset id, `playback_id` names it in playback URLs.
    Mux,
}

impl Provider {
    pub const ALL: [Provider; 2] = [Self::Cloudflare, Self::Mux];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Cloudflare => "cloudflare",
            Self::Mux => "mux",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The provider of a stored record: absent means Cloudflare.
    pub fn of_record(stored: Option<&str>) -> Option<Self> {
        stored.map_or(Some(Self::Cloudflare), Self::parse)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A video at its provider: what a get or a delete needs (a uid alone does not say where it lives).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VideoRef {
    pub provider: Provider,
    pub uid: VideoUid,
}

impl VideoRef {
    pub fn new(provider: Provider, uid: VideoUid) -> Self {
        Self { provider, uid }
    }

    /// The uid, for an adapter of `provider`; a video of another provider is refused (nothing sent).
    pub fn uid_at(&self, provider: Provider) -> Result<&VideoUid, crate::error::ProviderError> {
        if self.provider == provider {
            Ok(&self.uid)
        } else {
            Err(crate::error::ProviderError::Unconfigured(format!("{self} is not a {provider} video")))
        }
    }
}

/// `mux:abc`; logs carry `video_uid` (the bare uid) separately.
impl fmt::Display for VideoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.provider, self.uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_a_record_without_one_is_cloudflares() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        assert_eq!(Provider::of_record(None), Some(Provider::Cloudflare));
        assert_eq!(Provider::of_record(Some("mux")), Some(Provider::Mux));
        assert_eq!(Provider::of_record(Some("youtube")), None, "an unknown provider is not guessed");
        assert_eq!(Provider::parse("Mux"), None, "exact names only");
    }

    #[test]
    fn an_adapter_takes_only_its_own_providers_videos() {
        let video = VideoRef::new(Provider::Mux, VideoUid::parse("asset1").unwrap());
        assert_eq!(video.uid_at(Provider::Mux).unwrap().as_str(), "asset1");
        let refused = video.uid_at(Provider::Cloudflare).unwrap_err();
        assert!(!refused.is_retryable());
        assert_eq!(refused.to_string(), "mux:asset1 is not a cloudflare video");
    }
}
