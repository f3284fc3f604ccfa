//! [`WebhookVerifier`] for Cloudflare Stream: `Webhook-Signature` ([`super::signature`]), then the
//! Video object in the body.

use crate::hmac_signature::WebhookKey;
use vinofy_core::ports::{ProviderVideo, WebhookRejection, WebhookVerifier};
use vinofy_core::secret::SecretString;

pub struct CloudflareWebhookVerifier {
    key: WebhookKey,
}

impl CloudflareWebhookVerifier {
    pub fn new(secret: SecretString, tolerance_seconds: i64) -> Self {
        Self { key: WebhookKey::new(secret, tolerance_seconds) }
    }
}

impl WebhookVerifier for CloudflareWebhookVerifier {
    fn verify(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
        now_s: i64,
    ) -> Result<ProviderVideo, WebhookRejection> {
        self.key.authenticate(super::signature::verify, header("webhook-signature"), body, now_s)?;
        super::parse_video_json(body)
            .map_err(|_| WebhookRejection::Malformed("body is not a Stream video object".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "85011ed3a913c6ad5f9cf6c5573cc0a7";
    const BODY: &[u8] = br#"{"uid":"6b9e68b07dfee8cc2d116e4c51d6a957","status":{"state":"ready"}}"#;

    #[test]
    fn verifies_then_reads_the_video() {
        let verifier = CloudflareWebhookVerifier::new(SecretString::new(SECRET), 300);
        let now = 1_764_590_400;
        let signed = super::super::signature::sign(BODY, SECRET.as_bytes(), now);
        let header = |name: &str| (name == "webhook-signature").then(|| signed.clone());
        assert_eq!(verifier.verify(&header, BODY, now).unwrap().uid, "6b9e68b07dfee8cc2d116e4c51d6a957");
        assert!(matches!(verifier.verify(&|_| None, BODY, now), Err(WebhookRejection::Unauthenticated(_))));
        assert!(matches!(verifier.verify(&header, BODY, now + 301), Err(WebhookRejection::Unauthenticated(_))));
        let not_a_video = br#"{"hello":1}"#;
        let signed = super::super::signature::sign(not_a_video, SECRET.as_bytes(), now);
        let header = |name: &str| (name == "webhook-signature").then(|| signed.clone());
        assert!(matches!(verifier.verify(&header, not_a_video, now), Err(WebhookRejection::Malformed(_))));
    }
}
