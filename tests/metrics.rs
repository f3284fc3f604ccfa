//! The functions' EMF metrics, through the real binaries: each invocation writes its documents in
//! one flush at its end (raw JSON lines on stdout, beside the tracing subscriber's JSON lines, which
//! keep their documented shape), with the names and dimensions alarms and dashboards use.
//! (The harness sets `AWS_LAMBDA_FUNCTION_NAME=ingest` for every binary, so `Function` is `ingest`
//! here; on Lambda it is each function's name.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vinofy_adapters::cloudflare::signature::sign;
use vinofy_test_support::harness::function_url::FunctionUrl;
use vinofy_test_support::harness::oidc::DevIssuer;
use vinofy_test_support::harness::*;

const WEBHOOK_SECRET: &str = "whsec-metrics-0123456789abcdef";
const AUDIENCE: &str = "vinofy-api";

fn is_emf(line: &str) -> bool {
    serde_json::from_str::<Value>(line).is_ok_and(|v| v.get("_aws").is_some())
}

/// Every line the function wrote: an EMF document, or a tracing event as documented (JSON with
/// `level` and `fields`, and no `_aws`).
fn check_lines(logs: &str) {
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v.get("_aws").is_some() {
            assert!(v.get("level").is_none() && v.get("fields").is_none(), "{line}");
            assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Vinofy", "{line}");
            for directive in v["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
                for set in directive["Dimensions"].as_array().unwrap() {
                    for key in set.as_array().unwrap() {
                        assert!(v[key.as_str().unwrap()].is_string(), "{key} in {line}");
                    }
                }
                for metric in directive["Metrics"].as_array().unwrap() {
                    let value = &v[metric["Name"].as_str().unwrap()];
                    assert!(value.is_number() || value.as_array().is_some_and(|a| a.len() <= 100), "{metric}: {line}");
                }
            }
        } else {
            assert!(v["level"].is_string() && v["fields"].is_object(), "a tracing line as documented: {line}");
        }
    }
}

/// Runs `invocation` and returns the EMF documents it flushed (the lines after the logs so far),
/// asserting they came in one flush: consecutive lines, one timestamp.
async fn flush_of<T>(function: &Function, invocation: impl std::future::Future<Output = T>) -> (T, Vec<Value>) {
    let before = function.logs().lines().count();
    let output = invocation.await;
    let mut emf = Vec::new();
    for _ in 0..100 {
        let logs = function.logs();
        let new: Vec<&str> = logs.lines().skip(before).collect();
        if new.iter().any(|l| is_emf(l)) {
            // The flush is one write: let it arrive whole.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let logs = function.logs();
            let new: Vec<String> = logs.lines().skip(before).map(str::to_owned).collect();
            let positions: Vec<usize> = (0..new.len()).filter(|i| is_emf(&new[*i])).collect();
            let (first, last) = (positions[0], *positions.last().unwrap());
            assert_eq!(last - first + 1, positions.len(), "one flush, no log line between: {new:#?}");
            emf = positions.iter().map(|i| serde_json::from_str::<Value>(&new[*i]).unwrap()).collect();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stamps: std::collections::HashSet<i64> = emf.iter().map(|d| d["_aws"]["Timestamp"].as_i64().unwrap()).collect();
    assert!(stamps.len() <= 1, "one flush: {emf:#?}");
    (output, emf)
}

/// The documents with these dimension values.
fn with<'a>(docs: &'a [Value], pairs: &[(&str, &str)]) -> Vec<&'a Value> {
    docs.iter().filter(|d| pairs.iter().all(|(k, v)| d[*k] == *v)).collect()
}

