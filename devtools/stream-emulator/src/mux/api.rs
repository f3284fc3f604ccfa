//! `/video/v1/...`: the emulated Mux Video API.
//!
//! Gate order for every request: HTTP Basic credentials (401) -> rate limit (429; only
//! authenticated requests count, since the limits are per environment and the token names it)
//! -> route (404) -> fault -> handler. Every response that passed the credentials carries
//! `X-RateLimit-Limit` / `X-RateLimit-Remaining`.

use std::time::Instant;

use axum::body::Body as RequestBody;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::envelope::{Reply, injected_message, truncated, without_key};
use crate::faults::{self, Action, echo_url};
use crate::mux::app::SharedMux;
use crate::mux::faults::default_error_type;
use crate::mux::ratelimit::{Headroom, Kind};
use crate::mux::{assets, signing_keys};
use crate::ratelimit::Arrival;
use crate::requests::Outcome;

/// Request bodies are small JSON documents; anything bigger is a client bug.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// A Mux API failure: `{"error": {"type": ..., "messages": [...]}}`.
#[derive(Debug)]
pub struct MuxError {
    pub status: StatusCode,
    pub kind: String,
    pub messages: Vec<String>,
}

impl MuxError {
    pub fn new(status: StatusCode, kind: &str, messages: Vec<String>) -> Self {
        Self { status, kind: kind.to_owned(), messages }
    }

    /// 400 `invalid_parameters`.
    pub fn invalid(messages: Vec<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_parameters", messages)
    }

    /// Mux's 404 text as third parties recorded it.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            vec!["The requested resource either doesn't exist or you don't have access to it.".to_owned()],
        )
    }

    /// Mux's 401 text as third parties recorded it.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", vec!["Unauthorized request".to_owned()])
    }

    /// UNCONFIRMED body; Mux documents only the status.
    pub fn rate_limited() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            vec!["Too many requests: slow down (the emulator's rate limit)".to_owned()],
        )
    }
}

pub fn error_body(kind: &str, messages: &[String]) -> Value {
    json!({ "error": { "type": kind, "messages": messages } })
}

impl From<MuxError> for Reply {
    fn from(error: MuxError) -> Self {
        Reply::json(error.status, error_body(&error.kind, &error.messages))
    }
}

/// Route names used by faults and the request log.
#[derive(Debug, PartialEq, Eq)]
enum Endpoint {
    Create,
    List,
    Get(String),
    Delete(String),
    KeyCreate,
    KeyList,
    KeyGet(String),
    KeyDelete(String),
}

impl Endpoint {
    fn route(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::List => "list",
            Self::Get(_) => "get",
            Self::Delete(_) => "delete",
            Self::KeyCreate | Self::KeyList | Self::KeyGet(_) | Self::KeyDelete(_) => "signing_keys",
        }
    }
}

/// Method + path to an endpoint. Anything else (other Mux resources, `PATCH` on an asset, ...)
/// is a 404, whose exact form in Mux for unknown methods is UNCONFIRMED. Signing keys live at
/// `/system/v1/signing-keys` (also at their deprecated `/video/v1/signing-keys`).
fn resolve(method: &str, path: &str) -> Result<Endpoint, MuxError> {
    let tail =
        path.strip_prefix("/video/v1/").or_else(|| path.strip_prefix("/system/v1/")).ok_or_else(MuxError::not_found)?;
    let segments: Vec<&str> = tail.split('/').collect();
    if path.starts_with("/system/") && segments.first() != Some(&"signing-keys") {
        return Err(MuxError::not_found());
    }
    match (segments.as_slice(), method) {
        (["signing-keys"], "POST") => Ok(Endpoint::KeyCreate),
        (["signing-keys"], "GET") => Ok(Endpoint::KeyList),
        (["signing-keys", id], "GET") if !id.is_empty() => Ok(Endpoint::KeyGet((*id).to_owned())),
        (["signing-keys", id], "DELETE") if !id.is_empty() => Ok(Endpoint::KeyDelete((*id).to_owned())),
        (["assets"], "POST") => Ok(Endpoint::Create),
        (["assets"], "GET") => Ok(Endpoint::List),
        (["assets", id], "GET") if !id.is_empty() => Ok(Endpoint::Get((*id).to_owned())),
        (["assets", id], "DELETE") if !id.is_empty() => Ok(Endpoint::Delete((*id).to_owned())),
        _ => Err(MuxError::not_found()),
    }
}

