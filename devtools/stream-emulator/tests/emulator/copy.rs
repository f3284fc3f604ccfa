//! `POST /copy` and the background download / processing (doc §2).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Emulator, Origin, TOKEN, is_hex32, refused_url};

/// A presigned-looking URL: encoded characters that must reach the origin untouched.
const PRESIGNED_QUERY: &str =
    "?X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=deadbeef";

#[tokio::test]
async fn copy_downloads_the_source_and_becomes_ready() {
    let origin = Origin::start().await;
    let emulator = Emulator::start(&[]);
    let url = origin.url(&format!("/video.mp4{PRESIGNED_QUERY}"));

    let video = emulator
        .copy(json!({
            "url": url,
            "creator": "bucket/key.mp4",
            "meta": {"name": "key.mp4", "s3_key": "uploads/key.mp4"},
            "thumbnailTimestampPct": 0.25,
            "allowedOrigins": ["example.com"],
            "requireSignedURLs": true,
        }))
        .await;

    // The immediate reply: accepted, downloading, nothing known yet.
    let uid = video["uid"].as_str().unwrap().to_owned();
    assert!(is_hex32(&video["uid"]), "{video}");
    assert_eq!(
        video["status"],
        json!({"state": "downloading", "pctComplete": "0.000000", "errorReasonCode": "", "errorReasonText": ""})
    );
    assert_eq!(video["readyToStream"], false);
    assert_eq!(video["size"], 0);
    assert_eq!(video["duration"], -1);
    assert_eq!(video["input"], json!({"width": -1, "height": -1}));
    assert_eq!(video["creator"], "bucket/key.mp4");
    assert_eq!(video["thumbnailTimestampPct"], 0.25);
    assert_eq!(video["allowedOrigins"], json!(["example.com"]));
    assert_eq!(video["requireSignedURLs"], true);
    assert_eq!(video["uploadExpiry"], Value::Null);
    assert_eq!(video["watermark"], Value::Null);
    assert_eq!(video["maxSizeBytes"], 0);
    assert_eq!(video["maxDurationSeconds"], 0);
    assert_eq!(video["meta"], json!({"name": "key.mp4", "s3_key": "uploads/key.mp4", "downloaded-from": url}));
    let base = format!("{}/{uid}", emulator.base);
    assert_eq!(video["playback"]["hls"], format!("{base}/manifest/video.m3u8"));
    assert_eq!(video["playback"]["dash"], format!("{base}/manifest/video.mpd"));
    assert_eq!(video["thumbnail"], format!("{base}/thumbnails/thumbnail.jpg"));
    assert_eq!(video["preview"], format!("{base}/watch"));
    let created = video["created"].as_str().unwrap();
    // RFC 3339 with nanoseconds, UTC.
    assert_eq!(created.len(), "2020-10-16T20:20:17.872170843Z".len(), "{created}");
    assert!(created.ends_with('Z'));
    assert_eq!(video["modified"], created);
    assert_eq!(video["uploaded"], created);

    let ready = emulator.wait_for_state(&uid, &["ready"]).await;
    assert_eq!(ready["readyToStream"], true);
    assert_eq!(ready["status"]["pctComplete"], "100.000000");
    assert_eq!(ready["size"], Origin::BODY.len());
    assert!(ready["modified"].as_str().unwrap() > created);
    assert_eq!(ready["readyToStreamAt"], ready["modified"]);

    let record = emulator.record(&uid).await;
    assert_eq!(record["source_sha256"], Origin::sha256());
    assert_eq!(record["source_size"], Origin::BODY.len());
    assert_eq!(record["fetch_status"], 200);
    assert_eq!(record["fetch_error"], Value::Null);
    assert_eq!(record["deleted"], false);

    // Fetched once, with the URL exactly as given.
    assert_eq!(origin.seen(), vec![format!("/video.mp4{PRESIGNED_QUERY}")]);

    // The log names the request but never the token or the presigned URL.
    let log = emulator.stderr();
    assert!(log.contains("POST") && log.contains("(copy) -> 200"), "{log}");
    assert!(!log.contains(TOKEN), "{log}");
    assert!(!log.contains("X-Amz"), "{log}");
    assert!(!log.contains(&origin.base), "{log}");
}

