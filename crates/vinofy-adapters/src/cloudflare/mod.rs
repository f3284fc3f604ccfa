//! [`VideoProvider`] for the Cloudflare Stream API (one HTTP request per call; retries are the
//! ingest logic's decision, because repeating a `/copy` blindly creates a second, billed video).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub mod signature;
pub mod webhook;

pub use webhook::CloudflareWebhookVerifier;

use crate::StartupError;
use crate::config::CloudflareVideoOptions;
use vinofy_core::domain::ids::VideoUid;
use vinofy_core::domain::provider::{Provider, VideoRef};
use vinofy_core::domain::record::VideoState;
use vinofy_core::domain::scrub::scrub_provider_text;
use vinofy_core::error::ProviderError;
use vinofy_core::ports::{CreateVideoRequest, ProviderVideo, VideoDetails, VideoProvider};
use vinofy_core::secret::SecretString;

/// Cloudflare's error code for its global rate limit, and the lock-out that follows (doc §4).
const RATE_LIMIT_CODE: i64 = 971;
const LOCKOUT: Duration = Duration::from_secs(300);

pub struct CloudflareStream {
    http: reqwest::Client,
    /// How videos are created (`requireSignedURLs`, `allowedOrigins`, `thumbnailTimestampPct`).
    options: CloudflareVideoOptions,
    /// `{api}/accounts/{account}/stream`
    stream_url: String,
    token: SecretString,
}

#[derive(Deserialize)]
struct Envelope {
    success: Option<bool>,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    result: Option<Value>,
}

#[derive(Deserialize)]
struct ApiMessage {
    code: Option<i64>,
    message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VideoDto {
    uid: Option<String>,
    creator: Option<String>,
    meta: Option<Map<String, Value>>,
    status: Option<StatusDto>,
    playback: Option<PlaybackDto>,
    thumbnail: Option<String>,
    preview: Option<String>,
    created: Option<String>,
    modified: Option<String>,
    ready_to_stream_at: Option<String>,
    duration: Option<f64>,
    size: Option<f64>,
    input: Option<InputDto>,
    #[serde(rename = "requireSignedURLs")]
    require_signed_urls: Option<bool>,
}

#[derive(Deserialize)]
struct InputDto {
    width: Option<i64>,
    height: Option<i64>,
}

/// `pctComplete` is a string in the docs and a number elsewhere; the error fields have two
/// spellings in Cloudflare's own docs. Accept all of them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatusDto {
    state: Option<String>,
    pct_complete: Option<Value>,
    #[serde(alias = "errReasonCode")]
    error_reason_code: Option<String>,
    #[serde(alias = "errReasonText")]
    error_reason_text: Option<String>,
}

#[derive(Deserialize)]
struct PlaybackDto {
    hls: Option<String>,
    dash: Option<String>,
}

/// What `GET /user/tokens/verify` says of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenStatus {
    pub id: String,
    /// `active` when usable (`disabled`, `expired` otherwise).
    pub status: String,
}

/// The account's webhook subscription (`GET`/`PUT /stream/webhook`). The secret is kept as a
/// [`SecretString`]: it is never displayed.
#[derive(Debug, Clone)]
pub struct WebhookSubscription {
    pub notification_url: String,
    pub modified: Option<String>,
    pub secret: Option<SecretString>,
}

impl WebhookSubscription {
    fn parse(result: &Value, method: &str) -> Result<Self, ProviderError> {
        let field = |name: &str| result.get(name).and_then(Value::as_str).filter(|v| !v.is_empty());
        let notification_url = field("notificationUrl").or_else(|| field("notification_url")).ok_or_else(|| {
            ProviderError::InvalidResponse(format!("{method} /stream/webhook returned no notificationUrl"))
        })?;
        Ok(Self {
            notification_url: notification_url.to_owned(),
            modified: field("modified").map(str::to_owned),
            secret: field("secret").map(SecretString::new),
        })
    }
}

impl CloudflareStream {
    pub fn new(
        api_url: &str,
        account_id: &str,
        token: SecretString,
        options: CloudflareVideoOptions,
    ) -> Result<Self, StartupError> {
        let http = crate::http::client()?;
        let stream_url = format!("{}/accounts/{account_id}/stream", api_url.trim_end_matches('/'));
        Ok(Self { http, options, stream_url, token })
    }

