//! A proxy in front of the DynamoDB peer that records every operation and can answer the next N
//! calls of an operation with DynamoDB's throttling error, as a throttled table does.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::peers::shared;

const WRITES: &[&str] = &["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"];

#[derive(Default)]
struct Shared {
    operations: Vec<String>,
    /// (operation, remaining throttled answers)
    throttle: Option<(String, usize)>,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    shared: Arc<Mutex<Shared>>,
}

pub struct DynamoProxy {
    pub endpoint: String,
    shared: Arc<Mutex<Shared>>,
}

impl DynamoProxy {
    pub async fn start() -> Self {
        let shared_state = Arc::new(Mutex::new(Shared::default()));
        let state = ProxyState {
            upstream: shared().dynamodb_endpoint.clone(),
            http: reqwest::Client::new(),
            shared: shared_state.clone(),
        };
        let app = Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { endpoint, shared: shared_state }
    }

    /// Points a function's or the CLI's environment at the proxy.
    pub fn env(&self, mut env: Vec<(String, String)>) -> Vec<(String, String)> {
        env.retain(|(k, _)| k != "AWS_ENDPOINT_URL_DYNAMODB");
        env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), self.endpoint.clone()));
        env
    }

    /// Every operation seen, in order (`UpdateItem`, `GetItem`, ...), throttled ones included.
    pub fn operations(&self) -> Vec<String> {
        self.shared.lock().unwrap().operations.clone()
    }

    pub fn writes(&self) -> Vec<String> {
        self.operations().into_iter().filter(|op| WRITES.contains(&op.as_str())).collect()
    }

    pub fn clear(&self) {
        self.shared.lock().unwrap().operations.clear();
    }

    /// Answers the next `times` calls of `operation` with ProvisionedThroughputExceededException.
    pub fn throttle(&self, operation: &str, times: usize) {
        self.shared.lock().unwrap().throttle = Some((operation.to_owned(), times));
    }
}

async fn forward(
    State(state): State<ProxyState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or("?")
        .to_owned();
    let throttled = {
        let mut shared = state.shared.lock().unwrap();
        shared.operations.push(operation.clone());
        match &mut shared.throttle {
            Some((op, remaining)) if *op == operation && *remaining > 0 => {
                *remaining -= 1;
                true
            }
            _ => false,
        }
    };
    if throttled {
        let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#;
        return (StatusCode::BAD_REQUEST, [("content-type", "application/x-amz-json-1.0")], body).into_response();
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = state.http.request(method, format!("{}{path}", state.upstream)).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let Ok(reply) = request.send().await else { return StatusCode::BAD_GATEWAY.into_response() };
    let status = reply.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in reply.headers() {
        if !["content-length", "transfer-encoding", "connection"].contains(&name.as_str()) {
            out_headers.insert(name.clone(), value.clone());
        }
    }
    let bytes = reply.bytes().await.unwrap_or_default();
    (status, out_headers, bytes).into_response()
}
