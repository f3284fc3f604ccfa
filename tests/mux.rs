//! End-to-end with `VIDEO_PROVIDER=mux`: the real `ingest` and `webhook` binaries against s3s-fs,
//! moto and the Mux emulator (devtools/stream-emulator, MUX.md), with its limits and faults.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use vinofy_adapters::mux::signature::sign;
use vinofy_core::domain::object::ObjectVersion;
use vinofy_test_support::harness::function_url::FunctionUrl;
use vinofy_test_support::harness::*;

const MUX: [(&str, &str); 1] = [("VIDEO_PROVIDER", "mux")];
const WEBHOOK_SECRET: &str = "mux-whsec-local-0123456789abcdef";

fn outcome(reply: &Value) -> &str {
    reply["records"][0]["outcome"].as_str().unwrap_or_default()
}

fn version_tag(world: &World, key: &str, record: &Record) -> String {
    ObjectVersion {
        bucket: world.bucket.clone(),
        key: key.to_owned(),
        size: 0,
        etag: s(record, "etag").unwrap(),
        version_id: None,
        sequencer: String::new(),
    }
    .version_tag()
}

async fn live_assets(world: &World) -> Vec<Value> {
    world.mux_assets().await.into_iter().filter(|a| a["deleted"] != true).collect()
}

