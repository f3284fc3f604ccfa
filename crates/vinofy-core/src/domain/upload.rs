//! Uploads by signed-in app users (the `api` function): where an upload goes, what may be
//! uploaded, and how a large one is cut into parts. One copy of the "caller's space" rule: the
//! API names keys with [`upload_key`], and the ingest use case reads the owner back with
//! [`owner_of_key`], so a record's `owner` needs no extra S3 call and cannot disagree with the key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// S3's largest single PUT (5 GiB); above it, an upload must be multipart.
pub const MAX_SINGLE_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// S3's smallest part (5 MiB), except the last.
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// S3's largest part (5 GiB).
pub const MAX_PART_BYTES: u64 = MAX_SINGLE_PUT_BYTES;
/// The most parts in one upload: S3 takes 10,000, but every part is a presigned URL of about 2 KB
/// in the answer, and a Lambda response is at most 6 MB. Above 1,000 parts the part size grows.
pub const MAX_PARTS: u64 = 1_000;
/// The longest label kept of the client's file name.
pub const MAX_FILENAME_BYTES: usize = 255;

/// The space segment of a subject: base64url without padding, so any `sub` (`auth0|123`,
/// `google-oauth2|1045…`, unicode, slashes) becomes one segment of `[A-Za-z0-9_-]`, distinct
/// subjects never share a space, and no subject can name `..` or another user's folder.
pub fn space_of(subject: &str) -> String {
    URL_SAFE_NO_PAD.encode(subject.as_bytes())
}

/// The key of an upload: `{prefix}{space_of(subject)}/{name}`, `name` chosen by the server.
pub fn upload_key(prefix: &str, subject: &str, name: &str) -> String {
    format!("{prefix}{}/{name}", space_of(subject))
}

/// The owner of a key in the upload space (`None` for any other key: a staff upload elsewhere, a
/// key whose space segment is not one [`space_of`] makes).
pub fn owner_of_key(prefix: &str, key: &str) -> Option<String> {
    if prefix.is_empty() {
        return None;
    }
    let (space, name) = key.strip_prefix(prefix)?.split_once('/')?;
    if name.is_empty() || name.contains('/') || space.is_empty() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(space).ok()?;
    let subject = String::from_utf8(bytes).ok()?;
    // Round-trips only for canonical encodings: one subject has one space, never two.
    (!subject.is_empty() && space_of(&subject) == space).then_some(subject)
}

/// The object name the server gives an upload: sortable by time, unguessable enough that names
/// never collide, and nothing of the client's (`20261201T235959Z-<16 hex>.<ext>`).
pub fn object_name(now_ms: i64, random: u64, extension: &str) -> String {
    let at = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    format!("{}-{random:016x}.{extension}", at.format("%Y%m%dT%H%M%SZ"))
}

/// Whether `name` is one [`object_name`] makes (what a multipart completion may name).
pub fn is_object_name(name: &str) -> bool {
    let Some((stem, ext)) = name.rsplit_once('.') else { return false };
    let Some((at, random)) = stem.split_once('-') else { return false };
    at.len() == 16
        && at.bytes().all(|b| b.is_ascii_digit() || b == b'T' || b == b'Z')
        && random.len() == 16
        && random.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && !ext.is_empty()
        && ext.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// What a client asks to upload (`POST /uploads`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadRequest {
    /// The file's name on the client: only a label (object metadata); never part of the key.
    pub filename: String,
    /// Bytes; the presigned URLs admit exactly this many.
    pub size: i64,
    pub content_type: String,
}

/// Why an upload is refused, with a message for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefusal {
    /// HTTP 400.
    #[error("{0}")]
    Invalid(String),
    /// HTTP 413.
    #[error("{0}")]
    TooLarge(String),
}

/// What the API admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadLimits {
    /// `VIDEO_EXTENSIONS` (lower case, no dot): the same list the ingest function ingests.
    pub extensions: Vec<String>,
    /// `MAX_UPLOAD_BYTES`.
    pub max_bytes: u64,
    /// `MULTIPART_THRESHOLD_BYTES`: above it, a multipart upload (at most S3's 5 GiB).
    pub multipart_threshold: u64,
    /// `MULTIPART_PART_BYTES`: the part size (raised when the parts would exceed [`MAX_PARTS`]).
    pub part_bytes: u64,
}

