//! What an operator's `vinofy doctor` asks of the account: the token-verify endpoint, and the
//! `--require-head` option that makes the `/copy` fetch behave as Stream documents its origins
//! (HEAD first), so a GET-presigned S3 URL's answer to HEAD (403) decides the video.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{Method as HttpMethod, StatusCode as HttpStatus};
use axum::routing::get;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Emulator, Origin, TOKEN, serve};

#[tokio::test]
async fn token_verify_says_active_for_the_token_and_401_for_any_other() {
    let emulator = Emulator::start(&[]);
    let url = format!("{}/client/v4/user/tokens/verify", emulator.base);
    let ok = emulator.http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let body: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["result"]["status"], "active", "{body}");
    assert_eq!(body["result"]["id"].as_str().unwrap().len(), 32, "{body}");
    assert_eq!(body["messages"][0]["message"], "This API Token is valid and active");

    let bad = emulator.http.get(&url).bearer_auth("not-the-token").send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!((body["success"].clone(), body["errors"][0]["code"].clone()), (json!(false), json!(1000)), "{body}");
    let post = emulator.http.post(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);

    let routes: Vec<_> = emulator.requests().await.iter().map(|r| r["route"].clone()).collect();
    assert_eq!(routes, vec![json!("verify"), json!("verify"), json!("unknown")]);
    // The account's routes still want the right token.
    let (status, _) = emulator.call(Method::GET, "?limit=1", None).await;
    assert_eq!(status, StatusCode::OK);
}

/// An origin like S3 with a GET-presigned URL: GET serves the bytes, HEAD is refused (403).
/// Records each request's method.
async fn get_only_origin() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (on_get, on_head) = (seen.clone(), seen.clone());
    let router = Router::new()
        .route(
            "/get-only.mp4",
            get(move || async move {
                on_get.lock().unwrap().push("GET".to_owned());
                Origin::BODY
            })
            .head(move || async move {
                on_head.lock().unwrap().push("HEAD".to_owned());
                (HttpStatus::FORBIDDEN, "SignatureDoesNotMatch")
            }),
        )
        .route(
            "/both.mp4",
            get(|method: HttpMethod| async move {
                assert!(method == HttpMethod::GET || method == HttpMethod::HEAD);
                Origin::BODY
            }),
        );
    (serve(router).await, seen)
}

#[tokio::test]
async fn with_require_head_a_refused_head_fails_the_video_before_any_get() {
    let (base, seen) = get_only_origin().await;
    let emulator = Emulator::start(&["--require-head", "on"]);
    let video = emulator.copy(json!({"url": format!("{base}/get-only.mp4?X-Amz-Signature=abc")})).await;
    let uid = video["uid"].as_str().unwrap();
    let failed = emulator.wait_for_state(uid, &["error", "ready"]).await;
    assert_eq!(failed["status"]["state"], "error", "{failed}");
    assert_eq!(failed["status"]["errorReasonCode"], "ERR_FETCH_ORIGIN_ERROR");
    assert_eq!(
        failed["status"]["errorReasonText"],
        "The video failed to download from the URL: the origin answered HEAD with HTTP 403"
    );
    assert_eq!(*seen.lock().unwrap(), vec!["HEAD".to_owned()], "no GET after a refused HEAD");
    let record = emulator.record(uid).await;
    assert_eq!(record["fetch_status"], 403);
    assert_eq!(record["fetch_error"], "origin answered HEAD with HTTP 403");

    // An origin that answers HEAD is fetched as before.
    let video = emulator.copy(json!({"url": format!("{base}/both.mp4")})).await;
    let ready = emulator.wait_for_state(video["uid"].as_str().unwrap(), &["error", "ready"]).await;
    assert_eq!(ready["status"]["state"], "ready", "{ready}");
    assert!(!emulator.stderr().contains("X-Amz"), "no URL in the log");
}

#[tokio::test]
async fn without_require_head_the_fetch_is_a_plain_get() {
    let (base, seen) = get_only_origin().await;
    let emulator = Emulator::start(&[]);
    let video = emulator.copy(json!({"url": format!("{base}/get-only.mp4")})).await;
    let ready = emulator.wait_for_state(video["uid"].as_str().unwrap(), &["error", "ready"]).await;
    assert_eq!(ready["status"]["state"], "ready", "{ready}");
    assert_eq!(*seen.lock().unwrap(), vec!["GET".to_owned()]);
}
