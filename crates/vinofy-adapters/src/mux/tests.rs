//! The client's pure decisions (answers, errors, scrubbing, paging), then the adapter end to end
//! against a canned HTTP server on a loopback port (std only: one thread, one connection per request).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::json;

use super::*;
use vinofy_core::domain::ids::VideoUid;
use vinofy_core::domain::object::ObjectVersion;
use vinofy_core::domain::record::VideoState;
use vinofy_core::secret::{PresignedUrl, SecretString};

const NOW: &str = "2026-03-01T10:00:00Z";

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(NOW).unwrap().with_timezone(&chrono::Utc)
}

fn answer(status: u16, retry_after: Option<&str>, body: &str) -> Result<Answer, ProviderError> {
    interpret(StatusCode::from_u16(status).unwrap(), retry_after, None, body.as_bytes(), now())
}

#[test]
fn success_answers_are_json_objects_or_empty() {
    let ok = answer(201, None, r#"{"data":{"id":"abc","status":"preparing"}}"#).unwrap();
    assert_eq!(ok.body.unwrap()["data"]["id"], "abc");
    assert_eq!(ok.observed_at, NOW, "no Date header: our clock");
    assert!(answer(204, None, "").unwrap().body.is_none());
    for bad in ["<html>", "[1]", "\"data\""] {
        assert!(matches!(answer(200, None, bad), Err(ProviderError::InvalidResponse(_))), "{bad}");
    }
    let dated = interpret(StatusCode::OK, None, Some("Sun, 01 Mar 2026 09:59:58 GMT"), b"{}", now()).unwrap();
    assert_eq!(dated.observed_at, "2026-03-01T09:59:58Z", "Mux's Date stamps what it said");
}

#[test]
fn error_answers_carry_status_muxs_text_and_retry_after() {
    let e =
        answer(400, None, r#"{"error":{"type":"invalid_parameters","messages":["inputs is required","bad policy"]}}"#)
            .unwrap_err();
    assert_eq!(
        e,
        ProviderError::Http {
            status: 400,
            message: "invalid_parameters: inputs is required; bad policy".into(),
            retry_after: None
        }
    );
    assert!(!e.is_retryable());
    let e = answer(401, None, r#"{"error":{"type":"unauthorized","messages":[]}}"#).unwrap_err();
    assert!(matches!(&e, ProviderError::Http { status: 401, message, .. } if message == "unauthorized"));
    assert!(!e.is_retryable());
    assert!(!answer(403, None, "").unwrap_err().is_retryable());
    let e = answer(429, Some("7"), r#"{"error":{"type":"too_many_requests","messages":["slow down"]}}"#).unwrap_err();
    assert!(e.is_retryable() && e.is_refusal());
    assert_eq!(e.lockout(), Some(Duration::from_secs(7)));
    let e = answer(429, Some("Sun, 01 Mar 2026 10:00:30 GMT"), "").unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)), "an HTTP date counts from now");
    let e = answer(503, Some("soon"), "<html>busy</html>").unwrap_err();
    assert_eq!(e, ProviderError::Http { status: 503, message: "Service Unavailable".into(), retry_after: None });
    assert!(e.is_retryable());
    assert!(matches!(answer(404, None, "").unwrap_err(), ProviderError::Http { status: 404, .. }));
}

#[test]
fn errors_lose_the_token_and_the_presigned_url_in_any_form() {
    let url =
        "https://vinofy-uploads.s3.amazonaws.com/v/a.mp4?X-Amz-Credential=ASIAEXAMPLE&X-Amz-Signature=0123456789abcdef";
    let secret = "Zm9vYmFyc2VjcmV0dmFsdWU";
    let scrubber = Scrubber { secrets: [secret, "44c819de-4add-4c9f"], url: Some(url) };
    let decoded = vinofy_core::domain::scrub::percent_decode(url);
    for message in [
        format!("invalid_parameters: cannot fetch {url}"),
        format!("could not download {decoded}"),
        format!("credentials {secret} for 44c819de-4add-4c9f rejected"),
        "signature 0123456789abcdef did not match".to_owned(),
    ] {
        let e = scrubber.error(ProviderError::Http { status: 400, message, retry_after: None });
        let text = e.to_string();
        for leaked in ["X-Amz", "0123456789abcdef", secret, "44c819de-4add-4c9f", "ASIAEXAMPLE"] {
            assert!(!text.contains(leaked), "{text} leaks {leaked}");
        }
        assert!(text.contains(REDACTED), "{text}");
    }
    let e = scrubber.error(ProviderError::Transport(format!("reset while sending {url}")));
    assert!(!e.to_string().contains("X-Amz"), "{e}");
    let readable = Scrubber { secrets: ["", ""], url: None }.text("invalid_parameters: video_quality must be basic");
    assert_eq!(readable, "invalid_parameters: video_quality must be basic");
}

#[test]
fn paging_follows_cursors_or_pages_and_stops_short_empty_or_at_the_bound() {
    let next = CursorField::Next("abc".into());
    assert_eq!(next_page(1, LIST_PAGE_SIZE, &next), Some(PageRequest::Cursor("abc".into())));
    assert_eq!(next_page(1, LIST_PAGE_SIZE, &CursorField::Absent), Some(PageRequest::Page(2)));
    assert_eq!(next_page(3, LIST_PAGE_SIZE, &CursorField::Absent), Some(PageRequest::Page(4)));
    assert_eq!(next_page(1, LIST_PAGE_SIZE, &CursorField::End), None, "no next cursor: the last page");
    assert_eq!(next_page(1, LIST_PAGE_SIZE - 1, &next), None, "a short page is the last");
    assert_eq!(next_page(1, 0, &CursorField::Absent), None, "an empty page is the last");
    assert_eq!(next_page(MAX_LOOKUP_PAGES, LIST_PAGE_SIZE, &next), None, "the bound");
    assert_eq!(next_page(MAX_LOOKUP_PAGES - 1, LIST_PAGE_SIZE, &next), Some(PageRequest::Cursor("abc".into())));

    let base = "https://api.mux.com/video/v1/assets";
    assert_eq!(list_url(base, &PageRequest::First), format!("{base}?limit=100"));
    assert_eq!(list_url(base, &PageRequest::Page(3)), format!("{base}?limit=100&page=3"));
    assert_eq!(list_url(base, &PageRequest::Cursor("a+b/c=".into())), format!("{base}?limit=100&cursor=a%2Bb%2Fc%3D"));

    let body = |v: Value| v.as_object().unwrap().clone();
    assert_eq!(CursorField::of(&body(json!({"data": []}))), CursorField::Absent);
    assert_eq!(CursorField::of(&body(json!({"data": [], "next_cursor": null}))), CursorField::End);
    assert_eq!(CursorField::of(&body(json!({"data": [], "next_cursor": ""}))), CursorField::End);
    assert_eq!(CursorField::of(&body(json!({"data": [], "next_cursor": "x"}))), CursorField::Next("x".into()));
}

#[test]
fn only_assets_with_our_tag_are_read() {
    let data = vec![
        json!({"id": "mine1", "passthrough": "tag", "status": "preparing"}),
        json!({"id": "theirs", "passthrough": "other", "status": "ready"}),
        json!({"id": "no-passthrough?", "duration": "unreadable"}),
        json!({"id": "mine2", "passthrough": "tag", "status": "ready"}),
        json!("not even an object"),
    ];
    let found = assets_with_tag(data, "tag").unwrap();
    assert_eq!(found.len(), 2);
    let bad = assets_with_tag(vec![json!({"id": "x", "passthrough": "tag", "duration": "long"})], "tag");
    assert!(matches!(bad, Err(ProviderError::InvalidResponse(_))));
    assert!(assets_with_tag(vec![], "tag").unwrap().is_empty());
}

/// One request as the canned server saw it.
#[derive(Debug, Clone)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A canned response: status, extra headers, body.
type Canned = (u16, Vec<(&'static str, String)>, String);

/// Serves `responses` in order (status, extra headers, body), one connection each; returns the base
/// URL and what it saw.
fn serve(responses: Vec<Canned>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (status, headers, body) in responses {
            let Ok((stream, _)) = listener.accept() else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut seen_headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap();
                seen_headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            let length = seen_headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut request_body = vec![0; length];
            reader.read_exact(&mut request_body).unwrap();
            log.lock().unwrap().push(Seen {
                request_line: request_line.trim_end().to_owned(),
                headers: seen_headers,
                body: String::from_utf8(request_body).unwrap(),
            });
            let mut out = stream;
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\nContent-Type: application/json\r\n\
                 Date: Sun, 01 Mar 2026 10:00:00 GMT\r\n",
                body.len()
            );
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
            head.push_str("\r\n");
            out.write_all(head.as_bytes()).unwrap();
            out.write_all(body.as_bytes()).unwrap();
            out.flush().unwrap();
        }
    });
    (base, seen)
}

