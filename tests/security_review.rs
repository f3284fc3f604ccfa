//! The security review's findings (issue 9), each tried against the real binaries and local peers:
//! placeholder secrets, unbounded or foreign events, provider errors that echo the presigned URL,
//! and TRACE logging.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};
use vinofy_core::domain::s3_key::encode_s3_key;
use vinofy_test_support::harness::function_url::FunctionUrl;
use vinofy_test_support::harness::*;

async fn secret(world: &World, name: &str, value: &str) -> String {
    world.create_secret(name, value).await
}

/// No credential in any form: the presigned URL's parameters, the token, a webhook secret.
fn assert_clean(haystack: &str, secrets: &[&str], what: &str) {
    let lower = haystack.to_ascii_lowercase();
    let around = |needle: &str| {
        let i = lower.find(&needle.to_ascii_lowercase()).unwrap_or(0);
        let start = haystack.floor_char_boundary(i.saturating_sub(150));
        let end = haystack.ceil_char_boundary((i + 150).min(haystack.len()));
        haystack[start..end].to_owned()
    };
    for needle in ["x-amz-", "aws4_request", SECRET_KEY].into_iter().chain(secrets.iter().copied()) {
        assert!(!lower.contains(&needle.to_ascii_lowercase()), "{what} holds {needle:?}: …{}…", around(needle));
    }
}

