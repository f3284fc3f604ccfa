//! The video's life after the copy: the readiness webhook through the real `webhook` binary behind
//! a local Function URL (signed deliveries from the emulator), and deletion sync through `ingest`.

use std::sync::Arc;

use serde_json::{Value, json};
use vinofy_adapters::cloudflare::signature::sign;
use vinofy_core::domain::s3_key::encode_s3_key;
use vinofy_test_support::harness::function_url::FunctionUrl;
use vinofy_test_support::harness::*;

const WEBHOOK_SECRET: &str = "whsec-local-0123456789abcdef";

/// The world with the emulator's webhook pointed at the real `webhook` function.
struct Lifecycle {
    world: World,
    ingest: Function,
    webhook_url: String,
    _webhook: Arc<Function>,
}

async fn lifecycle() -> Lifecycle {
    // The webhook function needs the table before the emulator knows its URL: start it first.
    let placeholder = World::new().await;
    let mut env: std::collections::HashMap<String, String> = placeholder.env().into_iter().collect();
    env.remove("CLOUDFLARE_API_TOKEN");
    env.insert("CLOUDFLARE_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into());
    let webhook = Arc::new(Function::start_binary(env!("CARGO_BIN_EXE_webhook"), env).await);
    let url = FunctionUrl::start(webhook.clone()).await.url;
    let world = placeholder.with_emulator(&["--webhook-url", &url, "--webhook-secret", WEBHOOK_SECRET]);
    let ingest = Function::start(&world, &[]).await;
    Lifecycle { world, ingest, webhook_url: url, _webhook: webhook }
}

async fn post_webhook(url: &str, body: &str, signature: Option<String>) -> (u16, String) {
    let mut req = reqwest::Client::new().post(url).body(body.to_owned());
    if let Some(sig) = signature {
        req = req.header("Webhook-Signature", sig);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn now() -> i64 {
    vinofy_core::ingest::now_ms() / 1000
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_ready_webhook_makes_the_record_ready() {
    let l = lifecycle().await;
    let reply = response(l.ingest.invoke(&l.world.upload("videos/ready.mp4", &sample_video()).await).await);
    let uid = reply["records"][0]["video_uid"].as_str().unwrap().to_owned();
    let record = l.world.wait_status("videos/ready.mp4", "ready").await;
    assert_eq!(s(&record, "stream_state").unwrap(), "ready");
    assert_eq!(s(&record, "video_uid").unwrap(), uid);
    chrono::DateTime::parse_from_rfc3339(&s(&record, "ready_at").unwrap()).unwrap();
    assert!(record.contains_key("stream_modified_ns"));
    assert_eq!(record["stream_size"].as_n().unwrap(), &sample_video().len().to_string());
    assert!(!record.contains_key("error"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_fetch_reaches_the_record_as_error() {
    let l = lifecycle().await;
    // A notification for an object that is not there: Cloudflare cannot fetch it.
    let event = l.world.created_event("videos/missing.mp4", 1000, "0123456789abcdef0123456789abcdef", "0A");
    assert_eq!(response(l.ingest.invoke(&event).await)["records"][0]["outcome"], "submitted");
    let record = l.world.wait_status("videos/missing.mp4", "error").await;
    assert_eq!(s(&record, "stream_state").unwrap(), "error");
    assert_eq!(s(&record, "stream_error_code").unwrap(), "ERR_FETCH_ORIGIN_ERROR");
    assert!(s(&record, "error").unwrap().starts_with("ERR_FETCH_ORIGIN_ERROR: "));
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_forged_stale_and_out_of_order_deliveries_change_nothing() {
    let l = lifecycle().await;
    let reply = response(l.ingest.invoke(&l.world.upload("videos/guarded.mp4", &sample_video()).await).await);
    let uid = reply["records"][0]["video_uid"].as_str().unwrap().to_owned();
    let ready = l.world.wait_status("videos/guarded.mp4", "ready").await;

    let error_body = json!({"uid": uid, "readyToStream": false, "modified": "2099-01-01T00:00:00.5Z",
        "status": {"state": "error", "errorReasonCode": "ERR_MALFORMED_VIDEO", "errorReasonText": "forged"}})
    .to_string();
    let cases = [
        ("unsigned", None),
        ("forged", Some(sign(error_body.as_bytes(), b"not the secret", now()))),
        ("replayed 10 minutes later", Some(sign(error_body.as_bytes(), WEBHOOK_SECRET.as_bytes(), now() - 600))),
        ("garbage header", Some("time=abc,sig1=zz".to_owned())),
    ];
    for (what, signature) in cases {
        let (status, _) = post_webhook(&l.webhook_url, &error_body, signature).await;
        assert_eq!(status, 401, "{what}");
    }
    assert_eq!(l.world.record("videos/guarded.mp4").await.unwrap(), ready, "nothing changed");

    // Signed, but older than what the record holds (an out-of-order or repeated delivery).
    let stale = json!({"uid": uid, "modified": "2000-01-01T00:00:00Z", "status": {"state": "inprogress"}}).to_string();
    let (status, body) =
        post_webhook(&l.webhook_url, &stale, Some(sign(stale.as_bytes(), WEBHOOK_SECRET.as_bytes(), now()))).await;
    assert_eq!((status, body.contains("ignored")), (200, true), "{body}");
    assert_eq!(l.world.record("videos/guarded.mp4").await.unwrap(), ready, "never moves backwards");

    // Signed, for a video no record knows: 2xx so Cloudflare stops retrying.
    let unknown = json!({"uid": "ffffffffffffffffffffffffffffffff", "status": {"state": "ready"}}).to_string();
    let (status, body) =
        post_webhook(&l.webhook_url, &unknown, Some(sign(unknown.as_bytes(), WEBHOOK_SECRET.as_bytes(), now()))).await;
    assert_eq!((status, body.contains("unknown video")), (200, true), "{body}");

    // Signed and newer: applied (the record follows Cloudflare's latest word).
    let (status, _) =
        post_webhook(&l.webhook_url, &error_body, Some(sign(error_body.as_bytes(), WEBHOOK_SECRET.as_bytes(), now())))
            .await;
    assert_eq!(status, 200);
    let record = l.world.record("videos/guarded.mp4").await.unwrap();
    assert_eq!(s(&record, "status").unwrap(), "error");
    assert_eq!(s(&record, "error").unwrap(), "ERR_MALFORMED_VIDEO: forged");
}

fn removed_event(world: &World, key: &str, sequencer: &str) -> Value {
    json!({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": "2026-11-25T10:00:00.000Z", "eventName": "ObjectRemoved:Delete",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": world.bucket},
               "object": {"key": encode_s3_key(key), "sequencer": sequencer}}}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_source_deletes_the_video_and_keeps_a_deleted_record() {
    let world = World::new().await;
    let ingest = Function::start(&world, &[]).await;
    let key = "videos/to delete (1).mp4";
    let etag = world.put_object(key, &sample_video()).await;
    let reply = response(ingest.invoke(&world.created_event(key, sample_video().len(), &etag, "0A")).await);
    let uid = reply["records"][0]["video_uid"].as_str().unwrap().to_owned();

    let reply = response(ingest.invoke(&removed_event(&world, key, "0B")).await);
    assert_eq!(reply["records"][0]["outcome"], "deleted", "{reply}");
    let video = world.videos().await.into_iter().find(|v| v["video"]["uid"] == uid.as_str()).unwrap();
    assert_eq!(video["deleted"], true);
    let record = world.record(key).await.unwrap();
    assert_eq!(s(&record, "status").unwrap(), "deleted");
    chrono::DateTime::parse_from_rfc3339(&s(&record, "deleted_at").unwrap()).unwrap();
    assert_eq!(s(&record, "video_uid").unwrap(), uid, "kept for history");

    // Redelivered: nothing more to do. A delete of an object never ingested: a no-op.
    assert_eq!(response(ingest.invoke(&removed_event(&world, key, "0B")).await)["records"][0]["outcome"], "duplicate");
    let calls = world.emulator_get("/__emulator/requests").await.as_array().unwrap().len();
    assert_eq!(
        response(ingest.invoke(&removed_event(&world, "docs/notes.txt", "0C")).await)["records"][0]["outcome"],
        "ignored"
    );
    assert_eq!(world.emulator_get("/__emulator/requests").await.as_array().unwrap().len(), calls, "no Cloudflare call");

    // Uploaded again after the delete (same bytes, so the same eTag): a new video.
    let again = response(ingest.invoke(&world.created_event(key, sample_video().len(), &etag, "0D")).await);
    assert_eq!(again["records"][0]["outcome"], "submitted", "{again}");
    assert_ne!(again["records"][0]["video_uid"], json!(uid));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_delete_never_deletes_the_newer_upload() {
    let world = World::new().await;
    let ingest = Function::start(&world, &[]).await;
    let key = "videos/raced.mp4";
    let etag1 = world.put_object(key, b"first upload").await;
    response(ingest.invoke(&world.created_event(key, 12, &etag1, "0A")).await);
    let etag2 = world.put_object(key, b"second upload").await;
    let second = response(ingest.invoke(&world.created_event(key, 13, &etag2, "0C")).await);
    let new_uid = second["records"][0]["video_uid"].as_str().unwrap().to_owned();

    // The delete happened between the two uploads (sequencer 0B) but arrives last.
    let reply = response(ingest.invoke(&removed_event(&world, key, "0B")).await);
    assert_eq!(reply["records"][0]["outcome"], "outdated", "{reply}");
    let record = world.record(key).await.unwrap();
    assert_eq!(s(&record, "status").unwrap(), "submitted");
    assert_eq!(s(&record, "video_uid").unwrap(), new_uid);
    let video = world.videos().await.into_iter().find(|v| v["video"]["uid"] == new_uid.as_str()).unwrap();
    assert_eq!(video["deleted"], false);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_that_outruns_the_completing_write_asks_for_a_redelivery() {
    let l = lifecycle().await;
    let event = l.world.upload("videos/early.mp4", &sample_video()).await;
    // The ingest claimed the version and Cloudflare accepted the copy, but the record is not complete.
    let object = World::announced_object(&event);
    l.world.leave_claim(&object, 60_000).await;
    let now = vinofy_core::ingest::now_ms();
    let body = json!({"uid": "0123456789abcdef0123456789abcdef", "creator": object.version_tag(),
        "meta": {"source": object.source(), "downloaded-from": "http://s3/presigned?X-Amz-Signature=x"},
        "modified": "2026-11-25T10:00:00Z", "readyToStream": true, "status": {"state": "ready"}})
    .to_string();
    let signed = || Some(sign(body.as_bytes(), WEBHOOK_SECRET.as_bytes(), now / 1000));
    let (status, text) = post_webhook(&l.webhook_url, &body, signed()).await;
    assert_eq!(status, 503, "Cloudflare must deliver again: {text}");
    assert_eq!(s(&l.world.record("videos/early.mp4").await.unwrap(), "status").unwrap(), "pending");

    // Another object's creator naming this source: not ours, so just unknown (2xx, no change).
    let foreign = body.replace(&object.version_tag(), &"f".repeat(64));
    let (status, _) =
        post_webhook(&l.webhook_url, &foreign, Some(sign(foreign.as_bytes(), WEBHOOK_SECRET.as_bytes(), now / 1000)))
            .await;
    assert_eq!(status, 200);
}
