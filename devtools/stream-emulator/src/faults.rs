//! Injected failures, armed through `POST /__emulator/faults`.
//!
//! Each fault matches a route (or `any`) and is consumed by that many matching API requests,
//! oldest fault first. It lets integration tests reproduce what a real network and a real
//! provider do to a client: 5xx, slow replies, lost replies after the side effect happened,
//! reset connections, and bodies a client cannot parse.
//!
//! The queue and the actions are shared by both emulators; each parses its own wire form
//! (`FaultSpec` here for Cloudflare, `mux::faults` for Mux) into [`SpecParts`], which checks it
//! and picks the one action of a [`Fault`].

use std::future::pending;
use std::time::Duration;

use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::envelope::Reply;
use crate::server::drop_connection;

/// Which requests a Cloudflare fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteFilter {
    Any,
    Copy,
    Get,
    List,
    Delete,
    Edit,
    Webhook,
    Keys,
}

impl RouteFilter {
    /// The route name it matches (`any` matches all).
    fn name(self) -> &'static str {
        match self {
            Self::Any => ANY,
            Self::Copy => "copy",
            Self::Get => "get",
            Self::List => "list",
            Self::Delete => "delete",
            Self::Edit => "edit",
            Self::Webhook => "webhook",
            Self::Keys => "keys",
        }
    }
}

/// The route filter that matches every route.
pub const ANY: &str = "any";

/// What happens to the request that consumes the fault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// Answer with this status and a failure envelope; the operation is NOT performed.
    Status {
        #[serde(serialize_with = "serialize_status")]
        status: StatusCode,
        retry_after: Option<u64>,
        code: Option<u32>,
        /// Mux's `error.type` (the Cloudflare emulator never sets it).
        #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
        error_type: Option<String>,
        message: Option<String>,
    },
    /// Wait, then handle the request normally.
    Delay {
        #[serde(rename = "delay_ms", serialize_with = "serialize_millis")]
        delay: Duration,
    },
    /// Perform the operation, then never answer ("the reply was lost").
    HangAfterProcessing,
    /// Close the connection without any response; the operation is NOT performed.
    Drop,
    /// HTTP 200 whose envelope says `success:false` (Mux: 200 with an error body); the
    /// operation is NOT performed.
    SuccessFalse {
        code: Option<u32>,
        #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
        error_type: Option<String>,
        message: Option<String>,
    },
    /// Perform the operation, then answer 200 with the reply's JSON cut in half.
    MalformedJson,
    /// Perform the operation, then answer with `uid` removed from the result.
    MissingUid,
    /// Mux: perform the operation, then answer with `id` removed from `data` (each list item's).
    MissingId,
}

impl Action {
    /// The name recorded in `GET /__emulator/requests` (`fault` field).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Delay { .. } => "delay_ms",
            Self::HangAfterProcessing => "hang_after_processing",
            Self::Drop => "drop",
            Self::SuccessFalse { .. } => "success_false",
            Self::MalformedJson => "malformed_json",
            Self::MissingUid => "missing_uid",
            Self::MissingId => "missing_id",
        }
    }
}

fn serialize_status<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

fn serialize_millis<S: serde::Serializer>(delay: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(delay.as_millis() as u64)
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// A route name of the emulator, or [`ANY`].
    pub route: &'static str,
    /// Matching requests still to be affected.
    pub times: u32,
    #[serde(flatten)]
    pub action: Action,
}

/// The wire form of one fault in `POST /__emulator/faults`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    route: RouteFilter,
    #[serde(default = "one")]
    times: u32,
    status: Option<u16>,
    retry_after: Option<u64>,
    code: Option<u32>,
    message: Option<String>,
    delay_ms: Option<u64>,
    #[serde(default)]
    hang_after_processing: bool,
    #[serde(default)]
    drop: bool,
    #[serde(default)]
    success_false: bool,
    #[serde(default)]
    malformed_json: bool,
    #[serde(default)]
    missing_uid: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsBody<S> {
    faults: Vec<S>,
}

/// The body of `POST /__emulator/faults`, `{"faults": [...]}` in wire form `S`: every fault, or
/// the first error.
pub fn parse_body<S: DeserializeOwned>(body: &[u8]) -> Result<Vec<Fault>, String>
where
    Fault: TryFrom<S, Error = String>,
{
    serde_json::from_slice::<FaultsBody<S>>(body)
        .map_err(|error| error.to_string())
        .and_then(|body| body.faults.into_iter().map(Fault::try_from).collect())
}

