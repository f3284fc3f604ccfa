//! The readiness webhook: Cloudflare Stream and Mux POST the video when processing finishes; a
//! Lambda Function URL (auth NONE: the signature is the authentication) hands it to us. Verified
//! deliveries move the record to `ready` / `error` with what the provider learned; anything
//! unsigned, forged or stale gets 401 and changes nothing.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};
use tracing::{error, info, warn};

use crate::domain::record::clamp_modified;
use crate::metrics::WebhookResult;
use crate::ports::{Clock, SystemClock, VideoStateStore, WebhookRejection, WebhookVerifier};
use crate::video_state::{StateUpdateOutcome, apply_video_state};

pub struct WebhookHandler<S, W> {
    store: S,
    verifier: W,
    /// The signatures' clock tolerance: also the most a delivery's `modified` may be ahead of now.
    tolerance_seconds: i64,
    clock: Arc<dyn Clock>,
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

impl<S: VideoStateStore, W: WebhookVerifier> WebhookHandler<S, W> {
    pub fn new(store: S, verifier: W, tolerance_seconds: i64) -> Self {
        Self { store, verifier, tolerance_seconds, clock: Arc::new(SystemClock) }
    }

    /// The same handler on another clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn into_store(self) -> S {
        self.store
    }

    /// Handles one Function URL request; always answers with an HTTP response (never a function
    /// error, which Function URLs would turn into an opaque 502). What became of the delivery goes
    /// to the invocation's metrics (`WebhookDeliveries`).
    pub async fn handle(&self, request: &Value) -> Value {
        let (verified, result, response) = self.deliver(request).await;
        crate::metrics::record(|m| m.webhook_delivery(verified, result));
        response
    }

    /// The answer, whether the delivery was verified, and what became of it.
    async fn deliver(&self, request: &Value) -> (bool, WebhookResult, Value) {
        let rejected = |response| (false, WebhookResult::Rejected, response);
        let method = request.pointer("/requestContext/http/method").and_then(Value::as_str).unwrap_or("POST");
        if !method.eq_ignore_ascii_case("POST") {
            return rejected(reply(405, json!({"error": "only POST"})));
        }
        // Function URLs lower-case header names; verify the exact bytes the provider signed.
        let headers = request.get("headers");
        let header = |name: &str| headers.and_then(|h| h.get(name)).and_then(Value::as_str).map(str::to_owned);
        let text = request.get("body").and_then(Value::as_str).unwrap_or_default();
        let body = if request.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false) {
            match base64::engine::general_purpose::STANDARD.decode(text) {
                Ok(bytes) => bytes,
                Err(_) => {
                    return (false, WebhookResult::Malformed, reply(400, json!({"error": "body is not valid base64"})));
                }
            }
        } else {
            text.as_bytes().to_vec()
        };
        let now = self.clock.now_ms() / 1000;
        // Never log the body: its meta.downloaded-from is our presigned URL.
        let mut video = match self.verifier.verify(&header, &body, now) {
            Ok(video) => video,
            Err(WebhookRejection::Unauthenticated(reason)) => {
                warn!(reason = %reason, "rejected a webhook delivery");
                return rejected(reply(401, json!({"error": reason})));
            }
            Err(WebhookRejection::Malformed(reason)) => {
                warn!(reason = %reason, "signed webhook body is not a video object");
                return (true, WebhookResult::Malformed, reply(400, json!({"error": reason})));
            }
            Err(WebhookRejection::Ignored(reason)) => {
                info!(reason = %reason, "signed webhook delivery of a kind the records keep nothing of");
                return (true, WebhookResult::Ignored, reply(200, json!({"result": "ignored", "reason": reason})));
            }
        };
        // The signature dates the delivery, not `modified`: a far-future one would freeze the record.
        video.details.modified = clamp_modified(video.details.modified.take(), now + self.tolerance_seconds);
        let span = tracing::info_span!("webhook", video_uid = %video.uid, state = %video.state);
        let _guard = span.enter();
        let (result, response) = match apply_video_state(&self.store, &video, self.clock.now_ms()).await {
            Ok(StateUpdateOutcome::Applied { source, status }) => {
                info!(source = %source, status = ?status.map(|s| s.as_str()), "record updated from the webhook");
                (WebhookResult::Applied, reply(200, json!({"result": "updated", "source": source})))
            }
            Ok(StateUpdateOutcome::Ignored { source }) => {
                info!(source = %source, "webhook older than the record (or for a replaced video): ignored");
                (WebhookResult::Stale, reply(200, json!({"result": "ignored", "source": source})))
            }
            Ok(StateUpdateOutcome::NotRecordedYet { source }) => {
                // Not 2xx: Cloudflare delivers again, by when the record holds this video.
                info!(source = %source, "webhook arrived before the record was completed; asking for a redelivery");
                (
                    WebhookResult::NotRecordedYet,
                    reply(503, json!({"error": "record not complete yet, retry", "source": source})),
                )
            }
            Ok(StateUpdateOutcome::UnknownVideo) => {
                // 2xx so Cloudflare stops retrying: nothing here will ever match it.
                warn!("webhook for a video no record references");
                (WebhookResult::UnknownVideo, reply(200, json!({"result": "unknown video"})))
            }
            Err(e) => {
                error!(error = %e, "could not update the record; Cloudflare will retry");
                (WebhookResult::Error, reply(500, json!({"error": "temporary failure"})))
            }
        };
        (true, result, response)
    }
}
