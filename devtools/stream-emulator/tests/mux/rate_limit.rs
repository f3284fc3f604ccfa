//! Mux's rate limits: POSTs 1/s sustained with a burst, others 5/s, 429 without lock-out.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Mux, TOKEN_ID};

fn create_body() -> Value {
    json!({"inputs": [{"url": "http://127.0.0.1:9/v.mp4"}]})
}

#[tokio::test]
async fn posts_burst_then_429_then_recover_without_lockout() {
    let mux = Mux::start(&[
        "--post-rate-limit",
        "1/1",
        "--post-burst",
        "2",
        "--other-rate-limit",
        "5/1",
        "--other-burst",
        "3",
    ]);
    let mut remaining = Vec::new();
    for _ in 0..2 {
        let (status, headers, _) = mux.call_raw(Method::POST, "/assets", Some(&create_body())).await.unwrap();
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(headers["x-ratelimit-limit"], "2");
        remaining.push(headers["x-ratelimit-remaining"].to_str().unwrap().to_owned());
    }
    assert_eq!(remaining, ["1", "0"]);
    let (status, headers, body) = mux.call_raw(Method::POST, "/assets", Some(&create_body())).await.unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        (headers["x-ratelimit-limit"].clone(), headers["x-ratelimit-remaining"].clone()),
        ("2".parse().unwrap(), "0".parse().unwrap())
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"]["type"], "too_many_requests");
    assert!(body["error"]["messages"][0].is_string());
    assert_eq!(mux.records().await.len(), 2, "a refused create makes nothing");

    // GETs have their own bucket.
    let (status, _) = mux.call(Method::GET, "/assets", None).await;
    assert_eq!(status, StatusCode::OK);

    // No lock-out: one token is back after a second.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    let (status, _, _) = mux.call_raw(Method::POST, "/assets", Some(&create_body())).await.unwrap();
    assert_eq!(status, StatusCode::CREATED);
    let (status, _, _) = mux.call_raw(Method::POST, "/assets", Some(&create_body())).await.unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    let (status, report) = mux.control(Method::GET, "rate-limit", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["post"], json!({"limit": "1/1", "burst": 2, "accepted": 3, "refused": 2}));
    assert_eq!(report["other"], json!({"limit": "5/1", "burst": 3, "accepted": 1, "refused": 0}));
    assert_eq!((report["accepted"].clone(), report["refused"].clone()), (json!(4), json!(2)));
    let refusals = report["refusals"].as_array().unwrap();
    assert_eq!(refusals.len(), 2);
    assert_eq!(refusals[0]["bucket"], "post");
    let log = mux.requests().await;
    let first_429 = log.iter().find(|r| r["status"] == 429).unwrap();
    assert_eq!(first_429["at_ms"], refusals[0]["at_ms"]);
}

#[tokio::test]
async fn other_methods_share_their_bucket_and_bad_credentials_do_not_count() {
    let mux = Mux::start(&["--other-rate-limit", "5/1", "--other-burst", "3"]);
    for _ in 0..5 {
        let response = mux.http.get(mux.api_url("/assets")).basic_auth(TOKEN_ID, Some("wrong")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let statuses = [
        mux.call(Method::GET, "/assets", None).await.0,
        mux.call(Method::GET, "/assets/nope", None).await.0,
        mux.call(Method::DELETE, "/assets/nope", None).await.0,
        mux.call(Method::GET, "/assets", None).await.0,
    ];
    assert_eq!(statuses, [StatusCode::OK, StatusCode::NOT_FOUND, StatusCode::NOT_FOUND, StatusCode::TOO_MANY_REQUESTS]);
    // The control API is not rate limited, and reset refills the buckets.
    mux.control(Method::POST, "reset", None).await;
    assert_eq!(mux.call(Method::GET, "/assets", None).await.0, StatusCode::OK);
}

#[tokio::test]
async fn default_limits_are_muxs_one_post_per_second() {
    let mux = Mux::launch(
        &[
            "--listen",
            "127.0.0.1:0",
            "--token-id",
            TOKEN_ID,
            "--token-secret",
            crate::support::TOKEN_SECRET,
            "--transcode",
            "off",
        ],
        &[],
    );
    let (_, report) = mux.control(Method::GET, "rate-limit", None).await;
    assert_eq!(report["post"]["limit"], "1/1");
    assert_eq!(report["other"]["limit"], "5/1");
    let burst = report["post"]["burst"].as_u64().unwrap();
    let mut created = 0;
    for _ in 0..burst + 1 {
        let (status, _, _) = mux.call_raw(Method::POST, "/assets", Some(&create_body())).await.unwrap();
        if status == StatusCode::CREATED {
            created += 1;
        } else {
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        }
    }
    assert!(created >= burst && created <= burst + 1, "{created} of {}", burst + 1);
}
