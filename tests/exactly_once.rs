//! Exactly one video per upload, whatever is delivered twice, races, or dies half-way: the real
//! `ingest` binary against the local peers and the emulator's fault modes.

use std::time::Duration;

use serde_json::{Value, json};
use vinofy_test_support::harness::*;

fn outcome(reply: &Value) -> &str {
    reply["records"][0]["outcome"].as_str().unwrap_or_default()
}

async fn live_videos(world: &World) -> Vec<Value> {
    world.videos().await.into_iter().filter(|v| v["deleted"] == false).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_event_ten_times_makes_one_video_and_costs_no_cloudflare_call() {
    let world = World::new().await;
    let function = Function::start(&world, &[]).await;
    let event = world.upload("videos/dup.mp4", &sample_video()).await;
    let first = response(function.invoke(&event).await);
    assert_eq!(outcome(&first), "submitted");
    let requests_after_first = world.emulator_get("/__emulator/requests").await.as_array().unwrap().len();
    for _ in 0..9 {
        assert_eq!(outcome(&response(function.invoke(&event).await)), "duplicate");
    }
    assert_eq!(world.videos().await.len(), 1);
    assert_eq!(world.all_records().await.len(), 1);
    let requests = world.emulator_get("/__emulator/requests").await.as_array().unwrap().len();
    assert_eq!(requests, requests_after_first, "a duplicate makes no Cloudflare call");
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_processes_racing_on_one_event_make_one_video() {
    const RACERS: usize = 50;
    let world = World::new().await;
    let event = world.upload("videos/race.mp4", &sample_video()).await;
    let mut functions = Vec::new();
    for _ in 0..RACERS {
        functions.push(Function::start(&world, &[]).await);
    }
    let replies = futures_join(functions.iter().map(|f| f.invoke(&event))).await;
    let outcomes: Vec<String> = replies.into_iter().map(|r| outcome(&response(r)).to_owned()).collect();
    let submitted = outcomes.iter().filter(|o| *o == "submitted").count();
    assert_eq!(submitted, 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| ["submitted", "duplicate", "in_progress"].contains(&o.as_str())), "{outcomes:?}");
    assert_eq!(world.videos().await.len(), 1, "exactly one (billed) video");
    assert_eq!(world.requests("copy").await, 1);
    let records = world.all_records().await;
    assert_eq!(records.len(), 1);
    assert_eq!(s(&records[0], "status").unwrap(), "submitted");
}

/// Joins futures concurrently without an extra dependency.
async fn futures_join<F: std::future::Future<Output = Reply>>(futures: impl Iterator<Item = F>) -> Vec<Reply> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut out = Vec::with_capacity(set.len());
    // Drive all of them at once: poll each in turn until all are done.
    let mut slots: Vec<Option<Reply>> = (0..set.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if slots[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(r) => slots[i] = Some(r),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    out.extend(slots.into_iter().map(Option::unwrap));
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_version_replaces_the_video_and_a_late_old_event_changes_nothing() {
    let world = World::new().await;
    let function = Function::start(&world, &[]).await;
    let key = "videos/reupload.mp4";
    let v1 = sample_video();
    let etag1 = world.put_object(key, &v1).await;
    let old_event = world.created_event(key, v1.len(), &etag1, "0055AED6DCD90281E5");
    let first = response(function.invoke(&old_event).await);
    let old_uid = first["records"][0]["video_uid"].as_str().unwrap().to_owned();

    let mut v2 = sample_video();
    v2.extend_from_slice(b"second cut");
    let etag2 = world.put_object(key, &v2).await;
    let new_event = world.created_event(key, v2.len(), &etag2, "0055AED6DCD90281F0");
    let second = response(function.invoke(&new_event).await);
    assert_eq!(outcome(&second), "submitted");
    let new_uid = second["records"][0]["video_uid"].as_str().unwrap().to_owned();
    assert_ne!(new_uid, old_uid);

    let record = world.record(key).await.unwrap();
    assert_eq!(s(&record, "video_uid").unwrap(), new_uid);
    assert_eq!(s(&record, "etag").unwrap(), etag2);
    assert!(!record.contains_key("replaced_video_uid"), "cleared once the old video is deleted");
    let videos = world.videos().await;
    let old = videos.iter().find(|v| v["video"]["uid"] == old_uid.as_str()).unwrap();
    assert_eq!(old["deleted"], true, "the replaced video is deleted from Stream");
    let new = world.wait_video_final(&new_uid).await;
    assert_eq!(new["source_sha256"], sha256_hex(&v2));

    // The first version's notification, delivered again late: an older sequencer never wins.
    assert_eq!(outcome(&response(function.invoke(&old_event).await)), "outdated");
    let after = world.record(key).await.unwrap();
    assert_eq!(s(&after, "video_uid").unwrap(), new_uid);
    assert_eq!(live_videos(&world).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn replaced_videos_can_be_kept() {
    let world = World::new().await;
    let function = Function::start(&world, &[("REPLACED_VIDEO_POLICY", "keep")]).await;
    let key = "videos/keep.mp4";
    let etag1 = world.put_object(key, b"first").await;
    let first = response(function.invoke(&world.created_event(key, 5, &etag1, "0A")).await);
    let etag2 = world.put_object(key, b"second").await;
    let second = response(function.invoke(&world.created_event(key, 6, &etag2, "0B")).await);
    let record = world.record(key).await.unwrap();
    assert_eq!(s(&record, "video_uid").as_deref(), second["records"][0]["video_uid"].as_str());
    assert_eq!(s(&record, "replaced_video_uid").as_deref(), first["records"][0]["video_uid"].as_str());
    assert_eq!(live_videos(&world).await.len(), 2, "nothing deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_claim_left_by_a_dead_invocation_blocks_until_its_deadline_then_is_taken_over() {
    let world = World::new().await;
    // No warm-up call, so the emulator's `list` count is the take-over's look-up alone.
    let function = Function::start(&world, &[("WARM_UP_CONNECTIONS", "false")]).await;
    let event = world.upload("videos/orphan-claim.mp4", &sample_video()).await;
    world.leave_claim(&World::announced_object(&event), 60_000).await;

    // While the dead invocation's deadline has not passed, it may still be alive: hands off.
    assert_eq!(outcome(&response(function.invoke(&event).await)), "in_progress");
    assert_eq!(world.requests("copy").await, 0);

    // Its deadline passes (moved into the past rather than waited for).
    world.expire_claim("videos/orphan-claim.mp4").await;
    let reply = response(function.invoke(&event).await);
    assert_eq!(outcome(&reply), "submitted", "{reply}");
    assert_eq!(world.requests("list").await, 1, "a take-over looks for an earlier attempt's video first");
    assert_eq!(world.videos().await.len(), 1);
    assert_eq!(s(&world.record("videos/orphan-claim.mp4").await.unwrap(), "status").unwrap(), "submitted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_killed_after_cloudflare_accepted_the_copy_is_adopted_not_copied_again() {
    let world = World::new().await;
    let event = world.upload("videos/killed.mp4", &sample_video()).await;
    // Cloudflare creates the video but the reply never arrives; the process dies meanwhile.
    world.inject_faults(json!([{"route": "copy", "hang_after_processing": true}])).await;
    // A 2 s request timeout, so that a 6 s invocation has time for one whole call.
    let mut doomed = Function::start(&world, &[("CLOUDFLARE_REQUEST_TIMEOUT_SECONDS", "2")]).await;
    let lost = doomed.invoke_with_deadline(&event, Duration::from_secs(6));
    let killer = async {
        for _ in 0..100 {
            if world.requests("copy").await == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (reply, ()) = tokio::join!(async { tokio::time::timeout(Duration::from_secs(2), lost).await }, killer);
    assert!(reply.is_err(), "the first invocation must not have replied");
    doomed.kill();
    assert_eq!(world.videos().await.len(), 1, "Cloudflare accepted the copy");
    assert_eq!(s(&world.record("videos/killed.mp4").await.unwrap(), "status").unwrap(), "pending");

    // Lambda retries after the killed invocation's deadline (moved into the past, not waited for).
    world.expire_claim("videos/killed.mp4").await;
    let function = Function::start(&world, &[]).await;
    let reply = response(function.invoke(&event).await);
    assert_eq!(outcome(&reply), "adopted", "{reply}");
    assert_eq!(world.videos().await.len(), 1, "no second video");
    assert_eq!(world.requests("copy").await, 1);
    let record = world.record("videos/killed.mp4").await.unwrap();
    assert_eq!(s(&record, "status").unwrap(), "submitted");
    assert_eq!(s(&record, "video_uid").as_deref(), world.videos().await[0]["video"]["uid"].as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_cloudflare_faults_are_retried_within_the_invocation_without_duplicates() {
    let world = World::new().await;
    let function = Function::start(&world, &[("CLOUDFLARE_REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let faults = [
        json!({"route": "copy", "status": 429, "retry_after": 1}),
        json!({"route": "copy", "status": 503}),
        json!({"route": "copy", "status": 500}),
        json!({"route": "copy", "status": 408}),
        json!({"route": "copy", "status": 409}),
        json!({"route": "copy", "drop": true}),
        json!({"route": "copy", "delay_ms": 1500}),
        json!({"route": "copy", "hang_after_processing": true}),
        json!({"route": "copy", "malformed_json": true}),
        json!({"route": "copy", "missing_uid": true}),
        json!({"route": "copy", "success_false": true}),
    ];
    for (i, fault) in faults.iter().enumerate() {
        let key = format!("videos/fault-{i}.mp4");
        let event = world.upload(&key, &sample_video()).await;
        world.inject_faults(json!([fault])).await;
        let reply = response(function.invoke(&event).await);
        assert!(["submitted", "adopted"].contains(&outcome(&reply)), "{fault}: {reply}");
        let record = world.record(&key).await.unwrap();
        assert_eq!(s(&record, "status").unwrap(), "submitted", "{fault}");
        let creator = vinofy_core::domain::object::ObjectVersion {
            bucket: world.bucket.clone(),
            key: key.clone(),
            size: 0,
            etag: s(&record, "etag").unwrap(),
            version_id: None,
            sequencer: String::new(),
        }
        .version_tag();
        let mine: Vec<Value> =
            world.videos().await.into_iter().filter(|v| v["video"]["creator"] == creator.as_str()).collect();
        assert_eq!(mine.len(), 1, "{fault}: exactly one video, got {}", mine.len());
        assert_eq!(s(&record, "video_uid").as_deref(), mine[0]["video"]["uid"].as_str(), "{fault}");
    }
    // The log says why it retried, without secrets.
    let logs = function.logs();
    assert!(logs.contains("video provider call failed; retrying"));
    assert!(!logs.contains(&world.token) && !logs.contains("X-Amz-Signature"));
}

#[tokio::test(flavor = "multi_thread")]
async fn other_client_errors_fail_the_record_without_retrying() {
    let world = World::new().await;
    let function = Function::start(&world, &[]).await;
    for (i, status) in [400, 403, 404, 413, 422].into_iter().enumerate() {
        let key = format!("videos/rejected-{i}.mp4");
        let event = world.upload(&key, &sample_video()).await;
        world.inject_faults(json!([{"route": "copy", "status": status, "message": "refused by test"}])).await;
        let before = world.requests("copy").await;
        match function.invoke(&event).await {
            Reply::Error { error_type, .. } => assert_eq!(error_type, "NonRetryable.CopyRejected", "{status}"),
            other => panic!("{status}: {other:?}"),
        }
        assert_eq!(world.requests("copy").await, before + 1, "{status}: no retry");
        let record = world.record(&key).await.unwrap();
        assert_eq!(s(&record, "status").unwrap(), "failed");
        assert!(s(&record, "error").unwrap().contains(&format!("HTTP {status}")), "{status}");
    }
    assert!(world.videos().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_stop_before_the_deadline_and_the_next_delivery_finishes_the_job() {
    let world = World::new().await;
    let function = Function::start(&world, &[("CLOUDFLARE_REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let event = world.upload("videos/outage.mp4", &sample_video()).await;
    world.inject_faults(json!([{"route": "any", "status": 503, "times": 1000}])).await;
    let started = std::time::Instant::now();
    let reply =
        function.invoke_with_deadline(&event, Duration::from_secs(8)).await.expect("replied before the deadline");
    assert!(started.elapsed() < Duration::from_secs(8));
    match reply {
        Reply::Error { error_type, error_message } => {
            assert_eq!(error_type, "Retryable.StreamUnavailable");
            assert!(error_message.contains("503"), "{error_message}");
        }
        other => panic!("{other:?}"),
    }
    let record = world.record("videos/outage.mp4").await.unwrap();
    assert_eq!(s(&record, "status").unwrap(), "pending");
    assert_eq!(record["claim_expires_at"].as_n().unwrap(), "0", "the claim is released for the retry");
    assert!(s(&record, "last_error").unwrap().contains("503"));

    let clear = world.http.delete(format!("{}/__emulator/faults", world.emulator.base_url)).send().await.unwrap();
    assert!(clear.status().is_success());
    let reply = response(function.invoke(&event).await);
    assert_eq!(outcome(&reply), "submitted", "{reply}");
    assert_eq!(world.videos().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqs_buffered_batches_report_only_the_failed_messages() {
    let world = World::new().await;
    let function = Function::start(&world, &[]).await;
    let good = world.upload("videos/queued.mp4", &sample_video()).await;
    let sqs = |id: &str, body: String| {
        json!({"messageId": id, "receiptHandle": "rh", "body": body, "attributes": {}, "messageAttributes": {},
               "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:ingest",
               "awsRegion": "us-east-1"})
    };
    let event = json!({"Records": [
        sqs("m-good", good.to_string()),
        sqs("m-test", json!({"Service": "Amazon S3", "Event": "s3:TestEvent"}).to_string()),
        sqs("m-bad", "{not json".into()),
    ]});
    let reply = response(function.invoke(&event).await);
    assert_eq!(reply["batchItemFailures"], json!([{"itemIdentifier": "m-bad"}]), "{reply}");
    assert_eq!(reply["records"][0]["outcome"], "submitted");
    assert_eq!(world.videos().await.len(), 1);
    // Redelivery of the whole batch: the good message is now a duplicate.
    let again = response(function.invoke(&event).await);
    assert_eq!(again["records"][0]["outcome"], "duplicate");
    assert_eq!(world.videos().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_throttling_is_retried_with_backoff_and_then_reported_retryable() {
    use vinofy_test_support::harness::dynamo_proxy::DynamoProxy;
    let world = World::new().await;
    let proxy = DynamoProxy::start().await;
    let mut env: std::collections::HashMap<String, String> = proxy.env(world.env()).into_iter().collect();
    // No warm-up: its call-budget write would race the throttled claims for the proxy's count.
    env.insert("WARM_UP_CONNECTIONS".into(), "false".into());
    let function = Function::start_with_env(env).await;

    // Two throttled claims: the SDK's standard retry (exponential backoff, jitter) absorbs them.
    let event = world.upload("videos/throttled.mp4", &sample_video()).await;
    proxy.clear();
    proxy.throttle("UpdateItem", 2);
    let reply = response(function.invoke(&event).await);
    assert_eq!(outcome(&reply), "submitted", "{reply}");
    assert_eq!(
        proxy.operations().iter().filter(|op| *op == "UpdateItem").count(),
        5,
        "3 claim attempts + the copy's call-budget slot + complete"
    );
    assert_eq!(world.videos().await.len(), 1);

    // A table that stays throttled: a retryable error (Lambda retries the event), nothing copied.
    let event = world.upload("videos/still-throttled.mp4", &sample_video()).await;
    proxy.throttle("UpdateItem", 1000);
    match function.invoke(&event).await {
        Reply::Error { error_type, error_message } => {
            assert_eq!(error_type, "Retryable.VideoStore", "{error_message}");
            assert!(error_message.contains("ProvisionedThroughputExceeded"), "{error_message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(world.requests("copy").await, 1, "no copy without a claim");
    proxy.throttle("UpdateItem", 0);
    assert_eq!(outcome(&response(function.invoke(&event).await)), "submitted", "the retry succeeds");
}

/// Stream's in-flight limit (videos downloading, queued or in progress at once): a copy refused
/// with 429 and no lock-out behind it is retried within the invocation once a video finishes, and
/// is never recorded as `failed`.
#[tokio::test(flavor = "multi_thread")]
async fn streams_in_flight_limit_is_waited_out_not_recorded_as_failed() {
    let world =
        World::with_emulator_args(&["--max-in-flight", "1", "--processing-delay-ms", "300", "--transcode", "off"])
            .await;
    let function = Function::start(&world, &[("WARM_UP_CONNECTIONS", "false")]).await;
    let first = world.upload("videos/first.mp4", &sample_video()).await;
    assert_eq!(outcome(&response(function.invoke(&first).await)), "submitted");
    // The first video is still processing: the second copy is refused until it is done.
    let second = world.upload("videos/second.mp4", &sample_video()).await;
    let reply = response(function.invoke(&second).await);
    assert_eq!(outcome(&reply), "submitted", "{reply}");
    let refused = world.emulator_get("/__emulator/requests").await;
    let refusals = refused.as_array().unwrap().iter().filter(|r| r["route"] == "copy" && r["status"] == 429).count();
    assert!(refusals >= 1, "the limit was hit: {refused}");
    for key in ["videos/first.mp4", "videos/second.mp4"] {
        assert_eq!(s(&world.record(key).await.unwrap(), "status").as_deref(), Some("submitted"), "{key}");
    }
    assert_eq!(world.videos().await.len(), 2, "exactly one video each");
}
