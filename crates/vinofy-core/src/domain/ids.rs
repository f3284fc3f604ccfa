//! Identifiers that are checked once, where they enter, and typed from then on.

use std::fmt;

/// A video provider's id of one video (Cloudflare: 32 hex characters; Mux asset ids are longer
/// mixed-case alphanumerics). The one validator: 1–64 ASCII letters and digits, so it is safe to
/// splice into a URL path, and it is the same check wherever a uid enters (a provider's response, a
/// stored record, the CLI).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct VideoUid(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a video uid (1-64 ASCII letters and digits)")]
pub struct InvalidVideoUid(pub String);

impl VideoUid {
    pub fn parse(text: &str) -> Result<Self, InvalidVideoUid> {
        if (1..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(text.to_owned()))
        } else {
            Err(InvalidVideoUid(text.chars().take(80).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VideoUid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&VideoUid> for String {
    fn from(uid: &VideoUid) -> String {
        uid.0.clone()
    }
}

impl AsRef<str> for VideoUid {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for VideoUid {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for VideoUid {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// What identifies one version of an object: `version:<S3 versionId>` in a versioned bucket, else
/// `etag:<eTag>`. Records are keyed by it (with the source), so it is a contract of the table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct VersionKey(String);

impl VersionKey {
    pub fn of_version_id(version_id: &str) -> Self {
        Self(format!("version:{version_id}"))
    }

    pub fn of_etag(etag: &str) -> Self {
        Self(format!("etag:{etag}"))
    }

    /// A key as the table stores it.
    pub fn from_stored(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for VersionKey {
    /// A key as the table stores it (as [`VersionKey::from_stored`]).
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl fmt::Display for VersionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&VersionKey> for String {
    fn from(key: &VersionKey) -> String {
        key.0.clone()
    }
}

impl PartialEq<&str> for VersionKey {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// The random token of one invocation's claim: only its holder may complete or fail the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken(String);

impl ClaimToken {
    /// 128 random bits, as 32 hex characters.
    pub fn random() -> Self {
        Self(format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)))
    }

    /// A token as stored (the adapter reads it back; tests name theirs).
    pub fn from_stored(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_uid_rule_for_every_provider() {
        for ok in
            ["6b9e68b07dfee8cc2d116e4c51d6a957", "a", "QrikEQpEXp3RvklQSHyHSYOakQkhcEXVgi3wp01O8dI", &"a".repeat(64)]
        {
            assert_eq!(VideoUid::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "../x", "a b", "é", "abc/def", "abc?x=1", &"a".repeat(65)] {
            assert!(VideoUid::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(serde_json::to_value(VideoUid::parse("abc").unwrap()).unwrap(), "abc");
    }

    #[test]
    fn claim_tokens_are_random_and_long() {
        let (a, b) = (ClaimToken::random(), ClaimToken::random());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
    }
}
