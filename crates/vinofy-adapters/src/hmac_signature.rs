//! The webhook signature both providers use: HMAC-SHA256(secret, "{time}.{raw body}") in hex,
//! the time being Unix seconds bounded by a tolerance either way. Each provider's module reads its
//! own header (`cloudflare::signature`: `Webhook-Signature`, `mux::signature`: `mux-signature`)
//! and hands the time and the candidate signatures here.

use hmac::{KeyInit, Mac};

use vinofy_core::ports::WebhookRejection;
use vinofy_core::secret::SecretString;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Why a header's time and signatures do not authenticate a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The time is not an integer.
    Malformed,
    /// The time is more than `tolerance_seconds` away from now.
    Stale { age_seconds: i64, tolerance_seconds: i64 },
    /// No candidate is the body's signature.
    Mismatch,
}

/// `From<Failure>` for a provider's error enum, whose `Malformed`, `Stale { age_seconds,
/// tolerance_seconds }` and `Mismatch` variants mean the same.
macro_rules! from_failure {
    ($error:ty) => {
        impl From<$crate::hmac_signature::Failure> for $error {
            fn from(failure: $crate::hmac_signature::Failure) -> Self {
                use $crate::hmac_signature::Failure;
                match failure {
                    Failure::Malformed => Self::Malformed,
                    Failure::Stale { age_seconds, tolerance_seconds } => Self::Stale { age_seconds, tolerance_seconds },
                    Failure::Mismatch => Self::Mismatch,
                }
            }
        }
    };
}
pub(crate) use from_failure;

fn mac(secret: &[u8], time: &[u8], body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(time);
    mac.update(b".");
    mac.update(body);
    mac
}

/// Checks `time` (as the header spells it: the MAC covers those bytes) against `now` and
/// `tolerance`, then whether any candidate is the signature of `body`. Each comparison is
/// constant-time, and every candidate is compared.
pub fn verify<S: AsRef<[u8]>>(
    time: &str,
    candidates: &[S],
    body: &[u8],
    secret: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), Failure> {
    let timestamp: i64 = time.parse().map_err(|_| Failure::Malformed)?;
    let age = now.saturating_sub(timestamp);
    if age.abs() > tolerance {
        return Err(Failure::Stale { age_seconds: age, tolerance_seconds: tolerance });
    }
    let mac = mac(secret, time.as_bytes(), body);
    let matched =
        candidates.iter().fold(false, |found, candidate| mac.clone().verify_slice(candidate.as_ref()).is_ok() | found);
    if matched { Ok(()) } else { Err(Failure::Mismatch) }
}

/// The hex signature of `body` at `time` (what a provider puts in its header).
pub fn sign_hex(body: &[u8], secret: &[u8], time: i64) -> String {
    hex::encode(mac(secret, time.to_string().as_bytes(), body).finalize().into_bytes())
}

/// A provider's header check: `verify(header value, raw body, secret, now, tolerance)`.
pub(crate) type HeaderCheck<E> = fn(Option<&str>, &[u8], &[u8], i64, i64) -> Result<(), E>;

/// A webhook verifier's signing secret and clock tolerance.
pub(crate) struct WebhookKey {
    secret: SecretString,
    tolerance_seconds: i64,
}

impl WebhookKey {
    pub fn new(secret: SecretString, tolerance_seconds: i64) -> Self {
        Self { secret, tolerance_seconds }
    }

    /// Authenticates a delivery with a provider's `verify` (its header's value, the raw body):
    /// any failure is [`WebhookRejection::Unauthenticated`], saying why.
    pub fn authenticate<E: std::fmt::Display>(
        &self,
        verify: HeaderCheck<E>,
        header: Option<String>,
        body: &[u8],
        now_s: i64,
    ) -> Result<(), WebhookRejection> {
        verify(header.as_deref(), body, self.secret.expose().as_bytes(), now_s, self.tolerance_seconds)
            .map_err(|e| WebhookRejection::Unauthenticated(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_with_a_tolerance() {
        let sig = hex::decode(sign_hex(b"body", b"key", 100)).unwrap();
        assert_eq!(verify("100", &[&sig], b"body", b"key", 150, 50), Ok(()));
        assert_eq!(
            verify("100", &[&sig], b"body", b"key", 151, 50),
            Err(Failure::Stale { age_seconds: 51, tolerance_seconds: 50 })
        );
        assert_eq!(verify("100", &[&sig], b"body!", b"key", 100, 50), Err(Failure::Mismatch));
        assert_eq!(verify("x", &[&sig], b"body", b"key", 100, 50), Err(Failure::Malformed));
        let none: [&[u8]; 0] = [];
        assert_eq!(verify("100", &none, b"body", b"key", 100, 50), Err(Failure::Mismatch));
        assert_eq!(verify("100", &[&[0u8; 32][..], &sig], b"body", b"key", 100, 50), Ok(()));
    }
}
