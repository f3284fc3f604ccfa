//! Create -> fetch -> ready / errored, get, delete, list paging, validation (doc §9.2-9.3).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Mux, Origin, is_mux_id, refused_url};

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn create_answers_201_preparing_then_fetches_the_url_as_sent() {
    let origin = Origin::start().await;
    let mux = Mux::start(&[]);
    let url = origin.url("/video.mp4?X-Amz-Signature=abc%2Bdef&X-Amz-Expires=300");
    let before = now_secs();
    let asset = mux
        .create(json!({"inputs": [{"url": url}], "playback_policies": ["public", "signed"],
            "passthrough": "claim-123", "video_quality": "plus", "meta": {"title": "Wine 1", "external_id": "e-1"}}))
        .await;
    assert!(is_mux_id(&asset["id"]), "{asset}");
    assert_eq!(asset["status"], "preparing");
    let created: i64 = asset["created_at"].as_str().expect("created_at is a string").parse().unwrap();
    assert!((before..=now_secs()).contains(&created), "{asset}");
    let ids = asset["playback_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 2);
    assert_eq!((ids[0]["policy"].clone(), ids[1]["policy"].clone()), (json!("public"), json!("signed")));
    assert!(ids.iter().all(|p| is_mux_id(&p["id"])) && ids[0]["id"] != ids[1]["id"], "{asset}");
    for (field, value) in [
        ("passthrough", json!("claim-123")),
        ("video_quality", json!("plus")),
        ("encoding_tier", json!("smart")),
        ("mp4_support", json!("none")),
        ("master_access", json!("none")),
        ("max_resolution_tier", json!("1080p")),
        ("ingest_type", json!("on_demand_url")),
        ("tracks", json!([])),
        ("progress", json!({"state": "ingesting", "progress": 0})),
        ("meta", json!({"title": "Wine 1", "external_id": "e-1"})),
    ] {
        assert_eq!(asset[field], value, "{field}: {asset}");
    }
    for absent in ["duration", "aspect_ratio", "resolution_tier", "errors", "test"] {
        assert!(asset.get(absent).is_none(), "{absent}: {asset}");
    }

    let id = asset["id"].as_str().unwrap();
    let ready = mux.wait_for_status(id, &["ready", "errored"]).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["progress"], json!({"state": "completed", "progress": 100}));
    // Transcoding off: nothing is known about the media.
    assert!(ready.get("duration").is_none() && ready["tracks"] == json!([]), "{ready}");
    assert_eq!(ready["playback_ids"], asset["playback_ids"]);
    assert_eq!(ready["created_at"], asset["created_at"]);

    // Exactly one GET, of the URL exactly as sent.
    assert_eq!(origin.seen(), ["/video.mp4?X-Amz-Signature=abc%2Bdef&X-Amz-Expires=300"]);
    let record = mux.record(id).await;
    assert_eq!(record["source_sha256"], Origin::sha256());
    assert_eq!(record["source_size"], Origin::BODY.len());
    assert_eq!(record["fetch_status"], 200);
    assert_eq!(record["input_url"], url);
    assert_eq!(record["deleted"], false);
    // The presigned URL never reaches the log.
    assert!(!mux.stderr().contains("X-Amz-Signature"), "{}", mux.stderr());
}

#[tokio::test]
async fn deprecated_input_and_playback_policy_are_accepted() {
    let origin = Origin::start().await;
    let mux = Mux::start(&[]);
    let string_input = mux.create(json!({"input": origin.url("/video.mp4"), "playback_policy": "public"})).await;
    assert_eq!(string_input["playback_ids"][0]["policy"], "public");
    let list_input = mux
        .create(json!({"input": [{"url": origin.url("/video.mp4")}, {"url": origin.url("/en.vtt"), "type": "text"}],
            "playback_policy": ["signed"], "encoding_tier": "premium"}))
        .await;
    assert_eq!(list_input["playback_ids"][0]["policy"], "signed");
    assert_eq!(
        (list_input["video_quality"].clone(), list_input["encoding_tier"].clone()),
        (json!("premium"), json!("premium"))
    );
    // No policy: no playback ids at all (and the default quality).
    let unplayable = mux.create(json!({"inputs": [{"url": origin.url("/video.mp4")}]})).await;
    assert!(unplayable.get("playback_ids").is_none(), "{unplayable}");
    assert_eq!(unplayable["video_quality"], "basic");
    for asset in [&string_input, &list_input, &unplayable] {
        mux.wait_for_status(asset["id"].as_str().unwrap(), &["ready"]).await;
    }
    // Only the main input is fetched.
    assert_eq!(origin.seen(), ["/video.mp4"; 3]);
}

