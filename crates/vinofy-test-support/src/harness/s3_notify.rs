//! S3 event notifications for the local world: s3s-fs sends none, so this plain-HTTP proxy in
//! front of it forwards every request unchanged (its `Host` header too: s3s-fs verifies SigV4 and
//! the signature covers the host) and, when s3s-fs accepted a PutObject, a CompleteMultipartUpload
//! or a DeleteObject, sends the notification S3 would send to the ingest queue: an `s3:ObjectCreated:*`
//! / `s3:ObjectRemoved:Delete` event (key form-encoded, size, eTag, a sequencer that grows) as the
//! body of an SQS message on the moto queue that [`super::lambda_queues::SqsEventSource`] feeds to
//! the real `ingest` binary: the stack's sqs mode, end to end.
//!
//! The message is sent before the client gets its answer (S3 sends it shortly after), so a test
//! that waits for the record never races the notification. Not emulated: event filters (every key
//! of every bucket behind the proxy notifies), CopyObject and DeleteObjects (multi-object delete),
//! versioning (no `versionId`: s3s-fs has none).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use vinofy_core::domain::s3_key::encode_s3_key;
use vinofy_core::domain::scrub::percent_decode;
use vinofy_core::ingest::{now_ms, rfc3339};

use super::REGION;

/// The proxy: give its `endpoint` as `AWS_ENDPOINT_URL_S3` to whoever uploads.
pub struct S3Notifier {
    pub endpoint: String,
    sent: Arc<Mutex<Vec<Value>>>,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    /// uploadId → part number → decoded size, for the completed object's size.
    parts: Arc<Mutex<HashMap<String, HashMap<String, u64>>>>,
    sent: Arc<Mutex<Vec<Value>>>,
}

impl S3Notifier {
    /// Forwards to `upstream` (s3s-fs) and notifies the queue at `queue_url` (moto, through `sqs`).
    pub async fn start(upstream: &str, sqs: aws_sdk_sqs::Client, queue_url: &str) -> Self {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let proxy = Proxy {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap(),
            sqs,
            queue_url: queue_url.to_owned(),
            parts: Arc::default(),
            sent: sent.clone(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(forward).with_state(proxy).layer(axum::extract::DefaultBodyLimit::disable());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { endpoint, sent }
    }

    /// The notifications sent so far (the S3 events), oldest first.
    pub fn sent(&self) -> Vec<Value> {
        self.sent.lock().unwrap().clone()
    }
}

/// S3's sequencer: hex that grows with every event (of every proxy in the process).
fn sequencer() -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let next = |last: u64| last.max(now) + 1;
    let previous = LAST.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(next(last))).unwrap();
    format!("{:016X}", next(previous))
}

/// What a successful request did to an object, as S3 would notify it.
enum Change {
    Created { event: &'static str, size: u64, etag: String },
    Removed,
}

fn query_has(uri: &Uri, name: &str) -> bool {
    uri.query().unwrap_or_default().split('&').any(|p| p.split('=').next() == Some(name))
}

fn query_value(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|p| p.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| percent_decode(v)))
}

/// The body's size as S3 stores it (`aws-chunked` bodies carry the decoded length in a header).
fn decoded_size(headers: &HeaderMap, body: &Bytes) -> u64 {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    header("x-amz-decoded-content-length").unwrap_or(body.len() as u64)
}

async fn forward(State(proxy): State<Proxy>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let size = decoded_size(&headers, &body);
    let (status, out_headers, bytes) =
        match super::forward::pass_on(&proxy.http, &proxy.upstream, &method, &uri, &headers, body).await {
            Ok(reply) => reply,
            Err(e) => return (StatusCode::BAD_GATEWAY, format!("s3 notifier: {e}")).into_response(),
        };
    let etag_header = out_headers.get("etag").and_then(|v| v.to_str().ok()).map(|v| v.trim_matches('"').to_owned());
    if status.is_success()
        && let Some((bucket, key)) = uri.path().trim_start_matches('/').split_once('/').filter(|(_, k)| !k.is_empty())
    {
        let (bucket, key) = (percent_decode(bucket), percent_decode(key));
        let upload_id = query_value(&uri, "uploadId");
        let change = match (method.as_str(), upload_id) {
            ("PUT", Some(id)) => {
                // UploadPart: remembered for the completion's size.
                let part = query_value(&uri, "partNumber").unwrap_or_default();
                proxy.parts.lock().unwrap().entry(id).or_default().insert(part, size);
                None
            }
            ("PUT", None) if !headers.contains_key("x-amz-copy-source") && !query_has(&uri, "tagging") => {
                Some(Change::Created { event: "ObjectCreated:Put", size, etag: etag_header.unwrap_or_default() })
            }
            ("POST", Some(id)) => {
                let size = proxy.parts.lock().unwrap().remove(&id).map_or(0, |parts| parts.values().sum());
                let text = String::from_utf8_lossy(&bytes);
                let etag = text
                    .split_once("<ETag>")
                    .and_then(|(_, rest)| rest.split_once("</ETag>"))
                    .map(|(etag, _)| etag.replace("&quot;", "").trim_matches('"').to_owned())
                    .unwrap_or_default();
                Some(Change::Created { event: "ObjectCreated:CompleteMultipartUpload", size, etag })
            }
            ("DELETE", None) => Some(Change::Removed),
            _ => None,
        };
        if let Some(change) = change {
            proxy.notify(&bucket, &key, change).await;
        }
    }
    (status, out_headers, bytes).into_response()
}

impl Proxy {
    async fn notify(&self, bucket: &str, key: &str, change: Change) {
        let (event_name, object) = match change {
            Change::Created { event, size, etag } => {
                (event, json!({"key": encode_s3_key(key), "size": size, "eTag": etag, "sequencer": sequencer()}))
            }
            Change::Removed => ("ObjectRemoved:Delete", json!({"key": encode_s3_key(key), "sequencer": sequencer()})),
        };
        let event = json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
            "eventTime": rfc3339(now_ms()), "eventName": event_name,
            "userIdentity": {"principalId": "AWS:LOCAL"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "LOCAL", "x-amz-id-2": "LOCAL"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "ingest",
                "bucket": {"name": bucket, "ownerIdentity": {"principalId": "LOCAL"}, "arn": format!("arn:aws:s3:::{bucket}")},
                "object": object}
        }]});
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(event.to_string())
            .send()
            .await
            .expect("the ingest queue takes the notification");
        self.sent.lock().unwrap().push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequencers_grow_and_times_are_rfc3339() {
        let (a, b) = (sequencer(), sequencer());
        assert!(b > a && a.len() == 16, "{a} {b}");
        let t = rfc3339(now_ms());
        assert!(t.len() == 24 && t.ends_with('Z') && t.starts_with("20"), "{t}");
    }
}
