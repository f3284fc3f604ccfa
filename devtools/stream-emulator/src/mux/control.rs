//! `/__emulator/...` for the Mux emulator: the Cloudflare emulator's test-control API, with
//! `assets` instead of `videos`. Not part of Mux and not authenticated: the emulator is meant to
//! listen on loopback only.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::control::log_line;
use crate::faults::parse_body;
use crate::mux::app::SharedMux;
use crate::mux::faults::{MuxFaultSpec, pending_json};

pub fn routes() -> Router<SharedMux> {
    Router::new()
        .route("/__emulator/faults", post(add_faults).delete(clear_faults).get(list_faults))
        .route("/__emulator/assets", get(assets))
        .route("/__emulator/requests", get(requests))
        .route("/__emulator/rate-limit", get(rate_limit))
        .route("/__emulator/reset", post(reset))
        .layer(middleware::from_fn(log_line))
}

fn pending(app: &SharedMux) -> Value {
    Value::Array(app.controls.faults().pending().iter().map(pending_json).collect())
}

/// Appends faults; all or nothing if one is invalid.
async fn add_faults(State(app): State<SharedMux>, body: Bytes) -> Response {
    match parse_body::<MuxFaultSpec>(&body) {
        Ok(faults) => {
            app.controls.faults().extend(faults);
            Json(json!({ "pending": pending(&app) })).into_response()
        }
        Err(error) => (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response(),
    }
}

async fn clear_faults(State(app): State<SharedMux>) -> Response {
    app.controls.faults().clear();
    Json(json!({ "pending": [] })).into_response()
}

async fn list_faults(State(app): State<SharedMux>) -> Response {
    Json(json!({ "pending": pending(&app) })).into_response()
}

async fn assets(State(app): State<SharedMux>) -> Response {
    Json(app.all_records()).into_response()
}

async fn requests(State(app): State<SharedMux>) -> Response {
    Json(app.controls.requests()).into_response()
}

async fn rate_limit(State(app): State<SharedMux>) -> Response {
    Json(app.controls.limiter().report()).into_response()
}

async fn reset(State(app): State<SharedMux>) -> Response {
    app.reset();
    Json(json!({})).into_response()
}