#[tokio::test]
async fn invalid_bodies_are_400_invalid_parameters_and_create_nothing() {
    let mux = Mux::start(&[]);
    let url = "http://127.0.0.1:9/v.mp4";
    for (body, expected) in [
        (json!({}), "inputs is required"),
        (json!({"inputs": []}), "inputs must not be empty"),
        (json!({"inputs": [{"url": "ftp://h/x"}]}), "valid http(s) URL"),
        (json!({"inputs": [{"type": "video"}]}), "inputs[0].url is required"),
        (json!({"inputs": [{"url": url}], "passthrough": "x".repeat(256)}), "passthrough"),
        (json!({"inputs": [{"url": url}], "passthrough": 7}), "passthrough"),
        (json!({"inputs": [{"url": url}], "playback_policies": ["private"]}), "public or signed"),
        (json!({"inputs": [{"url": url}], "playback_policies": ["drm"]}), "drm"),
        (json!({"inputs": [{"url": url}], "video_quality": "best"}), "video_quality"),
        (json!({"inputs": [{"url": url}], "max_resolution_tier": "4k"}), "max_resolution_tier"),
        (json!({"inputs": [{"url": url}], "meta": {"title": "t".repeat(513)}}), "meta.title"),
        (json!({"inputs": [{"url": url}], "input": url}), "not both"),
        (json!([1, 2]), "JSON object"),
    ] {
        let (status, body) = mux.call(Method::POST, "/assets", Some(&body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{expected}: {body}");
        assert_eq!(body["error"]["type"], "invalid_parameters", "{body}");
        let messages = body["error"]["messages"].as_array().unwrap();
        assert!(messages.iter().any(|m| m.as_str().unwrap().contains(expected)), "{expected}: {body}");
        assert!(body.get("data").is_none());
    }
    let response = mux
        .http
        .post(mux.api_url("/assets"))
        .basic_auth(crate::support::TOKEN_ID, Some(crate::support::TOKEN_SECRET))
        .body("{\"inputs\": [{\"url\": \"https://secret.test/?X-Amz-Signature=zzz")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(!response.text().await.unwrap().contains("X-Amz-Signature"), "messages never echo the body");
    // 255 characters is fine.
    let asset = mux.create(json!({"inputs": [{"url": url}], "passthrough": "é".repeat(255)})).await;
    assert_eq!(asset["passthrough"].as_str().unwrap().chars().count(), 255);
    assert_eq!(mux.records().await.len(), 1);
}

#[tokio::test]
async fn unreachable_or_failing_origin_ends_errored() {
    let origin = Origin::start().await;
    let mux = Mux::start(&[]);
    for (url, status) in [(origin.url("/forbidden"), json!(403)), (refused_url(), Value::Null)] {
        let asset = mux.create(json!({"inputs": [{"url": url}], "playback_policies": ["public"]})).await;
        let id = asset["id"].as_str().unwrap();
        let errored = mux.wait_for_status(id, &["ready", "errored"]).await;
        assert_eq!(errored["status"], "errored", "{errored}");
        assert_eq!(errored["errors"]["type"], "invalid_input");
        let message = errored["errors"]["messages"][0].as_str().unwrap();
        assert!(message.contains("could not be downloaded"), "{message}");
        assert!(!message.contains("127.0.0.1"), "no URL in the message: {message}");
        assert_eq!(errored["progress"], json!({"state": "errored", "progress": -1}));
        let record = mux.record(id).await;
        assert_eq!(record["fetch_status"], status);
        assert!(record["fetch_error"].as_str().is_some_and(|e| !e.is_empty()), "{record}");
    }
}

#[tokio::test]
async fn get_and_delete() {
    let origin = Origin::start().await;
    let mux = Mux::start(&[]);
    let asset =
        mux.create(json!({"inputs": [{"url": origin.url("/video.mp4")}], "playback_policies": ["public"]})).await;
    let id = asset["id"].as_str().unwrap();
    let (status, body) = mux.get_asset(id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["id"], id);
    assert_eq!(body.as_object().unwrap().len(), 1, "only data: {body}");

    let (status, headers, text) = mux.call_raw(Method::DELETE, &format!("/assets/{id}"), None).await.unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(text.is_empty());
    assert!(headers.get("content-type").is_none(), "{headers:?}");
    let (status, body) = mux.get_asset(id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["type"], "not_found");
    let (status, _, _) = mux.call_raw(Method::DELETE, &format!("/assets/{id}"), None).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND, "deleting twice");
    let (_, list) = mux.call(Method::GET, "/assets", None).await;
    assert_eq!(list["data"], json!([]));
    // The emulator still knows it.
    let record = mux.record(id).await;
    assert_eq!(record["deleted"], true);
}

#[tokio::test]
async fn list_is_newest_first_with_page_and_cursor() {
    let mux = Mux::start(&["--processing-delay-ms", "60000"]);
    let mut ids = Vec::new();
    for n in 0..7 {
        let asset =
            mux.create(json!({"inputs": [{"url": "http://127.0.0.1:9/v.mp4"}], "passthrough": format!("n{n}")})).await;
        ids.push(asset["id"].as_str().unwrap().to_owned());
    }
    ids.reverse();
    let page_ids = |body: &Value| -> Vec<String> {
        body["data"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect()
    };

    let (status, all) = mux.call(Method::GET, "/assets", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page_ids(&all), ids, "newest first, default limit 25");
    assert_eq!(all["next_cursor"], Value::Null);

    let (_, page1) = mux.call(Method::GET, "/assets?limit=3&page=1", None).await;
    let (_, page2) = mux.call(Method::GET, "/assets?limit=3&page=2", None).await;
    let (_, page3) = mux.call(Method::GET, "/assets?limit=3&page=3", None).await;
    let (_, page4) = mux.call(Method::GET, "/assets?limit=3&page=4", None).await;
    assert_eq!(page_ids(&page1), ids[0..3]);
    assert_eq!(page_ids(&page2), ids[3..6]);
    assert_eq!(page_ids(&page3), ids[6..7]);
    assert_eq!(page4["data"], json!([]));

    // Cursor paging walks the same list, stable while new assets arrive.
    let mut cursor = page1["next_cursor"].as_str().expect("more to come").to_owned();
    let newcomer = mux.create(json!({"inputs": [{"url": "http://127.0.0.1:9/v.mp4"}]})).await;
    let mut walked = page_ids(&page1);
    loop {
        let (status, page) = mux.call(Method::GET, &format!("/assets?limit=3&cursor={cursor}"), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        walked.extend(page_ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(walked, ids);
    let (_, fresh) = mux.call(Method::GET, "/assets?limit=1", None).await;
    assert_eq!(fresh["data"][0]["id"], newcomer["id"]);

    for bad in ["limit=0", "limit=x", "page=0", "cursor=zz"] {
        let (status, body) = mux.call(Method::GET, &format!("/assets?{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["type"], "invalid_parameters");
    }
    // No filter by passthrough in Mux: the parameter changes nothing. Live streams and uploads
    // do not exist in the emulator.
    let (_, ignored) = mux.call(Method::GET, "/assets?passthrough=n1", None).await;
    assert_eq!(ignored["data"].as_array().unwrap().len(), 8);
    let (_, none) = mux.call(Method::GET, "/assets?upload_id=abc", None).await;
    assert_eq!(none["data"], json!([]));
    let (_, capped) = mux.call(Method::GET, "/assets?limit=1000", None).await;
    assert_eq!(capped["data"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn reset_forgets_everything() {
    let origin = Origin::start().await;
    let mux = Mux::start(&[]);
    mux.create(json!({"inputs": [{"url": origin.url("/video.mp4")}]})).await;
    mux.add_faults(json!([{"route": "get", "status": 500}])).await;
    let (status, _) = mux.control(Method::POST, "reset", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(mux.records().await.is_empty());
    assert!(mux.requests().await.is_empty());
    let (_, faults) = mux.control(Method::GET, "faults", None).await;
    assert_eq!(faults["pending"], json!([]));
    let (_, report) = mux.control(Method::GET, "rate-limit", None).await;
    assert_eq!(report["accepted"], 0);
}
