//! `vinofy redrive` end to end: the failed-events queue filled by the real failure paths, then
//! drained by the real `vinofy` binary.
//!
//! - direct mode: the real `ingest` binary fails every attempt (the emulator answers `/copy` with
//!   503) under Lambda's asynchronous queue (`harness::lambda_queues::AsyncQueue`, 2 retries); what
//!   it hands its failure destination, the event and the last attempt's error, goes to a moto queue
//!   as Lambda's on-failure destination record (the harness keeps the event; Lambda wraps it in
//!   the invocation record whose shape `vinofy_core::domain::failed_event` documents);
//! - sqs mode: the same fault under the SQS event source over a real moto queue whose redrive
//!   policy moves each message to its dead-letter queue after 2 receives: that queue is the
//!   failed-events queue, holding S3's notifications exactly as moto moved them.
//!
//! Then the fault is cleared and the CLI runs (its AWS calls recorded for the IAM check).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use vinofy_test_support::harness::lambda_queues::{AsyncQueue, Fleet, SqsEventSource};
use vinofy_test_support::harness::*;

const DEADLINE: Duration = Duration::from_secs(8);
const FAULT: &str = "the emulator is down for this test";

type Run = cli::CliRun;

/// Redrive's `--json` lines.
trait RedriveRun {
    fn lines(&self, kind: &str) -> Vec<Value>;
    fn records(&self) -> HashMap<String, Value>;
}

impl RedriveRun for Run {
    fn lines(&self, kind: &str) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{self:?}")))
            .filter(|l| l["type"] == kind)
            .collect()
    }

    fn records(&self) -> HashMap<String, Value> {
        self.lines("record").into_iter().map(|l| (l["source"].as_str().unwrap().to_owned(), l)).collect()
    }
}

async fn vinofy(world: &World, extra: &[(&str, &str)], args: &[&str]) -> Run {
    let mut env: Vec<(String, String)> = world.env();
    env.push(("VINOFY_ALLOW_LONG_TERM_CREDENTIALS".into(), "1".into()));
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        env.push((k.to_string(), v.to_string()));
    }
    cli::run_vinofy(env!("CARGO_BIN_EXE_vinofy"), env, args).await
}

/// A moto queue URL in SQS's own form (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`, what the
/// stack output holds): the SDK sends it to the local endpoint, which reads the account and name.
fn aws_form(url: &str) -> String {
    let path = url.split_once("://").and_then(|(_, rest)| rest.split_once('/')).map(|(_, p)| p).unwrap();
    format!("https://sqs.{REGION}.amazonaws.com/{path}")
}

/// Every `/copy` fails (503) until the faults are cleared.
async fn break_the_provider(world: &World) {
    world.inject_faults(json!([{"route": "copy", "times": 10000, "status": 503, "message": FAULT}])).await;
}

async fn mend_the_provider(world: &World) {
    let url = format!("{}/__emulator/faults", world.emulator.base_url);
    assert!(world.http.delete(url).send().await.unwrap().status().is_success());
}

