//! Which video provider holds a video. The record says so (`provider`); a record without it is
//! Cloudflare's (every record written before there was a second provider).

use std::fmt;

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
}
