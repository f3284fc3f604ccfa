//! The Cloudflare v4 response envelope and error bodies (doc §1.2-§1.4), and [`Reply`], which
//! both emulators' handlers return.
//!
//! Handlers produce a [`Reply`] rather than an axum `Response` so that faults can still rewrite
//! it (drop `uid`, truncate the JSON) after the operation has run.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Codes the doc lists as observed (6003/6111, 10000, 971) are used as such; the others are
/// plausible placeholders, marked UNCONFIRMED, because Cloudflare publishes no code table.
pub mod codes {
    pub const INVALID_HEADERS: u32 = 6003;
    pub const INVALID_AUTH_FORMAT: u32 = 6111;
    pub const AUTHENTICATION: u32 = 10000;
    /// `GET /user/tokens/verify` with a token Cloudflare does not know (UNCONFIRMED as a contract).
    pub const INVALID_TOKEN: u32 = 1000;
    pub const RATE_LIMITED: u32 = 971;
    /// UNCONFIRMED: invalid body / field / URL.
    pub const BAD_REQUEST: u32 = 10005;
    /// UNCONFIRMED: unknown or deleted video, no webhook configured.
    pub const NOT_FOUND: u32 = 10003;
    /// Cloudflare's generic "No route for that URI".
    pub const NO_ROUTE: u32 = 7000;
    /// Cloudflare's generic "Method not allowed".
    pub const METHOD_NOT_ALLOWED: u32 = 7001;
    /// UNCONFIRMED: body over the emulator's size cap.
    pub const PAYLOAD_TOO_LARGE: u32 = 10006;
    /// Default for injected faults (`status`, `success_false`) that do not name a code.
    pub const INJECTED: u32 = 10001;
    /// UNCONFIRMED: more videos queued or encoding than the account may have at once (doc: "429 …
    /// with more information in the response body").
    pub const TOO_MANY_IN_FLIGHT: u32 = 10011;
    /// UNCONFIRMED: the account already has the most signing keys Stream allows (1,000).
    pub const TOO_MANY_KEYS: u32 = 10012;
}

pub enum Body {
    Json(Value),
    /// Bytes that are deliberately not valid JSON (the `malformed_json` fault).
    Raw(Vec<u8>),
    /// No body at all: `DELETE /stream/{uid}` answers 200 with nothing (the SDK expects none).
    Empty,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Body,
    /// Seconds for a `retry-after` header.
    pub retry_after: Option<u64>,
}

impl Reply {
    pub fn success(result: Value) -> Self {
        Self::json(StatusCode::OK, success_envelope(result))
    }

    pub fn json(status: StatusCode, body: Value) -> Self {
        Self { status, body: Body::Json(body), retry_after: None }
    }

    pub fn empty() -> Self {
        Self { status: StatusCode::OK, body: Body::Empty, retry_after: None }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Body::Json(value) => {
                (self.status, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
            }
            Body::Raw(bytes) => (self.status, [(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
            Body::Empty => self.status.into_response(),
        };
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The real reply, serialized and cut in half (the `malformed_json` fault): what a client sees when
/// a response is truncated in transit. Any proper prefix of a JSON object is invalid JSON. An empty
/// reply is cut from `empty_body()` instead.
pub fn truncated(reply: Reply, empty_body: impl FnOnce() -> Value) -> Reply {
    let text = match reply.body {
        Body::Json(value) => value.to_string(),
        Body::Raw(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Body::Empty => empty_body().to_string(),
    };
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Reply { status: StatusCode::OK, body: Body::Raw(text.as_bytes()[..cut].to_vec()), retry_after: None }
}

/// The reply with `key` removed from the envelope's `container` object, or from each item when
/// it is a list (the `missing_uid` / `missing_id` faults).
pub fn without_key(mut reply: Reply, container: &str, key: &str) -> Reply {
    if let Body::Json(envelope) = &mut reply.body {
        match envelope.get_mut(container) {
            Some(Value::Object(item)) => {
                item.remove(key);
            }
            Some(Value::Array(items)) => {
                for item in items.iter_mut().filter_map(Value::as_object_mut) {
                    item.remove(key);
                }
            }
            _ => {}
        }
    }
    reply
}

/// The message of an injected error: the fault's own, or the status's reason naming the program.
pub fn injected_message(status: StatusCode, message: Option<&str>) -> String {
    message.map_or_else(
        || {
            let reason = status.canonical_reason().unwrap_or("Error");
            format!("{reason} (fault injected by {})", crate::log::program())
        },
        str::to_owned,
    )
}

pub fn success_envelope(result: Value) -> Value {
    json!({ "success": true, "errors": [], "messages": [], "result": result })
}

/// `{"success":false,"errors":[...],"messages":[],"result":null}`.
pub fn failure_envelope(errors: Value) -> Value {
    json!({ "success": false, "errors": errors, "messages": [], "result": null })
}

/// An API failure: HTTP status plus one `errors[]` item.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
    /// `error_chain` items, as Cloudflare sends on header errors (doc §1.4).
    pub chain: Vec<(u32, &'static str)>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), chain: Vec::new(), retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "Not Found")
    }

    pub fn authentication() -> Self {
        Self::new(StatusCode::FORBIDDEN, codes::AUTHENTICATION, "Authentication error")
    }

    /// The body observed for a missing or malformed `Authorization` header.
    pub fn invalid_auth_header() -> Self {
        Self {
            chain: vec![(codes::INVALID_AUTH_FORMAT, "Invalid format for Authorization header")],
            ..Self::new(StatusCode::BAD_REQUEST, codes::INVALID_HEADERS, "Invalid request headers")
        }
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                "Please wait and consider throttling your request speed",
            )
        }
    }

    /// Stream's concurrency limit: no lock-out behind it, so no `retry-after`.
    pub fn too_many_in_flight(limit: usize) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            codes::TOO_MANY_IN_FLIGHT,
            format!("Too many videos queued or being encoded (at most {limit} at once); wait for some to finish"),
        )
    }

    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NO_ROUTE, "No route for that URI")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, codes::METHOD_NOT_ALLOWED, "Method not allowed")
    }

    fn error_item(&self) -> Value {
        let mut item = json!({ "code": self.code, "message": self.message });
        if !self.chain.is_empty() {
            item["error_chain"] =
                self.chain.iter().map(|(code, message)| json!({ "code": code, "message": message })).collect();
        }
        item
    }
}

impl From<ApiError> for Reply {
    fn from(error: ApiError) -> Self {
        Self {
            status: error.status,
            body: Body::Json(failure_envelope(json!([error.error_item()]))),
            retry_after: error.retry_after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(reply: Reply) -> Value {
        match reply.body {
            Body::Json(value) => value,
            _ => panic!("expected JSON"),
        }
    }

    #[test]
    fn auth_header_error_matches_observed_body() {
        let reply = Reply::from(ApiError::invalid_auth_header());
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body_of(reply),
            json!({"success":false,"errors":[{"code":6003,"message":"Invalid request headers",
                "error_chain":[{"code":6111,"message":"Invalid format for Authorization header"}]}],
                "messages":[],"result":null})
        );
    }

    #[test]
    fn rate_limit_error_carries_retry_after() {
        let reply = Reply::from(ApiError::rate_limited(7));
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(reply.retry_after, Some(7));
        assert_eq!(body_of(reply)["errors"][0]["code"], 971);
    }
}