/// A request that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmittedUpload {
    pub label: String,
    pub extension: String,
    pub size: u64,
    /// Lower case, as signed: the client must send exactly this `Content-Type`.
    pub content_type: String,
    pub plan: UploadPlan,
}

/// One PUT, or parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadPlan {
    Single,
    Multipart { part_bytes: u64, parts: u64 },
}

impl UploadPlan {
    /// The size of part `number` (1-based) of an upload of `size` bytes.
    pub fn part_size(part_bytes: u64, parts: u64, size: u64, number: u64) -> u64 {
        if number < parts { part_bytes } else { size - part_bytes * (parts - 1) }
    }
}

/// Content types that are videos: `video/*`, and MXF's registered `application/mxf`. A bare
/// `type/subtype` (no parameters), because the value is signed into the URL as sent.
pub fn is_video_content_type(content_type: &str) -> bool {
    let Some((kind, subtype)) = content_type.split_once('/') else { return false };
    let token = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'_'))
    };
    token(subtype) && (kind == "video" || (kind == "application" && subtype == "mxf"))
}

/// Checks a request against the limits and plans it.
pub fn admit(request: &UploadRequest, limits: &UploadLimits) -> Result<AdmittedUpload, UploadRefusal> {
    let invalid = |m: String| Err(UploadRefusal::Invalid(m));
    let label = request.filename.trim();
    if label.is_empty() {
        return invalid("filename must not be empty".into());
    }
    if label.len() > MAX_FILENAME_BYTES {
        return invalid(format!("filename is longer than {MAX_FILENAME_BYTES} bytes"));
    }
    if label.chars().any(char::is_control) {
        return invalid("filename must not contain control characters".into());
    }
    let extension = match label.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => ext.to_ascii_lowercase(),
        _ => return invalid(format!("filename {label:?} has no extension; allowed: {}", limits.extensions.join(", "))),
    };
    if !limits.extensions.contains(&extension) {
        return invalid(format!(
            "extension {extension:?} is not a video this service accepts; allowed: {}",
            limits.extensions.join(", ")
        ));
    }
    let content_type = request.content_type.trim().to_ascii_lowercase();
    if !is_video_content_type(&content_type) {
        return invalid(format!(
            "content_type {:?} is not a video type (video/*, application/mxf; no parameters)",
            request.content_type
        ));
    }
    if request.size <= 0 {
        return invalid(format!("size must be a positive number of bytes, not {}", request.size));
    }
    let size = request.size as u64;
    if size > limits.max_bytes {
        return Err(UploadRefusal::TooLarge(format!(
            "{size} bytes is more than the {} this service accepts",
            limits.max_bytes
        )));
    }
    let plan = if size > limits.multipart_threshold {
        // At least the configured part size, large enough to stay within MAX_PARTS.
        let part_bytes = limits.part_bytes.max(size.div_ceil(MAX_PARTS)).clamp(MIN_PART_BYTES, MAX_PART_BYTES);
        UploadPlan::Multipart { part_bytes, parts: size.div_ceil(part_bytes) }
    } else {
        UploadPlan::Single
    };
    Ok(AdmittedUpload { label: label.to_owned(), extension, size, content_type, plan })
}

/// The label as an S3 metadata value: metadata travels in HTTP headers, which are ASCII, so the
/// name is percent-encoded (UTF-8), as the key of an S3 event is.
pub fn metadata_label(label: &str) -> String {
    crate::domain::s3_key::encode_s3_key(label)
}

/// A multipart upload's handle in `POST /uploads/{id}/complete` and `/parts`: the uploader's
/// space, the object name, the declared size and part size, and S3's upload id, opaque to the
/// client. Tampering gains nothing: only the space's own user may use it, the key is rebuilt in the
/// caller's space, S3 refuses an upload id of another key, and each part URL admits exactly its
/// planned length, so an object can only be as large as its declared size, or smaller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartHandle {
    /// [`space_of`] the uploader.
    pub space: String,
    pub name: String,
    pub size: u64,
    pub part_bytes: u64,
    pub upload_id: String,
}

impl MultipartHandle {
    pub fn parts(&self) -> u64 {
        self.size.div_ceil(self.part_bytes)
    }

    /// The planned length of part `number` (1-based).
    pub fn part_size(&self, number: u64) -> u64 {
        UploadPlan::part_size(self.part_bytes, self.parts(), self.size, number)
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD
            .encode(format!("{}\n{}\n{}\n{}\n{}", self.space, self.name, self.size, self.part_bytes, self.upload_id))
    }

