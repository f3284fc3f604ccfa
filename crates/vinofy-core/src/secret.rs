//! Values that are credentials: they never print, not even in `Debug`.

use std::fmt;

/// A credential (API token, webhook secret). `Debug`/`Display` print a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The raw value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A presigned S3 GET URL. Anyone holding it can read the object until it expires, so it is a
/// credential: it goes to Cloudflare in the request body and nowhere else (not logs, not the table).
#[derive(Clone, PartialEq, Eq)]
pub struct PresignedUrl(String);

impl PresignedUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PresignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresignedUrl(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let token = SecretString::new("cf-token-123");
        let url = PresignedUrl::new("http://s3/b/k?X-Amz-Signature=abc");
        let printed = format!("{token:?} {token} {url:?}");
        assert!(!printed.contains("cf-token-123"), "{printed}");
        assert!(!printed.contains("X-Amz-Signature"), "{printed}");
        assert_eq!(token.expose(), "cf-token-123");
    }
}
