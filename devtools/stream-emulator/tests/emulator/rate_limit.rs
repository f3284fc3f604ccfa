//! The global rate limit and its lockout (doc §4).

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Emulator, Origin, TOKEN};

/// `GET /stream` (list) with this `Authorization` value and, if given, this `User-Agent`.
async fn list_as(emulator: &Emulator, authorization: &str, user_agent: Option<&str>) -> StatusCode {
    let mut request = emulator.http.get(emulator.stream_url("")).header("authorization", authorization);
    if let Some(user_agent) = user_agent {
        request = request.header("user-agent", user_agent);
    }
    request.send().await.unwrap().status()
}

async fn rate_limit_report(emulator: &Emulator) -> Value {
    let (status, body) = emulator.control(Method::GET, "rate-limit", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn epoch_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

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

#[tokio::test]
async fn rate_limit_report_counts_decisions_and_records_each_lockout_once() {
    let emulator = Emulator::start(&["--rate-limit", "3/2"]);
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        rate_limit_report(&emulator).await,
        json!({"limit": {"max_requests": 3, "window_seconds": 2}, "accepted": 0, "refused": 0, "lockouts": []})
    );

    // Never reach the limiter: a wrong token, a malformed Authorization header.
    assert_eq!(list_as(&emulator, "Bearer wrong", Some("burst/1")).await, StatusCode::FORBIDDEN);
    assert_eq!(list_as(&emulator, "Basic dXNlcjpwYXNz", Some("burst/1")).await, StatusCode::BAD_REQUEST);

    let before = epoch_ms();
    let statuses = [
        list_as(&emulator, &bearer, Some("burst/1")).await,
        list_as(&emulator, &bearer, Some("burst/1")).await,
        list_as(&emulator, &bearer, Some("burst/1")).await,
        list_as(&emulator, &bearer, Some("burst/1")).await,
    ];
    let after = epoch_ms();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);

    let report = rate_limit_report(&emulator).await;
    assert_eq!(report["accepted"], 3, "{report}");
    assert_eq!(report["refused"], 1, "{report}");
    let lockouts = report["lockouts"].as_array().unwrap();
    assert_eq!(lockouts.len(), 1, "{report}");
    let lockout = &lockouts[0];
    assert_eq!(lockout["user_agent"], "burst/1");
    let at_ms = lockout["at_ms"].as_i64().unwrap();
    assert!((before..=after).contains(&at_ms), "{before} <= {at_ms} <= {after}");
    assert_eq!(lockout["until_ms"].as_i64().unwrap() - at_ms, 2000, "{lockout}");
    // The lockout's time is the arrival time of the request the log shows as the first 429.
    let log = emulator.requests().await;
    let tripping = log.iter().find(|r| r["status"] == 429).unwrap();
    assert_eq!(tripping["at_ms"], lockout["at_ms"]);

    // During the lockout: one more refusal, no new lockout; bad tokens are still not counted.
    assert_eq!(list_as(&emulator, &bearer, Some("other/2")).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(list_as(&emulator, "Bearer wrong", None).await, StatusCode::FORBIDDEN);
    let report = rate_limit_report(&emulator).await;
    assert_eq!((report["accepted"].clone(), report["refused"].clone()), (json!(3), json!(2)), "{report}");
    assert_eq!(report["lockouts"], json!([lockout]));

    emulator.control(Method::POST, "reset", None).await;
    assert_eq!(
        rate_limit_report(&emulator).await,
        json!({"limit": {"max_requests": 3, "window_seconds": 2}, "accepted": 0, "refused": 0, "lockouts": []})
    );
    // A request without a User-Agent trips a lockout with `user_agent: null`.
    for _ in 0..4 {
        list_as(&emulator, &bearer, None).await;
    }
    let report = rate_limit_report(&emulator).await;
    assert_eq!((report["accepted"].clone(), report["refused"].clone()), (json!(3), json!(1)), "{report}");
    assert_eq!(report["lockouts"][0]["user_agent"], Value::Null, "{report}");
}

/// The in-flight limit (429, code 10011) is Stream's, not the rate limiter's: the limiter let that
/// request through.
#[tokio::test]
async fn in_flight_refusals_are_not_rate_limit_refusals() {
    let origin = Origin::start().await;
    let emulator = Emulator::start(&["--max-in-flight", "1", "--processing-delay-ms", "5000"]);
    let body = json!({"url": origin.url("/video.mp4")});
    emulator.copy(body.clone()).await;
    let (status, refused) = emulator.call(Method::POST, "/copy", Some(&body)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    assert_eq!(refused["errors"][0]["code"], 10011);
    let report = rate_limit_report(&emulator).await;
    assert_eq!(report["accepted"], 2, "{report}");
    assert_eq!(report["refused"], 0, "{report}");
    assert_eq!(report["lockouts"], json!([]));
}

#[tokio::test]
async fn request_log_has_arrival_time_and_user_agent() {
    let emulator = Emulator::start(&[]);
    let bearer = format!("Bearer {TOKEN}");
    let before = epoch_ms();
    assert_eq!(list_as(&emulator, &bearer, Some("vinofy-bench/0.1 (burst)")).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(list_as(&emulator, "Bearer wrong", None).await, StatusCode::FORBIDDEN);
    let after = epoch_ms();

    let log = emulator.requests().await;
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["user_agent"], "vinofy-bench/0.1 (burst)");
    assert_eq!(log[1]["user_agent"], Value::Null);
    let first = log[0]["at_ms"].as_i64().expect("at_ms is an integer");
    let second = log[1]["at_ms"].as_i64().expect("at_ms is an integer");
    assert!(before <= first && first + 20 <= second && second <= after, "{before} {first} {second} {after}");
    // The existing fields are unchanged.
    let mut keys: Vec<_> = log[1].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["at_ms", "fault", "method", "route", "status", "user_agent"]);
    assert_eq!((log[1]["method"].clone(), log[1]["route"].clone()), (json!("GET"), json!("list")));
    assert_eq!((log[1]["status"].clone(), log[1]["fault"].clone()), (json!(403), Value::Null));
}