fn client(base: &str) -> MuxVideo {
    let credentials = MuxCredentials {
        token_id: SecretString::new("token-id-1234"),
        token_secret: SecretString::new("token-secret-5678"),
    };
    MuxVideo::new(base, credentials, MuxOptions::default()).unwrap()
}

fn asset_json(id: &str, passthrough: &str) -> Value {
    json!({"id": id, "status": "preparing", "created_at": "1772359200", "passthrough": passthrough,
           "playback_ids": [{"id": format!("pb{id}"), "policy": "public"}]})
}

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn create_sends_basic_auth_and_the_body_and_reads_the_asset() {
    let (base, seen) = serve(vec![(201, vec![], json!({"data": asset_json("newAsset1", "tag")}).to_string())]);
    let object = ObjectVersion {
        bucket: "b".into(),
        key: "videos/a.mp4".into(),
        size: 1,
        etag: "e".into(),
        version_id: None,
        sequencer: String::new(),
    };
    let url = PresignedUrl::new("https://s3/b/videos/a.mp4?X-Amz-Signature=s");
    let request = CreateVideoRequest { url: &url, object: &object, version_tag: "tag" };
    let video = client(&base).create_from_url(&request, T).await.unwrap();
    assert_eq!((video.uid.as_str(), video.playback_id.as_deref()), ("newAsset1", Some("pbnewAsset1")));
    assert_eq!(video.state, VideoState::InProgress);
    assert_eq!(video.details.modified.as_deref(), Some("2026-03-01T10:00:00Z"));
    assert_eq!(video.created.as_deref(), Some("2026-03-01T10:00:00Z"));
    let seen = seen.lock().unwrap()[0].clone();
    assert_eq!(seen.request_line, "POST /video/v1/assets HTTP/1.1");
    // base64("token-id-1234:token-secret-5678")
    assert_eq!(seen.header("authorization"), Some("Basic dG9rZW4taWQtMTIzNDp0b2tlbi1zZWNyZXQtNTY3OA=="));
    assert_eq!(seen.header("user-agent"), Some(concat!("vinofy-ingest/", env!("CARGO_PKG_VERSION"))));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(&seen.body).unwrap();
    assert_eq!(body["inputs"][0]["url"], url.expose());
    assert_eq!(body["passthrough"], "tag");
}

