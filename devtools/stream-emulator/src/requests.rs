//! The request log behind `GET /__emulator/requests`, shared by both emulators: one entry and
//! one stderr line per API request.

use std::sync::{Mutex, PoisonError};

use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Serialize;

/// One API request. Deliberately no bodies and no headers but `User-Agent`: the others carry
/// the API credentials and presigned URLs.
#[derive(Clone, Debug, Serialize)]
pub struct RequestRecord {
    pub method: String,
    pub route: &'static str,
    /// `None` when no response was sent (`drop` / `hang_after_processing` faults).
    pub status: Option<u16>,
    pub fault: Option<&'static str>,
    /// Epoch milliseconds when the request arrived.
    pub at_ms: i64,
    /// The `User-Agent` header (lossily decoded), `None` when absent.
    pub user_agent: Option<String>,
}

/// The log itself, in arrival order.
#[derive(Debug, Default)]
pub struct RequestLog(Mutex<Vec<RequestRecord>>);

impl RequestLog {
    pub fn push(&self, record: RequestRecord) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(record);
    }

    pub fn all(&self) -> Vec<RequestRecord> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// What happened to one request, for [`RequestLog::record`].
pub struct Outcome<'a> {
    pub route: &'static str,
    pub status: Option<StatusCode>,
    /// The fault's action name (`status`, `drop`, ...).
    pub fault: Option<&'static str>,
    pub at_ms: i64,
    pub user_agent: Option<String>,
    pub parts: &'a Parts,
}

impl RequestLog {
    /// One stderr line (method, path, route, status, fault: never other headers, bodies or the
    /// query string) and one log entry (plus the arrival time and `User-Agent`).
    pub fn record(&self, outcome: Outcome<'_>) {
        let Outcome { route, status, fault, at_ms, user_agent, parts } = outcome;
        let status_text = status.map_or_else(|| "no response".to_owned(), |s| s.as_u16().to_string());
        let fault_text = fault.map_or_else(String::new, |f| format!(" [fault: {f}]"));
        crate::elog!("{} {} ({route}) -> {status_text}{fault_text}", parts.method, parts.uri.path());
        self.push(RequestRecord {
            method: parts.method.to_string(),
            route,
            status: status.map(|s| s.as_u16()),
            fault,
            at_ms,
            user_agent,
        });
    }
}
