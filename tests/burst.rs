//! Bursts of uploads through Lambda's queues into 5 concurrent instances of the real `ingest`
//! binary, with Cloudflare's limits scaled down in the emulator: every upload must become exactly
//! one video and a `submitted` record, with nothing in the failure queue and no lock-out of ours.
//!
//! The scale (production → here): Cloudflare's 1,200 calls per 300 s with a 300 s lock-out → 100
//! per 10 s with a 10 s lock-out; the call budget 1000/300 → 83/10 (the same share); Stream's 120
//! videos in flight → 6, each in flight ~1 s (so the limit is hit); the direct mode's 360 s timeout
//! → 20 s and its retries after ~1 and ~2 minutes → 2 s and 4 s; the sqs mode's 60 s timeout → 20 s,
//! batches of 10 into at most 5 concurrent invocations, as in the template. Each case holds the
//! same inequalities as production (template.yaml's comments): a lock-out fits the direct mode's
//! timeout; a batch's share of the budget fits the sqs mode's. The assertions are counts only.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use vinofy_test_support::harness::lambda_queues::{AsyncQueue, Fleet, SqsEventSource};
use vinofy_test_support::harness::*;

const EMULATOR: &[&str] =
    &["--rate-limit", "100/10", "--max-in-flight", "6", "--processing-delay-ms", "300", "--transcode", "off"];
/// The same with each video in flight 1 s: at the budget's 8.3 calls/s the in-flight limit of 6 is
/// then always reached (at 300 ms a slow machine may pace the copies below it).
const EMULATOR_SLOW_PROCESSING: &[&str] =
    &["--rate-limit", "100/10", "--max-in-flight", "6", "--processing-delay-ms", "1000", "--transcode", "off"];
const INSTANCES: usize = 5;
const BURST: usize = 150;
const DIRECT_TIMEOUT: Duration = Duration::from_secs(20);
const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(2), Duration::from_secs(4)];
const SQS_TIMEOUT: Duration = Duration::from_secs(20);
/// Whoever else uses the same Cloudflare user (the dashboard, a script).
const OUTSIDER: &str = "dashboard-script/1.0";

fn function_env(extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("CLOUDFLARE_CALL_BUDGET", "83/10".to_owned()),
        ("CLOUDFLARE_REQUEST_TIMEOUT_SECONDS", "2".to_owned()),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO".to_owned()),
    ];
    env.extend(extra.iter().cloned());
    env
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Uploads `n` small objects under `prefix` and returns their keys and notifications.
async fn upload(world: &World, prefix: &str, n: usize) -> Vec<(String, Value)> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let key = format!("{prefix}{i:04}.mp4");
        let event = world.upload(&key, format!("video bytes {i}").as_bytes()).await;
        out.push((key, event));
    }
    out
}

/// The emulator's rate-limit report.
async fn rate_limit(world: &World) -> Value {
    world.emulator_get("/__emulator/rate-limit").await
}

/// Every key has exactly one live video, tagged with its version, and a `submitted` record
/// pointing at it; no other video exists.
/// `logs`: what the callers wrote, quoted for any video made and deleted again.
async fn assert_one_video_and_a_submitted_record_each(world: &World, keys: &[String], logs: &str) {
    let records: HashMap<String, Record> =
        world.all_records().await.into_iter().map(|r| (s(&r, "key").unwrap(), r)).collect();
    let videos = world.videos().await;
    let live: Vec<&Value> = videos.iter().filter(|v| v["deleted"] != true).collect();
    let without: Vec<(&String, Option<&Record>)> = keys
        .iter()
        .filter(|k| records.get(*k).is_none_or(|r| s(r, "status").as_deref() != Some("submitted")))
        .map(|k| (k, records.get(k)))
        .collect();
    assert!(without.is_empty(), "{} uploads not submitted: {without:?}", without.len());
    assert_eq!(live.len(), keys.len(), "one live video per upload ({} ever made)", videos.len());
    let deleted: Vec<&Value> = videos.iter().filter(|v| v["deleted"] == true).collect();
    if !deleted.is_empty() {
        let evidence: Vec<String> = deleted
            .iter()
            .map(|v| {
                let video = &v["video"];
                let uid = video["uid"].as_str().unwrap_or("?");
                let key = video["meta"]["s3_key"].as_str().unwrap_or("?");
                let lines: Vec<&str> = logs.lines().filter(|l| l.contains(uid) || l.contains(key)).collect();
                format!("{v}\n  {}", lines.join("\n  "))
            })
            .collect();
        panic!("{} videos made and deleted again:\n{}", deleted.len(), evidence.join("\n"));
    }
    let mut per_uid: HashMap<String, usize> = HashMap::new();
    for key in keys {
        let record = records.get(key).unwrap_or_else(|| panic!("{key}: no record"));
        assert_eq!(s(record, "status").as_deref(), Some("submitted"), "{key}: {record:?}");
        *per_uid.entry(s(record, "video_uid").expect("a video uid")).or_default() += 1;
    }
    assert_eq!(per_uid.len(), keys.len(), "distinct videos");
    for v in &live {
        let uid = v["video"]["uid"].as_str().unwrap();
        assert_eq!(per_uid.get(uid), Some(&1), "video {uid} is some record's");
    }
}

