//! Mux webhook signatures: `mux-signature: t=<unix secs>,v1=<hex>[,v1=<hex>...]`, where
//! v1 = HMAC-SHA256(signing secret, "{t}.{raw body}") (mux.com/docs/core/verify-webhook-signatures;
//! muxinc/mux-node-sdk `src/resources/webhooks/webhooks.ts`). Several `v1` values may be listed
//! (while a secret is rotated); one match is enough. The signature is the webhook's only
//! authentication, so anything unsigned, forged or stale is refused.

use crate::hmac_signature;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no mux-signature header")]
    Missing,
    #[error("mux-signature is not `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    #[error("signature time is {age_seconds} s away from now (more than {tolerance_seconds} s): stale or replayed")]
    Stale { age_seconds: i64, tolerance_seconds: i64 },
    #[error("no v1 signature matches")]
    Mismatch,
}

/// Verifies a delivery. `now` is Unix seconds; `tolerance` bounds the clock difference either way
/// (the SDK checks only the past; a signature from the future is as suspect).
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secret: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut times = Vec::new();
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => times.push(v.trim()),
            // Unknown schemes and unreadable values are skipped, as the SDK does.
            Some(("v1", v)) => signatures.extend(hex::decode(v.trim()).ok().filter(|s| s.len() == 32)),
            _ => {}
        }
    }
    // Exactly one timestamp (which of two would the signature cover?), of digits only.
    let [time] = times[..] else { return Err(SignatureError::Malformed) };
    if !(1..=12).contains(&time.len()) || !time.bytes().all(|b| b.is_ascii_digit()) || signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    hmac_signature::verify(time, &signatures, body, secret, now, tolerance).map_err(SignatureError::from)
}

crate::hmac_signature::from_failure!(SignatureError);

/// Signs a body as Mux does: the `mux-signature` header value (tests, and the emulator's twin).
pub fn sign(body: &[u8], secret: &[u8], time: i64) -> String {
    format!("t={time},v1={}", hmac_signature::sign_hex(body, secret, time))
}

#[cfg(test)]
mod tests {
    use super::*;

    // The vector in shared/docs/cloudflare-stream-api.md §9.5 (HEX-mux-testutils).
    const SECRET: &[u8] = b"SuperSecret123";
    const BODY: &[u8] = b"payload";
    const T: i64 = 1_591_664_030;
    const HEADER: &str = "t=1591664030,v1=e43496b6aae982c4c2fd6f8e92935f1d90216f1f64d56024e72390acfb988272";

    #[test]
    fn accepts_the_documented_vector() {
        assert_eq!(sign(BODY, SECRET, T), HEADER);
        assert_eq!(verify(Some(HEADER), BODY, SECRET, T + 10, 300), Ok(()));
        assert_eq!(
            verify(Some(&HEADER.to_ascii_uppercase().replace("T=", "t=").replace("V1=", "v1=")), BODY, SECRET, T, 300),
            Ok(())
        );
    }

    #[test]
    fn any_listed_v1_may_match() {
        let other = format!("v1={}", "ab".repeat(32));
        let good = HEADER.split_once(',').unwrap().1;
        for header in [
            format!("t={T},{other},{good}"),
            format!("{good}, t={T}, {other}"),
            format!("t={T},v0=zz,v1=not-hex,{good},x=y"),
        ] {
            assert_eq!(verify(Some(&header), BODY, SECRET, T, 300), Ok(()), "{header}");
        }
        assert_eq!(verify(Some(&format!("t={T},{other}")), BODY, SECRET, T, 300), Err(SignatureError::Mismatch));
    }

    #[test]
    fn refuses_unsigned_forged_tampered_and_stale() {
        assert_eq!(verify(None, BODY, SECRET, T, 300), Err(SignatureError::Missing));
        for malformed in [
            "",
            "v1=e43496b6aae982c4c2fd6f8e92935f1d90216f1f64d56024e72390acfb988272",
            "t=1591664030",
            "t=1591664030,v1=zz",
            "t=x,v1=e43496b6aae982c4c2fd6f8e92935f1d90216f1f64d56024e72390acfb988272",
            "t=-1,v1=e43496b6aae982c4c2fd6f8e92935f1d90216f1f64d56024e72390acfb988272",
            "t=1591664030,t=1591664031,v1=e43496b6aae982c4c2fd6f8e92935f1d90216f1f64d56024e72390acfb988272",
            "time=1591664030,sig1=e43496b6aae982c4c2fd6f8e92935f1d90216f1f64d56024e72390acfb988272",
        ] {
            assert_eq!(verify(Some(malformed), BODY, SECRET, T, 300), Err(SignatureError::Malformed), "{malformed:?}");
        }
        assert_eq!(verify(Some(HEADER), b"payload ", SECRET, T, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(Some(HEADER), BODY, b"OtherSecret", T, 300), Err(SignatureError::Mismatch));
        // A signature for another time does not carry over.
        let moved = HEADER.replace("1591664030", "1591664031");
        assert_eq!(verify(Some(&moved), BODY, SECRET, T, 300), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(Some(HEADER), BODY, SECRET, T + 301, 300),
            Err(SignatureError::Stale { age_seconds: 301, tolerance_seconds: 300 })
        );
        assert!(matches!(verify(Some(HEADER), BODY, SECRET, T - 301, 300), Err(SignatureError::Stale { .. })));
        assert_eq!(verify(Some(HEADER), BODY, SECRET, T + 300, 300), Ok(()), "the window is inclusive");
    }
}
