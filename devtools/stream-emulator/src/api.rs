//! `/client/v4/...`: the emulated Cloudflare API.
//!
//! Every request goes through the same gate, in this order: `Authorization` header format,
//! token, rate limit (only requests with the right token count, as Cloudflare limits per
//! token), route, account id. Only requests that pass the gate can consume a fault, so a test's
//! fault is never eaten by a request that was going to fail anyway.

use std::time::Instant;

use axum::body::Body as RequestBody;
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::app::SharedApp;
use crate::envelope::{
    ApiError, Reply, codes, failure_envelope, injected_message, success_envelope, truncated, without_key,
};
use crate::faults::{self, Action, echo_url};
use crate::ratelimit::{Arrival, retry_after_seconds};
use crate::requests::Outcome;
use crate::{keys, videos, webhook};

/// Request bodies are small JSON documents; anything bigger is a client bug.
const MAX_BODY_BYTES: usize = 1 << 20;

/// Route names used by faults and the request log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Copy,
    Get,
    List,
    Delete,
    Edit,
    Webhook,
    /// The signing keys: `POST/GET /stream/keys`, `DELETE /stream/keys/{id}`.
    Keys,
    /// `GET /user/tokens/verify`: whether the token is valid and active (no account in the path).
    Verify,
}

impl Route {
    pub fn name(self) -> &'static str {
        match self {
            Self::Copy => "copy",
            Self::Get => "get",
            Self::List => "list",
            Self::Delete => "delete",
            Self::Edit => "edit",
            Self::Webhook => "webhook",
            Self::Keys => "keys",
            Self::Verify => "verify",
        }
    }
}

enum Endpoint {
    Copy,
    List,
    Get(String),
    Edit(String),
    Delete(String),
    WebhookGet,
    WebhookPut,
    WebhookDelete,
    KeyCreate,
    KeyList,
    KeyRevoke(String),
    TokenVerify,
}

impl Endpoint {
    fn route(&self) -> Route {
        match self {
            Self::Copy => Route::Copy,
            Self::List => Route::List,
            Self::Get(_) => Route::Get,
            Self::Edit(_) => Route::Edit,
            Self::Delete(_) => Route::Delete,
            Self::WebhookGet | Self::WebhookPut | Self::WebhookDelete => Route::Webhook,
            Self::KeyCreate | Self::KeyList | Self::KeyRevoke(_) => Route::Keys,
            Self::TokenVerify => Route::Verify,
        }
    }
}

/// Maps method + path to an endpoint and the account id from the path (`None`: a route of no
/// account, `GET /user/tokens/verify`).
fn resolve<'p>(method: &str, path: &'p str) -> Result<(Option<&'p str>, Endpoint), ApiError> {
    let segments: Vec<&str> = path.strip_prefix("/client/v4/").ok_or_else(ApiError::no_route)?.split('/').collect();
    let (account, tail) = match segments.as_slice() {
        ["accounts", account, "stream", tail @ ..] if !account.is_empty() => (*account, tail),
        ["user", "tokens", "verify"] if method == "GET" => return Ok((None, Endpoint::TokenVerify)),
        ["user", "tokens", "verify"] => return Err(ApiError::method_not_allowed()),
        _ => return Err(ApiError::no_route()),
    };
    let endpoint = match (tail, method) {
        ([], "GET") => Endpoint::List,
        (["copy"], "POST") => Endpoint::Copy,
        (["webhook"], "GET") => Endpoint::WebhookGet,
        (["webhook"], "PUT") => Endpoint::WebhookPut,
        (["webhook"], "DELETE") => Endpoint::WebhookDelete,
        (["keys"], "POST") => Endpoint::KeyCreate,
        (["keys"], "GET") => Endpoint::KeyList,
        (["keys", id], "DELETE") if !id.is_empty() => Endpoint::KeyRevoke((*id).to_owned()),
        ([] | ["copy"] | ["webhook"] | ["keys"], _) => return Err(ApiError::method_not_allowed()),
        (["keys", id], _) if !id.is_empty() => return Err(ApiError::method_not_allowed()),
        ([uid], "GET") if !uid.is_empty() => Endpoint::Get((*uid).to_owned()),
        ([uid], "POST") if !uid.is_empty() => Endpoint::Edit((*uid).to_owned()),
        ([uid], "DELETE") if !uid.is_empty() => Endpoint::Delete((*uid).to_owned()),
        ([uid], _) if !uid.is_empty() => return Err(ApiError::method_not_allowed()),
        _ => return Err(ApiError::no_route()),
    };
    Ok((Some(account), endpoint))
}