fn assert_no_secrets(text: &str, world: &World, what: &str) {
    let mux = world.mux.as_ref().unwrap();
    assert!(!text.contains(&mux.token_secret), "{what} contains the Mux token secret");
    for marker in ["X-Amz-Signature", "X-Amz-Credential", "x-amz-signature", "X-Amz-Security-Token"] {
        assert!(!text.contains(marker), "{what} contains a presigned URL ({marker})");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_keys_become_mux_assets_of_exactly_their_bytes() {
    let world = World::new().await.with_mux(&["--transcode", "off"]);
    let function = Function::start(&world, &MUX).await;
    let base = world.mux.as_ref().unwrap().base_url.clone();
    for key in HOSTILE_KEYS {
        let mut body = sample_video();
        body.extend_from_slice(key.as_bytes());
        let reply = response(function.invoke(&world.upload(key, &body).await).await);
        assert_eq!(outcome(&reply), "submitted", "{key}: {reply}");
        let asset_id = reply["records"][0]["video_uid"].as_str().unwrap().to_owned();

        let record = world.record(key).await.unwrap();
        assert_eq!(s(&record, "provider").as_deref(), Some("mux"), "{key}");
        assert_eq!(s(&record, "video_uid").as_deref(), Some(asset_id.as_str()));
        let playback_id = s(&record, "playback_id").expect("a playback id");
        assert_eq!(s(&record, "hls_url"), Some(format!("{base}/{playback_id}.m3u8")));
        assert_eq!(s(&record, "thumbnail_url"), Some(format!("{base}/{playback_id}/thumbnail.jpg")));
        assert!(!record.contains_key("dash_url"), "Mux serves no DASH");
        assert_eq!(s(&record, "encoding").as_deref(), Some("playback_policy=public;video_quality=basic"));

        let entry = world.wait_asset_final(&asset_id).await;
        assert_eq!(entry["asset"]["status"], "ready", "{key}: {entry}");
        assert_eq!(entry["asset"]["passthrough"].as_str(), Some(version_tag(&world, key, &record).as_str()));
        assert_eq!(entry["asset"]["playback_ids"][0]["id"].as_str(), Some(playback_id.as_str()));
        assert_eq!(entry["source_sha256"], sha256_hex(&body), "{key}: Mux fetched other bytes");
    }
    assert_eq!(world.mux_assets().await.len(), HOSTILE_KEYS.len(), "one asset per object");
    assert_eq!(world.requests("copy").await, 0, "nothing went to Cloudflare");
    let logs = function.logs();
    assert!(logs.contains("videos/clip (1).mp4"), "log lines carry the key");
    assert_no_secrets(&logs, &world, "the logs");
    assert_no_secrets(&format!("{:?}", world.all_records().await), &world, "the table");
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_and_racing_processes_make_one_asset() {
    let world = World::new().await.with_mux(&["--transcode", "off", "--post-burst", "50", "--other-burst", "50"]);
    let function = Function::start(&world, &MUX).await;
    let event = world.upload("videos/dup.mp4", &sample_video()).await;
    let first = response(function.invoke(&event).await);
    assert_eq!(outcome(&first), "submitted");
    for _ in 0..5 {
        assert_eq!(outcome(&response(function.invoke(&event).await)), "duplicate");
    }

    let race = world.upload("videos/race.mp4", &sample_video()).await;
    let mut racers = Vec::new();
    for _ in 0..12 {
        racers.push(Function::start(&world, &MUX).await);
    }
    let replies: Vec<Value> =
        futures::future::join_all(racers.iter().map(|f| f.invoke(&race))).await.into_iter().map(response).collect();
    let outcomes: Vec<&str> = replies.iter().map(outcome).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "submitted").count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| ["submitted", "duplicate", "in_progress"].contains(o)), "{outcomes:?}");
    assert_eq!(world.mux_assets().await.len(), 2, "one (billed) asset per object");
    assert_eq!(world.mux_requests("create").await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn mux_429_5xx_and_dropped_connections_lose_nothing_and_duplicate_nothing() {
    let world = World::new().await.with_mux(&["--transcode", "off"]);
    let function = Function::start(&world, &[MUX[0], ("PROVIDER_REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let faults = [
        json!({"route": "create", "status": 429, "retry_after": 1}),
        json!({"route": "create", "status": 429}),
        json!({"route": "create", "status": 503}),
        json!({"route": "create", "status": 500}),
        json!({"route": "create", "drop": true}),
        json!({"route": "create", "delay_ms": 1500}),
        json!({"route": "create", "hang_after_processing": true}),
        json!({"route": "list", "status": 502}),
    ];
    for (i, fault) in faults.iter().enumerate() {
        let key = format!("videos/fault-{i}.mp4");
        let event = world.upload(&key, &sample_video()).await;
        world.inject_mux_faults(json!([fault])).await;
        let reply = response(function.invoke(&event).await);
        assert!(["submitted", "adopted"].contains(&outcome(&reply)), "{fault}: {reply}");
        let record = world.record(&key).await.unwrap();
        assert_eq!(s(&record, "status").as_deref(), Some("submitted"), "{fault}");
        let tag = version_tag(&world, &key, &record);
        let mine: Vec<Value> =
            world.mux_assets().await.into_iter().filter(|a| a["asset"]["passthrough"] == tag.as_str()).collect();
        assert_eq!(mine.len(), 1, "{fault}: exactly one asset, got {}", mine.len());
        assert_eq!(s(&record, "video_uid").as_deref(), mine[0]["asset"]["id"].as_str(), "{fault}");
    }
    // A create whose reply never came (it was made) is found again by its tag.
    assert!(function.logs().contains("found the video an earlier attempt created; adopting it"));
    assert_no_secrets(&function.logs(), &world, "the logs");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mux_client_error_fails_the_record_without_retrying() {
    let world = World::new().await.with_mux(&["--transcode", "off"]);
    let function = Function::start(&world, &MUX).await;
    for (i, status) in [400, 403, 422].into_iter().enumerate() {
        let key = format!("videos/rejected-{i}.mp4");
        let event = world.upload(&key, &sample_video()).await;
        world.inject_mux_faults(json!([{"route": "create", "status": status, "message": "bad input {url}"}])).await;
        let before = world.mux_requests("create").await;
        match function.invoke(&event).await {
            Reply::Error { error_type, error_message } => {
                assert_eq!(error_type, "NonRetryable.CopyRejected", "{status}");
                assert_no_secrets(&error_message, &world, "the error");
            }
            other => panic!("{status}: {other:?}"),
        }
        assert_eq!(world.mux_requests("create").await, before + 1, "{status}: no retry");
        let record = world.record(&key).await.unwrap();
        assert_eq!(s(&record, "status").as_deref(), Some("failed"), "{status}");
        let error = s(&record, "error").unwrap();
        assert!(error.contains(&format!("HTTP {status}")), "{error}");
        assert_no_secrets(&error, &world, "the record's error");
    }
    assert!(world.mux_assets().await.is_empty());
}

/// Mux's webhooks through the real `webhook` function, which also keeps Cloudflare's.
struct Webhooks {
    world: World,
    ingest: Function,
    url: String,
    _webhook: Arc<Function>,
}

async fn webhooks() -> Webhooks {
    let placeholder = World::new().await;
    let mut env: HashMap<String, String> = placeholder.env().into_iter().collect();
    env.remove("CLOUDFLARE_API_TOKEN");
    env.insert("CLOUDFLARE_WEBHOOK_SECRET".into(), "cf-whsec-local".into());
    env.insert("MUX_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into());
    let webhook = Arc::new(Function::start_binary(env!("CARGO_BIN_EXE_webhook"), env).await);
    let url = FunctionUrl::start(webhook.clone()).await.url;
    let world =
        placeholder.with_mux(&["--transcode", "off", "--webhook-url", &url, "--webhook-secret", WEBHOOK_SECRET]);
    let ingest = Function::start(&world, &MUX).await;
    Webhooks { world, ingest, url, _webhook: webhook }
}

async fn post(url: &str, body: &str, signature: Option<String>) -> (u16, String) {
    let mut request = reqwest::Client::new().post(url).body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("mux-signature", signature);
    }
    let reply = request.send().await.unwrap();
    (reply.status().as_u16(), reply.text().await.unwrap())
}

fn now() -> i64 {
    vinofy_core::ingest::now_ms() / 1000
}

fn event(kind: &str, created_at: &str, asset: &Value) -> String {
    json!({"type": kind, "id": format!("evt-{:08x}", fastrand::u32(..)), "created_at": created_at,
        "object": {"type": "asset", "id": asset["id"]}, "environment": {"id": "local", "name": "Development"},
        "data": asset, "attempts": []})
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn mux_webhooks_make_records_ready_or_error_and_nothing_else_changes_them() {
    let w = webhooks().await;
    let reply = response(w.ingest.invoke(&w.world.upload("videos/ready.mp4", &sample_video()).await).await);
    let asset_id = reply["records"][0]["video_uid"].as_str().unwrap().to_owned();
    let ready = w.world.wait_status("videos/ready.mp4", "ready").await;
    assert_eq!(s(&ready, "video_uid").as_deref(), Some(asset_id.as_str()));
    chrono::DateTime::parse_from_rfc3339(&s(&ready, "ready_at").unwrap()).unwrap();

    // Mux cannot fetch an object that is not there: errored, with its reason.
    let missing = w.world.created_event("videos/missing.mp4", 1000, "0123456789abcdef0123456789abcdef", "0A");
    assert_eq!(outcome(&response(w.ingest.invoke(&missing).await)), "submitted");
    let errored = w.world.wait_status("videos/missing.mp4", "error").await;
    assert!(s(&errored, "error").is_some_and(|e| !e.contains("X-Amz")), "{errored:?}");

    // Forged, stale, unsigned, or signed as Cloudflare would: 401, nothing changes.
    let asset = w.world.mux_assets().await.into_iter().find(|a| a["asset"]["id"] == asset_id.as_str()).unwrap();
    let mut errored_asset = asset["asset"].clone();
    errored_asset["status"] = json!("errored");
    errored_asset["errors"] = json!({"type": "invalid_input", "messages": ["forged"]});
    let body = event("video.asset.errored", "2099-01-01T00:00:00Z", &errored_asset);
    let cases = [
        ("unsigned", None),
        ("forged", Some(sign(body.as_bytes(), b"not the secret", now()))),
        ("replayed 10 minutes later", Some(sign(body.as_bytes(), WEBHOOK_SECRET.as_bytes(), now() - 600))),
        ("garbage header", Some("t=abc,v1=zz".to_owned())),
    ];
    for (what, signature) in cases {
        assert_eq!(post(&w.url, &body, signature).await.0, 401, "{what}");
    }
    assert_eq!(w.world.record("videos/ready.mp4").await.unwrap(), ready, "nothing changed");

    // Signed, but older than what the record holds: ignored (out of order, or repeated).
    let stale = event("video.asset.errored", "2000-01-01T00:00:00Z", &errored_asset);
    let (status, text) = post(&w.url, &stale, Some(sign(stale.as_bytes(), WEBHOOK_SECRET.as_bytes(), now()))).await;
    assert_eq!((status, text.contains("ignored")), (200, true), "{text}");
    // An event type the records keep nothing of: acknowledged, so Mux stops delivering it.
    let created = event("video.asset.created", "2099-01-01T00:00:00Z", &asset["asset"]);
    let (status, text) = post(&w.url, &created, Some(sign(created.as_bytes(), WEBHOOK_SECRET.as_bytes(), now()))).await;
    assert_eq!((status, text.contains("ignored")), (200, true), "{text}");
    assert_eq!(w.world.record("videos/ready.mp4").await.unwrap(), ready, "still unchanged");

    // Signed and newer: applied, as Cloudflare's are.
    let (status, _) = post(&w.url, &body, Some(sign(body.as_bytes(), WEBHOOK_SECRET.as_bytes(), now()))).await;
    assert_eq!(status, 200);
    let record = w.world.record("videos/ready.mp4").await.unwrap();
    assert_eq!(s(&record, "status").as_deref(), Some("error"));
    assert!(s(&record, "error").unwrap().contains("forged"), "{record:?}");
    assert_eq!(live_assets(&w.world).await.len(), 2, "webhooks never create or delete");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mux_token_comes_from_secrets_manager_and_bad_configuration_stops_start_up() {
    let world = World::new().await.with_mux(&["--transcode", "off"]);
    let mux = world.mux.as_ref().unwrap();
    let token = json!({"id": mux.token_id, "secret": mux.token_secret}).to_string();
    let arn = world.create_secret("mux-token", &token).await;
    let mut env: HashMap<String, String> = world.env().into_iter().collect();
    env.remove("MUX_TOKEN_ID");
    env.remove("MUX_TOKEN_SECRET");
    env.insert("VIDEO_PROVIDER".into(), "mux".into());
    env.insert("MUX_TOKEN_SECRET_ARN".into(), arn);
    let function = Function::start_with_env(env.clone()).await;
    let reply = response(function.invoke(&world.upload("videos/from-secret.mp4", &sample_video()).await).await);
    assert_eq!(outcome(&reply), "submitted", "{reply}");
    assert_no_secrets(&function.logs(), &world, "the logs");

    // The stack's placeholder, a missing token, an unknown provider: no start, the variable named.
    let placeholders = json!({"id": "REPLACE_WITH_MUX_TOKEN_ID", "secret": "REPLACE_WITH_MUX_TOKEN_SECRET"});
    let placeholder = world.create_secret("mux-placeholder", &placeholders.to_string()).await;
    let cases: [(&str, Option<&str>, &str); 4] = [
        ("MUX_TOKEN_SECRET_ARN", Some(placeholder.as_str()), "MUX_TOKEN_SECRET_ARN"),
        ("MUX_TOKEN_SECRET_ARN", None, "MUX_TOKEN_ID"),
        ("VIDEO_PROVIDER", Some("youtube"), "VIDEO_PROVIDER"),
        ("MUX_PLAYBACK_POLICY", Some("drm"), "MUX_PLAYBACK_POLICY"),
    ];
    for (name, value, named) in cases {
        let mut bad = env.clone();
        match value {
            Some(v) => bad.insert(name.into(), v.into()),
            None => bad.remove(name),
        };
        let logs = Function::start_with_env(bad).await.assert_refused_to_start(named).await;
        assert!(!logs.contains("REPLACE_WITH"), "{name}: a secret's value is never echoed: {logs}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mux_webhook_secret_comes_from_secrets_manager() {
    let world = World::new().await;
    let arn = world.create_secret("mux-webhook", WEBHOOK_SECRET).await;
    let mut env: HashMap<String, String> = world.env().into_iter().collect();
    env.remove("CLOUDFLARE_API_TOKEN");
    env.insert("MUX_WEBHOOK_SECRET_ARN".into(), arn);
    let webhook = Arc::new(Function::start_binary(env!("CARGO_BIN_EXE_webhook"), env).await);
    let url = FunctionUrl::start(webhook.clone()).await.url;
    // Mux alone: a Cloudflare delivery is refused (no secret for it), a Mux one verified.
    let asset = json!({"id": "unknownasset", "status": "ready", "playback_ids": [{"id": "p1", "policy": "public"}]});
    let body = event("video.asset.ready", "2026-01-01T00:00:00Z", &asset);
    let (status, text) = post(&url, &body, Some(sign(body.as_bytes(), WEBHOOK_SECRET.as_bytes(), now()))).await;
    assert_eq!((status, text.contains("unknown video")), (200, true), "{text}");
    let cloudflare = reqwest::Client::new()
        .post(&url)
        .header("Webhook-Signature", "time=1,sig1=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(cloudflare.status(), 401);
}