/// Trips Cloudflare's lock-out from outside, as the dashboard or a script on the same user would:
/// calls until one is refused with the lock-out's 429.
async fn trip_the_lockout(world: &World) {
    let url = format!("{}/accounts/{ACCOUNT_ID}/stream?limit=1", world.emulator.api_url);
    for _ in 0..500 {
        let reply = world.http.get(&url).bearer_auth(&world.token).header("user-agent", OUTSIDER).send().await.unwrap();
        if reply.status() == 429 && reply.headers().contains_key("retry-after") {
            return;
        }
    }
    panic!("the lock-out did not trip");
}

/// The one lock-out is the outsider's: none of ours.
async fn assert_only_the_outsiders_lockout(world: &World) {
    let report = rate_limit(world).await;
    let lockouts = report["lockouts"].as_array().unwrap();
    assert_eq!(lockouts.len(), 1, "only the outsider's: {report}");
    assert_eq!(lockouts[0]["user_agent"], OUTSIDER);
}

/// How many of our calls arrived during the outsider's lock-out (all refused: the emulator's rate
/// limit answers before anything else).
async fn our_calls_during_the_lockout(world: &World) -> usize {
    let report = rate_limit(world).await;
    let lockout = &report["lockouts"][0];
    let (from, until) = (lockout["at_ms"].as_i64().unwrap(), lockout["until_ms"].as_i64().unwrap());
    let requests = world.emulator_get("/__emulator/requests").await;
    let ours: Vec<&Value> = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["user_agent"].as_str().is_some_and(|ua| ua.starts_with("vinofy-ingest/")))
        .collect();
    assert!(ours.len() >= BURST, "our calls are told apart by their user agent: {} of them", ours.len());
    ours.iter().filter(|r| r["at_ms"].as_i64().is_some_and(|at| at > from && at < until)).count()
}