/// `times` when the wire form leaves it out.
pub fn one() -> u32 {
    1
}

impl TryFrom<FaultSpec> for Fault {
    type Error = String;

    fn try_from(spec: FaultSpec) -> Result<Self, String> {
        let parts = SpecParts {
            times: spec.times,
            status: spec.status,
            retry_after: spec.retry_after,
            code: spec.code,
            error_type: None,
            message: spec.message,
            delay_ms: spec.delay_ms,
            hang_after_processing: spec.hang_after_processing,
            drop: spec.drop,
            success_false: spec.success_false,
            malformed_json: spec.malformed_json,
            missing: spec.missing_uid,
        };
        let dialect =
            Dialect { error_fields: "code/message", missing_name: "missing_uid", missing_action: Action::MissingUid };
        parts.into_fault(spec.route.name(), dialect)
    }
}

/// The fields both wire forms share, once each has read its own names: Cloudflare sends `code`,
/// Mux `type`, for the error body; `missing` is `missing_uid` or `missing_id`.
pub struct SpecParts {
    pub times: u32,
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    pub code: Option<u32>,
    pub error_type: Option<String>,
    pub message: Option<String>,
    pub delay_ms: Option<u64>,
    pub hang_after_processing: bool,
    pub drop: bool,
    pub success_false: bool,
    pub malformed_json: bool,
    pub missing: bool,
}

/// How an emulator names what differs between the wire forms, in errors and in the action.
pub struct Dialect {
    /// The error-body fields, as named in an error (`code/message`, `type/message`).
    pub error_fields: &'static str,
    /// The `missing` flag's wire name (`missing_uid`, `missing_id`).
    pub missing_name: &'static str,
    /// What `missing` arms.
    pub missing_action: Action,
}

impl SpecParts {
    /// Checks the fields and picks the one action; `route` is already validated.
    pub fn into_fault(self, route: &'static str, dialect: Dialect) -> Result<Fault, String> {
        if self.times == 0 {
            return Err("times must be at least 1".into());
        }
        let mut actions = Vec::new();
        if let Some(status) = self.status {
            let status = StatusCode::from_u16(status)
                .ok()
                .filter(|s| s.as_u16() >= 200)
                .ok_or_else(|| format!("status {status} is not a final HTTP status"))?;
            actions.push(Action::Status {
                status,
                retry_after: self.retry_after,
                code: self.code,
                error_type: self.error_type.clone(),
                message: self.message.clone(),
            });
        }
        if let Some(ms) = self.delay_ms {
            actions.push(Action::Delay { delay: Duration::from_millis(ms) });
        }
        if self.hang_after_processing {
            actions.push(Action::HangAfterProcessing);
        }
        if self.drop {
            actions.push(Action::Drop);
        }
        if self.success_false {
            actions.push(Action::SuccessFalse {
                code: self.code,
                error_type: self.error_type.clone(),
                message: self.message.clone(),
            });
        }
        if self.malformed_json {
            actions.push(Action::MalformedJson);
        }
        if self.missing {
            actions.push(dialect.missing_action);
        }
        if self.retry_after.is_some() && self.status.is_none() {
            return Err("retry_after only goes with status".into());
        }
        let is_error_action = |a: &Action| matches!(a, Action::Status { .. } | Action::SuccessFalse { .. });
        let has_error_fields = self.code.is_some() || self.error_type.is_some() || self.message.is_some();
        if has_error_fields && !actions.iter().any(is_error_action) {
            return Err(format!("{} only go with status or success_false", dialect.error_fields));
        }
        match <[Action; 1]>::try_from(actions) {
            Ok([action]) => Ok(Fault { route, times: self.times, action }),
            Err(_) => Err(format!(
                "each fault needs exactly one action: status, delay_ms, hang_after_processing, drop, \
                 success_false, malformed_json or {}",
                dialect.missing_name
            )),
        }
    }
}