/// `Authorization: Basic base64(token_id:token_secret)`, the scheme case-insensitive.
fn authenticate(app: &SharedMux, headers: &HeaderMap) -> Result<(), MuxError> {
    let credentials = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, encoded)| decode_base64(encoded.trim()))
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(MuxError::unauthorized)?;
    match credentials.split_once(':') {
        Some((id, secret)) if id == app.token_id && secret == app.token_secret => Ok(()),
        _ => Err(MuxError::unauthorized()),
    }
}

/// Standard base64 with padding (what HTTP clients send); also accepts it unpadded.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let text = text.trim_end_matches('=');
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for chunk in text.as_bytes().chunks(4) {
        let digits: Vec<u8> = chunk.iter().map(|&c| value(c)).collect::<Option<_>>()?;
        let bits = digits.iter().enumerate().fold(0u32, |acc, (i, &d)| acc | u32::from(d) << (18 - 6 * i));
        out.extend_from_slice(&bits.to_be_bytes()[1..digits.len()]);
    }
    Some(out)
}

/// Entry point for every `/video/v1/...` request.
pub async fn handle(State(app): State<SharedMux>, request: Request) -> Response {
    let now = Instant::now();
    let at_ms = chrono::Utc::now().timestamp_millis();
    let (parts, body) = request.into_parts();
    let user_agent = parts.headers.get(USER_AGENT).map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let resolved = resolve(parts.method.as_str(), parts.uri.path());
    let route = resolved.as_ref().map_or("unknown", Endpoint::route);
    let log = |status: Option<StatusCode>, fault: Option<&Action>| {
        let user_agent = user_agent.clone();
        let fault = fault.map(Action::name);
        app.controls.request_log().record(Outcome { route, status, fault, at_ms, user_agent, parts: &parts });
    };
    let finish = |reply: Reply, headroom: Option<Headroom>, fault: Option<&Action>| {
        log(Some(reply.status), fault);
        with_headroom(reply.into_response(), headroom)
    };

    if let Err(error) = authenticate(&app, &parts.headers) {
        return finish(error.into(), None, None);
    }
    let arrival = Arrival { now, at_ms, user_agent: user_agent.as_deref() };
    let headroom = match app.controls.limiter().admit(Kind::of(parts.method.as_str()), arrival) {
        Ok(headroom) => headroom,
        Err((headroom, _wait)) => return finish(MuxError::rate_limited().into(), Some(headroom), None),
    };
    let endpoint = match resolved {
        Ok(endpoint) => endpoint,
        Err(error) => return finish(error.into(), Some(headroom), None),
    };

    let fault = app.controls.faults().take(endpoint.route());
    let error = async |action: &Action, body| match action {
        Action::Status { status, retry_after, error_type, message, .. } => {
            let message = match message {
                Some(m) if m.contains("{url") => Some(echo_request_url(m, body).await),
                other => other.clone(),
            };
            Reply { retry_after: *retry_after, ..injected_failure(*status, error_type.as_deref(), message.as_deref()) }
        }
        Action::SuccessFalse { error_type, message, .. } => {
            let body = injected_failure(StatusCode::OK, error_type.as_deref(), message.as_deref()).body;
            Reply { status: StatusCode::OK, body, retry_after: None }
        }
        _ => unreachable!("faults::apply asks only for status and success_false"),
    };
    let alter = |action: &Action, reply| match action {
        Action::MalformedJson => truncated(reply, || json!({ "data": null })),
        Action::MissingId => strip_id(reply),
        _ => reply,
    };
    let perform = |body| perform(&app, endpoint, &parts, body);
    let unanswered = |action: &Action| log(None, Some(action));
    let reply = match faults::apply(fault.as_ref(), &parts, body, unanswered, error, perform, alter).await {
        Ok(reply) => reply,
        Err(response) => return response,
    };
    finish(reply, Some(headroom), fault.as_ref())
}

fn with_headroom(mut response: Response, headroom: Option<Headroom>) -> Response {
    if let Some(Headroom { limit, remaining }) = headroom {
        let headers = response.headers_mut();
        headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    }
    response
}

