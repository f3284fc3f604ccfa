//! Records every AWS API call the real binaries make, for the IAM conformance check
//! (scripts/iam_conformance.py): a plain-HTTP proxy per (principal, service, upstream) in front of
//! the local peers, which forwards each request unchanged (its `Host` header too: s3s-fs verifies
//! SigV4, and the signature covers the host) and appends one JSON line per distinct call to
//! `<target>/iam-actions/<principal>.jsonl` (or `$VINOFY_IAM_LOG_DIR`).
//!
//! A line names the IAM action the request needs (`dynamodb:UpdateItem`, `s3:GetObject`, ...) and
//! the resources it touches (table and index, secret id, bucket and key), each with the variables of
//! the child's environment that hold its name (`VIDEOS_TABLE`, `CLOUDFLARE_API_TOKEN_SECRET_ARN`, ...),
//! which is how the checker maps a test's random names to the template's logical resources.
//!
//! Presigned URLs name the endpoint the function was given, i.e. its proxy: the Cloudflare
//! emulator's fetch of a presigned URL is recorded as the function's `s3:GetObject`, which is right,
//! since S3 authorises a presigned request with the permissions of whoever signed it.
//!
//! Only `http://` endpoints are proxied (a test's own proxy in front of a peer gets chained);
//! `https://` endpoints (a test of TLS) are left alone and their calls are not recorded.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use vinofy_core::domain::scrub::percent_decode;

/// The endpoint variables a child reads, and the service each one names.
const ENDPOINT_VARS: &[(&str, &str)] = &[
    ("AWS_ENDPOINT_URL_S3", "s3"),
    ("AWS_ENDPOINT_URL_DYNAMODB", "dynamodb"),
    ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "secretsmanager"),
    ("AWS_ENDPOINT_URL_SQS", "sqs"),
];

/// The principal a binary runs as, from its file name (`ingest`, `webhook`, `vinofy`).
pub fn principal_of(binary: &str) -> Option<&'static str> {
    match std::path::Path::new(binary).file_name()?.to_str()? {
        "ingest" => Some("ingest"),
        "webhook" => Some("webhook"),
        "api" => Some("api"),
        "vinofy" => Some("vinofy"),
        _ => None,
    }
}

/// `env` with its AWS endpoints pointed at `principal`'s recording proxies. Every value of the
/// environment is remembered as a name the principal was configured with (for the lines' `via`).
pub fn recorded(principal: &str, env: impl IntoIterator<Item = (String, String)>) -> Vec<(String, String)> {
    let recorder = recorder();
    let mut env: Vec<(String, String)> = env.into_iter().collect();
    {
        let mut names = recorder.names.lock().unwrap();
        let known = names.entry(principal.to_owned()).or_default();
        for (k, v) in &env {
            if !v.is_empty() && !k.starts_with("AWS_") {
                known.entry(v.clone()).or_default().insert(k.clone());
            }
        }
    }
    for (var, value) in env.iter_mut() {
        if let Some((_, service)) = ENDPOINT_VARS.iter().find(|(v, _)| v == var)
            && value.starts_with("http://")
        {
            *value = recorder.proxy(principal, service, value);
        }
    }
    env
}

/// The same, for a `HashMap` environment (the functions').
pub fn recorded_map(principal: &str, env: HashMap<String, String>) -> HashMap<String, String> {
    recorded(principal, env).into_iter().collect()
}

/// Where the lines go: `$VINOFY_IAM_LOG_DIR`, else `iam-actions/` in the cargo target dir.
pub fn log_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("VINOFY_IAM_LOG_DIR") {
        return dir.into();
    }
    // target/<profile>/deps/<test binary>
    let exe = std::env::current_exe().expect("test exe");
    exe.ancestors().nth(3).expect("the target dir").join("iam-actions")
}

struct Recorder {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    /// (principal, service, upstream) → the proxy's endpoint.
    proxies: Mutex<HashMap<(String, String, String), String>>,
    /// principal → configured value → the variables that held it.
    names: Mutex<HashMap<String, HashMap<String, BTreeSet<String>>>>,
    /// Lines already written by this process (one line per distinct call).
    seen: Mutex<HashSet<String>>,
    files: Mutex<HashMap<String, File>>,
    /// The test binary (`lifecycle`, `cli`, ...), so the checker can say which ones ran.
    test: String,
}

fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        // Its own runtime: the proxies outlive each test's runtime (as the shared peers do).
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("iam-recorder")
            .enable_all()
            .build()
            .unwrap();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap();
        let exe = std::env::current_exe().unwrap();
        let stem = exe.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
        let test = stem.rsplit_once('-').map_or(stem, |(name, _hash)| name).to_owned();
        Recorder {
            runtime,
            http,
            proxies: Mutex::default(),
            names: Mutex::default(),
            seen: Mutex::default(),
            files: Mutex::default(),
            test,
        }
    })
}

#[derive(Clone)]
struct ProxyState {
    principal: String,
    service: String,
    upstream: String,
}

impl Recorder {
    fn proxy(&'static self, principal: &str, service: &str, upstream: &str) -> String {
        let upstream = upstream.trim_end_matches('/').to_owned();
        let key = (principal.to_owned(), service.to_owned(), upstream.clone());
        let mut proxies = self.proxies.lock().unwrap();
        if let Some(endpoint) = proxies.get(&key) {
            return endpoint.clone();
        }
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let state = ProxyState { principal: principal.to_owned(), service: service.to_owned(), upstream };
        self.runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            // Upload parts are megabytes: no body limit (axum's default is 2 MB).
            let app =
                Router::new().fallback(forward).with_state(state).layer(axum::extract::DefaultBodyLimit::disable());
            axum::serve(listener, app).await.unwrap();
        });
        proxies.insert(key, endpoint.clone());
        endpoint
    }

    fn via(&self, principal: &str, name: &str) -> Vec<String> {
        let names = self.names.lock().unwrap();
        names.get(principal).and_then(|n| n.get(name)).map(|vars| vars.iter().cloned().collect()).unwrap_or_default()
    }

    fn write(&self, principal: &str, line: Value) {
        let text = line.to_string();
        if !self.seen.lock().unwrap().insert(text.clone()) {
            return;
        }
        let mut files = self.files.lock().unwrap();
        let file = files.entry(principal.to_owned()).or_insert_with(|| {
            let dir = log_dir();
            std::fs::create_dir_all(&dir).unwrap();
            // O_APPEND, one write per line: several test processes can share the file.
            OpenOptions::new().create(true).append(true).open(dir.join(format!("{principal}.jsonl"))).unwrap()
        });
        file.write_all(format!("{text}\n").as_bytes()).unwrap();
    }
}

async fn forward(
    State(state): State<ProxyState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorder = recorder();
    let (action, resources) = match state.service.as_str() {
        "s3" => s3_call(&method, &uri),
        _ => json_call(&state.service, &headers, &body),
    };
    let resources: Vec<Value> = resources
        .into_iter()
        .map(|mut r| {
            let name = r.get("name").or_else(|| r.get("bucket")).and_then(Value::as_str).unwrap_or_default().to_owned();
            let mut via = recorder.via(&state.principal, &name);
            if let Some(url) = r.get("url").and_then(Value::as_str) {
                via.extend(recorder.via(&state.principal, url));
            }
            r["via"] = json!(via);
            r
        })
        .collect();
    recorder.write(
        &state.principal,
        json!({"principal": state.principal, "action": action, "resources": resources, "test": recorder.test}),
    );

    match super::forward::pass_on(&recorder.http, &state.upstream, &method, &uri, &headers, body).await {
        Ok(reply) => reply.into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, format!("iam recorder: {e}")).into_response(),
    }
}

/// DynamoDB and Secrets Manager (JSON protocols): the action is in `X-Amz-Target`, the resources
/// in the body.
fn json_call(service: &str, headers: &HeaderMap, body: &[u8]) -> (String, Vec<Value>) {
    let operation =
        headers.get("x-amz-target").and_then(|v| v.to_str().ok()).and_then(|t| t.rsplit('.').next()).unwrap_or("?");
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut resources = Vec::new();
    match service {
        "dynamodb" => {
            let mut tables: BTreeSet<String> = BTreeSet::new();
            if let Some(t) = body["TableName"].as_str() {
                tables.insert(t.to_owned());
            }
            // BatchGetItem / BatchWriteItem
            if let Some(items) = body["RequestItems"].as_object() {
                tables.extend(items.keys().cloned());
            }
            // TransactGetItems / TransactWriteItems
            for item in body["TransactItems"].as_array().into_iter().flatten() {
                for op in item.as_object().into_iter().flat_map(|o| o.values()) {
                    if let Some(t) = op["TableName"].as_str() {
                        tables.insert(t.to_owned());
                    }
                }
            }
            for table in tables {
                match body["IndexName"].as_str() {
                    // Query and Scan of an index are authorised on the index's ARN only.
                    Some(index) => resources.push(json!({"kind": "index", "name": table, "index": index})),
                    None => resources.push(json!({"kind": "table", "name": table})),
                }
            }
        }
        "secretsmanager" => {
            if let Some(id) = body["SecretId"].as_str() {
                resources.push(json!({"kind": "secret", "name": id}));
            }
        }
        // The queue by its ARN, the form the function is configured with (INGEST_QUEUE_ARN).
        "sqs" => {
            if let Some(url) = body["QueueUrl"].as_str()
                && let Some(arn) = queue_arn_of_url(url)
            {
                // The ARN names the queue; the CLI is configured with its URL (FAILED_EVENTS_QUEUE_URL).
                resources.push(json!({"kind": "queue", "name": arn, "url": url}));
            }
        }
        _ => {}
    }
    (format!("{service}:{operation}"), resources)
}

