//! End-to-end: the real `ingest` binary, driven through the Lambda Runtime API, against s3s-fs,
//! moto and the Cloudflare Stream emulator.

use serde_json::{Value, json};
use vinofy_test_support::harness::peers::TlsFront;
use vinofy_test_support::harness::*;

fn assert_no_secrets(haystack: &str, token: &str, what: &str) {
    assert!(!haystack.contains(token), "{what} contains the Cloudflare token");
    for marker in ["X-Amz-Signature", "X-Amz-Credential", "x-amz-signature", "X-Amz-Security-Token"] {
        assert!(!haystack.contains(marker), "{what} contains a presigned URL ({marker})");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_keys_become_records_that_match_the_stream_videos() {
    let world = World::new().await;
    let function = Function::start(&world, &[]).await;
    let video = sample_video();

    let mut cases: Vec<(String, Value, Vec<u8>)> = Vec::new();
    for key in HOSTILE_KEYS {
        let mut body = video.clone();
        body.extend_from_slice(key.as_bytes()); // distinct bytes per object
        let event = world.upload(key, &body).await;
        cases.push((key.to_string(), event, body));
    }
    // S3 may also encode `/` as %2F.
    let key = "videos/nested/encoded slash.mp4";
    let etag = world.put_object(key, &video).await;
    let mut event = world.created_event(key, video.len(), &etag, "0055AED6DCD90281E6");
    let encoded = event["Records"][0]["s3"]["object"]["key"].as_str().unwrap().replace('/', "%2F");
    event["Records"][0]["s3"]["object"]["key"] = json!(encoded);
    cases.push((key.to_string(), event, video.clone()));

    for (key, event, body) in &cases {
        let reply = response(function.invoke(event).await);
        let report = &reply["records"][0];
        assert_eq!(report["outcome"], "submitted", "{key}: {reply}");
        let uid = report["video_uid"].as_str().unwrap();

        let record = world.record(key).await.unwrap_or_else(|| panic!("no record for {key}"));
        assert_eq!(s(&record, "source").unwrap(), world.source(key));
        assert_eq!(s(&record, "key").unwrap(), *key);
        assert_eq!(s(&record, "bucket").unwrap(), world.bucket);
        assert_eq!(s(&record, "status").unwrap(), "submitted");
        assert_eq!(s(&record, "video_uid").unwrap(), uid);
        assert_eq!(record["size"].as_n().unwrap(), &body.len().to_string());
        assert!(s(&record, "etag").is_some_and(|e| !e.is_empty()));
        assert!(!record.contains_key("claim_token") && !record.contains_key("error"));
        for at in ["created_at", "updated_at"] {
            chrono::DateTime::parse_from_rfc3339(&s(&record, at).unwrap()).unwrap();
        }

        let emulated = world.wait_video_final(uid).await;
        let v = &emulated["video"];
        assert_eq!(v["meta"]["name"], *key, "meta.name is the decoded key");
        assert_eq!(s(&record, "hls_url").as_deref(), v["playback"]["hls"].as_str());
        assert_eq!(s(&record, "dash_url").as_deref(), v["playback"]["dash"].as_str());
        assert_eq!(s(&record, "thumbnail_url").as_deref(), v["thumbnail"].as_str());
        assert_eq!(s(&record, "preview_url").as_deref(), v["preview"].as_str());
        assert_eq!(s(&record, "stream_state").unwrap(), "downloading");
        assert_eq!(v["creator"].as_str().unwrap().len(), 64);
        assert_eq!(v["status"]["state"], "ready", "{key}: {emulated}");
        assert_eq!(emulated["source_sha256"], sha256_hex(body), "{key}: Cloudflare fetched other bytes");
    }
    assert_eq!(world.videos().await.len(), cases.len(), "one video per object");
    assert_eq!(world.all_records().await.len(), cases.len(), "one record per object");

    // Neither the token nor a presigned URL reaches the logs or the table.
    let logs = function.logs();
    assert!(logs.contains("\"level\":\"INFO\""), "JSON logs expected: {logs}");
    assert!(logs.contains("videos/clip (1).mp4"), "log lines carry the key");
    assert_no_secrets(&logs, &world.token, "the logs");
    assert_no_secrets(&format!("{:?}", world.all_records().await), &world.token, "the table");
}

#[tokio::test(flavor = "multi_thread")]
async fn non_videos_are_skipped_without_calling_cloudflare() {
    let world = World::new().await;
    let function = Function::start(&world, &[]).await;
    let text = world.upload("docs/readme.txt", b"hello").await;
    let folder = world.upload("videos/new-folder/", b"").await;
    let empty = world.upload("videos/empty.mp4", b"").await;
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": world.bucket});
    for event in [&text, &folder, &empty] {
        let reply = response(function.invoke(event).await);
        assert_eq!(reply["records"][0]["outcome"], "skipped", "{reply}");
    }
    assert_eq!(response(function.invoke(&test_event).await), json!({"records": []}));
    assert_eq!(world.requests("copy").await, 0);
    assert!(world.all_records().await.is_empty());
    assert!(function.logs().contains("skipped: not a video"));
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_and_foreign_events_fail_clearly_and_write_nothing() {
    let world = World::new().await;
    let function = Function::start(&world, &[]).await;
    let good = world.upload("videos/ok.mp4", &sample_video()).await;
    let mut half_bad = good.clone();
    half_bad["Records"].as_array_mut().unwrap().push(json!({"eventSource": "aws:s3", "s3": {"bucket": {}}}));
    let events = [
        std::fs::read_to_string("events/malformed.json").map(|t| serde_json::from_str::<Value>(&t).unwrap()).unwrap(),
        std::fs::read_to_string("events/eventbridge-object-created.json")
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap(),
        json!("just a string"),
        half_bad,
    ];
    for event in &events {
        match function.invoke(event).await {
            Reply::Error { error_type, error_message } => {
                assert_eq!(error_type, "NonRetryable.InvalidEvent", "{error_message}");
                assert!(error_message.starts_with("invalid event: "), "{error_message}");
            }
            other => panic!("expected an error for {event}, got {other:?}"),
        }
    }
    assert!(world.all_records().await.is_empty(), "nothing half-written");
    assert_eq!(world.requests("copy").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_token_fails_the_record_readably_and_does_not_leak() {
    let world = World::new().await;
    let wrong = "wrong-token-value-1234";
    let function = Function::start(&world, &[("CLOUDFLARE_API_TOKEN", wrong)]).await;
    let event = world.upload("videos/denied.mp4", &sample_video()).await;
    match function.invoke(&event).await {
        Reply::Error { error_type, error_message } => {
            assert_eq!(error_type, "NonRetryable.CopyRejected");
            assert!(error_message.contains("403"), "{error_message}");
        }
        other => panic!("expected CopyRejected, got {other:?}"),
    }
    let record = world.record("videos/denied.mp4").await.unwrap();
    assert_eq!(s(&record, "status").unwrap(), "failed");
    let error = s(&record, "error").unwrap();
    assert!(error.contains("HTTP 403") && error.contains("Authentication error"), "{error}");
    assert!(!record.contains_key("video_uid"));
    assert_no_secrets(&function.logs(), wrong, "the logs");
    assert_no_secrets(&format!("{record:?}"), wrong, "the record");

    // A redelivery of a failed version fails again (towards the failure destination), without a copy.
    let copies = world.requests("copy").await;
    assert!(
        matches!(function.invoke(&event).await, Reply::Error { error_type, .. } if error_type == "NonRetryable.PreviouslyFailed")
    );
    assert_eq!(world.requests("copy").await, copies);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_configuration_stops_start_up_naming_the_variable() {
    let world = World::new().await;
    let cases = [
        ("VIDEOS_TABLE", ""),
        ("PRESIGN_TTL_SECONDS", "604801"),
        ("CLOUDFLARE_API_TOKEN", "has spaces in it"),
        ("STREAM_THUMBNAIL_TIMESTAMP_PCT", "2"),
    ];
    for (name, value) in cases {
        let logs = Function::start(&world, &[(name, value)]).await.assert_refused_to_start(name).await;
        assert!(!logs.contains("has spaces in it"), "the bad token value is not echoed");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_can_come_from_secrets_manager() {
    let world = World::new().await;
    let arn = world.create_secret("cf-token", &json!({"token": world.token}).to_string()).await;
    let mut env: std::collections::HashMap<String, String> = world.env().into_iter().collect();
    env.remove("CLOUDFLARE_API_TOKEN");
    env.insert("CLOUDFLARE_API_TOKEN_SECRET_ARN".into(), arn);
    let function = Function::start_with_env(env).await;
    let event = world.upload("videos/from-secret.mp4", &sample_video()).await;
    let reply = response(function.invoke(&event).await);
    assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
    assert_no_secrets(&function.logs(), &world.token, "the logs");
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_are_opened_during_init_not_on_the_first_event() {
    let world = World::new().await;
    let function = Function::start(&world, &[]).await;
    for _ in 0..100 {
        if function.runtime.polls() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(function.runtime.polls() > 0, "the function finished init");
    // The warm-up carries no credentials: refused (400) before anything counts it.
    let warm_ups = || async {
        let all = world.emulator_get("/__emulator/requests").await;
        all.as_array().unwrap().iter().filter(|r| r["method"] == "HEAD" && r["status"] == 400).count()
    };
    assert_eq!(warm_ups().await, 1, "one Cloudflare warm-up request during init");
    assert!(function.logs().contains("warmed up connections"), "{}", function.logs());
    assert_eq!(world.emulator_get("/__emulator/rate-limit").await["accepted"], 0, "no counted call");

    let cold = Function::start(&world, &[("WARM_UP_CONNECTIONS", "false")]).await;
    let event = world.upload("videos/warm.mp4", &sample_video()).await;
    assert_eq!(response(cold.invoke(&event).await)["records"][0]["outcome"], "submitted");
    assert_eq!(warm_ups().await, 1, "no warm-up when disabled");
}

/// DynamoDB and Cloudflare over TLS, as on Lambda: the function's one HTTPS stack (rustls on ring,
/// no SDK default client) verifies certificates, opens both connections during init, and ingests.
/// Without the CA it must refuse the peers, and write nothing.
#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_and_cloudflare_are_reached_over_verified_tls() {
    let world = World::new().await;
    let dynamodb = shared().dynamodb_endpoint.clone();
    let tls = TlsFront::start(&[&dynamodb, &world.emulator.api_url]);
    let (dynamodb_tls, cloudflare_tls) = (tls.url_for(&dynamodb), tls.url_for(&world.emulator.api_url));
    assert!(dynamodb_tls.starts_with("https://localhost:") && cloudflare_tls.ends_with("/client/v4"));
    let ca = tls.ca_pem.to_str().unwrap().to_owned();
    let over_tls =
        [("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_tls.as_str()), ("CLOUDFLARE_API_URL", cloudflare_tls.as_str())];

    let mut trusting = over_tls.to_vec();
    trusting.push(("SSL_CERT_FILE", ca.as_str()));
    let function = Function::start(&world, &trusting).await;
    let event = world.upload("videos/over-tls.mp4", &sample_video()).await;
    let reply = response(function.invoke(&event).await);
    assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}\n{}", function.logs());
    let warmed = r#""message":"warmed up connections","dynamodb":true,"cloudflare":true"#;
    assert!(function.logs().contains(warmed), "both warmed up: {}", function.logs());
    let record = world.record("videos/over-tls.mp4").await.expect("a record");
    let uid = s(&record, "video_uid").expect("a video uid");
    assert!(world.videos().await.iter().any(|v| v["video"]["uid"] == uid.as_str()), "the video exists in the emulator");

    // The public roots only (not the local CA): both handshakes fail on the certificate, the event
    // fails retryably (the claim is never written), and nothing reaches either peer.
    let lists_before = world.requests("list").await;
    let mut untrusting = over_tls.to_vec();
    untrusting.push(("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"));
    let event = world.upload("videos/untrusted.mp4", &sample_video()).await;
    let cloudflare_refused = r#""message":"Cloudflare warm-up failed","error":"#;
    // Under a loaded suite a handshake may first time out (2 s) before the certificate is even
    // seen: a fresh process (a new cold start) then tries again; the refusal itself must be seen.
    for attempt in 1..=3 {
        let refused = Function::start(&world, &untrusting).await;
        let logs = || refused.logs();
        match refused.invoke(&event).await {
            Reply::Error { error_type, error_message } => {
                assert_eq!(error_type, "Retryable.VideoStore", "{error_message}\n{}", logs())
            }
            other => panic!("the event must fail while the peer is untrusted: {other:?}\n{}", logs()),
        }
        assert!(logs().contains("DynamoDB warm-up failed"), "{}", logs());
        assert!(logs().contains(cloudflare_refused), "{}", logs());
        if logs().contains("UnknownIssuer") {
            break;
        }
        assert!(attempt < 3 && logs().contains("warm-up timeout"), "not refused on the certificate: {}", logs());
    }
    assert_eq!(world.requests("list").await, lists_before, "no request reached Cloudflare");
    assert!(world.record("videos/untrusted.mp4").await.is_none(), "no record without a trusted DynamoDB");
    assert_eq!(world.videos().await.len(), 1, "no video without a trusted Cloudflare");
}
