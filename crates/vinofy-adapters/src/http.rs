//! The HTTP pieces the video providers' clients share: the reqwest client, sending one request and
//! reading its answer, with transport errors as [`ProviderError::Transport`], and `Retry-After` in
//! seconds. What an answer means (envelopes, error bodies) stays in each provider's module.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::StartupError;
use vinofy_core::error::ProviderError;

/// The client of a provider's API: TLS on *ring* ([`crate::ring_tls_config`]), our user agent,
/// a 5 s connect timeout (each request sets its own overall timeout).
pub fn client() -> Result<reqwest::Client, StartupError> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(crate::ring_tls_config()?)
        .user_agent(concat!("vinofy-ingest/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| StartupError::Init(format!("cannot build the HTTP client: {e}")))
}

/// A reqwest error with its source chain, which says what actually happened (refused, reset,
/// timed out).
pub fn describe(e: reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// An answer, read whole.
pub(crate) struct Response<B> {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: B,
}

impl<B> Response<B> {
    /// A header's value, when it is text.
    pub fn header(&self, name: reqwest::header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request and reads the whole answer; a failure to send or to read is a transport
/// error. (`without_url`: reqwest errors quote the URL; ours carry no secret, but keep errors
/// short.)
pub(crate) async fn send(request: reqwest::RequestBuilder) -> Result<Response<impl AsRef<[u8]>>, ProviderError> {
    let transport = |e: reqwest::Error| ProviderError::Transport(describe(e.without_url()));
    let mut response = request.send().await.map_err(transport)?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let body = response.bytes().await.map_err(transport)?;
    Ok(Response { status, headers, body })
}

/// `Retry-After` as a number of seconds (`None` when it is not one).
pub(crate) fn retry_after_seconds(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_whole_seconds() {
        assert_eq!(retry_after_seconds(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(retry_after_seconds("-1"), None);
        assert_eq!(retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