fn webhook_env(world: &World) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = world.env().into_iter().collect();
    env.remove("CLOUDFLARE_API_TOKEN");
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn placeholder_secrets_stop_both_functions_before_they_take_any_event() {
    let world = World::new().await;
    // A record a forged "error" webhook would target: Stream video uids are public (playback URLs).
    let good = Function::start(&world, &[]).await;
    let reply = response(good.invoke(&world.upload("videos/target.mp4", &sample_video()).await).await);
    assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
    let before = world.record("videos/target.mp4").await.unwrap();

    // The template's own placeholders, as a stack has them before the operator stores the values.
    let token_arn = secret(&world, "token", "REPLACE_WITH_CLOUDFLARE_API_TOKEN").await;
    let webhook_arn = secret(&world, "webhook", "REPLACE_WITH_CLOUDFLARE_WEBHOOK_SECRET").await;

    let mut ingest =
        Function::start(&world, &[("CLOUDFLARE_API_TOKEN", ""), ("CLOUDFLARE_API_TOKEN_SECRET_ARN", &token_arn)]).await;
    let mut env = webhook_env(&world);
    env.insert("CLOUDFLARE_WEBHOOK_SECRET_ARN".into(), webhook_arn);
    let webhook = Function::start_binary(env!("CARGO_BIN_EXE_webhook"), env).await;
    let mut webhook = webhook;

    for (function, variable) in
        [(&mut ingest, "CLOUDFLARE_API_TOKEN_SECRET_ARN"), (&mut webhook, "CLOUDFLARE_WEBHOOK_SECRET_ARN")]
    {
        let code = function.exit_code().await;
        assert!(matches!(code, Some(c) if c != 0), "{variable}: exit code {code:?}");
        let logs = function.logs();
        assert!(logs.contains(variable) && logs.contains("placeholder"), "{variable}: {logs}");
        assert!(!logs.contains("REPLACE_WITH"), "the placeholder value is not echoed: {logs}");
        // Never polled: no event, no webhook delivery, forged or not, reaches the code.
        assert_eq!(function.runtime.polls(), 0, "{variable}");
    }
    assert_eq!(world.record("videos/target.mp4").await.unwrap(), before, "the record is untouched");
    assert_eq!(world.all_records().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_oversized_and_foreign_events_are_refused_naming_the_field_and_write_nothing() {
    let world = World::new().await;
    let function = Function::start(&world, &[]).await;
    let event = world.upload("videos/ok.mp4", &sample_video()).await;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut e = event.clone();
        edit(&mut e["Records"][0]);
        e
    };
    let huge_key = encode_s3_key(&format!("videos/{}.mp4", "a".repeat(200_000)));
    let other_bucket_collision = format!("{}/videos", world.bucket);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("a 200 KB key", with(&|r| r["s3"]["object"]["key"] = json!(huge_key)), "s3.object.key"),
        ("a NUL in the key", with(&|r| r["s3"]["object"]["key"] = json!("videos/a%00b.mp4")), "control character"),
        ("size \"+5\"", with(&|r| r["s3"]["object"]["size"] = json!("+5")), "s3.object.size"),
        ("another bucket", with(&|r| r["s3"]["bucket"]["name"] = json!("someone-elses-bucket")), "UPLOAD_BUCKET"),
        (
            "a bucket that reads as a folder",
            with(&|r| {
                r["s3"]["bucket"]["name"] = json!(other_bucket_collision);
                r["s3"]["object"]["key"] = json!("ok.mp4");
            }),
            "s3.bucket.name",
        ),
        ("10,000 records", json!({"Records": vec![event["Records"][0].clone(); 10_000]}), "at most 10"),
    ];
    for (what, event, field) in &cases {
        match function.invoke(event).await {
            Reply::Error { error_type, error_message } => {
                assert_eq!(error_type, "NonRetryable.InvalidEvent", "{what}: {error_message}");
                assert!(error_message.contains(field), "{what}: {error_message}");
                assert!(error_message.len() < 400, "{what}: the error quotes no unbounded input");
            }
            other => panic!("{what}: expected InvalidEvent, got {other:?}"),
        }
    }
    assert!(world.all_records().await.is_empty(), "nothing written");
    assert_eq!(world.requests("copy").await, 0, "no Cloudflare call");
    // The untouched event still goes through.
    assert_eq!(response(function.invoke(&event).await)["records"][0]["outcome"], "submitted");
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_errors_that_echo_the_presigned_url_are_scrubbed_in_every_form() {
    let world = World::new().await;
    let function = Function::start(&world, &[]).await;
    let forms = [
        ("exact", "invalid url {url}"),
        ("percent-decoded", "could not fetch {url_decoded}"),
        ("html-escaped", "<a href=\"{url_html}\">source</a>"),
        ("query only", "unsupported query {url_query}"),
    ];
    for (i, (form, template)) in forms.iter().enumerate() {
        world
            .inject_faults(json!([{"route": "copy", "times": 1, "status": 400, "code": 10005, "message": template}]))
            .await;
        let key = format!("videos/echo-{i}.mp4");
        match function.invoke(&world.upload(&key, &sample_video()).await).await {
            Reply::Error { error_type, error_message } => {
                assert_eq!(error_type, "NonRetryable.CopyRejected", "{form}");
                assert!(error_message.contains("10005"), "{form}: the provider's code stays: {error_message}");
                assert!(error_message.contains("<redacted>"), "{form}: {error_message}");
                assert_clean(&error_message, &[&world.token], form);
            }
            other => panic!("{form}: expected CopyRejected, got {other:?}"),
        }
        let record = world.record(&key).await.unwrap();
        assert_eq!(s(&record, "status").as_deref(), Some("failed"), "{form}");
        assert_clean(&format!("{record:?}"), &[&world.token], &format!("{form}: the record"));
    }
    // The emulator really echoed the URL (so the scrubbing had something to remove).
    assert_eq!(world.requests("copy").await, forms.len());
    assert_clean(&function.logs(), &[&world.token], "the logs");
}

#[tokio::test(flavor = "multi_thread")]
async fn trace_logging_shows_no_secret_and_no_raw_event() {
    // Secrets as deployed: both from Secrets Manager.
    let placeholder = World::new().await;
    let webhook_secret = format!("whsec-trace-{:016x}", fastrand::u64(..));
    let mut env = webhook_env(&placeholder);
    env.insert("CLOUDFLARE_WEBHOOK_SECRET_ARN".into(), secret(&placeholder, "webhook", &webhook_secret).await);
    env.insert("AWS_LAMBDA_LOG_LEVEL".into(), "TRACE".into());
    let webhook = Arc::new(Function::start_binary(env!("CARGO_BIN_EXE_webhook"), env).await);
    let url = FunctionUrl::start(webhook.clone()).await.url;
    let world = placeholder.with_emulator(&["--webhook-url", &url, "--webhook-secret", &webhook_secret]);
    let token_arn = secret(&world, "token", &world.token).await;
    let ingest = Function::start(
        &world,
        &[
            ("CLOUDFLARE_API_TOKEN", ""),
            ("CLOUDFLARE_API_TOKEN_SECRET_ARN", &token_arn),
            ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
        ],
    )
    .await;

    let reply = response(ingest.invoke(&world.upload("videos/traced.mp4", &sample_video()).await).await);
    assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
    // The emulator's signed webhook (its body quotes the presigned URL in meta.downloaded-from).
    for _ in 0..200 {
        if world.record("videos/traced.mp4").await.and_then(|r| s(&r, "status")).as_deref() == Some("ready") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(s(&world.record("videos/traced.mp4").await.unwrap(), "status").as_deref(), Some("ready"));

    for (name, logs) in [("ingest", ingest.logs()), ("webhook", webhook.logs())] {
        assert!(logs.contains("\"level\":\"DEBUG\""), "{name}: dependencies still log at DEBUG: {logs}");
        assert!(!logs.contains("raw JSON event"), "{name}: the runtime logged a raw event");
        assert!(!logs.contains("downloaded-from"), "{name}: a webhook body was logged");
        assert!(!logs.contains("sig1="), "{name}: a signature header was logged");
        assert_clean(&logs, &[&world.token, &webhook_secret], name);
    }
}
