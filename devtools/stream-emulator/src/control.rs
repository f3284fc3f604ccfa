//! `/__emulator/...`: the test-control API. Not part of Cloudflare and not authenticated:
//! the emulator is meant to listen on loopback only.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::app::SharedApp;
use crate::faults::{FaultSpec, parse_body};

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/__emulator/faults", post(add_faults).delete(clear_faults).get(list_faults))
        .route("/__emulator/videos", get(videos))
        .route("/__emulator/requests", get(requests))
        .route("/__emulator/rate-limit", get(rate_limit))
        .route("/__emulator/reset", post(reset))
        .layer(middleware::from_fn(log_line))
}

/// Same one-line-per-request stderr log as the API, without recording in the request log
/// (that one counts API round trips only).
pub async fn log_line(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = crate::log::redact_path(request.uri().path());
    let response = next.run(request).await;
    crate::elog!("{method} {path} -> {}", response.status().as_u16());
    response
}

/// Appends faults; all or nothing if one is invalid.
async fn add_faults(State(app): State<SharedApp>, body: Bytes) -> Response {
    match parse_body::<FaultSpec>(&body) {
        Ok(faults) => {
            let mut queue = app.controls.faults();
            queue.extend(faults);
            Json(json!({ "pending": queue.pending() })).into_response()
        }
        Err(error) => (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response(),
    }
}

async fn clear_faults(State(app): State<SharedApp>) -> Response {
    app.controls.faults().clear();
    Json(json!({ "pending": [] })).into_response()
}

async fn list_faults(State(app): State<SharedApp>) -> Response {
    Json(json!({ "pending": app.controls.faults().pending() })).into_response()
}

async fn videos(State(app): State<SharedApp>) -> Response {
    Json(app.all_records()).into_response()
}

async fn requests(State(app): State<SharedApp>) -> Response {
    Json(app.controls.requests()).into_response()
}

async fn rate_limit(State(app): State<SharedApp>) -> Response {
    Json(app.controls.limiter().report()).into_response()
}

async fn reset(State(app): State<SharedApp>) -> Response {
    app.reset();
    Json(json!({})).into_response()
}
