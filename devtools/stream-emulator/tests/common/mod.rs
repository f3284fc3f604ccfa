//! Test harness shared by both emulators' tests (`tests/emulator`, `tests/mux`): a running
//! emulator binary, a tiny origin server, a webhook receiver, and what the media and signed
//! playback tests share (the sample video, the ffmpeg check, RS256 signing keys). Each test
//! crate's `support.rs` adds its API's calls, flags and signature check.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use hmac::{Hmac, KeyInit, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// A running emulator binary; killed on drop. Its stderr is collected so tests can inspect the
/// log (and so it is shown when a test fails).
pub struct Process {
    name: &'static str,
    child: Child,
    _stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<String>>,
    pub base: String,
    pub http: reqwest::Client,
}

impl Process {
    /// Starts the binary at `path` (its name is `name`) with exactly these flags and extra
    /// environment variables, and waits for its `{name} listening on {base}` line.
    pub fn launch(path: &str, name: &'static str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(path)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));

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
            .strip_prefix(&format!("{name} listening on "))
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { name, child, _stdout: stdout, stderr, base, http: reqwest::Client::new() }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
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

    /// `GET /__emulator/{path}`, an array.
    pub async fn control_list(&self, path: &str) -> Vec<Value> {
        let (_, body) = self.control(Method::GET, path, None).await;
        body.as_array().expect("array").clone()
    }

    /// `GET /__emulator/requests`.
    pub async fn requests(&self) -> Vec<Value> {
        self.control_list("requests").await
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- {} stderr ---\n{}", self.name, self.stderr());
        }
    }
}

/// Sends an API request with an optional JSON `body`; returns the status, headers and raw body.
pub async fn send_raw(
    mut request: reqwest::RequestBuilder,
    body: Option<&Value>,
) -> reqwest::Result<(StatusCode, HeaderMap, String)> {
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    Ok((status, headers, response.text().await?))
}

/// [`send_raw`], expecting a JSON body.
pub async fn send_json(request: reqwest::RequestBuilder, body: Option<&Value>) -> (StatusCode, Value) {
    let (status, _, text) = send_raw(request, body).await.expect("request");
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("body is not JSON ({e}): {text:?}"));
    (status, value)
}

/// `GET {base}{path}` on `process`: the status, the content type (empty if none) and the body.
pub async fn fetch(process: &Process, path: &str) -> (StatusCode, String, Vec<u8>) {
    let response = process.http.get(format!("{}{path}", process.base)).send().await.unwrap();
    let status = response.status();
    let content_type = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, content_type, response.bytes().await.unwrap().to_vec())
}

/// The "S3" the emulator downloads from. `GET /video.mp4` serves [`Origin::BODY`] (any query
/// string), `/forbidden` is 403, anything else 404. Every request's path and query are recorded
/// verbatim.
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

/// A webhook receiver at `{base}/hook`: keeps the `signature_header` of every delivery and
/// forwards it, and answers with `respond` of the given statuses in turn (200 once they run out).
pub async fn webhook_receiver_with(
    signature_header: &'static str,
    statuses: Vec<StatusCode>,
    respond: fn(StatusCode) -> Response,
) -> (String, mpsc::UnboundedReceiver<Delivery>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let statuses = Arc::new(Mutex::new(statuses.into_iter()));
    let router = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| async move {
            let signature = headers.get(signature_header).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            let _ = sender.send(Delivery { signature, body });
            respond(statuses.lock().unwrap().next().unwrap_or(StatusCode::OK))
        }),
    );
    let base = serve(router).await;
    (format!("{base}/hook"), receiver)
}

/// The next delivery, within `seconds`.
pub async fn next_delivery_within(receiver: &mut mpsc::UnboundedReceiver<Delivery>, seconds: u64) -> Delivery {
    tokio::time::timeout(Duration::from_secs(seconds), receiver.recv())
        .await
        .unwrap_or_else(|_| panic!("a webhook delivery within {seconds} s"))
        .expect("receiver open")
}

/// Whether `signature` is the hex HMAC-SHA256 of `"{time}.{body}"` under `secret` (how both
/// providers sign, checked independently of the emulator's code).
pub fn hmac_hex_matches(secret: &str, time: &str, body: &[u8], signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{time}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
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

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/sample.mp4");

/// `fixtures/sample.mp4`: a real video for the `--transcode on` tests.
pub fn sample() -> Vec<u8> {
    std::fs::read(SAMPLE).expect("fixtures/sample.mp4 (2 s, 320x180, H.264/AAC)")
}

/// Fails (not skips) the test when `ffmpeg` or `ffprobe` is not on PATH.
pub fn require_ffmpeg() {
    for tool in ["ffmpeg", "ffprobe"] {
        let found = Command::new(tool).arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status();
        assert!(found.is_ok_and(|s| s.success()), "{tool} is missing: apt-get install -y ffmpeg (these tests need it)");
    }
}

/// A signing key as the emulator's API returned it, decoded: its id and its PKCS#1 PEM.
pub struct Key {
    pub id: String,
    pub pem: String,
}

impl Key {
    /// An RS256 token with `kid` = this key, over `claims`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = Header { kid: Some(self.id.clone()), ..Header::new(Algorithm::RS256) };
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(self.pem.as_bytes()).unwrap()).unwrap()
    }
}

/// Unix seconds an hour from now (a token's `exp`).
pub fn in_an_hour() -> i64 {
    chrono::Utc::now().timestamp() + 3600
}
