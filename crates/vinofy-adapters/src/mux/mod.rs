//! [`VideoProvider`] for Mux Video (`https://api.mux.com/video/v1`), one HTTP request per call like
//! [`crate::cloudflare::CloudflareStream`] — except [`VideoProvider::videos_with_tag`], which pages
//! through the newest assets (Mux cannot filter by `passthrough`; see [`MAX_LOOKUP_PAGES`]).
//! Retries are the use case's decision: no create is idempotent.
//!
//! What orders updates ([`VideoDetails::modified`]): Mux's asset has no "modified" time. A webhook
//! uses the event's `created_at` (when it happened); an API answer is stamped with the time of the
//! answer, Mux's `Date` header (our clock when it has none): the asset was in that state then. Both
//! are Mux's clock, so a `GET` made after an event sorts after it, and a redelivered event older
//! than the last look-up changes nothing. (Leaving it out would store 0 and refuse every later
//! look-up: the store only moves forward, strictly.)
//!
//! [`VideoDetails::modified`]: vinofy_core::ports::VideoDetails::modified

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value};

pub mod asset;
pub mod config;
pub mod signature;
pub mod webhook;

pub use config::{MuxConfig, MuxCredentials, MuxOptions, MuxTokenSource, PlaybackPolicy, VideoQuality};
pub use webhook::{MuxWebhookEvent, MuxWebhookVerifier};

use crate::StartupError;
use asset::{AssetDto, Observation, asset_to_video, parse_asset};
use vinofy_core::domain::provider::{Provider, VideoRef};
use vinofy_core::domain::scrub::{REDACTED, scrub_provider_text, scrub_with_known_secret};
use vinofy_core::error::ProviderError;
use vinofy_core::ports::{CreateVideoRequest, ProviderVideo, VideoProvider};

/// Assets per list page: Mux's maximum.
pub const LIST_PAGE_SIZE: usize = 100;

/// How many list pages a look-up reads at most: the 1,000 newest assets. A look-up by version tag
/// follows an uncertain create (a timeout, a 5xx, a crashed attempt) made moments before, so the
/// asset, if it exists, is among the newest unless the environment gained more than 1,000 assets
/// in between. Each page is one request, and each takes its slot of the call budget.
pub const MAX_LOOKUP_PAGES: u32 = 10;

pub struct MuxVideo {
    http: reqwest::Client,
    /// `{api}/video/v1/assets`
    assets_url: String,
    credentials: MuxCredentials,
    options: MuxOptions,
}

/// Mux's error body: `{"error": {"type": "...", "messages": ["..."]}}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: Option<ErrorDto>,
}

#[derive(Deserialize)]
struct ErrorDto {
    #[serde(rename = "type")]
    kind: Option<String>,
    messages: Option<Vec<String>>,
}

/// What a response told, before it is read as an asset.
#[derive(Debug)]
struct Answer {
    /// The JSON object of a 2xx body; `None` for an empty one (204).
    body: Option<Map<String, Value>>,
    /// When Mux answered (RFC 3339): the asset was in this state then.
    observed_at: String,
}

/// Where the next list page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageRequest {
    First,
    /// Mux's `next_cursor`, when the answer carries one.
    Cursor(String),
    /// Offset paging (`page`, 1-based), for answers without `next_cursor`.
    Page(u32),
}

/// What one list page said about the pages after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorField {
    /// No `next_cursor` key at all.
    Absent,
    /// `next_cursor` is null or empty: the last page.
    End,
    Next(String),
}

impl CursorField {
    fn of(body: &Map<String, Value>) -> Self {
        match body.get("next_cursor") {
            None => Self::Absent,
            Some(Value::String(s)) if !s.is_empty() => Self::Next(s.clone()),
            Some(_) => Self::End,
        }
    }
}

/// The paging decision: after `pages_read` pages, the last with `returned` assets and `cursor`,
/// which page comes next (`None`: stop). A short page is the last; so is the bound.
pub fn next_page(pages_read: u32, returned: usize, cursor: &CursorField) -> Option<PageRequest> {
    if pages_read >= MAX_LOOKUP_PAGES || returned < LIST_PAGE_SIZE {
        return None;
    }
    match cursor {
        CursorField::Next(c) => Some(PageRequest::Cursor(c.clone())),
        CursorField::End => None,
        CursorField::Absent => Some(PageRequest::Page(pages_read + 1)),
    }
}

