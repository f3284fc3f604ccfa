//! The wire form of Mux faults in `POST /__emulator/faults`, parsed into the shared
//! [`Fault`](crate::faults::Fault). Same actions as the Cloudflare emulator; the error body a
//! `status` fault sends is Mux's (`{"error":{"type","messages"}}`), so it takes `type` instead
//! of `code`, and `missing_id` (alias `missing_uid`) removes `data.id`.

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::faults::{ANY, Action, Dialect, Fault, SpecParts};

/// Route names, as in `/__emulator/requests`.
pub const ROUTES: [&str; 5] = ["create", "get", "list", "delete", "signing_keys"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MuxFaultSpec {
    route: String,
    #[serde(default = "crate::faults::one")]
    times: u32,
    status: Option<u16>,
    retry_after: Option<u64>,
    #[serde(rename = "type")]
    error_type: Option<String>,
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
    #[serde(default, alias = "missing_uid")]
    missing_id: bool,
}

impl TryFrom<MuxFaultSpec> for Fault {
    type Error = String;

    fn try_from(spec: MuxFaultSpec) -> Result<Self, String> {
        let route = std::iter::once(ANY)
            .chain(ROUTES)
            .find(|r| *r == spec.route)
            .ok_or_else(|| format!("unknown route {:?}: any, create, get, list, delete or signing_keys", spec.route))?;
        let parts = SpecParts {
            times: spec.times,
            status: spec.status,
            retry_after: spec.retry_after,
            code: None,
            error_type: spec.error_type,
            message: spec.message,
            delay_ms: spec.delay_ms,
            hang_after_processing: spec.hang_after_processing,
            drop: spec.drop,
            success_false: spec.success_false,
            malformed_json: spec.malformed_json,
            missing: spec.missing_id,
        };
        let dialect =
            Dialect { error_fields: "type/message", missing_name: "missing_id", missing_action: Action::MissingId };
        parts.into_fault(route, dialect)
    }
}

/// A pending fault as `GET /__emulator/faults` shows it: the shared form without Cloudflare's
/// `code`.
pub fn pending_json(fault: &Fault) -> Value {
    let mut value = serde_json::to_value(fault).expect("a fault serializes");
    if let Some(object) = value.as_object_mut() {
        object.remove("code");
    }
    value
}

/// The default `error.type` of an injected `status` fault. UNCONFIRMED beyond 400, 401, 404 and
/// 429 (the types the emulator itself uses).
pub fn default_error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_parameters",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        429 => "too_many_requests",
        500..=599 => "internal_server_error",
        _ => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(json: &str) -> Result<Fault, String> {
        let spec: MuxFaultSpec = serde_json::from_str(json).map_err(|e| e.to_string())?;
        Fault::try_from(spec)
    }

    #[test]
    fn parses_mux_faults() {
        let f = fault(r#"{"route":"create","status":503,"retry_after":2,"type":"busy","times":2}"#).unwrap();
        assert_eq!((f.route, f.times), ("create", 2));
        assert!(matches!(f.action, Action::Status { error_type: Some(ref t), .. } if t == "busy"));
        assert_eq!(fault(r#"{"route":"get","missing_uid":true}"#).unwrap().action, Action::MissingId);
        assert_eq!(fault(r#"{"route":"any","missing_id":true}"#).unwrap().action, Action::MissingId);
        let pending = pending_json(&fault(r#"{"route":"list","status":500}"#).unwrap());
        assert!(pending.get("code").is_none() && pending["status"] == 500, "{pending}");
    }

    #[test]
    fn rejects_cloudflare_routes_and_fields() {
        assert!(fault(r#"{"route":"copy","drop":true}"#).is_err());
        assert!(fault(r#"{"route":"create","status":500,"code":1}"#).is_err());
        assert!(fault(r#"{"route":"create"}"#).is_err());
        assert!(fault(r#"{"route":"create","drop":true,"delay_ms":1}"#).is_err());
        assert!(fault(r#"{"route":"create","drop":true,"type":"x"}"#).is_err());
    }
}
