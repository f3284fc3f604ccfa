//! The readiness webhook: Cloudflare Stream POSTs the video object when processing finishes; a
//! Lambda Function URL (auth NONE: the signature is the authentication) hands it to us. Verified
//! deliveries move the record to `ready` / `error` with what Cloudflare learned; anything unsigned,
//! forged or stale gets 401 and changes nothing.

use base64::Engine;
use serde_json::{Value, json};
use tracing::{error, info, warn};

use crate::adapters::cloudflare::parse_video_json;
use crate::domain::record::clamp_modified;
use crate::domain::signature;
use crate::ingest::now_ms;
use crate::ports::{StateUpdateOutcome, StreamStateStore};
use crate::secret::SecretString;

pub struct WebhookHandler<S> {
    store: S,
    secret: SecretString,
    tolerance_seconds: i64,
}

/// A Function URL response (payload format 2.0).
fn reply(status: u16, body: Value) -> Value {
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
        "isBase64Encoded": false,
    })
}

impl<S: StreamStateStore> WebhookHandler<S> {
    pub fn new(store: S, secret: SecretString, tolerance_seconds: i64) -> Self {
        Self { store, secret, tolerance_seconds }
    }

    /// Handles one Function URL request; always answers with an HTTP response (never a function
    /// error, which Function URLs would turn into an opaque 502).
    pub async fn handle(&self, request: &Value) -> Value {
        let method = request.pointer("/requestContext/http/method").and_then(Value::as_str).unwrap_or("POST");
        if !method.eq_ignore_ascii_case("POST") {
            return reply(405, json!({"error": "only POST"}));
        }
        // Function URLs lower-case header names; verify the exact bytes Cloudflare signed.
        let header = request.get("headers").and_then(|h| h.get("webhook-signature")).and_then(Value::as_str);
        let text = request.get("body").and_then(Value::as_str).unwrap_or_default();
        let body = if request.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false) {
            match base64::engine::general_purpose::STANDARD.decode(text) {
                Ok(bytes) => bytes,
                Err(_) => return reply(400, json!({"error": "body is not valid base64"})),
            }
        } else {
            text.as_bytes().to_vec()
        };
        let now = now_ms() / 1000;
        if let Err(e) = signature::verify(header, &body, self.secret.expose().as_bytes(), now, self.tolerance_seconds) {
            warn!(reason = %e, "rejected a webhook delivery");
            return reply(401, json!({"error": e.to_string()}));
        }
        // Never log the body: its meta.downloaded-from is our presigned URL.
        let mut video = match parse_video_json(&body) {
            Ok(video) => video,
            Err(e) => {
                warn!(error = %e, "signed webhook body is not a video object");
                return reply(400, json!({"error": "body is not a Stream video object"}));
            }
        };
        // The signature dates the delivery, not `modified`: a far-future one would freeze the record.
        video.details.modified = clamp_modified(video.details.modified.take(), now + self.tolerance_seconds);
        let span = tracing::info_span!("webhook", video_uid = %video.uid, state = %video.state);
        let _guard = span.enter();
        match self.store.apply_stream_state(&video).await {
            Ok(StateUpdateOutcome::Applied { source, status }) => {
                info!(source = %source, status = ?status.map(|s| s.as_str()), "record updated from the webhook");
                reply(200, json!({"result": "updated", "source": source}))
            }
            Ok(StateUpdateOutcome::Ignored { source }) => {
                info!(source = %source, "webhook older than the record (or for a replaced video): ignored");
                reply(200, json!({"result": "ignored", "source": source}))
            }
            Ok(StateUpdateOutcome::NotRecordedYet { source }) => {
                // Not 2xx: Cloudflare delivers again, by when the record holds this video.
                info!(source = %source, "webhook arrived before the record was completed; asking for a redelivery");
                reply(503, json!({"error": "record not complete yet, retry", "source": source}))
            }
            Ok(StateUpdateOutcome::UnknownVideo) => {
                // 2xx so Cloudflare stops retrying: nothing here will ever match it.
                warn!("webhook for a video no record references");
                reply(200, json!({"result": "unknown video"}))
            }
            Err(e) => {
                error!(error = %e, "could not update the record; Cloudflare will retry");
                reply(500, json!({"error": "temporary failure"}))
            }
        }
    }
}