/// What both APIs do with the fault a request consumed. `Drop` closes the connection and
/// `HangAfterProcessing` performs, then never answers (both first reported to `unanswered`);
/// `Status` and `SuccessFalse` are answered by `error` without performing; `Delay` waits, then
/// performs; the others perform, then `alter` rewrites the reply. `Err` is the response to
/// return as is.
pub async fn apply<B>(
    fault: Option<&Action>,
    parts: &Parts,
    body: B,
    unanswered: impl FnOnce(&Action),
    error: impl AsyncFnOnce(&Action, B) -> Reply,
    perform: impl AsyncFnOnce(B) -> Reply,
    alter: impl FnOnce(&Action, Reply) -> Reply,
) -> Result<Reply, Response> {
    let reply = match fault {
        Some(action @ Action::Drop) => {
            unanswered(action);
            return Err(drop_connection(parts).await);
        }
        Some(action @ (Action::Status { .. } | Action::SuccessFalse { .. })) => error(action, body).await,
        Some(Action::Delay { delay }) => {
            tokio::time::sleep(*delay).await;
            perform(body).await
        }
        _ => perform(body).await,
    };
    match fault {
        Some(action @ Action::HangAfterProcessing) => {
            unanswered(action);
            // Held until the client gives up and hyper drops this future with the connection.
            pending().await
        }
        Some(action) => Ok(alter(action, reply)),
        None => Ok(reply),
    }
}

/// A fault message may quote the request's source URL back, as providers' error messages can:
/// `{url}` as sent, `{url_decoded}` percent-decoded, `{url_html}` HTML-escaped (`&amp;`),
/// `{url_query}` only its query string.
pub fn echo_url(template: &str, url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    template
        .replace("{url_decoded}", &percent_decode(url))
        .replace("{url_html}", &url.replace('&', "&amp;"))
        .replace("{url_query}", query)
        .replace("{url}", url)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Armed faults, in arrival order.
#[derive(Debug, Default)]
pub struct FaultQueue {
    faults: Vec<Fault>,
}

impl FaultQueue {
    pub fn extend(&mut self, faults: impl IntoIterator<Item = Fault>) {
        self.faults.extend(faults);
    }

    pub fn clear(&mut self) {
        self.faults.clear();
    }

    pub fn pending(&self) -> &[Fault] {
        &self.faults
    }

    /// Consumes one use of the oldest fault matching the route named `route`.
    pub fn take(&mut self, route: &str) -> Option<Action> {
        let index = self.faults.iter().position(|f| f.route == ANY || f.route == route)?;
        let fault = &mut self.faults[index];
        fault.times -= 1;
        let action = fault.action.clone();
        if fault.times == 0 {
            self.faults.remove(index);
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(json: &str) -> Result<Fault, String> {
        let spec: FaultSpec = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Fault::try_from(spec)
    }

    #[test]
    fn parses_each_action() {
        let f = fault(r#"{"route":"copy","status":503,"retry_after":2,"times":2}"#).unwrap();
        assert_eq!(f.times, 2);
        assert!(matches!(
            f.action,
            Action::Status { status: StatusCode::SERVICE_UNAVAILABLE, retry_after: Some(2), .. }
        ));
        assert_eq!(fault(r#"{"route":"any","drop":true}"#).unwrap().action, Action::Drop);
        assert_eq!(
            fault(r#"{"route":"get","delay_ms":5}"#).unwrap().action,
            Action::Delay { delay: Duration::from_millis(5) }
        );
    }

    #[test]
    fn rejects_zero_or_several_actions_and_typos() {
        assert!(fault(r#"{"route":"copy"}"#).is_err());
        assert!(fault(r#"{"route":"copy","drop":true,"status":500}"#).is_err());
        assert!(fault(r#"{"route":"copy","dorp":true}"#).is_err());
        assert!(fault(r#"{"route":"nope","drop":true}"#).is_err());
        assert!(fault(r#"{"route":"copy","drop":true,"times":0}"#).is_err());
        assert!(fault(r#"{"route":"copy","status":99}"#).is_err());
    }

    #[test]
    fn queue_consumes_oldest_matching_fault() {
        let mut queue = FaultQueue::default();
        queue.extend([
            fault(r#"{"route":"get","drop":true}"#).unwrap(),
            fault(r#"{"route":"any","missing_uid":true,"times":2}"#).unwrap(),
        ]);
        assert_eq!(queue.take("copy"), Some(Action::MissingUid));
        assert_eq!(queue.take("get"), Some(Action::Drop));
        assert_eq!(queue.take("get"), Some(Action::MissingUid));
        assert_eq!(queue.take("get"), None);
        assert!(queue.pending().is_empty());
    }
}