fn authenticate(app: &SharedApp, headers: &HeaderMap, verifying: bool) -> Result<(), ApiError> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(char::is_whitespace)
        })
        .map(|(_, token)| token)
        .ok_or_else(ApiError::invalid_auth_header)?;
    match (token == app.token, verifying) {
        (true, _) => Ok(()),
        // The verify endpoint's own refusal (UNCONFIRMED: 401, code 1000, "Invalid API Token").
        (false, true) => Err(ApiError::new(StatusCode::UNAUTHORIZED, codes::INVALID_TOKEN, "Invalid API Token")),
        (false, false) => Err(ApiError::authentication()),
    }
}

fn gate(
    app: &SharedApp,
    headers: &HeaderMap,
    arrival: Arrival<'_>,
    resolved: Result<(Option<&str>, Endpoint), ApiError>,
) -> Result<Endpoint, ApiError> {
    let verifying = matches!(resolved, Ok((_, Endpoint::TokenVerify)));
    authenticate(app, headers, verifying)?;
    app.controls.limiter().admit(arrival).map_err(|wait| ApiError::rate_limited(retry_after_seconds(wait)))?;
    let (account, endpoint) = resolved?;
    if account.is_some_and(|account| account != app.account_id) {
        return Err(ApiError::authentication());
    }
    Ok(endpoint)
}

/// Entry point for every `/client/v4/...` request.
pub async fn handle(State(app): State<SharedApp>, request: Request) -> Response {
    let now = Instant::now();
    let at_ms = chrono::Utc::now().timestamp_millis();
    let (parts, body) = request.into_parts();
    let user_agent = parts.headers.get(USER_AGENT).map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let resolved = resolve(parts.method.as_str(), parts.uri.path());
    let route = resolved.as_ref().map_or("unknown", |(_, endpoint)| endpoint.route().name());
    let log = |status: Option<StatusCode>, fault: Option<&Action>| {
        let user_agent = user_agent.clone();
        let fault = fault.map(Action::name);
        app.controls.request_log().record(Outcome { route, status, fault, at_ms, user_agent, parts: &parts });
    };

    let arrival = Arrival { now, at_ms, user_agent: user_agent.as_deref() };
    let endpoint = match gate(&app, &parts.headers, arrival, resolved) {
        Ok(endpoint) => endpoint,
        Err(error) => {
            let reply = Reply::from(error);
            log(Some(reply.status), None);
            return reply.into_response();
        }
    };

    let fault = app.controls.faults().take(endpoint.route().name());
    let error = async |action: &Action, body| match action {
        Action::Status { status, retry_after, code, message, .. } => {
            let message = match message {
                Some(m) if m.contains("{url") => Some(echo_request_url(m, body).await),
                other => other.clone(),
            };
            Reply { retry_after: *retry_after, ..injected_failure(*status, *code, message.as_deref()) }
        }
        Action::SuccessFalse { code, message, .. } => injected_failure(StatusCode::OK, *code, message.as_deref()),
        _ => unreachable!("faults::apply asks only for status and success_false"),
    };
    let alter = |action: &Action, reply| match action {
        Action::MalformedJson => truncate_json(reply),
        Action::MissingUid => strip_uid(reply),
        _ => reply,
    };
    let perform = |body| perform(&app, endpoint, &parts, body);
    let unanswered = |action: &Action| log(None, Some(action));
    let reply = match faults::apply(fault.as_ref(), &parts, body, unanswered, error, perform, alter).await {
        Ok(reply) => reply,
        Err(response) => return response,
    };
    log(Some(reply.status), fault.as_ref());
    reply.into_response()
}

async fn perform(app: &SharedApp, endpoint: Endpoint, parts: &Parts, body: RequestBody) -> Reply {
    execute(app, endpoint, parts, body).await.unwrap_or_else(Reply::from)
}

async fn execute(app: &SharedApp, endpoint: Endpoint, parts: &Parts, body: RequestBody) -> Result<Reply, ApiError> {
    match endpoint {
        Endpoint::Copy => videos::copy(app, &parts.headers, &read_body(body).await?),
        Endpoint::List => videos::list(app, &parts.uri),
        Endpoint::Get(uid) => videos::get(app, &uid),
        Endpoint::Edit(uid) => videos::edit(app, &uid, &read_body(body).await?),
        Endpoint::Delete(uid) => videos::delete(app, &uid),
        Endpoint::WebhookGet => webhook::get_subscription(app),
        Endpoint::WebhookPut => webhook::put_subscription(app, &read_body(body).await?),
        Endpoint::WebhookDelete => webhook::delete_subscription(app),
        Endpoint::KeyCreate => keys::create(app).await,
        Endpoint::KeyList => keys::list(app),
        Endpoint::KeyRevoke(id) => keys::revoke(app, &id),
        Endpoint::TokenVerify => Ok(token_verified(app)),
    }
}