fn dimensions_of(doc: &Value, metric: &str) -> Value {
    let directive = doc["_aws"]["CloudWatchMetrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["Metrics"].as_array().unwrap().iter().any(|m| m["Name"] == metric))
        .unwrap_or_else(|| panic!("no directive for {metric}: {doc}"));
    directive["Dimensions"].clone()
}

fn unit_of(doc: &Value, metric: &str) -> String {
    let directives = doc["_aws"]["CloudWatchMetrics"].as_array().unwrap();
    let metric = directives.iter().flat_map(|d| d["Metrics"].as_array().unwrap()).find(|m| m["Name"] == metric);
    metric.unwrap()["Unit"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ingest_writes_its_outcome_and_provider_calls_in_one_flush() {
    let world = World::new().await;
    let function = Function::start(&world, &[]).await;
    let event = world.upload("videos/metrics.mp4", &sample_video()).await;

    let (reply, docs) = flush_of(&function, function.invoke(&event)).await;
    assert_eq!(response(reply)["records"][0]["outcome"], "submitted");
    let outcome = with(&docs, &[("Outcome", "submitted")]);
    assert_eq!(outcome.len(), 1, "{docs:#?}");
    let outcome = outcome[0];
    assert_eq!(outcome["RecordOutcome"], 1);
    assert_eq!((outcome["Function"].as_str(), outcome["Provider"].as_str()), (Some("ingest"), Some("cloudflare")));
    assert_eq!(
        dimensions_of(outcome, "RecordOutcome"),
        json!([["Function", "Outcome"], ["Function", "Provider", "Outcome"]])
    );
    assert_eq!(unit_of(outcome, "RecordOutcome"), "Count");

    let calls: Vec<&Value> = with(&docs, &[("Provider", "cloudflare")])
        .into_iter()
        .filter(|d| d.get("ProviderCallLatency").is_some())
        .collect();
    assert_eq!(calls.len(), 1, "{docs:#?}");
    let latencies = calls[0]["ProviderCallLatency"].as_array().unwrap();
    assert_eq!(latencies.len(), 1, "one call (the copy): {latencies:?}");
    assert!(latencies[0].as_f64().unwrap() > 0.0);
    assert!(calls[0]["BudgetWaitTime"].as_f64().unwrap() >= 0.0);
    assert_eq!(calls[0]["LockoutsSeen"], 0, "written even when none");
    assert_eq!(dimensions_of(calls[0], "ProviderCallLatency"), json!([["Function", "Provider"]]));
    for (metric, unit) in
        [("ProviderCallLatency", "Milliseconds"), ("BudgetWaitTime", "Milliseconds"), ("LockoutsSeen", "Count")]
    {
        assert_eq!(unit_of(calls[0], metric), unit);
    }
    assert!(with(&docs, &[("ErrorClass", "")]).is_empty() && docs.iter().all(|d| d.get("ErrorClass").is_none()));

    // The same event again: a duplicate, no provider call.
    let (reply, docs) = flush_of(&function, function.invoke(&event)).await;
    assert_eq!(response(reply)["records"][0]["outcome"], "duplicate");
    assert_eq!(docs.len(), 1, "{docs:#?}");
    assert_eq!(docs[0]["Outcome"], "duplicate");
    assert_eq!(docs[0]["RecordOutcome"], 1);
    assert!(docs[0].get("Provider").is_none(), "no provider applies to a duplicate");
    assert_eq!(dimensions_of(&docs[0], "RecordOutcome"), json!([["Function", "Outcome"]]));
    assert!(docs.iter().all(|d| d.get("ProviderCallLatency").is_none()));

    // A non-video: skipped. An S3 test event records nothing, so it writes nothing.
    let (_, docs) = flush_of(&function, function.invoke(&world.upload("docs/readme.txt", b"hi").await)).await;
    assert_eq!((docs.len(), &docs[0]["Outcome"]), (1, &json!("skipped")));
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": world.bucket});
    let before = function.logs().lines().filter(|l| is_emf(l)).count();
    response(function.invoke(&test_event).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(function.logs().lines().filter(|l| is_emf(l)).count(), before, "nothing recorded, nothing written");

    // A copy the provider refuses: failed, with the call's error class.
    world.inject_faults(json!([{"route": "copy", "status": 403, "message": "refused by test"}])).await;
    let event = world.upload("videos/refused.mp4", &sample_video()).await;
    let (_, docs) = flush_of(&function, function.invoke(&event)).await;
    assert_eq!(with(&docs, &[("Outcome", "failed"), ("Provider", "cloudflare")])[0]["RecordOutcome"], 1);
    let errors = with(&docs, &[("ErrorClass", "client_error"), ("Provider", "cloudflare")]);
    assert_eq!(errors.len(), 1, "{docs:#?}");
    assert_eq!(errors[0]["ProviderCallErrors"], 1);
    assert_eq!(dimensions_of(errors[0], "ProviderCallErrors"), json!([["Function", "Provider", "ErrorClass"]]));

    check_lines(&function.logs());
    assert!(function.logs().contains(r#""level":"INFO""#), "the tracing lines are still there");
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_deliveries_count_verified_and_what_became_of_them() {
    let world = World::new().await;
    let ingest = Function::start(&world, &[]).await;
    let reply = response(ingest.invoke(&world.upload("videos/hooked.mp4", &sample_video()).await).await);
    let uid = reply["records"][0]["video_uid"].as_str().unwrap().to_owned();
    let video = world.wait_video_final(&uid).await["video"].clone();

    let mut env: HashMap<String, String> = world.env().into_iter().collect();
    env.retain(|k, _| !k.starts_with("CLOUDFLARE_"));
    env.insert("CLOUDFLARE_WEBHOOK_SECRET".into(), WEBHOOK_SECRET.into());
    let webhook = Arc::new(Function::start_binary(env!("CARGO_BIN_EXE_webhook"), env).await);
    let url = FunctionUrl::start(webhook.clone()).await.url;
    let post = |signature: String, body: String| {
        let request = reqwest::Client::new().post(&url).header("Webhook-Signature", signature).body(body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let body = video.to_string();
    let now = vinofy_core::ingest::now_ms() / 1000;

    let (status, docs) =
        flush_of(&webhook, post(sign(body.as_bytes(), WEBHOOK_SECRET.as_bytes(), now), body.clone())).await;
    assert_eq!(status, 200, "{}", webhook.logs());
    let results: Vec<(&str, i64)> =
        docs.iter().map(|d| (d["Result"].as_str().unwrap(), d["WebhookDeliveries"].as_i64().unwrap())).collect();
    assert_eq!(results, [("applied", 1), ("verified", 1)], "{docs:#?}");
    for doc in &docs {
        assert_eq!(dimensions_of(doc, "WebhookDeliveries"), json!([["Function", "Result"]]));
        assert_eq!(unit_of(doc, "WebhookDeliveries"), "Count");
    }
    // The same delivery again: verified, but nothing newer than the record: stale.
    let (_, docs) = flush_of(&webhook, post(sign(body.as_bytes(), WEBHOOK_SECRET.as_bytes(), now), body.clone())).await;
    let results: Vec<&str> = docs.iter().map(|d| d["Result"].as_str().unwrap()).collect();
    assert_eq!(results, ["stale", "verified"]);

    let (status, docs) = flush_of(&webhook, post(sign(body.as_bytes(), b"forged", now), body.clone())).await;
    assert_eq!(status, 401);
    let results: Vec<&str> = docs.iter().map(|d| d["Result"].as_str().unwrap()).collect();
    assert_eq!(results, ["rejected"], "a forged delivery is not verified");
    check_lines(&webhook.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn api_requests_count_by_route_and_status() {
    let world = World::new().await;
    let issuer = DevIssuer::start_temp();
    let mut env: HashMap<String, String> = world.env().into_iter().collect();
    env.extend(issuer.env(AUDIENCE));
    let api = Arc::new(Function::start_binary(env!("CARGO_BIN_EXE_api"), env).await);
    let url = FunctionUrl::start(api.clone()).await.url;
    let http = reqwest::Client::new();
    let body = json!({"filename": "a.mov", "size": 10, "content_type": "video/quicktime"}).to_string();

    let token = issuer.token("auth0|metrics", AUDIENCE);
    let request = http.post(format!("{url}uploads")).bearer_auth(&token).body(body.clone()).send();
    let (answer, docs) = flush_of(&api, request).await;
    assert_eq!(answer.unwrap().status().as_u16(), 201);
    assert_eq!(docs.len(), 1, "{docs:#?}");
    assert_eq!((docs[0]["Route"].as_str(), docs[0]["Status"].as_str()), (Some("create-upload"), Some("201")));
    assert_eq!(docs[0]["ApiRequests"], 1);
    assert_eq!(dimensions_of(&docs[0], "ApiRequests"), json!([["Function", "Route", "Status"]]));

    let (answer, docs) = flush_of(&api, http.post(format!("{url}uploads")).body(body).send()).await;
    assert_eq!(answer.unwrap().status().as_u16(), 401);
    assert_eq!((docs[0]["Route"].as_str(), docs[0]["Status"].as_str()), (Some("create-upload"), Some("401")));
    let (answer, docs) = flush_of(&api, http.get(format!("{url}nowhere/x")).bearer_auth(&token).send()).await;
    assert_eq!(answer.unwrap().status().as_u16(), 404);
    assert_eq!((docs[0]["Route"].as_str(), docs[0]["Status"].as_str()), (Some("unknown"), Some("404")));
    check_lines(&api.logs());
    assert!(!api.logs().contains(&token), "no token in the logs or the metrics");
}
