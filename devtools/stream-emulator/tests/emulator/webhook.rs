//! Webhook subscription and signed deliveries (doc §5).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Emulator, Origin, is_hex32, next_delivery, signature_is_valid, webhook_receiver};

#[tokio::test]
async fn subscription_lifecycle_rotates_the_secret() {
    let emulator = Emulator::start(&[]);
    let (status, _) = emulator.call(Method::GET, "/webhook", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let url = "http://127.0.0.1:9/hook";
    let (status, body) = emulator.call(Method::PUT, "/webhook", Some(&json!({"notificationUrl": url}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = body["result"].clone();
    assert_eq!(first["notificationUrl"], url);
    assert_eq!(first["notification_url"], url);
    assert!(is_hex32(&first["secret"]), "{first}");
    assert!(first["modified"].is_string());

    // Same URL again (snake_case field this time): a new secret.
    let (_, body) = emulator.call(Method::PUT, "/webhook", Some(&json!({"notification_url": url}))).await;
    let second = body["result"].clone();
    assert_ne!(second["secret"], first["secret"]);
    let (status, body) = emulator.call(Method::GET, "/webhook", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"], second);

    for bad in [json!({}), json!({"notificationUrl": "not a url"}), json!({"notificationUrl": 5})] {
        let (status, _) = emulator.call(Method::PUT, "/webhook", Some(&bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }

    let (status, body) = emulator.call(Method::DELETE, "/webhook", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    let (status, _) = emulator.call(Method::GET, "/webhook", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let routes: Vec<_> = emulator.requests().await.iter().map(|r| r["route"].clone()).collect();
    assert!(routes.iter().all(|r| r == "webhook"), "{routes:?}");
}

#[tokio::test]
async fn ready_and_error_videos_are_delivered_signed_without_envelope() {
    let origin = Origin::start().await;
    let (hook_url, mut deliveries) = webhook_receiver(vec![]).await;
    let emulator = Emulator::start(&[]);
    let (_, body) = emulator.call(Method::PUT, "/webhook", Some(&json!({"notificationUrl": hook_url}))).await;
    let secret = body["result"]["secret"].as_str().unwrap().to_owned();

    let good = emulator.copy(json!({"url": origin.url("/video.mp4"), "meta": {"name": "good"}})).await;
    let delivery = next_delivery(&mut deliveries).await;
    assert!(signature_is_valid(&delivery.signature, &delivery.body, &secret), "{}", delivery.signature);
    assert!(!signature_is_valid(&delivery.signature, &delivery.body, "wrong-secret"));
    let video = delivery.json();
    assert_eq!(video["uid"], good["uid"]);
    assert!(video.get("success").is_none() && video.get("result").is_none(), "bare Video: {video}");
    assert_eq!(video["status"]["state"], "ready");
    assert_eq!(video["readyToStream"], true);
    assert_eq!(video["size"], Origin::BODY.len());

    let bad = emulator.copy(json!({"url": origin.url("/forbidden")})).await;
    let delivery = next_delivery(&mut deliveries).await;
    assert!(signature_is_valid(&delivery.signature, &delivery.body, &secret));
    let video = delivery.json();
    assert_eq!(video["uid"], bad["uid"]);
    assert_eq!(video["status"]["state"], "error");
    assert_eq!(video["status"]["errorReasonCode"], "ERR_FETCH_ORIGIN_ERROR");

    // Exactly one delivery per finished video.
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(deliveries.try_recv().is_err());
}

#[tokio::test]
async fn webhook_from_flags_is_retried_after_a_failure() {
    let origin = Origin::start().await;
    let (hook_url, mut deliveries) = webhook_receiver(vec![StatusCode::INTERNAL_SERVER_ERROR]).await;
    let secret = "85011ed3a913c6ad5f9cf6c5573cc0a7";
    let emulator = Emulator::start(&["--webhook-url", &hook_url, "--webhook-secret", secret]);
    let (status, body) = emulator.call(Method::GET, "/webhook", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["secret"], secret);

    let video = emulator.copy(json!({"url": origin.url("/video.mp4")})).await;
    let first = next_delivery(&mut deliveries).await;
    let retry = next_delivery(&mut deliveries).await;
    for delivery in [&first, &retry] {
        assert!(signature_is_valid(&delivery.signature, &delivery.body, secret));
        assert_eq!(delivery.json()["uid"], video["uid"]);
    }
    assert_eq!(first.body, retry.body);
    assert!(emulator.stderr().contains("attempt 1/4 failed: HTTP 500"), "{}", emulator.stderr());
}
