//! The account's webhook: subscription endpoints (doc §5.1) and signed deliveries (§5.2-5.3).
//! [`deliver`] (the retry loop) and [`signature`] (the HMAC, which Mux computes the same way)
//! are shared with the Mux emulator.

use std::time::Duration;

use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::app::{SharedApp, Webhook};
use crate::envelope::{ApiError, Reply};
use crate::fields::{Fields, URL_EXPECTED, http_url};
use crate::model::{Timestamp, Video, random_hex32};
use crate::processing::describe_error;

/// Cloudflare's retry policy is UNCONFIRMED (doc §5.2); a few quick retries keep local runs
/// fast while still letting a receiver that starts late or fails once get the event.
pub const DELIVERY_ATTEMPTS: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// hex(HMAC-SHA256(key = the secret string's bytes, message = "{time}.{body}")) (doc §5.3).
pub fn signature(secret: &str, time: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(time.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The `Webhook-Signature` header value: `time=<unix seconds>,sig1=<hex>`.
pub fn signature_header(secret: &str, time: i64, body: &[u8]) -> String {
    format!("time={time},sig1={}", signature(secret, time, body))
}

/// One delivery attempt, as [`deliver`] saw it.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub at: chrono::DateTime<Utc>,
    /// The receiver's HTTP status; `None` on a transport error.
    pub status: Option<u16>,
    /// The start of the receiver's response body (at most 1 KiB), when it answered.
    pub response_body: Option<String>,
}

/// Up to this many bytes of a receiver's answer are kept in [`Attempt::response_body`].
const KEPT_RESPONSE_BYTES: usize = 1024;

/// POSTs to `url` until a 2xx, at most [`DELIVERY_ATTEMPTS`] times with exponential backoff
/// (250, 500, 1000 ms). `request` builds each attempt's body and headers from the attempt's Unix
/// time and the attempts so far (so each is signed afresh). `what` names the event in the log
/// (`video {uid}`); the URL is never logged: it may embed a secret of its own. Returns whether
/// the receiver accepted it.
pub async fn deliver(
    http: &reqwest::Client,
    url: &str,
    what: &str,
    max_attempts: u32,
    mut request: impl FnMut(i64, &[Attempt]) -> (Vec<u8>, Vec<(&'static str, String)>),
) -> bool {
    let mut backoff = FIRST_BACKOFF;
    let mut attempts: Vec<Attempt> = Vec::new();
    for attempt in 1..=max_attempts {
        let at = Utc::now();
        let (body, headers) = request(at.timestamp(), &attempts);
        let mut post = http.post(url).header("content-type", "application/json");
        for (name, value) in headers {
            post = post.header(name, value);
        }
        let sent = post.body(body).timeout(DELIVERY_TIMEOUT).send().await;
        let problem = match sent {
            Ok(response) if response.status().is_success() => {
                crate::elog!("webhook for {what} delivered (HTTP {})", response.status().as_u16());
                return true;
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                let mut cut = text.len().min(KEPT_RESPONSE_BYTES);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                attempts.push(Attempt { at, status: Some(status), response_body: Some(text[..cut].to_owned()) });
                format!("HTTP {status}")
            }
            Err(error) => {
                attempts.push(Attempt { at, status: None, response_body: None });
                describe_error(error)
            }
        };
        crate::elog!("webhook for {what}: attempt {attempt}/{max_attempts} failed: {problem}");
        if attempt < max_attempts {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    crate::elog!("webhook for {what}: giving up");
    false
}

/// POSTs the bare Video object (no envelope) to the subscribed URL, if any, retrying with
/// exponential backoff. Each attempt is signed afresh so its `time` is current.
pub async fn notify(app: &SharedApp, video: &Video) {
    let Some(hook) = app.webhook() else {
        return;
    };
    let body = serde_json::to_vec(video).expect("a Video always serializes");
    let what = format!("video {}", video.uid);
    deliver(&app.http, &hook.url, &what, DELIVERY_ATTEMPTS, |time, _| {
        (body.clone(), vec![("webhook-signature", signature_header(&hook.secret, time, &body))])
    })
    .await;
}

fn subscription_json(hook: &Webhook) -> Value {
    json!({
        "notificationUrl": hook.url,
        "notification_url": hook.url,
        "modified": hook.modified,
        "secret": hook.secret,
    })
}

pub fn get_subscription(app: &SharedApp) -> Result<Reply, ApiError> {
    app.webhook().map(|hook| Reply::success(subscription_json(&hook))).ok_or_else(ApiError::not_found)
}

/// Every PUT rotates the secret, even for the same URL (doc §5.1; same-URL rotation is
/// UNCONFIRMED, rotating is the safe assumption for clients). Unlike Cloudflare, local URLs
/// are accepted: that is where test receivers live.
pub fn put_subscription(app: &SharedApp, body: &[u8]) -> Result<Reply, ApiError> {
    let fields = Fields::parse(body)?;
    let url = match fields.get("notificationUrl", URL_EXPECTED, http_url)?.value() {
        Some(url) => url,
        None => fields
            .get("notification_url", URL_EXPECTED, http_url)?
            .value()
            .ok_or_else(|| ApiError::bad_request("notificationUrl is required"))?,
    };
    let hook = Webhook { url, secret: random_hex32(), modified: Timestamp::now() };
    app.set_webhook(Some(hook.clone()));
    Ok(Reply::success(subscription_json(&hook)))
}

/// Idempotent; the SDK types the result as a string, so the result is `""`.
pub fn delete_subscription(app: &SharedApp) -> Result<Reply, ApiError> {
    app.set_webhook(None);
    Ok(Reply::success(Value::String(String::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The local test vector of doc §5.3.
    #[test]
    fn signature_matches_doc_test_vector() {
        let body = br#"{"uid":"6b9e68b07dfee8cc2d116e4c51d6a957","readyToStream":true}"#;
        assert_eq!(
            signature_header("85011ed3a913c6ad5f9cf6c5573cc0a7", 1230811200, body),
            "time=1230811200,sig1=baf8b35ee3c62e48ad7217a648ab1dbaa8ff5d589bd99b023bf821f86cf27f24"
        );
    }

    #[test]
    fn signature_depends_on_every_body_byte() {
        let secret = "85011ed3a913c6ad5f9cf6c5573cc0a7";
        assert_ne!(signature(secret, 1, b"{\"a\":1}"), signature(secret, 1, b"{\"a\": 1}"));
    }
}