/// Lambda's invocation record for an event whose attempts all failed, the last with `error`
/// (`errorType: errorMessage`, as the runtime reported it).
fn on_failure_record(n: usize, event: &Value, attempts: usize, error: &str) -> Value {
    let (error_type, error_message) = error.split_once(": ").unwrap_or((error, ""));
    json!({
        "version": "1.0",
        "timestamp": "2026-11-25T18:16:05.568Z",
        "requestContext": {
            "requestId": format!("e4b46cbf-b738-4ff3-8880-{n:012x}"),
            "functionArn": format!("arn:aws:lambda:{REGION}:123456789012:function:vinofy-IngestFunction:$LATEST"),
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": error_type, "errorMessage": error_message}
    })
}

async fn visible_messages(queue: &SqsEventSource, url: &str) -> Vec<String> {
    let received = queue
        .sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    received.messages.unwrap_or_default().into_iter().filter_map(|m| m.body).collect()
}

fn status(record: &Option<Record>) -> Option<String> {
    record.as_ref().and_then(|r| s(r, "status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn direct_mode_failures_are_redriven_from_the_on_failure_destination() {
    let world = World::new().await;
    break_the_provider(&world).await;
    let fleet = Fleet::start(&world, &[("CLOUDFLARE_REQUEST_TIMEOUT_SECONDS", "2")], 2).await;
    let lambda = AsyncQueue::new(&fleet, DEADLINE, &[Duration::from_millis(100), Duration::from_millis(100)]);
    let keys = ["videos/holiday clip.mp4", "videos/a+b.mp4"];
    for (i, key) in keys.iter().enumerate() {
        lambda.submit(world.upload(key, format!("video {i}").as_bytes()).await);
    }
    let outcome = lambda.drain().await;
    assert_eq!(outcome.failure_destination.len(), 2, "{outcome:?}\n{}", fleet.logs());
    let last_error = outcome.function_errors.last().unwrap().clone();
    assert!(last_error.starts_with("Retryable.StreamUnavailable: "), "{last_error}");

    // The failed-events queue, as Lambda's on-failure destination fills it.
    let failed = SqsEventSource::create("failed-events", Duration::from_secs(30), 10).await;
    for (n, event) in outcome.failure_destination.iter().enumerate() {
        let body = on_failure_record(n, event, 3, &last_error).to_string();
        failed.sqs.send_message().queue_url(&failed.queue_url).message_body(body).send().await.unwrap();
    }
    let queue_url = aws_form(&failed.queue_url);
    mend_the_provider(&world).await;

    // Dry run: every record reported, nothing written or called, the queue as it was.
    let items_before = world.all_items().await;
    let copies_before = world.requests("copy").await;
    let dry = vinofy(&world, &[("FAILED_EVENTS_QUEUE_URL", &queue_url)], &["--json", "redrive", "--dry-run"]).await;
    assert_eq!(dry.code, 0, "{dry:?}");
    let lines = dry.records();
    assert_eq!(lines.len(), 2, "{dry:?}");
    for key in keys {
        let line = &lines[&world.source(key)];
        assert_eq!(
            (line["outcome"].as_str(), line["origin"].as_str()),
            (Some("would_ingest"), Some("on_failure_destination"))
        );
    }
    let messages = dry.lines("message");
    assert!(messages.iter().all(|m| m["action"] == "released"), "{dry:?}");
    assert!(
        messages.iter().all(|m| m["failure"]
            .as_str()
            .unwrap()
            .starts_with("RetriesExhausted after 3 attempts: Retryable.StreamUnavailable")),
        "{dry:?}"
    );
    assert_eq!(dry.summary()["messages"], 2);
    assert_eq!(world.all_items().await, items_before, "a dry run writes nothing");
    assert_eq!(world.requests("copy").await, copies_before, "a dry run calls no provider");
    assert_eq!(visible_messages(&failed, &failed.queue_url).await.len(), 2, "visible again at once");

    // The run: each record submitted, each message deleted, the queue empty.
    let run = vinofy(&world, &[("FAILED_EVENTS_QUEUE_URL", &queue_url)], &["--json", "redrive"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let lines = run.records();
    for key in keys {
        assert_eq!(lines[&world.source(key)]["outcome"], "submitted", "{run:?}");
        assert_eq!(status(&world.record(key).await).as_deref(), Some("submitted"));
    }
    let summary = run.summary();
    assert_eq!(
        (summary["messages"].as_u64(), summary["deleted"].as_u64(), summary["kept"].as_u64()),
        (Some(2), Some(2), Some(0))
    );
    assert_eq!(summary["by_origin"]["on_failure_destination"], 2);
    assert_eq!(failed.pending().await, 0, "every message deleted");
    let live: Vec<Value> = world.videos().await.into_iter().filter(|v| v["deleted"] != true).collect();
    assert_eq!(live.len(), 2, "one video per upload");

    // Nothing left: a second run is a no-op.
    let again = vinofy(&world, &[("FAILED_EVENTS_QUEUE_URL", &queue_url)], &["--json", "redrive"]).await;
    assert_eq!((again.code, again.summary()["messages"].as_u64()), (0, Some(0)), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqs_mode_dead_letters_are_redriven_and_what_cannot_be_decoded_is_kept() {
    let world = World::new().await;
    break_the_provider(&world).await;
    let ingest_queue = SqsEventSource::create("ingest", Duration::from_secs(1), 2).await;
    let fleet = Fleet::start(
        &world,
        &[("CLOUDFLARE_REQUEST_TIMEOUT_SECONDS", "2"), ("INGEST_QUEUE_ARN", ingest_queue.queue_arn.as_str())],
        1,
    )
    .await;
    ingest_queue.start(&fleet, 1, 10, DEADLINE);
    let keys = ["videos/one.mp4", "videos/two (2).mov", "videos/three.mp4"];
    for (i, key) in keys.iter().enumerate() {
        ingest_queue.send(&world.upload(key, format!("sqs video {i}").as_bytes()).await).await;
    }
    let seen = ingest_queue.drain(Duration::from_secs(90)).await;
    assert_eq!(ingest_queue.dead_letters().await, 3, "{seen:?}\n{}", fleet.logs());
    assert!(seen.batch_item_failures >= 3, "{seen:?}");
    let queue_url = aws_form(&ingest_queue.dlq_url);
    // Something that is no failed event of ours (an operator's stray message).
    let stray = "not an event {";
    ingest_queue.sqs.send_message().queue_url(&ingest_queue.dlq_url).message_body(stray).send().await.unwrap();
    mend_the_provider(&world).await;

    // --limit: at most that many messages.
    let first =
        vinofy(&world, &[("FAILED_EVENTS_QUEUE_URL", &queue_url)], &["--json", "redrive", "--limit", "1"]).await;
    let summary = first.summary();
    assert_eq!(summary["messages"], 1, "{first:?}");
    let deleted = summary["deleted"].as_u64().unwrap();
    assert_eq!(ingest_queue.dead_letters().await as u64, 4 - deleted, "{first:?}");

    // The rest: the dead letters submitted and deleted, the stray message reported and kept.
    let run = vinofy(&world, &[("FAILED_EVENTS_QUEUE_URL", &queue_url)], &["--json", "redrive"]).await;
    assert_eq!(run.code, 1, "something was left in the queue: {run:?}");
    for key in keys {
        let record = world.record(key).await;
        assert_eq!(status(&record).as_deref(), Some("submitted"), "{key}: {run:?}\n{first:?}");
    }
    let all_lines: Vec<Value> = first.lines("record").into_iter().chain(run.lines("record")).collect();
    assert_eq!(all_lines.len(), 3, "{run:?}");
    assert!(all_lines.iter().all(|l| l["outcome"] == "submitted" && l["origin"] == "dead_letter"), "{all_lines:?}");
    let undecodable: Vec<Value> = first
        .lines("message")
        .into_iter()
        .chain(run.lines("message"))
        .filter(|m| m["origin"] == "undecodable")
        .collect();
    assert_eq!(undecodable.len(), 1, "{run:?}");
    assert_eq!(undecodable[0]["action"], "kept");
    assert!(undecodable[0]["detail"].as_str().unwrap().contains("not JSON"), "{undecodable:?}");
    assert_eq!(ingest_queue.dead_letters().await, 1, "only the stray message is left");
    assert_eq!(visible_messages(&ingest_queue, &ingest_queue.dlq_url).await, [stray], "kept, and visible again");
    let live: Vec<Value> = world.videos().await.into_iter().filter(|v| v["deleted"] != true).collect();
    assert_eq!(live.len(), 3, "one video per upload");
}

#[tokio::test]
async fn without_a_queue_or_the_upload_bucket_it_is_a_usage_error() {
    let world = World::new().await;
    let no_queue = vinofy(&world, &[], &["redrive"]).await;
    assert_eq!(no_queue.code, 2, "{no_queue:?}");
    assert!(no_queue.stderr.contains("FAILED_EVENTS_QUEUE_URL"), "{no_queue:?}");
    let no_bucket = vinofy(
        &world,
        &[("UPLOAD_BUCKET", "")],
        &["redrive", "--queue-url", "https://sqs.us-east-1.amazonaws.com/123456789012/q"],
    )
    .await;
    assert_eq!(no_bucket.code, 2, "{no_bucket:?}");
    assert!(no_bucket.stderr.contains("UPLOAD_BUCKET"), "{no_bucket:?}");
}
