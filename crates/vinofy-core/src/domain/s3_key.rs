//! S3 event notifications carry object keys form-URL-encoded ("red flower.jpg" arrives as
//! "red+flower.jpg", a literal `+` as `%2B`). `aws_lambda_events`' `url_decoded_key` is never filled
//! on real events, and plain percent-decoding leaves `+` alone, so we decode here, strictly.

use std::fmt;

/// Why an encoded key could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyDecodeError {
    /// A `%` not followed by two hex digits, at this byte offset.
    BadEscape(usize),
    /// The decoded bytes are not UTF-8 (S3 keys always are).
    NotUtf8,
    /// An empty key names no object.
    Empty,
}

impl fmt::Display for KeyDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadEscape(at) => write!(f, "bad percent-escape at byte {at}"),
            Self::NotUtf8 => f.write_str("decoded key is not valid UTF-8"),
            Self::Empty => f.write_str("key is empty"),
        }
    }
}

/// Decodes a key as S3 encodes it in notifications: `+` is a space, then `%XX` bytes, as UTF-8.
pub fn decode_s3_key(encoded: &str) -> Result<String, KeyDecodeError> {
    if encoded.is_empty() {
        return Err(KeyDecodeError::Empty);
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|b| hex_value(*b));
                let lo = bytes.get(i + 2).and_then(|b| hex_value(*b));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(KeyDecodeError::BadEscape(i)),
                }
                i += 3;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| KeyDecodeError::NotUtf8)
}

/// Encodes a key the way S3 does in notifications (the inverse of [`decode_s3_key`]); used to
/// build events for backfill and tests. Unreserved characters and `/` stay as they are.
pub fn encode_s3_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() * 3);
    for &b in key.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_s3_encodes() {
        let cases = [
            ("holiday+clip.mp4", "holiday clip.mp4"),
            ("a%2Bb.mp4", "a+b.mp4"),
            ("clip+%281%29.mp4", "clip (1).mp4"),
            ("x%3Dy.mp4", "x=y.mp4"),
            ("tom%26jerry.mp4", "tom&jerry.mp4"),
            ("100%25.mp4", "100%.mp4"),
            ("take%231.mp4", "take#1.mp4"),
            ("why%3F.mp4", "why?.mp4"),
            ("12%3A30.mp4", "12:30.mp4"),
            ("it%27s.mp4", "it's.mp4"),
            ("~home.mp4", "~home.mp4"),
            ("caf%C3%A9+%E6%97%A5%E6%9C%AC.mp4", "café 日本.mp4"),
            ("a/b/c/d.mp4", "a/b/c/d.mp4"),
            ("a%2Fb%2Fc.mp4", "a/b/c.mp4"),
            ("%F0%9F%8E%AC.mov", "🎬.mov"),
        ];
        for (encoded, want) in cases {
            assert_eq!(decode_s3_key(encoded).as_deref(), Ok(want), "{encoded}");
        }
    }

    #[test]
    fn lowercase_hex_escapes_are_accepted() {
        assert_eq!(decode_s3_key("caf%c3%a9.mp4").unwrap(), "café.mp4");
    }

    #[test]
    fn rejects_broken_escapes_and_non_utf8() {
        assert_eq!(decode_s3_key("bad%2"), Err(KeyDecodeError::BadEscape(3)));
        assert_eq!(decode_s3_key("bad%zz.mp4"), Err(KeyDecodeError::BadEscape(3)));
        assert_eq!(decode_s3_key("%FF%FE.mp4"), Err(KeyDecodeError::NotUtf8));
        assert_eq!(decode_s3_key(""), Err(KeyDecodeError::Empty));
    }

    #[test]
    fn round_trips_a_maximum_length_key() {
        // S3 keys are at most 1024 bytes of UTF-8.
        let key = format!("{}/é+ (1).mp4", "d".repeat(1024 - 12));
        assert_eq!(key.len(), 1024);
        assert_eq!(decode_s3_key(&encode_s3_key(&key)).unwrap(), key);
    }

    #[test]
    fn encode_matches_s3_for_spaces_and_plus() {
        assert_eq!(encode_s3_key("a b+c.mp4"), "a+b%2Bc.mp4");
    }

    proptest::proptest! {
        #[test]
        fn encode_then_decode_is_identity(key in "\\PC{1,200}") {
            proptest::prop_assert_eq!(decode_s3_key(&encode_s3_key(&key)).unwrap(), key);
        }

        #[test]
        fn decode_never_panics(input in "\\PC{0,300}") {
            let _ = decode_s3_key(&input);
        }
    }
}