/// The list URL of a page (newest first: Mux's order).
pub fn list_url(assets_url: &str, page: &PageRequest) -> String {
    match page {
        PageRequest::First => format!("{assets_url}?limit={LIST_PAGE_SIZE}"),
        PageRequest::Cursor(c) => format!("{assets_url}?limit={LIST_PAGE_SIZE}&cursor={}", percent_encode(c)),
        PageRequest::Page(n) => format!("{assets_url}?limit={LIST_PAGE_SIZE}&page={n}"),
    }
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The assets of a list page created with `version_tag` (others are not even parsed: an asset of
/// someone else's that we could not read must not fail our look-up).
fn assets_with_tag(data: Vec<Value>, version_tag: &str) -> Result<Vec<AssetDto>, ProviderError> {
    let mut found = Vec::new();
    for value in data {
        if value.get("passthrough").and_then(Value::as_str) == Some(version_tag) {
            let dto = serde_json::from_value::<AssetDto>(value).map_err(|e| {
                ProviderError::InvalidResponse(format!(
                    "an asset with our version tag cannot be read: {}",
                    scrub_provider_text(&e.to_string())
                ))
            })?;
            found.push(dto);
        }
    }
    Ok(found)
}

/// Removes the credentials we know of from provider text, then scrubs it generically.
struct Scrubber<'a> {
    secrets: [&'a str; 2],
    /// The presigned URL of a create.
    url: Option<&'a str>,
}

impl Scrubber<'_> {
    fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in self.secrets.iter().filter(|s| s.len() >= 8) {
            out = out.replace(secret, REDACTED);
        }
        match self.url {
            Some(url) => scrub_with_known_secret(&out, url),
            None => scrub_provider_text(&out),
        }
    }

    fn error(&self, e: ProviderError) -> ProviderError {
        match e {
            ProviderError::Transport(m) => ProviderError::Transport(self.text(&m)),
            ProviderError::Http { status, message, retry_after } => {
                ProviderError::Http { status, message: self.text(&message), retry_after }
            }
            ProviderError::InvalidResponse(m) => ProviderError::InvalidResponse(self.text(&m)),
            over @ ProviderError::OverBudget { .. } => over,
            ProviderError::NotSent(m) => ProviderError::NotSent(self.text(&m)),
            unconfigured @ ProviderError::Unconfigured(_) => unconfigured,
        }
    }
}