#[tokio::test]
async fn a_refused_create_is_an_http_error_without_the_url() {
    let echo = json!({"error": {"type": "invalid_parameters",
        "messages": ["Input https://s3/b/videos/a.mp4?X-Amz-Signature=s0123456789 is not reachable"]}});
    let (base, _) = serve(vec![(400, vec![], echo.to_string())]);
    let object = ObjectVersion {
        bucket: "b".into(),
        key: "k.mp4".into(),
        size: 1,
        etag: "e".into(),
        version_id: None,
        sequencer: String::new(),
    };
    let url = PresignedUrl::new("https://s3/b/videos/a.mp4?X-Amz-Signature=s0123456789");
    let request = CreateVideoRequest { url: &url, object: &object, version_tag: "tag" };
    let e = client(&base).create_from_url(&request, T).await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ProviderError::Http { status: 400, .. }), "{e}");
    assert!(
        text.contains("invalid_parameters: Input") && !text.contains("X-Amz") && !text.contains("s0123456789"),
        "{text}"
    );
}

#[tokio::test]
async fn get_and_delete_treat_404_as_gone() {
    let not_found = json!({"error": {"type": "not_found", "messages": ["Asset not found"]}}).to_string();
    let (base, seen) = serve(vec![
        (200, vec![], json!({"data": asset_json("abc", "t")}).to_string()),
        (404, vec![], not_found.clone()),
        (204, vec![], String::new()),
        (404, vec![], not_found),
        (500, vec![], String::new()),
    ]);
    let mux = client(&base);
    let uid = VideoRef::new(Provider::Mux, VideoUid::parse("abc").unwrap());
    let streams = VideoRef::new(Provider::Cloudflare, uid.uid.clone());
    assert!(matches!(mux.delete(&streams, T).await, Err(ProviderError::Unconfigured(_))), "never sent to Mux");
    assert_eq!(mux.get(&uid, T).await.unwrap().unwrap().uid, "abc");
    assert_eq!(mux.get(&uid, T).await.unwrap(), None);
    mux.delete(&uid, T).await.unwrap();
    mux.delete(&uid, T).await.unwrap();
    assert!(mux.delete(&uid, T).await.unwrap_err().is_retryable());
    let lines: Vec<String> = seen.lock().unwrap().iter().map(|s| s.request_line.clone()).collect();
    assert_eq!(
        lines,
        [
            "GET /video/v1/assets/abc HTTP/1.1",
            "GET /video/v1/assets/abc HTTP/1.1",
            "DELETE /video/v1/assets/abc HTTP/1.1",
            "DELETE /video/v1/assets/abc HTTP/1.1",
            "DELETE /video/v1/assets/abc HTTP/1.1"
        ]
    );
}