#[tokio::test]
async fn input_field_and_upload_creator_header_are_accepted() {
    let origin = Origin::start().await;
    let emulator = Emulator::start(&[]);
    let response = emulator
        .http
        .post(emulator.stream_url("/copy"))
        .bearer_auth(TOKEN)
        .header("Upload-Creator", "from-header")
        .json(&json!({"input": origin.url("/video.mp4"), "name": "legacy name"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let video = response.json::<Value>().await.unwrap()["result"].clone();
    assert_eq!(video["creator"], "from-header");
    assert_eq!(video["meta"]["name"], "legacy name");
    emulator.wait_for_state(video["uid"].as_str().unwrap(), &["ready"]).await;
}

#[tokio::test]
async fn unreachable_or_failing_origin_ends_in_fetch_error() {
    let origin = Origin::start().await;
    let emulator = Emulator::start(&[]);
    for (url, fetch_status) in [(origin.url("/forbidden?X-Amz-Signature=x"), json!(403)), (refused_url(), Value::Null)]
    {
        let video = emulator.copy(json!({ "url": url })).await;
        let uid = video["uid"].as_str().unwrap();
        let failed = emulator.wait_for_state(uid, &["error", "ready"]).await;
        assert_eq!(failed["status"]["state"], "error");
        assert_eq!(failed["status"]["errorReasonCode"], "ERR_FETCH_ORIGIN_ERROR");
        assert_eq!(failed["status"]["errorReasonText"], "The video failed to download from the URL");
        assert_eq!(failed["readyToStream"], false);
        let record = emulator.record(uid).await;
        assert_eq!(record["fetch_status"], fetch_status);
        assert!(record["fetch_error"].is_string(), "{record}");
        assert!(!record["fetch_error"].as_str().unwrap().contains("127.0.0.1"), "{record}");
        assert_eq!(record["source_sha256"], Value::Null);
    }
    let log = emulator.stderr();
    assert!(log.contains("fetch failed"), "{log}");
    assert!(!log.contains("X-Amz"), "{log}");
}

#[tokio::test]
async fn invalid_copy_requests_are_400_and_create_nothing() {
    let emulator = Emulator::start(&[]);
    let good = "https://bucket.s3.amazonaws.com/key.mp4";
    let bodies = [
        json!({}),
        json!({"url": ""}),
        json!({"url": "not a url"}),
        json!({"url": "ftp://host/video.mp4"}),
        json!({"url": 42}),
        json!({"url": good, "input": "https://elsewhere.test/other.mp4"}),
        json!({"url": good, "creator": "x".repeat(65)}),
        json!({"url": good, "creator": 7}),
        json!({"url": good, "meta": "name=x"}),
        json!({"url": good, "meta": ["x"]}),
        json!({"url": good, "thumbnailTimestampPct": 1.5}),
        json!({"url": good, "thumbnailTimestampPct": -0.1}),
        json!({"url": good, "requireSignedURLs": "yes"}),
        json!({"url": good, "allowedOrigins": "example.com"}),
        json!({"url": good, "scheduledDeletion": "tomorrow"}),
        json!({"url": good, "scheduledDeletion": "2000-01-01T00:00:00Z"}),
        json!([good]),
    ];
    for body in &bodies {
        let (status, envelope) = emulator.call(Method::POST, "/copy", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(envelope["success"], false, "{body}");
        assert_eq!(envelope["result"], Value::Null, "{body}");
        assert_eq!(envelope["errors"][0]["code"], 10005, "{body}");
    }
    // Malformed JSON.
    let response = emulator
        .http
        .post(emulator.stream_url("/copy"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(r#"{"url": "https://bucket.s3.amazonaws.com/key.mp4""#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(emulator.records().await.is_empty());

    // Boundaries that are valid.
    emulator
        .copy(json!({"url": good, "creator": "é".repeat(64), "thumbnailTimestampPct": 1,
                     "scheduledDeletion": "2999-01-01T00:00:00Z", "meta": {}}))
        .await;
}

/// Stream's concurrency limit: a copy beyond `--max-in-flight` videos downloading, queued or in
/// progress gets 429 with no `retry-after` (no lock-out) and makes nothing; once one finishes, a
/// copy goes through again.
#[tokio::test]
async fn copies_beyond_the_in_flight_limit_get_429_until_one_finishes() {
    let origin = Origin::start().await;
    let emulator = Emulator::start(&["--max-in-flight", "1", "--processing-delay-ms", "300", "--transcode", "off"]);
    let first = emulator.copy(json!({"url": origin.url("/video.mp4")})).await;
    let body = json!({"url": origin.url("/video.mp4")});
    let (status, refused) = emulator.call(Method::POST, "/copy", Some(&body)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert_eq!(refused["success"], false);
    assert!(refused["errors"][0]["message"].as_str().unwrap().contains("at most 1"), "{refused}");
    assert_eq!(emulator.records().await.len(), 1, "the refused copy made nothing");
    emulator.wait_for_state(first["uid"].as_str().unwrap(), &["ready"]).await;
    let (status, _) = emulator.call(Method::POST, "/copy", Some(&body)).await;
    assert_eq!(status, StatusCode::OK, "a slot is free again");
}