/// Waits until the emulator has seen `n` copies (the burst is under way).
async fn after_copies(world: &World, n: usize) {
    while world.requests("copy").await < n {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn direct_burst(world: &World, burst: &[(String, Value)]) -> (AsyncQueue, Fleet) {
    let env = function_env(&[]);
    let fleet = Fleet::start(world, &borrowed(&env), INSTANCES).await;
    let queue = AsyncQueue::new(&fleet, DIRECT_TIMEOUT, &RETRY_DELAYS);
    for (_, event) in burst {
        queue.submit(event.clone());
    }
    (queue, fleet)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_the_async_queue_becomes_one_video_each_without_a_lockout() {
    let world = World::with_emulator_args(EMULATOR_SLOW_PROCESSING).await;
    let burst = upload(&world, "burst/", BURST).await;
    let (queue, fleet) = direct_burst(&world, &burst).await;
    let outcome = queue.drain().await;

    assert!(outcome.failure_destination.is_empty(), "{:?}\n{}", outcome.function_errors, fleet.logs());
    assert_eq!(outcome.succeeded, BURST);
    let keys: Vec<String> = burst.into_iter().map(|(k, _)| k).collect();
    assert_one_video_and_a_submitted_record_each(&world, &keys, &fleet.logs()).await;
    let report = rate_limit(&world).await;
    assert_eq!(report["lockouts"], serde_json::json!([]), "{report}");
    // Stream's in-flight limit was reached, and waited out (never recorded as failed).
    let requests = world.emulator_get("/__emulator/requests").await;
    let refused_copies = requests.as_array().unwrap().iter().filter(|r| r["route"] == "copy" && r["status"] == 429);
    assert!(refused_copies.count() > 0, "the in-flight limit was hit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_with_a_backfill_alongside_shares_the_budget_and_trips_nothing() {
    let world = World::with_emulator_args(EMULATOR).await;
    // The library already in the bucket (no notification) and the burst of new uploads.
    let library = upload(&world, "library/", 30).await;
    let burst = upload(&world, "burst/", BURST).await;
    let cli_env: Vec<(String, String)> = world
        .env()
        .into_iter()
        .chain(borrowed(&function_env(&[])).into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())))
        .chain([("VINOFY_ALLOW_LONG_TERM_CREDENTIALS".to_owned(), "1".to_owned())])
        .collect();
    // Over the whole bucket: it races the function for the burst's objects too.
    let backfill = tokio::process::Command::new(peers::target_bin("vinofy"))
        .env_clear()
        .envs(iam_recorder::recorded("vinofy", cli_env))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["--json", "backfill", "--bucket", &world.bucket, "--concurrency", "4"])
        .output();
    let (queue, fleet) = direct_burst(&world, &burst).await;
    let (backfill, outcome) = tokio::join!(backfill, queue.drain());
    let backfill = backfill.unwrap();
    let stdout = String::from_utf8_lossy(&backfill.stdout);
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    assert!(outcome.failure_destination.is_empty(), "{:?}\n{}", outcome.function_errors, fleet.logs());
    assert_eq!(summary["outcomes"]["failed"], 0, "{stdout}\n{}", String::from_utf8_lossy(&backfill.stderr));
    assert!(summary["outcomes"]["submitted"].as_u64().unwrap() >= 30, "the library: {summary}");
    let keys: Vec<String> = library.into_iter().chain(burst).map(|(k, _)| k).collect();
    let records: HashMap<String, Record> =
        world.all_records().await.into_iter().map(|r| (s(&r, "key").unwrap(), r)).collect();
    for key in &keys {
        if records.get(key).is_none_or(|r| s(r, "status").as_deref() != Some("submitted")) {
            let backfill_lines: Vec<&str> = stdout.lines().filter(|l| l.contains(key.as_str())).collect();
            let logs = fleet.logs();
            let function_lines: Vec<&str> = logs.lines().filter(|l| l.contains(key.as_str())).collect();
            panic!("{key}: {:?}\nbackfill: {backfill_lines:#?}\nfunction: {function_lines:#?}", records.get(key));
        }
    }
    let logs = format!("{}\n{}", fleet.logs(), String::from_utf8_lossy(&backfill.stderr));
    assert_one_video_and_a_submitted_record_each(&world, &keys, &logs).await;
    let report = rate_limit(&world).await;
    assert_eq!(report["lockouts"], serde_json::json!([]), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lockout_tripped_from_outside_mid_burst_loses_nothing() {
    let world = World::with_emulator_args(EMULATOR).await;
    let burst = upload(&world, "burst/", BURST).await;
    let (queue, fleet) = direct_burst(&world, &burst).await;
    after_copies(&world, 40).await;
    trip_the_lockout(&world).await;
    let outcome = queue.drain().await;

    assert!(outcome.failure_destination.is_empty(), "{:?}\n{}", outcome.function_errors, fleet.logs());
    let keys: Vec<String> = burst.into_iter().map(|(k, _)| k).collect();
    assert_one_video_and_a_submitted_record_each(&world, &keys, &fleet.logs()).await;
    assert_only_the_outsiders_lockout(&world).await;
    assert!(fleet.logs().contains("every caller holds its calls"), "the instances saw it and held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_through_sqs_with_a_lockout_hands_messages_back_and_loses_nothing() {
    let world = World::with_emulator_args(EMULATOR).await;
    let source = SqsEventSource::create("ingest", Duration::from_secs(30), 10).await;
    let env = function_env(&[("INGEST_QUEUE_ARN", source.queue_arn.clone())]);
    let fleet = Fleet::start(&world, &borrowed(&env), INSTANCES).await;
    let burst = upload(&world, "burst/", BURST).await;
    for (_, event) in &burst {
        source.send(event).await;
    }
    source.start(&fleet, INSTANCES, 10, SQS_TIMEOUT);
    after_copies(&world, 40).await;
    trip_the_lockout(&world).await;
    let outcome = source.drain(Duration::from_secs(300)).await;

    assert_eq!(source.dead_letters().await, 0, "{outcome:?}\n{}", fleet.logs());
    assert_eq!(source.pending().await, 0, "drained: {outcome:?}");
    assert!(outcome.batch_item_failures > 0, "messages were handed back during the lock-out: {outcome:?}");
    assert!(fleet.logs().contains("handing the message back with a visibility delay"));
    let keys: Vec<String> = burst.into_iter().map(|(k, _)| k).collect();
    assert_one_video_and_a_submitted_record_each(&world, &keys, &fleet.logs()).await;
    assert_only_the_outsiders_lockout(&world).await;
    // The first refusal holds every instance through the budget: the messages handed back and the
    // batches received meanwhile make no call into the lock-out (without the hold, every message
    // pulled would spend one refused call).
    let refused = our_calls_during_the_lockout(&world).await;
    assert!(refused <= INSTANCES, "{refused} of our calls went into the lock-out");
}

/// A burst of cold starts spends nothing of the budget: each instance opens its Cloudflare
/// connection at init with a request that carries no credentials, which the emulator (like
/// Cloudflare) refuses before its rate limiter counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_starts_warm_up_without_spending_a_counted_call() {
    let world = World::with_emulator_args(EMULATOR).await;
    let env = function_env(&[]);
    let fleet = Fleet::start(&world, &borrowed(&env), INSTANCES).await;
    while fleet.runtime.polls() < INSTANCES {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let requests = world.emulator_get("/__emulator/requests").await;
    let warm_ups: Vec<&Value> =
        requests.as_array().unwrap().iter().filter(|r| r["method"] == "HEAD" && r["status"] == 400).collect();
    assert_eq!(warm_ups.len(), INSTANCES, "one warm-up per cold start: {requests}");
    let report = rate_limit(&world).await;
    assert_eq!((report["accepted"].as_u64(), report["refused"].as_u64()), (Some(0), Some(0)), "{report}");
    assert!(world.all_items().await.is_empty(), "no budget slot taken");
}
