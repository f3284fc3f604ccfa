//! One version of one S3 object, and what we decide to do with it.

use sha2::{Digest, Sha256};

use super::ids::VersionKey;

/// The object version an `ObjectCreated` notification announces (key already decoded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectVersion {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub version_id: Option<String>,
    /// Normalised with [`normalize_sequencer`]; "" when the producer sent none (backfill).
    pub sequencer: String,
}

/// Width sequencers are padded to so DynamoDB can compare them as plain strings.
const SEQUENCER_WIDTH: usize = 64;

/// S3: "sequencers can be of different lengths. To compare these values, first right pad the shorter
/// value with zeros, and then do a lexicographical comparison." Padding every value to one width (and
/// one letter case) makes the plain string order the event order, also inside a DynamoDB condition.
pub fn normalize_sequencer(raw: &str) -> String {
    let mut s = raw.trim().to_ascii_uppercase();
    if !s.is_empty() && s.len() < SEQUENCER_WIDTH {
        s.extend(std::iter::repeat_n('0', SEQUENCER_WIDTH - s.len()));
    }
    s
}

/// S3's limit on a key, in UTF-8 bytes; longer keys cannot exist, so an event carrying one is forged.
/// It also keeps `source` (`s3://` + bucket + `/` + key) under DynamoDB's 2,048-byte partition key.
pub const MAX_KEY_BYTES: usize = 1024;

/// S3's bucket naming rules (general purpose buckets): 3–63 characters of lower-case letters, digits,
/// `.` and `-`, beginning and ending with a letter or digit, no `..`, not an IP address.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    let bytes = name.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&bytes.len())
        || !bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        || !edge_ok(bytes.first())
        || !edge_ok(bytes.last())
        || name.contains("..")
        || name.parse::<std::net::Ipv4Addr>().is_ok()
    {
        return Err(format!(
            "{:?} is not a valid S3 bucket name (3-63 lower-case letters, digits, '.' and '-')",
            truncate_for_message(name)
        ));
    }
    Ok(())
}

/// Checks a decoded key: at most [`MAX_KEY_BYTES`], and no control characters (S3 accepts some, but
/// none belong in a video name, and they would reach logs and the table).
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("is empty".into());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!("is {} bytes long; S3 keys are at most {MAX_KEY_BYTES}", key.len()));
    }
    if let Some(c) = key.chars().find(|c| c.is_control()) {
        return Err(format!("contains the control character U+{:04X}", c as u32));
    }
    Ok(())
}

/// At most 64 characters of untrusted text, for error messages.
pub fn truncate_for_message(text: &str) -> String {
    let mut out: String = text.chars().take(64).filter(|c| !c.is_control()).collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    out
}

/// The record's partition key for a bucket and decoded key: `s3://<bucket>/<key>`, the one place
/// this form is built. Valid bucket names contain no `/` or `%`; should an invalid one ever get this
/// far, those two are percent-encoded, so no two bucket/key pairs share a source.
pub fn source_uri(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(6 + bucket.len() + key.len());
    out.push_str("s3://");
    for c in bucket.chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            c => out.push(c),
        }
    }
    out.push('/');
    out.push_str(key);
    out
}

impl ObjectVersion {
    /// The record's partition key: `s3://<bucket>/<decoded key>` ([`source_uri`]).
    pub fn source(&self) -> String {
        source_uri(&self.bucket, &self.key)
    }

    /// What identifies this version of the object: S3's versionId when the bucket is versioned,
    /// else the eTag (same bytes, same eTag: re-uploading identical content is not a new video).
    pub fn version_key(&self) -> VersionKey {
        match &self.version_id {
            Some(v) => VersionKey::of_version_id(v),
            None => VersionKey::of_etag(&self.etag),
        }
    }

    /// A stable Cloudflare `creator` (64 hex chars, Cloudflare's maximum) for this object version:
    /// every attempt at the same version sends the same value, so a retry can find a video an earlier
    /// attempt created (`GET /stream?creator=`) instead of copying again.
    pub fn version_tag(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.source().as_bytes());
        h.update(b"\n");
        h.update(self.version_key().as_str().as_bytes());
        hex::encode(h.finalize())
    }

    /// Lower-cased extension of the key's last path segment, if it has one.
    pub fn extension(&self) -> Option<String> {
        let name = self.key.rsplit('/').next()?;
        let (stem, ext) = name.rsplit_once('.')?;
        (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
    }
}

/// Why an object is not ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    FolderMarker,
    EmptyObject,
    OutsidePrefix,
    NotAVideo { extension: Option<String> },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FolderMarker => f.write_str("folder marker"),
            Self::EmptyObject => f.write_str("zero-byte object"),
            Self::OutsidePrefix => f.write_str("outside the configured SOURCE_PREFIX"),
            Self::NotAVideo { extension: Some(e) } => write!(f, "extension {e:?} is not in VIDEO_EXTENSIONS"),
            Self::NotAVideo { extension: None } => f.write_str("no file extension"),
        }
    }
}

/// What counts as a video to ingest (`VIDEO_EXTENSIONS`, `SOURCE_PREFIX`).
#[derive(Debug, Clone, Copy)]
pub struct VideoFilter<'a> {
    /// Lower-case, without the dot.
    pub extensions: &'a [String],
    /// Only keys under it ("" = all).
    pub source_prefix: &'a str,
}

