//! Signed webhook events (doc §9.5): envelope, `mux-signature`, order, retries.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Mux, Origin, next_delivery, signature_is_valid, webhook_receiver};

const SECRET: &str = "whsec-test-1234";

fn check_envelope(event: &Value, kind: &str, asset_id: &str) {
    assert_eq!(event["type"], format!("video.asset.{kind}"), "{event}");
    assert_eq!(event["object"], json!({"type": "asset", "id": asset_id}), "{event}");
    assert_eq!(event["data"]["id"], asset_id, "{event}");
    assert_eq!(event["environment"], json!({"id": "envtst", "name": "Test env"}), "{event}");
    let id = event["id"].as_str().unwrap();
    assert_eq!((id.len(), id.matches('-').count()), (36, 4), "a UUID: {id}");
    let created = event["created_at"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok() && created.ends_with('Z'), "{created}");
    assert!(event["attempts"].is_array(), "{event}");
    for field in ["accessor_source", "accessor", "request_id"] {
        assert_eq!(event[field], Value::Null, "{field}");
    }
}

fn start(hook: &str) -> Mux {
    Mux::start(&[
        "--webhook-url",
        hook,
        "--webhook-secret",
        SECRET,
        "--environment-id",
        "envtst",
        "--environment-name",
        "Test env",
    ])
}

#[tokio::test]
async fn created_ready_and_deleted_are_signed_and_in_order() {
    let origin = Origin::start().await;
    let (hook, mut deliveries) = webhook_receiver(vec![]).await;
    let mux = start(&hook);
    let asset = mux
        .create(json!({"inputs": [{"url": origin.url("/video.mp4")}], "playback_policies": ["public"],
            "passthrough": "claim-9"}))
        .await;
    let id = asset["id"].as_str().unwrap();

    let created = next_delivery(&mut deliveries).await;
    assert!(signature_is_valid(&created.signature, &created.body, SECRET), "{}", created.signature);
    assert!(!signature_is_valid(&created.signature, &created.body, "wrong-secret"));
    let header = &created.signature;
    assert!(header.starts_with("t=") && header.contains(",v1=") && header.matches('=').count() == 2, "{header}");
    let event = created.json();
    check_envelope(&event, "created", id);
    assert_eq!(event["data"]["status"], "preparing");
    assert_eq!(event["data"]["passthrough"], "claim-9");
    assert_eq!(event["attempts"], json!([]));

    let ready = next_delivery(&mut deliveries).await;
    assert!(signature_is_valid(&ready.signature, &ready.body, SECRET));
    let event = ready.json();
    check_envelope(&event, "ready", id);
    assert_eq!(event["data"]["status"], "ready");
    assert_eq!(event["data"]["passthrough"], "claim-9");
    assert_eq!(event["data"]["playback_ids"], asset["playback_ids"]);

    let (status, _, _) = mux.call_raw(Method::DELETE, &format!("/assets/{id}"), None).await.unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    let deleted = next_delivery(&mut deliveries).await;
    assert!(signature_is_valid(&deleted.signature, &deleted.body, SECRET));
    check_envelope(&deleted.json(), "deleted", id);

    // One event each, nothing more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(deliveries.try_recv().is_err());
}

#[tokio::test]
async fn errored_assets_are_announced() {
    let origin = Origin::start().await;
    let (hook, mut deliveries) = webhook_receiver(vec![]).await;
    let mux = start(&hook);
    let asset = mux.create(json!({"inputs": [{"url": origin.url("/forbidden")}]})).await;
    let created = next_delivery(&mut deliveries).await.json();
    assert_eq!(created["type"], "video.asset.created");
    let errored = next_delivery(&mut deliveries).await;
    assert!(signature_is_valid(&errored.signature, &errored.body, SECRET));
    let event = errored.json();
    check_envelope(&event, "errored", asset["id"].as_str().unwrap());
    assert_eq!(event["data"]["status"], "errored");
    assert_eq!(event["data"]["errors"]["type"], "invalid_input");
}

#[tokio::test]
async fn failed_deliveries_are_retried_resigned_and_keep_the_order() {
    let origin = Origin::start().await;
    let (hook, mut deliveries) =
        webhook_receiver(vec![StatusCode::INTERNAL_SERVER_ERROR, StatusCode::SERVICE_UNAVAILABLE]).await;
    let mux = start(&hook);
    let asset = mux.create(json!({"inputs": [{"url": origin.url("/video.mp4")}]})).await;
    let id = asset["id"].as_str().unwrap();

    let first = next_delivery(&mut deliveries).await;
    let second = next_delivery(&mut deliveries).await;
    let third = next_delivery(&mut deliveries).await;
    let ready = next_delivery(&mut deliveries).await;
    let events: Vec<Value> = [&first, &second, &third, &ready].iter().map(|d| d.json()).collect();
    for (delivery, event) in [&first, &second, &third, &ready].iter().zip(&events) {
        assert!(signature_is_valid(&delivery.signature, &delivery.body, SECRET), "{event}");
    }
    // The same event three times (same id), then ready: the asset was ready long before, but its
    // events wait for each other.
    let kinds: Vec<_> = events.iter().map(|e| e["type"].clone()).collect();
    assert_eq!(kinds, ["video.asset.created", "video.asset.created", "video.asset.created", "video.asset.ready"]);
    assert_eq!(events[0]["id"], events[2]["id"]);
    assert_ne!(events[2]["id"], events[3]["id"]);
    assert_eq!(mux.get_asset(id).await.1["data"]["status"], "ready");

    // Each retry lists the failed attempts before it.
    assert_eq!(events[0]["attempts"], json!([]));
    let attempts = events[2]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{}", events[2]);
    assert_eq!(attempts[0]["response_status_code"], 500);
    assert_eq!(attempts[1]["response_status_code"], 503);
    assert_eq!(attempts[0]["response_body"], "receiver not ready");
    assert_eq!(attempts[0]["address"], hook);
    assert_eq!(attempts[0]["max_attempts"], 4);
    assert_ne!(attempts[0]["id"], attempts[1]["id"]);
    assert_eq!(events[3]["attempts"], json!([]));
    let log = mux.stderr();
    assert!(log.contains(&format!("webhook for asset {id} (created): attempt 1/4 failed: HTTP 500")), "{log}");
    assert!(!log.contains(&hook), "the receiver URL is not logged");
}

#[tokio::test]
async fn without_a_webhook_nothing_is_sent() {
    let origin = Origin::start().await;
    let mux = Mux::start(&[]);
    let asset = mux.create(json!({"inputs": [{"url": origin.url("/video.mp4")}]})).await;
    mux.wait_for_status(asset["id"].as_str().unwrap(), &["ready"]).await;
    assert!(!mux.stderr().contains("webhook for"), "{}", mux.stderr());
}
