//! The real `webhook` binary configured as template.yaml configures it: the signing secret read from
//! Secrets Manager at start-up (`CLOUDFLARE_WEBHOOK_SECRET_ARN`), where the other tests give it
//! inline. This is also the call that exercises the webhook role's `secretsmanager:GetSecretValue`
//! grant for the IAM conformance check (scripts/iam_conformance.py).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use vinofy_adapters::cloudflare::signature::sign;
use vinofy_test_support::harness::function_url::FunctionUrl;
use vinofy_test_support::harness::*;

async fn post_webhook(url: &str, body: &str, signature: String) -> (u16, String) {
    let resp = reqwest::Client::new().post(url).header("Webhook-Signature", signature).body(body.to_owned()).send();
    let resp = resp.await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_webhook_verifies_deliveries_with_the_secret_stored_in_secrets_manager() {
    let world = World::new().await;
    let stored = format!("whsec-stored-{:016x}", fastrand::u64(..));
    let sm = aws_sdk_secretsmanager::Client::new(&sdk_config(&shared().dynamodb_endpoint).await);
    let secret =
        sm.create_secret().name(format!("cf-webhook-{}", world.table)).secret_string(&stored).send().await.unwrap();
    let mut env: HashMap<String, String> = world.env().into_iter().collect();
    env.retain(|k, _| !k.starts_with("CLOUDFLARE_"));
    env.insert("CLOUDFLARE_WEBHOOK_SECRET_ARN".into(), secret.arn().unwrap().to_owned());
    let webhook = Arc::new(Function::start_binary(env!("CARGO_BIN_EXE_webhook"), env).await);
    let url = FunctionUrl::start(webhook.clone()).await.url;

    let body = json!({"uid": "f".repeat(32), "status": {"state": "ready"}}).to_string();
    let now = vinofy_core::ingest::now_ms() / 1000;
    let (status, text) = post_webhook(&url, &body, sign(body.as_bytes(), stored.as_bytes(), now)).await;
    assert_eq!((status, text.contains("unknown video")), (200, true), "{text}\n{}", webhook.logs());
    let (status, _) = post_webhook(&url, &body, sign(body.as_bytes(), b"some other secret", now)).await;
    assert_eq!(status, 401, "only the stored secret verifies");
    assert!(!webhook.logs().contains(&stored), "the secret is never logged");
}