    /// Opens the TLS connection without spending an API call: a request without credentials, which
    /// Cloudflare refuses (400/401) before any account is known, so it cannot count against the
    /// user's 1,200 calls per 5 minutes (the limit is per user; the emulator refuses it before its rate
    /// limiter too). Any HTTP answer means the connection is open. Best effort: whether it worked.
    pub async fn warm_up(&self) -> bool {
        match self.http.head(&self.stream_url).timeout(crate::WARM_UP_TIMEOUT).send().await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %scrub_provider_text(&e.to_string()), "Cloudflare warm-up failed");
                false
            }
        }
    }

    /// `POST /stream/keys`: a new playback signing key, which Cloudflare shows only this once. The
    /// result is the secret to store (`{"id", "pem"}`, the PEM base64-encoded as returned).
    pub async fn create_signing_key(&self, timeout: Duration) -> Result<crate::playback::NewSigningKey, ProviderError> {
        let result = self.call(Method::POST, &format!("{}/keys", self.stream_url), None, timeout).await?;
        let field = |name: &str| result.get(name).and_then(Value::as_str).map(str::to_owned);
        match (field("id"), field("pem")) {
            (Some(id), Some(pem)) => Ok(crate::playback::NewSigningKey::new(id, "pem", pem)),
            _ => Err(ProviderError::InvalidResponse("POST /stream/keys returned no id and pem".into())),
        }
    }

    /// `GET /user/tokens/verify`: the token's id and status (`active` when usable). Not an account
    /// route: it says the token exists, not that it may use Stream ([`Self::probe_stream_access`]).
    pub async fn verify_token(&self, timeout: Duration) -> Result<TokenStatus, ProviderError> {
        let base = match self.stream_url.rfind("/accounts/") {
            Some(at) => &self.stream_url[..at],
            None => self.stream_url.as_str(),
        };
        let result = self.call(Method::GET, &format!("{base}/user/tokens/verify"), None, timeout).await?;
        let field = |name: &str| result.get(name).and_then(Value::as_str).map(str::to_owned);
        match (field("id"), field("status")) {
            (Some(id), Some(status)) => Ok(TokenStatus { id, status }),
            _ => Err(ProviderError::InvalidResponse("GET /user/tokens/verify returned no id and status".into())),
        }
    }

    /// `GET /stream?limit=1`: whether the token may read the account's Stream library (a token
    /// without the Stream permission, or of another account, gets 403).
    pub async fn probe_stream_access(&self, timeout: Duration) -> Result<(), ProviderError> {
        self.call(Method::GET, &format!("{}?limit=1", self.stream_url), None, timeout).await.map(|_| ())
    }

    /// `GET /stream/webhook`: the account's webhook subscription, `None` when there is none (404).
    pub async fn webhook_subscription(&self, timeout: Duration) -> Result<Option<WebhookSubscription>, ProviderError> {
        match self.call(Method::GET, &format!("{}/webhook", self.stream_url), None, timeout).await {
            Ok(result) => WebhookSubscription::parse(&result, "GET").map(Some),
            Err(ProviderError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT /stream/webhook` with `{"notificationUrl": url}`: (re)subscribes the account's one
    /// webhook. Every PUT rotates the signing secret, which only this answer carries.
    pub async fn register_webhook(&self, url: &str, timeout: Duration) -> Result<WebhookSubscription, ProviderError> {
        let body = json!({ "notificationUrl": url });
        let result = self.call(Method::PUT, &format!("{}/webhook", self.stream_url), Some(&body), timeout).await?;
        WebhookSubscription::parse(&result, "PUT")
    }

    /// `GET /stream/{uid}`, the raw Video object (for an operator's diagnosis; `None`: 404).
    pub async fn video_json(&self, uid: &VideoUid, timeout: Duration) -> Result<Option<Value>, ProviderError> {
        match self.call(Method::GET, &format!("{}/{uid}", self.stream_url), None, timeout).await {
            Ok(result) => Ok(Some(result)),
            Err(ProviderError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends one request and returns the envelope's `result` (`Value::Null` for an empty 2xx body).
    /// Error text taken from the response is scrubbed: Cloudflare may quote our presigned URL.
    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, ProviderError> {
        self.call_unscrubbed(method, url, body, timeout).await.map_err(ProviderError::scrubbed)
    }

    async fn call_unscrubbed(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, ProviderError> {
        let mut request = self.http.request(method, url).bearer_auth(self.token.expose()).timeout(timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = crate::http::send(request).await?;
        let status = response.status;
        let retry_after = response.header(reqwest::header::RETRY_AFTER).and_then(crate::http::retry_after_seconds);
        let bytes = response.body.as_ref();
        let envelope = if bytes.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            match serde_json::from_slice::<Envelope>(bytes) {
                Ok(envelope) => Some(envelope),
                Err(e) if status.is_success() => {
                    return Err(ProviderError::InvalidResponse(format!(
                        "HTTP {status} with a body that is not the API envelope: {e}"
                    )));
                }
                Err(_) => None,
            }
        };
        if !status.is_success() {
            let message = envelope
                .as_ref()
                .map(|e| error_text(&e.errors))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("no error details").to_owned());
            // Cloudflare's rate limit (code 971) is a lock-out of every call for 5 minutes: shared
            // as one even when `retry-after` is missing or unreadable.
            let rate_limited =
                envelope.as_ref().is_some_and(|e| e.errors.iter().any(|m| m.code == Some(RATE_LIMIT_CODE)));
            let retry_after = match retry_after {
                None if status == StatusCode::TOO_MANY_REQUESTS && rate_limited => Some(LOCKOUT),
                other => other,
            };
            return Err(ProviderError::Http { status: status.as_u16(), message, retry_after });
        }
        match envelope {
            None => Ok(Value::Null),
            Some(Envelope { success: Some(true), result, .. }) => Ok(result.unwrap_or(Value::Null)),
            Some(Envelope { errors, .. }) => Err(ProviderError::InvalidResponse(format!(
                "HTTP {status} but success is not true: {}",
                error_text(&errors)
            ))),
        }
    }
}

fn error_text(errors: &[ApiMessage]) -> String {
    errors
        .iter()
        .map(|e| match (e.code, e.message.as_deref()) {
            (Some(code), Some(m)) => format!("{code}: {m}"),
            (Some(code), None) => code.to_string(),
            (None, Some(m)) => m.to_owned(),
            (None, None) => "unspecified error".to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Reads a Video object as Cloudflare sends it in a webhook body (no envelope).
pub fn parse_video_json(body: &[u8]) -> Result<ProviderVideo, ProviderError> {
    let value = serde_json::from_slice(body).map_err(|e| ProviderError::InvalidResponse(format!("not JSON: {e}")))?;
    parse_video(value)
}

/// Reads a Video object, insisting on a plausible `uid`. Errors and Cloudflare's error reasons are
/// scrubbed: a serde message or `errReasonText` may quote `meta.downloaded-from`, our presigned URL.
fn parse_video(value: Value) -> Result<ProviderVideo, ProviderError> {
    parse_video_unscrubbed(value).map_err(ProviderError::scrubbed)
}

fn parse_video_unscrubbed(value: Value) -> Result<ProviderVideo, ProviderError> {
    let dto: VideoDto = serde_json::from_value(value)
        .map_err(|e| ProviderError::InvalidResponse(format!("unexpected video object: {e}")))?;
    let uid = dto
        .uid
        .and_then(|u| VideoUid::parse(&u).ok())
        .ok_or_else(|| ProviderError::InvalidResponse("the video object has no valid uid".into()))?;
    let status = dto.status;
    let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
    let details = VideoDetails {
        modified: dto.modified,
        ready_at: non_empty(dto.ready_to_stream_at),
        duration: dto.duration.filter(|d| *d >= 0.0),
        width: dto.input.as_ref().and_then(|i| i.width).filter(|w| *w > 0),
        height: dto.input.as_ref().and_then(|i| i.height).filter(|h| *h > 0),
        size: dto.size.filter(|s| *s > 0.0).map(|s| s as u64),
        pct_complete: status.as_ref().and_then(|s| match &s.pct_complete {
            Some(Value::String(p)) => Some(p.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }),
        error_code: status.as_ref().and_then(|s| non_empty(s.error_reason_code.as_deref().map(scrub_provider_text))),
        error_text: status.as_ref().and_then(|s| non_empty(s.error_reason_text.as_deref().map(scrub_provider_text))),
    };
    Ok(ProviderVideo {
        provider: Provider::Cloudflare,
        uid,
        // The uid names the video in Stream's playback URLs.
        playback_id: None,
        signed_playback: dto.require_signed_urls.unwrap_or(false),
        details,
        // Cloudflare's state names are the record's vocabulary.
        state: VideoState::from_name(status.and_then(|s| s.state).as_deref().unwrap_or("unknown")),
        hls_url: dto.playback.as_ref().and_then(|p| p.hls.clone()),
        dash_url: dto.playback.and_then(|p| p.dash),
        thumbnail_url: dto.thumbnail,
        preview_url: dto.preview,
        created: dto.created,
        version_tag: dto.creator,
        source_tag: dto.meta.as_ref().and_then(|m| m.get("source")).and_then(Value::as_str).map(str::to_owned),
    })
}

/// The JSON body of `POST /stream/copy`: our version tag is Cloudflare's `creator`.
pub fn copy_body(request: &CreateVideoRequest<'_>, options: &CloudflareVideoOptions) -> Value {
    let object = request.object;
    let mut meta = Map::new();
    meta.insert("name".into(), json!(object.key));
    meta.insert("source".into(), json!(object.source()));
    meta.insert("s3_bucket".into(), json!(object.bucket));
    meta.insert("s3_key".into(), json!(object.key));
    meta.insert("s3_version".into(), json!(object.version_key()));
    json!({
        "url": request.url.expose(),
        "meta": meta,
        "creator": request.version_tag,
        "requireSignedURLs": options.require_signed_urls,
        "allowedOrigins": options.allowed_origins,
        "thumbnailTimestampPct": options.thumbnail_timestamp_pct,
    })
}

impl VideoProvider for CloudflareStream {
    fn creates_on(&self) -> Provider {
        Provider::Cloudflare
    }

    fn encoding(&self) -> String {
        let o = &self.options;
        format!(
            "requireSignedURLs={};thumbnailTimestampPct={};allowedOrigins={}",
            o.require_signed_urls,
            o.thumbnail_timestamp_pct,
            o.allowed_origins.join(",")
        )
    }

    async fn create_from_url(
        &self,
        request: &CreateVideoRequest<'_>,
        timeout: Duration,
    ) -> Result<ProviderVideo, ProviderError> {
        let body = copy_body(request, &self.options);
        let result = self.call(Method::POST, &format!("{}/copy", self.stream_url), Some(&body), timeout).await?;
        parse_video(result)
    }

    async fn videos_with_tag(&self, version_tag: &str, timeout: Duration) -> Result<Vec<ProviderVideo>, ProviderError> {
        if !version_tag.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ProviderError::InvalidResponse("a version tag must be alphanumeric".into()));
        }
        let url = format!("{}?creator={version_tag}&asc=true", self.stream_url);
        let result = self.call(Method::GET, &url, None, timeout).await?;
        let Value::Array(videos) = result else {
            return Err(ProviderError::InvalidResponse("the list result is not an array".into()));
        };
        videos.into_iter().map(parse_video).collect()
    }

    async fn get(&self, video: &VideoRef, timeout: Duration) -> Result<Option<ProviderVideo>, ProviderError> {
        let uid = video.uid_at(Provider::Cloudflare)?;
        match self.call(Method::GET, &format!("{}/{uid}", self.stream_url), None, timeout).await {
            Ok(result) => parse_video(result).map(Some),
            Err(ProviderError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, video: &VideoRef, timeout: Duration) -> Result<(), ProviderError> {
        let uid = video.uid_at(Provider::Cloudflare)?;
        match self.call(Method::DELETE, &format!("{}/{uid}", self.stream_url), None, timeout).await {
            Ok(_) => Ok(()),
            Err(ProviderError::Http { status, .. }) if status == StatusCode::NOT_FOUND.as_u16() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CloudflareVideoOptions;
    use vinofy_core::domain::object::ObjectVersion;
    use vinofy_core::secret::PresignedUrl;

    #[test]
    fn copy_body_carries_url_name_creator_and_options() {
        let object = ObjectVersion {
            bucket: "b".into(),
            key: "videos/a b+(1).mp4".into(),
            size: 5,
            etag: "e".into(),
            version_id: Some("v1".into()),
            sequencer: String::new(),
        };
        let url = PresignedUrl::new("http://s3/b/videos/a%20b%2B%281%29.mp4?X-Amz-Signature=s");
        let options = CloudflareVideoOptions {
            require_signed_urls: true,
            allowed_origins: vec!["vinofy.com".into()],
            thumbnail_timestamp_pct: 0.25,
        };
        let creator = object.version_tag();
        let request = CreateVideoRequest { url: &url, object: &object, version_tag: &creator };
        let body = copy_body(&request, &options);
        assert_eq!(body["url"], url.expose());
        assert_eq!(body["meta"]["name"], "videos/a b+(1).mp4");
        assert_eq!(body["meta"]["s3_version"], "version:v1");
        assert_eq!(body["creator"].as_str().unwrap().len(), 64);
        assert_eq!(body["requireSignedURLs"], true);
        assert_eq!(body["allowedOrigins"], json!(["vinofy.com"]));
        assert_eq!(body["thumbnailTimestampPct"], 0.25);
    }

    #[test]
    fn video_objects_need_a_uid() {
        let ok = parse_video(json!({"uid": "6b9e68b07dfee8cc2d116e4c51d6a957", "status": {"state": "downloading"},
            "playback": {"hls": "h", "dash": "d"}, "thumbnail": "t", "preview": "p"}))
        .unwrap();
        assert_eq!(
            (ok.state.as_str(), ok.hls_url.as_deref(), ok.preview_url.as_deref()),
            ("downloading", Some("h"), Some("p"))
        );
        for bad in [json!({}), json!({"uid": ""}), json!({"uid": "../x"}), json!("str"), json!({"uid": 5})] {
            assert!(matches!(parse_video(bad.clone()), Err(ProviderError::InvalidResponse(_))), "{bad}");
        }
    }

    #[test]
    fn webhook_bodies_carry_processing_details_in_either_spelling() {
        let ready = parse_video_json(
            br#"{"uid":"6b9e68b07dfee8cc2d116e4c51d6a957","readyToStream":true,
            "status":{"state":"ready","pctComplete":"39.000000","errorReasonCode":"","errorReasonText":""},
            "modified":"2022-06-30T17:53:21.774299Z","readyToStreamAt":"2022-06-30T17:53:21.5Z","size":383631,
            "duration":5.5,"input":{"width":560,"height":320}}"#,
        )
        .unwrap();
        let d = &ready.details;
        assert_eq!((d.duration, d.width, d.height, d.size), (Some(5.5), Some(560), Some(320), Some(383631)));
        assert_eq!((d.pct_complete.as_deref(), d.error_code.as_deref()), (Some("39.000000"), None));
        let failed = parse_video_json(br#"{"uid":"6b9e68b07dfee8cc2d116e4c51d6a957","duration":-1,"input":{"width":-1,"height":-1},
            "status":{"state":"error","pctComplete":39,"errReasonCode":"ERR_MALFORMED_VIDEO","errReasonText":"corrupt"}}"#)
        .unwrap();
        assert_eq!(failed.state, VideoState::Error);
        assert_eq!(failed.details.error_code.as_deref(), Some("ERR_MALFORMED_VIDEO"));
        assert_eq!(failed.details.error_text.as_deref(), Some("corrupt"));
        assert_eq!(
            (failed.details.duration, failed.details.width, failed.details.pct_complete.as_deref()),
            (None, None, Some("39"))
        );
    }

    #[test]
    fn provider_text_in_videos_and_errors_is_scrubbed() {
        let echo = "https://s3/b/k.mp4?X-Amz-Signature=5f2b6c1b0f3a4e7d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b";
        let body = json!({"uid": "6b9e68b07dfee8cc2d116e4c51d6a957",
            "status": {"state": "error", "errReasonCode": "ERR_FETCH_ORIGIN_ERROR",
                       "errReasonText": format!("could not fetch {}", echo.replace('&', "&amp;"))}});
        let video = parse_video(body).unwrap();
        let text = video.details.error_text.unwrap();
        assert!(!text.contains("X-Amz") && text.starts_with("could not fetch <redacted>"), "{text}");
        let bad = parse_video(json!({"uid": 5, "meta": {"downloaded-from": echo}})).unwrap_err();
        assert!(!bad.to_string().contains("X-Amz"), "{bad}");
        let http = ProviderError::Http { status: 400, message: format!("10005: bad url {echo}"), retry_after: None };
        assert!(!http.scrubbed().to_string().contains("X-Amz"));
    }

    #[test]
    fn webhook_subscriptions_read_either_spelling_and_keep_the_secret_hidden() {
        let sub = WebhookSubscription::parse(
            &json!({"notification_url": "https://h/x", "modified": "2019-01-01T01:02:21Z", "secret": "85011ed3"}),
            "GET",
        )
        .unwrap();
        assert_eq!(sub.notification_url, "https://h/x");
        assert_eq!(sub.secret.as_ref().map(SecretString::expose), Some("85011ed3"));
        assert!(!format!("{sub:?}").contains("85011ed3"), "{sub:?}");
        assert!(WebhookSubscription::parse(&json!({"secret": "s"}), "PUT").is_err());
    }

    #[test]
    fn error_text_joins_codes_and_messages() {
        let errors = vec![
            ApiMessage { code: Some(10000), message: Some("Authentication error".into()) },
            ApiMessage { code: None, message: Some("x".into()) },
        ];
        assert_eq!(error_text(&errors), "10000: Authentication error; x");
    }
}