    pub fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let mut fields = text.splitn(5, '\n');
        let (space, name, size, part_bytes, upload_id) =
            (fields.next()?, fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        let (size, part_bytes): (u64, u64) = (size.parse().ok()?, part_bytes.parse().ok()?);
        let space_ok = !space.is_empty() && space.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let plan_ok = (MIN_PART_BYTES..=MAX_PART_BYTES).contains(&part_bytes)
            && size > 0
            && (1..=MAX_PARTS).contains(&size.div_ceil(part_bytes));
        (space_ok && plan_ok && is_object_name(name) && !upload_id.is_empty()).then(|| Self {
            space: space.to_owned(),
            name: name.to_owned(),
            size,
            part_bytes,
            upload_id: upload_id.to_owned(),
        })
    }
}

/// A part S3 holds for an open multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub number: u64,
    pub size: u64,
    pub etag: String,
}

/// The parts to complete with, or the numbers still missing.
pub fn parts_to_complete(expected: u64, uploaded: &[UploadedPart]) -> Result<Vec<UploadedPart>, Vec<u64>> {
    let mut parts: Vec<UploadedPart> =
        uploaded.iter().filter(|p| (1..=expected).contains(&p.number)).cloned().collect();
    parts.sort_by_key(|p| p.number);
    parts.dedup_by_key(|p| p.number);
    let missing: Vec<u64> = (1..=expected).filter(|n| parts.binary_search_by_key(n, |p| p.number).is_err()).collect();
    if missing.is_empty() { Ok(parts) } else { Err(missing) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn limits() -> UploadLimits {
        UploadLimits {
            extensions: ["mp4", "mov", "mxf"].map(String::from).to_vec(),
            max_bytes: 30 * 1024 * MIB,
            multipart_threshold: MAX_SINGLE_PUT_BYTES,
            part_bytes: 100 * MIB,
        }
    }

    fn request(filename: &str, size: i64, content_type: &str) -> UploadRequest {
        UploadRequest { filename: filename.into(), size, content_type: content_type.into() }
    }

    #[test]
    fn every_subject_gets_one_safe_space_that_names_it_back() {
        for subject in ["auth0|123", "google-oauth2|104593", "../../etc", "a/b", "ünï cødé", "x", &"s".repeat(255)]
        {
            let space = space_of(subject);
            assert!(space.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{space}");
            let key = upload_key("uploads/", subject, "20261201T000000Z-0123456789abcdef.mov");
            assert_eq!(owner_of_key("uploads/", &key).as_deref(), Some(subject), "{key}");
        }
        assert_ne!(space_of("auth0|1"), space_of("auth0|2"));
    }

    #[test]
    fn keys_outside_the_upload_space_have_no_owner() {
        let space = space_of("auth0|1");
        for key in [
            "videos/a.mov".to_owned(),
            format!("uploads/{space}.mov"),
            format!("uploads/{space}/"),
            format!("uploads/{space}/deeper/a.mov"),
            "uploads/!!!/a.mov".to_owned(),
            "uploads//a.mov".to_owned(),
            // Not canonical base64url: a second spelling of the same subject is not a space.
            format!("uploads/{space}=/a.mov"),
            // Decodes to bytes that are not UTF-8.
            "uploads/_w/a.mov".to_owned(),
        ] {
            assert_eq!(owner_of_key("uploads/", &key), None, "{key}");
        }
        assert_eq!(owner_of_key("", &format!("{space}/a.mov")), None, "no upload prefix, no upload space");
    }

    #[test]
    fn object_names_are_recognised() {
        let name = object_name(1_796_083_200_000, 0xfeed, "mov");
        assert_eq!(name, "20261201T000000Z-000000000000feed.mov");
        assert!(is_object_name(&name));
        for bad in ["../x.mov", "20261201T000000Z-000000000000FEED.mov", "20261201T000000Z-0.mov", "a.mov", "x"] {
            assert!(!is_object_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_video_is_admitted_as_one_put() {
        let admitted = admit(&request(" Tasting notes.MOV ", 123_456_789, "Video/QuickTime"), &limits()).unwrap();
        assert_eq!(admitted.label, "Tasting notes.MOV");
        assert_eq!(admitted.extension, "mov");
        assert_eq!(admitted.content_type, "video/quicktime");
        assert_eq!(admitted.plan, UploadPlan::Single);
        assert!(admit(&request("a.mxf", 1, "application/mxf"), &limits()).is_ok());
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        let cases: &[(UploadRequest, &str)] = &[
            (request("notes.txt", 10, "video/mp4"), "extension \"txt\""),
            (request("noextension", 10, "video/mp4"), "has no extension"),
            (request(".mov", 10, "video/mp4"), "has no extension"),
            (request("", 10, "video/mp4"), "must not be empty"),
            (request("a\u{0}b.mov", 10, "video/mp4"), "control characters"),
            (request(&format!("{}.mov", "a".repeat(300)), 10, "video/mp4"), "longer than 255"),
            (request("a.mov", 10, "image/png"), "not a video type"),
            (request("a.mov", 10, "video/mp4; codecs=avc1"), "not a video type"),
            (request("a.mov", 10, "video/"), "not a video type"),
            (request("a.mov", 10, "application/octet-stream"), "not a video type"),
            (request("a.mov", 0, "video/mp4"), "positive number"),
            (request("a.mov", -5, "video/mp4"), "positive number"),
        ];
        for (req, expected) in cases {
            match admit(req, &limits()) {
                Err(UploadRefusal::Invalid(m)) => assert!(m.contains(expected), "{m} (wanted {expected})"),
                other => panic!("{req:?}: {other:?}"),
            }
        }
        assert!(matches!(
            admit(&request("a.mov", 30 * 1024 * MIB as i64 + 1, "video/mp4"), &limits()),
            Err(UploadRefusal::TooLarge(_))
        ));
    }

    #[test]
    fn above_the_threshold_an_upload_is_cut_into_parts() {
        let size = 6 * 1024 * MIB + 7;
        let admitted = admit(&request("big.mp4", size as i64, "video/mp4"), &limits()).unwrap();
        let UploadPlan::Multipart { part_bytes, parts } = admitted.plan else { panic!("{:?}", admitted.plan) };
        assert_eq!(part_bytes, 100 * MIB);
        assert_eq!(parts, 62);
        let total: u64 = (1..=parts).map(|n| UploadPlan::part_size(part_bytes, parts, size, n)).sum();
        assert_eq!(total, size);
        assert_eq!(UploadPlan::part_size(part_bytes, parts, size, parts), size - 61 * 100 * MIB);
        // MAX_PARTS at most: the part size grows.
        let huge = limits();
        let limits = UploadLimits { part_bytes: MIN_PART_BYTES, max_bytes: 5 * 1024 * 1024 * MIB, ..huge };
        let size = 100 * 1024 * MIB;
        let UploadPlan::Multipart { part_bytes, parts } =
            admit(&request("big.mp4", size as i64, "video/mp4"), &limits).unwrap().plan
        else {
            panic!()
        };
        assert!(parts <= MAX_PARTS && part_bytes * parts >= size, "{part_bytes} × {parts}");
    }

    #[test]
    fn a_multipart_handle_round_trips_and_refuses_garbage() {
        let handle = MultipartHandle {
            space: space_of("auth0|1"),
            name: "20261201T000000Z-000000000000feed.mov".into(),
            size: 11 * MIB + 5,
            part_bytes: 5 * MIB,
            upload_id: "2~abc.def_ghi-jkl".into(),
        };
        assert_eq!((handle.parts(), handle.part_size(3)), (3, MIB + 5));
        assert_eq!(MultipartHandle::decode(&handle.encode()), Some(handle.clone()));
        let forged = URL_SAFE_NO_PAD.encode("c3BhY2U\n../../x.mov\n10\n5242880\nid");
        let no_parts = URL_SAFE_NO_PAD.encode("c3BhY2U\n20261201T000000Z-000000000000feed.mov\n0\n5242880\nid");
        let bad_space = URL_SAFE_NO_PAD.encode("../\n20261201T000000Z-000000000000feed.mov\n10\n5242880\nid");
        for bad in ["", "!!", &forged, &no_parts, &bad_space] {
            assert_eq!(MultipartHandle::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn completion_needs_every_part() {
        let part = |number| UploadedPart { number, size: 5, etag: format!("e{number}") };
        assert_eq!(parts_to_complete(3, &[part(3), part(1), part(2), part(9)]).unwrap().len(), 3);
        assert_eq!(parts_to_complete(3, &[part(1)]), Err(vec![2, 3]));
        assert_eq!(parts_to_complete(1, &[]), Err(vec![1]));
    }
}