/// `Retry-After`: seconds, or an HTTP date (relative to `now`).
fn retry_after(value: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value?.trim();
    if let Some(seconds) = crate::http::retry_after_seconds(value) {
        return Some(seconds);
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&chrono::Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

/// The `Date` header as RFC 3339 (`now` when absent or unreadable).
fn observed_at(date: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> String {
    let at = date
        .and_then(|d| chrono::DateTime::parse_from_rfc2822(d.trim()).ok())
        .map(|d| d.with_timezone(&chrono::Utc))
        .unwrap_or(now);
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Mux's `{"error": {type, messages}}` as one line; the status's reason when the body has none.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<ErrorEnvelope>(body).ok().and_then(|e| e.error);
    let text = match parsed {
        Some(ErrorDto { kind, messages }) => {
            let messages = messages.unwrap_or_default().join("; ");
            match (kind.filter(|k| !k.is_empty()), messages.is_empty()) {
                (Some(kind), false) => format!("{kind}: {messages}"),
                (Some(kind), true) => kind,
                (None, false) => messages,
                (None, true) => String::new(),
            }
        }
        None => String::new(),
    };
    if text.is_empty() { status.canonical_reason().unwrap_or("no error details").to_owned() } else { text }
}

/// Reads a response (pure: status, two headers and the body). Unscrubbed; [`MuxVideo::call`]
/// scrubs.
fn interpret(
    status: StatusCode,
    retry_after_header: Option<&str>,
    date_header: Option<&str>,
    body: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Answer, ProviderError> {
    if !status.is_success() {
        return Err(ProviderError::Http {
            status: status.as_u16(),
            message: error_message(status, body),
            retry_after: retry_after(retry_after_header, now),
        });
    }
    let observed_at = observed_at(date_header, now);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Answer { body: None, observed_at });
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(Answer { body: Some(map), observed_at }),
        Ok(_) => Err(ProviderError::InvalidResponse(format!("HTTP {status} with a body that is not a JSON object"))),
        Err(e) => Err(ProviderError::InvalidResponse(format!("HTTP {status} with a body that is not JSON: {e}"))),
    }
}

impl MuxVideo {
    /// `api_url` without `/video/v1` (`https://api.mux.com`, or an emulator's base).
    pub fn new(api_url: &str, credentials: MuxCredentials, options: MuxOptions) -> Result<Self, StartupError> {
        let http = crate::http::client()?;
        let assets_url = format!("{}/video/v1/assets", api_url.trim_end_matches('/'));
        Ok(Self { http, assets_url, credentials, options })
    }

    /// From the configuration, once the token is resolved ([`config::resolve_token`]).
    pub fn from_config(config: &MuxConfig, credentials: MuxCredentials) -> Result<Self, StartupError> {
        Self::new(&config.api_url, credentials, config.options.clone())
    }

    pub fn options(&self) -> &MuxOptions {
        &self.options
    }

    /// Opens the TLS connection without spending an API call: a request without credentials, which
    /// Mux refuses (401) before it counts against the environment's rate limit (the emulator
    /// counts only authenticated requests too). Best effort: whether any HTTP answer came back.
    pub async fn warm_up(&self) -> bool {
        match self.http.head(&self.assets_url).timeout(crate::WARM_UP_TIMEOUT).send().await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %scrub_provider_text(&crate::http::describe(e.without_url())), "Mux warm-up failed");
                false
            }
        }
    }

    fn scrubber<'a>(&'a self, url: Option<&'a str>) -> Scrubber<'a> {
        Scrubber { secrets: [self.credentials.token_secret.expose(), self.credentials.token_id.expose()], url }
    }

    /// `GET /video/v1/assets?limit=1`: whether Mux takes the access token and lets it read Mux
    /// Video (the doctor's check; Mux has no token-verify endpoint).
    pub async fn probe_access(&self, timeout: Duration) -> Result<(), ProviderError> {
        self.call(Method::GET, &format!("{}?limit=1", self.assets_url), None, timeout, None).await.map(|_| ())
    }

    /// `POST /system/v1/signing-keys`: a new playback signing key, whose private key Mux returns
    /// only this once. The result is the secret to store (`{"id", "private_key"}`).
    pub async fn create_signing_key(&self, timeout: Duration) -> Result<crate::playback::NewSigningKey, ProviderError> {
        let url = self.assets_url.replace("/video/v1/assets", "/system/v1/signing-keys");
        let answer = self.call(Method::POST, &url, Some(&serde_json::json!({})), timeout, None).await?;
        let data = answer.body.as_ref().and_then(|b| b.get("data"));
        let field = |name: &str| data.and_then(|d| d.get(name)).and_then(Value::as_str).map(str::to_owned);
        match (field("id"), field("private_key")) {
            (Some(id), Some(key)) => Ok(crate::playback::NewSigningKey::new(id, "private_key", key)),
            _ => Err(ProviderError::InvalidResponse(
                "POST /system/v1/signing-keys returned no id and private_key".into(),
            )),
        }
    }

    /// Sends one request. Every text taken from the answer (or the transport error) is scrubbed of
    /// the token and, for a create, of the presigned URL.
    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        timeout: Duration,
        presigned: Option<&str>,
    ) -> Result<Answer, ProviderError> {
        let scrubber = self.scrubber(presigned);
        self.call_unscrubbed(method, url, body, timeout).await.map_err(|e| scrubber.error(e))
    }

    async fn call_unscrubbed(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Answer, ProviderError> {
        let mut request = self
            .http
            .request(method, url)
            .basic_auth(self.credentials.token_id.expose(), Some(self.credentials.token_secret.expose()))
            .timeout(timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = crate::http::send(request).await?;
        let (retry_after, date) =
            (response.header(reqwest::header::RETRY_AFTER), response.header(reqwest::header::DATE));
        interpret(response.status, retry_after, date, response.body.as_ref(), chrono::Utc::now())
    }

    /// `{"data": Asset}` read into a video.
    fn video_of(&self, answer: Answer, presigned: Option<&str>) -> Result<ProviderVideo, ProviderError> {
        let Answer { body, observed_at } = answer;
        let data = body
            .and_then(|mut b| b.remove("data"))
            .ok_or_else(|| ProviderError::InvalidResponse("the answer has no data".into()))?;
        parse_asset(data, Observation { options: &self.options, modified: Some(observed_at) })
            .map_err(|e| self.scrubber(presigned).error(e))
    }
}

impl VideoProvider for MuxVideo {
    fn creates_on(&self) -> Provider {
        Provider::Mux
    }

    fn requests_per_lookup(&self) -> u32 {
        MAX_LOOKUP_PAGES
    }

    fn encoding(&self) -> String {
        format!(
            "playback_policy={};video_quality={}",
            self.options.playback_policy.as_str(),
            self.options.video_quality.as_str()
        )
    }

    /// `POST /video/v1/assets` ([`asset::create_body`]); Mux answers 201 with the asset.
    async fn create_from_url(
        &self,
        request: &CreateVideoRequest<'_>,
        timeout: Duration,
    ) -> Result<ProviderVideo, ProviderError> {
        let body = asset::create_body(request, &self.options);
        let presigned = Some(request.url.expose());
        let answer = self.call(Method::POST, &self.assets_url, Some(&body), timeout, presigned).await?;
        self.video_of(answer, presigned)
    }

    /// Pages through `GET /video/v1/assets` (newest first) for assets whose `passthrough` is the
    /// tag, at most [`MAX_LOOKUP_PAGES`] pages, all within `timeout`.
    async fn videos_with_tag(&self, version_tag: &str, timeout: Duration) -> Result<Vec<ProviderVideo>, ProviderError> {
        let deadline = Instant::now() + timeout;
        let mut page = PageRequest::First;
        let mut pages_read = 0;
        let mut found = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ProviderError::Transport(format!(
                    "the look-up ran out of its {} ms after {pages_read} pages of assets",
                    timeout.as_millis()
                )));
            }
            let answer = self.call(Method::GET, &list_url(&self.assets_url, &page), None, left, None).await?;
            pages_read += 1;
            let mut body = answer.body.unwrap_or_default();
            let cursor = CursorField::of(&body);
            let Some(Value::Array(data)) = body.remove("data") else {
                return Err(ProviderError::InvalidResponse("the list has no data array".into()));
            };
            let returned = data.len();
            for dto in assets_with_tag(data, version_tag)? {
                let seen = Observation { options: &self.options, modified: Some(answer.observed_at.clone()) };
                found.push(asset_to_video(dto, seen).map_err(|e| self.scrubber(None).error(e))?);
            }
            match next_page(pages_read, returned, &cursor) {
                Some(next) => page = next,
                None => {
                    if pages_read >= MAX_LOOKUP_PAGES && returned == LIST_PAGE_SIZE {
                        tracing::info!(
                            pages = pages_read,
                            found = found.len(),
                            "look-up stopped at its bound: only the newest assets were searched"
                        );
                    }
                    return Ok(found);
                }
            }
        }
    }

    /// `GET /video/v1/assets/{id}`; `None` on 404.
    async fn get(&self, video: &VideoRef, timeout: Duration) -> Result<Option<ProviderVideo>, ProviderError> {
        let uid = video.uid_at(Provider::Mux)?;
        match self.call(Method::GET, &format!("{}/{uid}", self.assets_url), None, timeout, None).await {
            Ok(answer) => self.video_of(answer, None).map(Some),
            Err(ProviderError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `DELETE /video/v1/assets/{id}` (204); a 404 counts as deleted.
    async fn delete(&self, video: &VideoRef, timeout: Duration) -> Result<(), ProviderError> {
        let uid = video.uid_at(Provider::Mux)?;
        match self.call(Method::DELETE, &format!("{}/{uid}", self.assets_url), None, timeout, None).await {
            Ok(_) | Err(ProviderError::Http { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
