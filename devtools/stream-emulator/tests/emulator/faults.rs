//! The fault-injection control API.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Emulator, Origin, TOKEN};

fn copy_body(origin: &Origin) -> Value {
    json!({"url": origin.url("/video.mp4"), "creator": "faults"})
}

async fn post_copy(emulator: &Emulator, client: &reqwest::Client, body: &Value) -> reqwest::Result<reqwest::Response> {
    client.post(emulator.stream_url("/copy")).bearer_auth(TOKEN).json(body).send().await
}

#[tokio::test]
async fn status_fault_fails_without_processing_then_clears() {
    let origin = Origin::start().await;
    let emulator = Emulator::start(&[]);
    emulator.add_faults(json!([{"route": "copy", "status": 503, "retry_after": 7, "times": 2}])).await;
    for _ in 0..2 {
        let (status, headers, body) =
            emulator.call_raw(Method::POST, "/copy", Some(&copy_body(&origin))).await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers["retry-after"], "7");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["success"], false);
        assert_eq!(body["result"], Value::Null);
        assert!(body["errors"][0]["code"].is_u64());
    }
    assert!(emulator.records().await.is_empty(), "a failed copy must not create a video");
    emulator.copy(copy_body(&origin)).await;
    assert_eq!(emulator.records().await.len(), 1);

    let requests = emulator.requests().await;
    let summary: Vec<_> =
        requests.iter().map(|r| (r["route"].clone(), r["status"].clone(), r["fault"].clone())).collect();
    assert_eq!(
        summary,
        [
            (json!("copy"), json!(503), json!("status")),
            (json!("copy"), json!(503), json!("status")),
            (json!("copy"), json!(200), Value::Null),
        ]
    );
    assert_eq!(requests[0]["method"], "POST");
}

#[tokio::test]
async fn faults_only_hit_their_route_and_any_hits_all() {
    let emulator = Emulator::start(&[]);
    emulator.add_faults(json!([{"route": "get", "status": 500}])).await;
    let (status, _) = emulator.call(Method::GET, "", None).await;
    assert_eq!(status, StatusCode::OK, "list is not get");
    let (status, _) = emulator.get_video(&"0".repeat(32)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);

    emulator.add_faults(json!([{"route": "any", "status": 502, "code": 1234, "message": "bad gateway"}])).await;
    let (status, body) = emulator.call(Method::GET, "", None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["errors"], json!([{"code": 1234, "message": "bad gateway"}]));

    // Clearing disarms everything.
    emulator.add_faults(json!([{"route": "any", "status": 500, "times": 100}])).await;
    let (status, body) = emulator.control(Method::DELETE, "faults", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = emulator.call(Method::GET, "", None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn drop_closes_the_connection_without_processing() {
    let origin = Origin::start().await;
    let emulator = Emulator::start(&[]);
    emulator.add_faults(json!([{"route": "copy", "drop": true}])).await;
    let error = post_copy(&emulator, &emulator.http, &copy_body(&origin)).await.unwrap_err();
    assert!(!error.is_timeout(), "{error:?}");
    assert!(emulator.records().await.is_empty());
    let requests = emulator.requests().await;
    assert_eq!(requests[0]["fault"], "drop");
    assert_eq!(requests[0]["status"], Value::Null);
    // The emulator itself is fine.
    emulator.copy(copy_body(&origin)).await;
}

#[tokio::test]
async fn hang_after_processing_creates_the_video_but_never_answers() {
    let origin = Origin::start().await;
    let emulator = Emulator::start(&[]);
    emulator.add_faults(json!([{"route": "copy", "hang_after_processing": true}])).await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let error = post_copy(&emulator, &impatient, &copy_body(&origin)).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");

    // "Cloudflare accepted the copy but the reply was lost": the video exists and proceeds.
    let records = emulator.records().await;
    assert_eq!(records.len(), 1);
    let uid = records[0]["video"]["uid"].as_str().unwrap();
    emulator.wait_for_state(uid, &["ready"]).await;
    let (_, body) = emulator.call(Method::GET, "?creator=faults", None).await;
    assert_eq!(body["total"], "1");
    assert_eq!(emulator.requests().await[0]["fault"], "hang_after_processing");
}

#[tokio::test]
async fn delay_slows_the_reply_but_succeeds() {
    let origin = Origin::start().await;
    let emulator = Emulator::start(&[]);
    emulator.add_faults(json!([{"route": "copy", "delay_ms": 300}])).await;
    let started = Instant::now();
    emulator.copy(copy_body(&origin)).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(emulator.requests().await[0]["fault"], "delay_ms");
}

#[tokio::test]
async fn success_false_malformed_json_and_missing_uid() {
    let origin = Origin::start().await;
    let emulator = Emulator::start(&[]);
    emulator
        .add_faults(json!([
            {"route": "copy", "success_false": true},
            {"route": "copy", "malformed_json": true},
            {"route": "copy", "missing_uid": true},
        ]))
        .await;

    let (status, body) = emulator.call(Method::POST, "/copy", Some(&copy_body(&origin))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], false);
    assert_eq!(body["result"], Value::Null);
    assert!(!body["errors"].as_array().unwrap().is_empty());
    assert!(emulator.records().await.is_empty(), "success:false creates nothing");

    let (status, headers, text) = emulator.call_raw(Method::POST, "/copy", Some(&copy_body(&origin))).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    assert!(text.starts_with('{'), "{text}");

    let (status, body) = emulator.call(Method::POST, "/copy", Some(&copy_body(&origin))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert!(body["result"].get("uid").is_none(), "{body}");
    assert_eq!(body["result"]["status"]["state"], "downloading");

    // Truncated and uid-less replies still created their videos.
    assert_eq!(emulator.records().await.len(), 2);
    let faults: Vec<_> = emulator.requests().await.iter().map(|r| r["fault"].clone()).collect();
    assert_eq!(faults, [json!("success_false"), json!("malformed_json"), json!("missing_uid")]);
}

#[tokio::test]
async fn invalid_fault_specs_are_rejected_and_reset_clears_everything() {
    let origin = Origin::start().await;
    let emulator = Emulator::start(&[]);
    for bad in [
        json!({"faults": [{"route": "copy"}]}),
        json!({"faults": [{"route": "copy", "drop": true, "status": 500}]}),
        json!({"faults": [{"route": "upload", "drop": true}]}),
        json!({"faults": [{"route": "copy", "dorp": true}]}),
        json!({"faults": [{"route": "copy", "drop": true}, {"route": "copy"}]}),
        json!([{"route": "copy", "drop": true}]),
    ] {
        let (status, body) = emulator.control(Method::POST, "faults", Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["error"].is_string());
    }
    let (_, pending) = emulator.control(Method::GET, "faults", None).await;
    assert_eq!(pending["pending"], json!([]), "all or nothing");

    emulator.copy(copy_body(&origin)).await;
    emulator.add_faults(json!([{"route": "any", "status": 500}])).await;
    let (status, body) = emulator.control(Method::POST, "reset", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(emulator.records().await.is_empty());
    assert!(emulator.requests().await.is_empty());
    let (status, _) = emulator.call(Method::GET, "", None).await;
    assert_eq!(status, StatusCode::OK);
}