/// Decides whether an object is a video to ingest. S3 suffix filters are case-sensitive (`.MOV`
/// slips through them), so the allow-list is applied here, case-insensitively.
pub fn skip_reason(object: &ObjectVersion, filter: &VideoFilter<'_>) -> Option<SkipReason> {
    if object.key.ends_with('/') {
        return Some(SkipReason::FolderMarker);
    }
    if !object.key.starts_with(filter.source_prefix) {
        return Some(SkipReason::OutsidePrefix);
    }
    if object.size == 0 {
        return Some(SkipReason::EmptyObject);
    }
    let extension = object.extension();
    match &extension {
        Some(e) if filter.extensions.iter().any(|allowed| allowed == e) => None,
        _ => Some(SkipReason::NotAVideo { extension }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn object(key: &str) -> ObjectVersion {
        ObjectVersion {
            bucket: "uploads".into(),
            key: key.into(),
            size: 10,
            etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
            version_id: None,
            sequencer: normalize_sequencer("0055AED6DCD90281E5"),
        }
    }

    fn extensions() -> Vec<String> {
        ["mp4", "mov", "webm"].map(String::from).to_vec()
    }

    #[test]
    fn sequencers_compare_in_event_order_after_normalising() {
        // Different lengths: right-padding makes the longer, later value compare greater.
        let a = normalize_sequencer("0055AED6DCD90281E5");
        let b = normalize_sequencer("0055AED6DCD90281E50A");
        let c = normalize_sequencer("0055aed6dcd90281e6");
        assert!(a < b && b < c);
        assert_eq!(a.len(), 64);
        assert_eq!(normalize_sequencer(""), "");
    }

    #[test]
    fn identity_prefers_version_id_and_creator_is_stable_and_short() {
        let mut o = object("videos/a.mp4");
        assert_eq!(o.source(), "s3://uploads/videos/a.mp4");
        assert_eq!(o.version_key(), "etag:d41d8cd98f00b204e9800998ecf8427e");
        let by_etag = o.version_tag();
        o.version_id = Some("3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY".into());
        assert_eq!(o.version_key(), "version:3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY");
        assert_ne!(o.version_tag(), by_etag);
        assert_eq!(o.version_tag(), o.clone().version_tag());
        assert_eq!(o.version_tag().len(), 64);
    }

    #[test]
    fn sources_are_unambiguous_for_any_bucket_and_key() {
        assert_eq!(source_uri("uploads", "videos/a b.mp4"), "s3://uploads/videos/a b.mp4");
        // The review's collision: a bucket holding a slash must not read as a folder of another bucket.
        assert_ne!(source_uri("uploads/videos", "a.mp4"), source_uri("uploads", "videos/a.mp4"));
        assert_ne!(source_uri("a%2Fb", "c"), source_uri("a/b", "c"));
        proptest::proptest!(|(b1 in "[a-z/%]{1,6}", k1 in "[a-z/%]{0,6}", b2 in "[a-z/%]{1,6}", k2 in "[a-z/%]{0,6}")| {
            if (b1.as_str(), k1.as_str()) != (b2.as_str(), k2.as_str()) {
                proptest::prop_assert_ne!(source_uri(&b1, &k1), source_uri(&b2, &k2));
            }
        });
    }

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["uploads", "vinofy-uploads-123456789012", "a.b-c", "abc"] {
            assert_eq!(check_bucket_name(ok), Ok(()), "{ok}");
        }
        let long = "a".repeat(64);
        for bad in ["", "ab", "Uploads", "uploads/videos", "-up", "up-", "a..b", "192.168.1.1", "up_loads", &long] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_are_bounded_and_printable() {
        assert_eq!(check_key("videos/été (1).mp4"), Ok(()));
        assert_eq!(check_key(&"k".repeat(MAX_KEY_BYTES)), Ok(()));
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES + 1)).unwrap_err().contains("1025 bytes"));
        // 1,024 bytes is the limit in UTF-8, not in characters.
        assert!(check_key(&"é".repeat(513)).is_err());
        for bad in ["a\0b.mp4", "a\nb.mp4", "a\u{7f}.mp4", "a\u{85}.mp4"] {
            assert!(check_key(bad).unwrap_err().contains("control character"), "{bad:?}");
        }
        assert!(check_key("").is_err());
    }

    #[test]
    fn skips_what_is_not_a_video() {
        let extensions = extensions();
        let filter = VideoFilter { extensions: &extensions, source_prefix: "videos/" };
        let cases = [
            ("videos/a.mp4", None),
            ("videos/A.MOV", None),
            ("videos/x.tar.webm", None),
            ("videos/folder/", Some(SkipReason::FolderMarker)),
            ("other/a.mp4", Some(SkipReason::OutsidePrefix)),
            ("videos/readme.txt", Some(SkipReason::NotAVideo { extension: Some("txt".into()) })),
            ("videos/noext", Some(SkipReason::NotAVideo { extension: None })),
            ("videos/.mp4", Some(SkipReason::NotAVideo { extension: None })),
            ("videos/dir.mp4/file", Some(SkipReason::NotAVideo { extension: None })),
        ];
        for (key, want) in cases {
            assert_eq!(skip_reason(&object(key), &filter), want, "{key}");
        }
        let mut empty = object("videos/a.mp4");
        empty.size = 0;
        assert_eq!(skip_reason(&empty, &filter), Some(SkipReason::EmptyObject));
    }
}
