//! The fault-injection control API, with Mux's error shape.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Mux, Origin, TOKEN_ID, TOKEN_SECRET};

fn create_body(origin: &Origin) -> Value {
    json!({"inputs": [{"url": origin.url("/video.mp4?X-Amz-Signature=s1&a=b")}], "playback_policies": ["public"]})
}

async fn post_create(mux: &Mux, client: &reqwest::Client, body: &Value) -> reqwest::Result<reqwest::Response> {
    client.post(mux.api_url("/assets")).basic_auth(TOKEN_ID, Some(TOKEN_SECRET)).json(body).send().await
}

#[tokio::test]
async fn status_fault_fails_without_creating_then_clears() {
    let origin = Origin::start().await;
    let mux = Mux::start(&[]);
    mux.add_faults(json!([{"route": "create", "status": 503, "retry_after": 7, "times": 2}])).await;
    for _ in 0..2 {
        let (status, headers, body) = mux.call_raw(Method::POST, "/assets", Some(&create_body(&origin))).await.unwrap();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers["retry-after"], "7");
        assert!(headers.contains_key("x-ratelimit-remaining"));
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["type"], "internal_server_error");
        assert_eq!(body["error"]["messages"][0], "Service Unavailable (fault injected by mux-emulator)");
    }
    assert!(mux.records().await.is_empty(), "a failed create must not create an asset");
    mux.create(create_body(&origin)).await;
    assert_eq!(mux.records().await.len(), 1);
    let summary: Vec<_> =
        mux.requests().await.iter().map(|r| (r["route"].clone(), r["status"].clone(), r["fault"].clone())).collect();
    assert_eq!(
        summary,
        [
            (json!("create"), json!(503), json!("status")),
            (json!("create"), json!(503), json!("status")),
            (json!("create"), json!(201), Value::Null),
        ]
    );
}

#[tokio::test]
async fn faults_only_hit_their_route_and_messages_may_echo_the_url() {
    let origin = Origin::start().await;
    let mux = Mux::start(&[]);
    mux.add_faults(json!([{"route": "get", "status": 500}])).await;
    assert_eq!(mux.call(Method::GET, "/assets", None).await.0, StatusCode::OK, "list is not get");
    assert_eq!(mux.get_asset("x").await.0, StatusCode::INTERNAL_SERVER_ERROR);

    mux.add_faults(json!([{"route": "any", "status": 400, "type": "invalid_parameters",
        "message": "Input {url_query} rejected: {url_decoded}"}]))
        .await;
    let (status, body) = mux.call(Method::POST, "/assets", Some(&create_body(&origin))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let expected =
        format!("Input X-Amz-Signature=s1&a=b rejected: {}", origin.url("/video.mp4?X-Amz-Signature=s1&a=b"));
    assert_eq!(body, json!({"error": {"type": "invalid_parameters", "messages": [expected]}}));

    let (_, pending) = mux.control(Method::GET, "faults", None).await;
    assert_eq!(pending["pending"], json!([]));
    mux.add_faults(json!([{"route": "any", "status": 500, "times": 100}])).await;
    let (_, pending) = mux.control(Method::GET, "faults", None).await;
    assert_eq!(
        pending["pending"],
        json!([{"route": "any", "times": 100, "action": "status", "status": 500,
        "retry_after": null, "message": null}])
    );
    let (status, _) = mux.control(Method::DELETE, "faults", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mux.call(Method::GET, "/assets", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn drop_hang_delay() {
    let origin = Origin::start().await;
    let mux = Mux::start(&[]);
    // drop: connection closed, nothing created.
    mux.add_faults(json!([{"route": "create", "drop": true}])).await;
    let error = post_create(&mux, &mux.http, &create_body(&origin)).await.unwrap_err();
    assert!(!error.is_timeout(), "{error:?}");
    assert!(mux.records().await.is_empty());

    // hang_after_processing: the asset exists and proceeds, the reply never comes.
    mux.add_faults(json!([{"route": "create", "hang_after_processing": true}])).await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let error = post_create(&mux, &impatient, &create_body(&origin)).await.unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    let records = mux.records().await;
    assert_eq!(records.len(), 1);
    mux.wait_for_status(records[0]["asset"]["id"].as_str().unwrap(), &["ready"]).await;

    // delay_ms: slow but fine.
    mux.add_faults(json!([{"route": "list", "delay_ms": 300}])).await;
    let started = Instant::now();
    assert_eq!(mux.call(Method::GET, "/assets", None).await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let faults: Vec<_> = mux
        .requests()
        .await
        .iter()
        .filter(|r| !r["fault"].is_null())
        .map(|r| (r["fault"].clone(), r["status"].clone()))
        .collect();
    assert_eq!(
        faults,
        [(json!("drop"), Value::Null), (json!("hang_after_processing"), Value::Null), (json!("delay_ms"), json!(200)),]
    );
}

#[tokio::test]
async fn success_false_malformed_json_and_missing_id() {
    let origin = Origin::start().await;
    let mux = Mux::start(&[]);
    mux.add_faults(json!([
        {"route": "create", "success_false": true, "type": "invalid_parameters", "message": "nope"},
        {"route": "create", "malformed_json": true},
        {"route": "create", "missing_id": true},
        {"route": "list", "missing_uid": true},
        {"route": "delete", "malformed_json": true},
    ]))
    .await;
    let (status, body) = mux.call(Method::POST, "/assets", Some(&create_body(&origin))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"error": {"type": "invalid_parameters", "messages": ["nope"]}}));
    assert!(mux.records().await.is_empty());

    let (status, _, text) = mux.call_raw(Method::POST, "/assets", Some(&create_body(&origin))).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(serde_json::from_str::<Value>(&text).is_err() && text.starts_with("{\"data\""), "{text}");
    assert_eq!(mux.records().await.len(), 1, "malformed_json still creates");

    let (status, body) = mux.call(Method::POST, "/assets", Some(&create_body(&origin))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(body["data"].get("id").is_none() && body["data"]["status"] == "preparing", "{body}");
    let (_, list) = mux.call(Method::GET, "/assets", None).await;
    let items = list["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|a| a.get("id").is_none()), "{list}");

    let id = mux.records().await[0]["asset"]["id"].as_str().unwrap().to_owned();
    let (status, _, text) = mux.call_raw(Method::DELETE, &format!("/assets/{id}"), None).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    assert_eq!(mux.record(&id).await["deleted"], true);
}

#[tokio::test]
async fn invalid_fault_specs_are_rejected_all_or_nothing() {
    let mux = Mux::start(&[]);
    for bad in [
        json!([{"route": "copy", "drop": true}]),
        json!([{"route": "create"}]),
        json!([{"route": "create", "drop": true, "status": 500}]),
        json!([{"route": "create", "status": 500, "code": 10001}]),
        json!([{"route": "create", "dorp": true}]),
        json!([{"route": "get", "drop": true}, {"route": "create", "times": 0, "drop": true}]),
    ] {
        let (status, body) = mux.control(Method::POST, "faults", Some(json!({ "faults": bad }))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string());
    }
    let (_, pending) = mux.control(Method::GET, "faults", None).await;
    assert_eq!(pending["pending"], json!([]));
}
