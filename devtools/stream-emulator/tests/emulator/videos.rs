//! Get, edit, delete and list (doc §3).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Emulator, Origin};

async fn uids(emulator: &Emulator, query: &str) -> (Vec<String>, Value) {
    let (status, body) = emulator.call(Method::GET, query, None).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    let uids = body["result"].as_array().unwrap().iter().map(|v| v["uid"].as_str().unwrap().to_owned()).collect();
    (uids, body)
}

#[tokio::test]
async fn list_filters_and_orders() {
    let origin = Origin::start().await;
    let emulator = Emulator::start(&[]);
    let video = origin.url("/video.mp4");
    let a1 = emulator.copy(json!({"url": video, "creator": "alice", "meta": {"name": "Holiday 2024.mp4"}})).await;
    let b1 = emulator.copy(json!({"url": video, "creator": "bob", "meta": {"name": "holiday-cat.mov"}})).await;
    let a2 =
        emulator.copy(json!({"url": origin.url("/forbidden"), "creator": "alice", "meta": {"name": "other"}})).await;
    let [a1, b1, a2] = [a1, b1, a2].map(|v| v["uid"].as_str().unwrap().to_owned());
    emulator.wait_for_state(&a1, &["ready"]).await;
    emulator.wait_for_state(&b1, &["ready"]).await;
    emulator.wait_for_state(&a2, &["error"]).await;

    // Newest first by default; total and range are strings.
    let (all, body) = uids(&emulator, "").await;
    assert_eq!(all, [a2.as_str(), b1.as_str(), a1.as_str()]);
    assert_eq!(body["total"], "3");
    assert_eq!(body["range"], "3");
    assert_eq!(body["success"], true);

    assert_eq!(uids(&emulator, "?creator=alice").await.0, [a2.as_str(), a1.as_str()]);
    assert_eq!(uids(&emulator, "?creator=alice&asc=true").await.0, [a1.as_str(), a2.as_str()]);
    assert!(uids(&emulator, "?creator=carol").await.0.is_empty());
    assert_eq!(uids(&emulator, "?status=error").await.0, [a2.as_str()]);
    assert_eq!(uids(&emulator, "?status=ready,error&creator=bob").await.0, [b1.as_str()]);
    assert_eq!(uids(&emulator, "?video_name=holiday-cat.mov").await.0, [b1.as_str()]);
    assert_eq!(uids(&emulator, "?search=HOLIDAY&asc=true").await.0, [a1.as_str(), b1.as_str()]);
    assert_eq!(uids(&emulator, &format!("?id={a1},{b1}")).await.0, [b1.as_str(), a1.as_str()]);

    let (limited, body) = uids(&emulator, "?limit=1&include_counts=true").await;
    assert_eq!(limited, [a2.as_str()]);
    assert_eq!(body["total"], "3");
    assert_eq!(body["range"], "1");

    // Cursor paging on `created`: `before` is exclusive, `after` inclusive.
    let (_, first) = emulator.get_video(&b1).await;
    let created = first["result"]["created"].as_str().unwrap().to_owned();
    let before = format!("?before={}", created.replace(':', "%3A"));
    assert_eq!(uids(&emulator, &before).await.0, [a1.as_str()]);
    let after = format!("?after={}&asc=true", created.replace(':', "%3A"));
    assert_eq!(uids(&emulator, &after).await.0, [b1.as_str(), a2.as_str()]);

    for bad in ["?status=finished", "?limit=0", "?limit=x", "?asc=maybe", "?start=yesterday"] {
        let (status, body) = emulator.call(Method::GET, bad, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

#[tokio::test]
async fn delete_answers_empty_and_hides_the_video() {
    let emulator = Emulator::start(&[]);
    let uid = emulator.copy(json!({"url": "http://127.0.0.1:9/v.mp4", "creator": "c"})).await["uid"]
        .as_str()
        .unwrap()
        .to_owned();

    let (status, headers, body) = emulator.call_raw(Method::DELETE, &format!("/{uid}"), None).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "");
    assert!(headers.get("content-type").is_none());

    let (status, _) = emulator.get_video(&uid).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = emulator.call(Method::DELETE, &format!("/{uid}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = emulator.call(Method::POST, &format!("/{uid}"), Some(&json!({"creator": "x"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(uids(&emulator, "?creator=c").await.0.is_empty());

    let records = emulator.records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["deleted"], true);
}

#[tokio::test]
async fn edit_updates_fields_and_replaces_meta() {
    let emulator = Emulator::start(&[]);
    let video = emulator
        .copy(json!({"url": "http://127.0.0.1:9/v.mp4", "creator": "c", "meta": {"name": "n", "keep": "?"}}))
        .await;
    let uid = video["uid"].as_str().unwrap();
    let path = format!("/{uid}");
    // Let the background job finish so that only the edit changes the video from here on.
    let video = emulator.wait_for_state(uid, &["error"]).await;

    let (status, body) = emulator
        .call(
            Method::POST,
            &path,
            Some(&json!({"uid": uid, "meta": {"name": "renamed"}, "requireSignedURLs": true,
                         "creator": null, "maxDurationSeconds": 600})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let edited = &body["result"];
    // Replaced wholesale: `keep` and `downloaded-from` are gone.
    assert_eq!(edited["meta"], json!({"name": "renamed"}));
    assert_eq!(edited["requireSignedURLs"], true);
    assert_eq!(edited["creator"], Value::Null);
    assert_eq!(edited["maxDurationSeconds"], 600);
    assert!(edited["modified"].as_str().unwrap() > video["modified"].as_str().unwrap());
    assert_eq!(emulator.get_video(uid).await.1["result"], *edited);

    for bad in [
        json!({"uid": "0".repeat(32)}),
        json!({"meta": 1}),
        json!({"thumbnailTimestampPct": 2}),
        json!({"creator": "x".repeat(65)}),
    ] {
        let (status, body) = emulator.call(Method::POST, &path, Some(&bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}
