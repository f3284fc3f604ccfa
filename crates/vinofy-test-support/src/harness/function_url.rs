//! A local Lambda Function URL: turns HTTP requests into payload-format-2.0 events for a function
//! (the real `webhook` binary) and its responses back into HTTP, as AWS does.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::{Function, Reply};

pub struct FunctionUrl {
    pub url: String,
}

impl FunctionUrl {
    pub async fn start(function: Arc<Function>) -> Self {
        let app = Router::new().fallback(forward).with_state(function);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url }
    }
}

async fn forward(
    State(function): State<Arc<Function>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Function URLs lower-case header names and base64-encode bodies that are not text.
    let headers: serde_json::Map<String, Value> =
        headers.iter().map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or_default()))).collect();
    let (body, is_base64) = match std::str::from_utf8(&body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(&body), true),
    };
    let event = json!({
        "version": "2.0", "rawPath": uri.path(), "rawQueryString": uri.query().unwrap_or_default(),
        "headers": headers, "body": body, "isBase64Encoded": is_base64,
        "requestContext": {"http": {"method": method.as_str(), "path": uri.path(), "sourceIp": "127.0.0.1"},
                           "timeEpoch": vinofy_core::ingest::now_ms()},
    });
    match function.invoke_with_deadline(&event, Duration::from_secs(10)).await {
        Some(Reply::Response(r)) => {
            let status = StatusCode::from_u16(r["statusCode"].as_u64().unwrap_or(200) as u16).unwrap();
            let mut response = (status, r["body"].as_str().unwrap_or_default().to_owned()).into_response();
            // The function's headers (WWW-Authenticate, Cache-Control), as a Function URL passes them.
            for (name, value) in r["headers"].as_object().into_iter().flatten() {
                if let (Ok(name), Some(Ok(value))) = (
                    axum::http::HeaderName::from_bytes(name.as_bytes()),
                    value.as_str().map(axum::http::HeaderValue::from_str),
                ) {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        // As a Function URL does when the function errors or times out.
        _ => StatusCode::BAD_GATEWAY.into_response(),
    }
}