#[tokio::test]
async fn the_look_up_pages_until_a_short_page() {
    let page = |range: std::ops::Range<usize>, tagged: usize| -> Vec<Value> {
        range.map(|i| asset_json(&format!("a{i}"), if i == tagged { "tag" } else { "other" })).collect()
    };
    let (base, seen) = serve(vec![
        (200, vec![], json!({"data": page(0..100, 42), "next_cursor": "c1"}).to_string()),
        (200, vec![], json!({"data": page(100..200, 150)}).to_string()),
        (200, vec![], json!({"data": page(200..230, 999), "next_cursor": null}).to_string()),
    ]);
    let found = client(&base).videos_with_tag("tag", T).await.unwrap();
    let uids: Vec<&str> = found.iter().map(|v| v.uid.as_str()).collect();
    assert_eq!(uids, ["a42", "a150"]);
    let lines: Vec<String> = seen.lock().unwrap().iter().map(|s| s.request_line.clone()).collect();
    assert_eq!(
        lines,
        [
            "GET /video/v1/assets?limit=100 HTTP/1.1",
            "GET /video/v1/assets?limit=100&cursor=c1 HTTP/1.1",
            "GET /video/v1/assets?limit=100&page=3 HTTP/1.1"
        ]
    );
}

#[tokio::test]
async fn a_lock_out_comes_back_with_its_retry_after() {
    let (base, _) = serve(vec![(429, vec![("Retry-After", "60".into())], String::new())]);
    let e = client(&base).videos_with_tag("tag", T).await.unwrap_err();
    assert_eq!(e.lockout(), Some(Duration::from_secs(60)));
}

#[tokio::test]
async fn a_dead_port_is_a_transport_error() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = client(&format!("http://127.0.0.1:{port}"))
        .get(&VideoRef::new(Provider::Mux, VideoUid::parse("abc").unwrap()), T)
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::Transport(_)) && e.is_retryable(), "{e}");
}
