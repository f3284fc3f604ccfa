//! Test harness: the emulator process, a tiny origin server and a webhook receiver.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub const TOKEN_ID: &str = "44c819de-4add-4c9f-b2e9-384a0a71bede";
pub const TOKEN_SECRET: &str = "INKxCoZ+cX6l1yrR6vqzYHVaeFEcqvZShznWM1U/No8KsV7h6Jxu1XXuTUQ91sdiGONK3H7NE7H";

/// A running emulator; killed on drop. Its stderr is collected so tests can inspect the log
/// (and so it is shown when a test fails).
pub struct Mux {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<String>>,
    pub base: String,
    pub http: reqwest::Client,
}

impl Mux {
    /// Starts with the test token, a 5 ms processing delay, transcoding off (`media.rs` turns it
    /// on), rate limits high enough not to get in the way, and `extra` flags.
    pub fn start(extra: &[&str]) -> Self {
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--token-id",
            TOKEN_ID,
            "--token-secret",
            TOKEN_SECRET,
            "--processing-delay-ms",
            "5",
            "--transcode",
            "off",
            "--post-burst",
            "1000",
            "--other-burst",
            "1000",
        ];
        args.extend_from_slice(extra);
        Self::launch(&args, &[])
    }

    /// Starts with exactly these flags and extra environment variables.
    pub fn launch(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mux-emulator"))
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn mux-emulator");

        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buffer) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });

        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the listening line");
        let base = line
            .trim_end()
            .strip_prefix("mux-emulator listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, _stdout: stdout, stderr, base, http: reqwest::Client::new() }
    }

    /// `http://127.0.0.1:PORT/video/v1{suffix}`.
    pub fn api_url(&self, suffix: &str) -> String {
        format!("{}/video/v1{suffix}", self.base)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// An authenticated API call. Returns the status, headers and raw body.
    pub async fn call_raw(
        &self,
        method: Method,
        suffix: &str,
        body: Option<&Value>,
    ) -> reqwest::Result<(StatusCode, HeaderMap, String)> {
        let mut request = self.http.request(method, self.api_url(suffix)).basic_auth(TOKEN_ID, Some(TOKEN_SECRET));
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        Ok((status, headers, response.text().await?))
    }

    /// An authenticated API call expecting a JSON body.
    pub async fn call(&self, method: Method, suffix: &str, body: Option<&Value>) -> (StatusCode, Value) {
        let (status, _, text) = self.call_raw(method, suffix, body).await.expect("request");
        let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text:?}"));
        (status, value)
    }

    /// `POST /video/v1/assets`, asserting 201; returns the Asset.
    pub async fn create(&self, body: Value) -> Value {
        let (status, envelope) = self.call(Method::POST, "/assets", Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{envelope}");
        envelope["data"].clone()
    }

    pub async fn get_asset(&self, id: &str) -> (StatusCode, Value) {
        self.call(Method::GET, &format!("/assets/{id}"), None).await
    }

    /// Polls `GET /assets/{id}` until the status is one of `statuses`.
    pub async fn wait_for_status(&self, id: &str, statuses: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, envelope) = self.get_asset(id).await;
            assert_eq!(status, StatusCode::OK, "{envelope}");
            let asset = &envelope["data"];
            if statuses.iter().any(|s| asset["status"] == *s) {
                return asset.clone();
            }
            assert!(Instant::now() < deadline, "asset never reached {statuses:?}: {asset}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub async fn control(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.http.request(method, format!("{}/__emulator/{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("control request");
        let status = response.status();
        (status, response.json().await.expect("control JSON"))
    }

    pub async fn add_faults(&self, faults: Value) {
        let (status, body) = self.control(Method::POST, "faults", Some(json!({ "faults": faults }))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// `GET /__emulator/assets`.
    pub async fn records(&self) -> Vec<Value> {
        let (_, body) = self.control(Method::GET, "assets", None).await;
        body.as_array().expect("array").clone()
    }

    pub async fn record(&self, id: &str) -> Value {
        self.records()
            .await
            .into_iter()
            .find(|r| r["asset"]["id"] == id)
            .unwrap_or_else(|| panic!("no record for {id}"))
    }

    /// `GET /__emulator/requests`.
    pub async fn requests(&self) -> Vec<Value> {
        let (_, body) = self.control(Method::GET, "requests", None).await;
        body.as_array().expect("array").clone()
    }
}

impl Drop for Mux {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- mux-emulator stderr ---\n{}", self.stderr());
        }
    }
}

/// The "S3" the emulator downloads from. `GET /video.mp4` serves [`Origin::BODY`] (any query
/// string), `/forbidden` is 403. Every request's method, path and query are recorded verbatim.
pub struct Origin {
    pub base: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Origin {
    pub const BODY: &'static [u8] = b"\x00\x00\x00\x20ftypisom not really a video, but bytes to hash";

    pub async fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let router = Router::new()
            .route(
                "/video.mp4",
                get(|State(seen): State<Arc<Mutex<Vec<String>>>>, uri: Uri| async move {
                    record_uri(&seen, &uri);
                    Origin::BODY
                }),
            )
            .route(
                "/forbidden",
                get(|State(seen): State<Arc<Mutex<Vec<String>>>>, uri: Uri| async move {
                    record_uri(&seen, &uri);
                    StatusCode::FORBIDDEN
                }),
            )
            .with_state(Arc::clone(&seen));
        let base = serve(router).await;
        Self { base, seen }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base)
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    pub fn sha256() -> String {
        hex::encode(Sha256::digest(Self::BODY))
    }
}

fn record_uri(seen: &Mutex<Vec<String>>, uri: &Uri) {
    let text = uri.path_and_query().map_or(String::new(), |p| p.to_string());
    seen.lock().unwrap().push(text);
}

/// One webhook delivery as received.
pub struct Delivery {
    pub signature: String,
    pub body: Bytes,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
}

/// A webhook receiver at `{base}/hook`; answers with the given statuses in turn (200 once they
/// run out), and forwards every delivery.
pub async fn webhook_receiver(statuses: Vec<StatusCode>) -> (String, mpsc::UnboundedReceiver<Delivery>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let statuses = Arc::new(Mutex::new(statuses.into_iter()));
    let router = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| async move {
            let signature = headers.get("mux-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let _ = sender.send(Delivery { signature, body });
            let status = statuses.lock().unwrap().next().unwrap_or(StatusCode::OK);
            (status, if status.is_success() { "" } else { "receiver not ready" })
        }),
    );
    let base = serve(router).await;
    (format!("{base}/hook"), receiver)
}

pub async fn next_delivery(receiver: &mut mpsc::UnboundedReceiver<Delivery>) -> Delivery {
    tokio::time::timeout(Duration::from_secs(20), receiver.recv())
        .await
        .expect("a webhook delivery within 20 s")
        .expect("receiver open")
}

/// Checks a `mux-signature` header the way the Mux SDK's `verifySignature` does (doc §9.5),
/// independently of the emulator's code: `t` and any `v1`, HMAC-SHA256 over `"{t}.{body}"`,
/// at most 300 s old.
pub fn signature_is_valid(header: &str, body: &[u8], secret: &str) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if chrono::Utc::now().timestamp() - timestamp > 300 {
        return false;
    }
    signatures.iter().any(|signature| {
        let Ok(expected) = hex::decode(signature) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&expected).is_ok()
    })
}

/// Serves `router` on a free loopback port; returns `http://127.0.0.1:PORT`.
pub async fn serve(router: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// A loopback URL nobody listens on.
pub fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/video.mp4")
}

/// A Mux-like id: 44 letters and digits.
pub fn is_mux_id(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.len() == 44 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}