async fn perform(app: &SharedMux, endpoint: Endpoint, parts: &Parts, body: RequestBody) -> Reply {
    let result = match endpoint {
        Endpoint::Create => match read_body(body).await {
            Ok(bytes) => assets::create(app, &bytes),
            Err(error) => Err(error),
        },
        Endpoint::List => assets::list(app, &parts.uri),
        Endpoint::Get(id) => assets::get(app, &id),
        Endpoint::Delete(id) => assets::delete(app, &id),
        Endpoint::KeyCreate => signing_keys::create(app).await,
        Endpoint::KeyList => signing_keys::list(app),
        Endpoint::KeyGet(id) => signing_keys::get(app, &id),
        Endpoint::KeyDelete(id) => signing_keys::delete(app, &id),
    };
    result.unwrap_or_else(Reply::from)
}

async fn read_body(body: RequestBody) -> Result<axum::body::Bytes, MuxError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| {
        MuxError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_parameters", vec!["Request body too large".to_owned()])
    })
}

/// A fault message may quote the main input's URL (`inputs[0].url`, or `input`) back.
async fn echo_request_url(template: &str, body: RequestBody) -> String {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.unwrap_or_default();
    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let input = json.get("inputs").or_else(|| json.get("input")).unwrap_or(&Value::Null);
    let first = if let Value::Array(items) = input { items.first().unwrap_or(&Value::Null) } else { input };
    let url = first.as_str().or_else(|| first.get("url").and_then(Value::as_str)).unwrap_or_default();
    echo_url(template, url)
}

fn injected_failure(status: StatusCode, error_type: Option<&str>, message: Option<&str>) -> Reply {
    let message = injected_message(status, message);
    let kind = error_type.unwrap_or_else(|| default_error_type(status));
    Reply::json(status, error_body(kind, &[message]))
}

/// Removes `data.id` (or each list item's `id`).
fn strip_id(reply: Reply) -> Reply {
    without_key(reply, "data", "id")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Body;

    #[test]
    fn resolves_routes() {
        assert_eq!(resolve("POST", "/video/v1/assets").unwrap(), Endpoint::Create);
        assert_eq!(resolve("GET", "/video/v1/assets").unwrap(), Endpoint::List);
        assert_eq!(resolve("GET", "/video/v1/assets/abc").unwrap(), Endpoint::Get("abc".into()));
        assert_eq!(resolve("DELETE", "/video/v1/assets/abc").unwrap(), Endpoint::Delete("abc".into()));
        assert_eq!(resolve("POST", "/system/v1/signing-keys").unwrap(), Endpoint::KeyCreate);
        assert_eq!(resolve("GET", "/system/v1/signing-keys").unwrap(), Endpoint::KeyList);
        assert_eq!(resolve("GET", "/video/v1/signing-keys").unwrap(), Endpoint::KeyList);
        assert_eq!(resolve("GET", "/system/v1/signing-keys/k").unwrap(), Endpoint::KeyGet("k".into()));
        assert_eq!(resolve("DELETE", "/system/v1/signing-keys/k").unwrap(), Endpoint::KeyDelete("k".into()));
        assert_eq!(resolve("GET", "/system/v1/assets").unwrap_err().status, StatusCode::NOT_FOUND);
        for (method, path) in [
            ("PATCH", "/video/v1/assets/abc"),
            ("GET", "/video/v1/assets/"),
            ("GET", "/video/v1/uploads"),
            ("GET", "/video/v1/assets/abc/playback-ids"),
            ("GET", "/data/v1/metrics"),
        ] {
            assert_eq!(resolve(method, path).unwrap_err().status, StatusCode::NOT_FOUND, "{method} {path}");
        }
    }

    #[test]
    fn base64_round_trips() {
        assert_eq!(decode_base64("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        assert_eq!(decode_base64("YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64("YWI").unwrap(), b"ab");
        assert!(decode_base64("Y").is_none());
        assert!(decode_base64("a b=").is_none());
    }

    #[test]
    fn missing_id_strips_ids() {
        for data in [json!({"id": "x", "status": "ready"}), json!([{"id": "x"}, {"id": "y"}])] {
            let Body::Json(body) = strip_id(Reply::json(StatusCode::OK, json!({ "data": data }))).body else {
                panic!()
            };
            assert!(!body["data"].to_string().contains("\"id\""), "{body}");
        }
    }
}
