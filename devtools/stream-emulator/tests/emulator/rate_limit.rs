//! The global rate limit and its lockout (doc §4).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::Emulator;

#[tokio::test]
async fn exceeding_the_limit_locks_every_route_for_the_window() {
    let emulator = Emulator::start(&["--rate-limit", "3/2"]);
    emulator.copy(json!({"url": "http://127.0.0.1:9/v.mp4"})).await;
    for _ in 0..2 {
        let (status, _) = emulator.call(Method::GET, "", None).await;
        assert_eq!(status, StatusCode::OK);
    }

    let (status, headers, body) = emulator.call_raw(Method::GET, "", None).await.unwrap();
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "2");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({"success": false, "messages": [], "result": null,
               "errors": [{"code": 971, "message": "Please wait and consider throttling your request speed"}]})
    );
    // Every API call is refused now, whatever the route...
    let (status, _) = emulator.call(Method::POST, "/copy", Some(&json!({"url": "http://127.0.0.1:9/v.mp4"}))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // ...but the control API is not rate limited.
    assert_eq!(emulator.records().await.len(), 1);

    // After the window the lockout lifts.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, _) = emulator.call(Method::GET, "", None).await;
    assert_eq!(status, StatusCode::OK);

    let statuses: Vec<_> = emulator.requests().await.iter().map(|r| r["status"].clone()).collect();
    assert_eq!(statuses, [json!(200), json!(200), json!(200), json!(429), json!(429), json!(200)]);
}

#[tokio::test]
async fn reset_lifts_a_lockout_and_bad_tokens_do_not_count() {
    let emulator = Emulator::start(&["--rate-limit", "2/300"]);
    for _ in 0..5 {
        let response = emulator.http.get(emulator.stream_url("")).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    for expected in [StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS] {
        let (status, headers, _) = emulator.call_raw(Method::GET, "", None).await.unwrap();
        assert_eq!(status, expected);
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(headers["retry-after"], "300");
        }
    }
    emulator.control(Method::POST, "reset", None).await;
    let (status, _) = emulator.call(Method::GET, "", None).await;
    assert_eq!(status, StatusCode::OK);
}