/// `https://sqs.REGION.amazonaws.com/ACCOUNT/NAME` → `arn:aws:sqs:REGION:ACCOUNT:NAME`.
fn queue_arn_of_url(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://sqs.")?;
    let (host, path) = rest.split_once('/')?;
    let region = host.split('.').next()?;
    let (account, name) = path.split_once('/')?;
    Some(format!("arn:aws:sqs:{region}:{account}:{name}"))
}

/// S3 (REST, path-style as the SDK addresses a custom endpoint): the action from the method, the
/// path and the sub-resource in the query.
fn s3_call(method: &Method, uri: &Uri) -> (String, Vec<Value>) {
    let path = uri.path().trim_start_matches('/');
    let (bucket, key) = match path.split_once('/') {
        Some((b, k)) => (percent_decode(b), Some(percent_decode(k))),
        None => (percent_decode(path), None),
    };
    let query: Vec<(String, String)> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').map_or((p.to_owned(), String::new()), |(k, v)| (k.to_owned(), percent_decode(v))))
        .collect();
    let has = |name: &str| query.iter().any(|(k, _)| k == name);
    let action = match (key.as_deref(), method.as_str()) {
        (None | Some(""), "GET") if has("versions") => "ListBucketVersions",
        (None | Some(""), "GET") if has("location") => "GetBucketLocation",
        (None | Some(""), "GET") if has("notification") => "GetBucketNotification",
        (None | Some(""), "GET" | "HEAD") if query.iter().all(|(k, _)| LIST_PARAMS.contains(&k.as_str())) => {
            "ListBucket"
        }
        (None | Some(""), "PUT") if query.is_empty() => "CreateBucket",
        (None | Some(""), "DELETE") if query.is_empty() => "DeleteBucket",
        (None | Some(""), _) => "?",
        (Some(_), "GET" | "HEAD") if has("tagging") => "GetObjectTagging",
        (Some(_), "GET") if has("uploadId") => "ListMultipartUploadParts",
        (Some(_), "GET" | "HEAD") if has("versionId") => "GetObjectVersion",
        (Some(_), "GET" | "HEAD") if query.iter().all(|(k, _)| OBJECT_READ_PARAMS.contains(&k.as_str())) => "GetObject",
        (Some(_), "PUT" | "POST") if !has("tagging") && !has("acl") => "PutObject",
        (Some(_), "DELETE") if has("uploadId") => "AbortMultipartUpload",
        (Some(_), "DELETE") if has("versionId") => "DeleteObjectVersion",
        (Some(_), "DELETE") => "DeleteObject",
        _ => "?",
    };
    let prefix = query.iter().find(|(k, _)| k == "prefix").map(|(_, v)| v.clone());
    let resource = match key {
        Some(key) if !key.is_empty() => json!({"kind": "object", "bucket": bucket, "key": key}),
        // A listing's prefix, for the grants conditioned on `s3:prefix`.
        _ if action == "ListBucket" && prefix.is_some() => json!({"kind": "bucket", "name": bucket, "prefix": prefix}),
        _ => json!({"kind": "bucket", "name": bucket}),
    };
    (format!("s3:{action}"), vec![resource])
}

/// Query parameters of ListObjects(V2) / HeadBucket (all need s3:ListBucket).
const LIST_PARAMS: &[&str] = &[
    "list-type",
    "prefix",
    "delimiter",
    "max-keys",
    "continuation-token",
    "start-after",
    "marker",
    "encoding-type",
    "fetch-owner",
    "x-id",
];

/// Query parameters of GetObject / HeadObject, presigned ones included.
const OBJECT_READ_PARAMS: &[&str] = &[
    "x-id",
    "partNumber",
    "response-content-type",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-cache-control",
    "response-expires",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "X-Amz-Content-Sha256",
];