/// `GET /user/tokens/verify` with the right token: `{id, status: "active"}` and Cloudflare's message
/// (the id is the emulator's: 32 hex digits derived from the token, stable across calls).
fn token_verified(app: &SharedApp) -> Reply {
    use sha2::Digest;
    let id = hex::encode(&sha2::Sha256::digest(app.token.as_bytes())[..16]);
    let mut body = success_envelope(json!({"id": id, "status": "active"}));
    body["messages"] = json!([{"code": 10000, "message": "This API Token is valid and active", "type": null}]);
    Reply::json(StatusCode::OK, body)
}

/// Cloudflare's error messages can quote the request back: a fault message may do the same with
/// the request body's `url` (a presigned URL, for `/copy`), see [`echo_url`].
async fn echo_request_url(template: &str, body: axum::body::Body) -> String {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.unwrap_or_default();
    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    echo_url(template, json.get("url").and_then(Value::as_str).unwrap_or_default())
}

fn truncate_json(reply: Reply) -> Reply {
    truncated(reply, || success_envelope(Value::Null))
}

async fn read_body(body: RequestBody) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, codes::PAYLOAD_TOO_LARGE, "Payload too large"))
}

fn injected_failure(status: StatusCode, code: Option<u32>, message: Option<&str>) -> Reply {
    let message = injected_message(status, message);
    let errors = json!([{ "code": code.unwrap_or(codes::INJECTED), "message": message }]);
    Reply::json(status, failure_envelope(errors))
}

/// Removes `result.uid` (or each list item's `uid`).
fn strip_uid(reply: Reply) -> Reply {
    without_key(reply, "result", "uid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Body;

    fn route_of(method: &str, path: &str) -> Result<(String, Route), u32> {
        resolve(method, path)
            .map(|(account, endpoint)| (account.unwrap_or("-").to_owned(), endpoint.route()))
            .map_err(|e| e.code)
    }

    #[test]
    fn resolves_routes() {
        let base = "/client/v4/accounts/acct/stream";
        assert_eq!(route_of("POST", &format!("{base}/copy")), Ok(("acct".into(), Route::Copy)));
        assert_eq!(route_of("GET", base), Ok(("acct".into(), Route::List)));
        assert_eq!(route_of("GET", &format!("{base}/abc")), Ok(("acct".into(), Route::Get)));
        assert_eq!(route_of("POST", &format!("{base}/abc")), Ok(("acct".into(), Route::Edit)));
        assert_eq!(route_of("DELETE", &format!("{base}/abc")), Ok(("acct".into(), Route::Delete)));
        assert_eq!(route_of("PUT", &format!("{base}/webhook")), Ok(("acct".into(), Route::Webhook)));
        assert_eq!(route_of("GET", &format!("{base}/copy")), Err(codes::METHOD_NOT_ALLOWED));
        assert_eq!(route_of("POST", &format!("{base}/keys")), Ok(("acct".into(), Route::Keys)));
        assert_eq!(route_of("GET", &format!("{base}/keys")), Ok(("acct".into(), Route::Keys)));
        assert_eq!(route_of("DELETE", &format!("{base}/keys/k1")), Ok(("acct".into(), Route::Keys)));
        assert_eq!(route_of("DELETE", &format!("{base}/keys")), Err(codes::METHOD_NOT_ALLOWED));
        assert_eq!(route_of("GET", &format!("{base}/keys/k1")), Err(codes::METHOD_NOT_ALLOWED));
        assert_eq!(route_of("GET", &format!("{base}/a/b")), Err(codes::NO_ROUTE));
        assert_eq!(route_of("GET", "/client/v4/zones"), Err(codes::NO_ROUTE));
        assert_eq!(route_of("GET", "/client/v4/user/tokens/verify"), Ok(("-".into(), Route::Verify)));
        assert_eq!(route_of("POST", "/client/v4/user/tokens/verify"), Err(codes::METHOD_NOT_ALLOWED));
    }

    #[test]
    fn truncated_json_does_not_parse() {
        let reply = truncate_json(Reply::success(json!({"uid": "é".repeat(7)})));
        let Body::Raw(bytes) = reply.body else { panic!("expected raw bytes") };
        assert!(!bytes.is_empty());
        assert!(serde_json::from_slice::<Value>(&bytes).is_err());
    }

    #[test]
    fn strip_uid_removes_uid_from_object_and_list() {
        for result in [json!({"uid": "x", "size": 1}), json!([{"uid": "x"}, {"uid": "y"}])] {
            let Body::Json(body) = strip_uid(Reply::success(result)).body else { panic!() };
            assert!(!body["result"].to_string().contains("uid"), "{body}");
        }
    }
}
