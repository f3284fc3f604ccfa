//! A Lambda Runtime API server (the protocol Lambda speaks to a custom runtime), so tests drive
//! the real `ingest` binary exactly as Lambda does: long-poll `next`, then `response` or `error`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot};

/// How an invocation ended, as the function reported it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Response(Value),
    Error { error_type: String, error_message: String },
}

struct Pending {
    id: String,
    payload: Value,
    /// The invocation's time, counted from when an instance takes it (as Lambda does).
    deadline_in: Duration,
    dispatched: oneshot::Sender<()>,
}

struct RtState {
    queue: Mutex<mpsc::Receiver<Pending>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    polls: AtomicUsize,
    init_error: Mutex<Option<String>>,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    sender: mpsc::Sender<Pending>,
    state: Arc<RtState>,
    next_id: AtomicUsize,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let (sender, receiver) = mpsc::channel(64);
        let state = Arc::new(RtState {
            queue: Mutex::new(receiver),
            waiting: Mutex::new(HashMap::new()),
            polls: AtomicUsize::new(0),
            init_error: Mutex::new(None),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, sender, state, next_id: AtomicUsize::new(0) }
    }

    /// How many times the function asked for its next event (1 once it finished init).
    pub fn polls(&self) -> usize {
        self.state.polls.load(Ordering::SeqCst)
    }

    /// Queues one invocation with the given deadline and waits up to `wait` for the function's reply.
    pub async fn invoke(&self, payload: Value, deadline_in: Duration, wait: Duration) -> Option<Reply> {
        let (dispatched, reply) = self.enqueue(payload, deadline_in).await;
        tokio::time::timeout(wait, async move {
            let _ = dispatched.await;
            reply.await.ok()
        })
        .await
        .ok()
        .flatten()
    }

    /// Queues one invocation, which waits (however long) until an instance polls for it, as Lambda's
    /// queues do while every instance is busy; then waits for the reply until `grace` after its
    /// deadline (`None`: it timed out, as Lambda would report).
    pub async fn invoke_queued(&self, payload: Value, deadline_in: Duration, grace: Duration) -> Option<Reply> {
        let (dispatched, reply) = self.enqueue(payload, deadline_in).await;
        dispatched.await.ok()?;
        tokio::time::timeout(deadline_in + grace, reply).await.ok().and_then(Result::ok)
    }

    async fn enqueue(
        &self,
        payload: Value,
        deadline_in: Duration,
    ) -> (oneshot::Receiver<()>, oneshot::Receiver<Reply>) {
        let id = format!("req-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let (tx, rx) = oneshot::channel();
        self.state.waiting.lock().await.insert(id.clone(), tx);
        let (dispatched, was_dispatched) = oneshot::channel();
        self.sender.send(Pending { id, payload, deadline_in, dispatched }).await.unwrap();
        (was_dispatched, rx)
    }
}

async fn next(State(state): State<Arc<RtState>>) -> Response {
    state.polls.fetch_add(1, Ordering::SeqCst);
    let Some(p) = state.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline_ms = vinofy_core::ingest::now_ms() + p.deadline_in.as_millis() as i64;
    let _ = p.dispatched.send(());
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", HeaderValue::from_str(&p.id).unwrap());
    headers.insert("lambda-runtime-deadline-ms", HeaderValue::from_str(&deadline_ms.to_string()).unwrap());
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:000000000000:function:ingest"),
    );
    headers.insert("lambda-runtime-trace-id", HeaderValue::from_static("Root=1-00000000-000000000000000000000000"));
    (headers, p.payload.to_string()).into_response()
}

async fn response(State(state): State<Arc<RtState>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(tx) = state.waiting.lock().await.remove(&id) {
        let _ = tx.send(Reply::Response(value));
    }
    StatusCode::ACCEPTED
}

async fn error(State(state): State<Arc<RtState>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let reply = Reply::Error {
        error_type: v["errorType"].as_str().unwrap_or_default().to_owned(),
        error_message: v["errorMessage"].as_str().unwrap_or_default().to_owned(),
    };
    if let Some(tx) = state.waiting.lock().await.remove(&id) {
        let _ = tx.send(reply);
    }
    StatusCode::ACCEPTED
}

async fn init_error(State(state): State<Arc<RtState>>, body: Bytes) -> StatusCode {
    *state.init_error.lock().await = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}
