//! Cloudflare Stream webhook signatures: `Webhook-Signature: time=<unix secs>,sig1=<hex>`, where
//! sig1 = HMAC-SHA256(secret, "{time}.{raw body}"). The signature is the webhook's only
//! authentication (the Function URL is public), so anything unsigned, forged or stale is refused.

use crate::hmac_signature;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Webhook-Signature header")]
    Missing,
    #[error("Webhook-Signature is not `time=...,sig1=...`")]
    Malformed,
    #[error("signature time is {age_seconds} s away from now (more than {tolerance_seconds} s): stale or replayed")]
    Stale { age_seconds: i64, tolerance_seconds: i64 },
    #[error("signature does not match")]
    Mismatch,
}

/// Verifies a delivery. `now` is Unix seconds; `tolerance` bounds the clock difference either way.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let (mut time, mut sig) = (None, None);
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("time", v)) => time = Some(v),
            Some(("sig1", v)) => sig = Some(v),
            _ => {}
        }
    }
    let (Some(time), Some(sig)) = (time, sig) else { return Err(SignatureError::Malformed) };
    let signature = hex::decode(sig).map_err(|_| SignatureError::Malformed)?;
    hmac_signature::verify(time, &[signature], body, secret, now, tolerance).map_err(SignatureError::from)
}

crate::hmac_signature::from_failure!(SignatureError);

/// Signs a body as Cloudflare does (tests and the emulator's twin use it).
pub fn sign(body: &[u8], secret: &[u8], time: i64) -> String {
    format!("time={time},sig1={}", hmac_signature::sign_hex(body, secret, time))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The vector in shared/docs/cloudflare-stream-api.md §5.3.
    const SECRET: &[u8] = b"85011ed3a913c6ad5f9cf6c5573cc0a7";
    const BODY: &[u8] = br#"{"uid":"6b9e68b07dfee8cc2d116e4c51d6a957","readyToStream":true}"#;
    const HEADER: &str = "time=1230811200,sig1=baf8b35ee3c62e48ad7217a648ab1dbaa8ff5d589bd99b023bf821f86cf27f24";

    #[test]
    fn accepts_the_documented_vector() {
        assert_eq!(verify(Some(HEADER), BODY, SECRET, 1_230_811_200 + 10, 300), Ok(()));
        assert_eq!(sign(BODY, SECRET, 1_230_811_200), HEADER);
    }

    #[test]
    fn refuses_unsigned_forged_tampered_and_stale() {
        let now = 1_230_811_200;
        assert_eq!(verify(None, BODY, SECRET, now, 300), Err(SignatureError::Missing));
        assert_eq!(verify(Some("sig1=abc"), BODY, SECRET, now, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(Some("time=x,sig1=00"), BODY, SECRET, now, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(Some(HEADER), b"{}", SECRET, now, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(Some(HEADER), BODY, b"other secret", now, 300), Err(SignatureError::Mismatch));
        assert!(matches!(verify(Some(HEADER), BODY, SECRET, now + 301, 300), Err(SignatureError::Stale { .. })));
        assert!(matches!(verify(Some(HEADER), BODY, SECRET, now - 301, 300), Err(SignatureError::Stale { .. })));
    }
}
