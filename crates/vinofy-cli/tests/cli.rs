//! The real `vinofy` binary against the local peers (s3s-fs, moto, the Cloudflare Stream emulator),
//! through the root crate's test harness.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use vinofy_adapters::S3Presigner;
use vinofy_core::domain::object::{ObjectVersion, normalize_sequencer};
use vinofy_core::ingest::Deadline;
use vinofy_core::ports::{CreateVideoRequest, ObjectPresigner, VideoProvider};
use vinofy_test_support::harness::*;

const SEQUENCER: &str = "0055AED6DCD90281E5";

// ---------------------------------------------------------------------------------------------
// Running the binary

type Run = cli::CliRun;

/// The `--json` per-object (or per-record) lines, by source.
trait BySource {
    fn by_source(&self) -> HashMap<String, Value>;
}

impl BySource for Run {
    fn by_source(&self) -> HashMap<String, Value> {
        self.json_lines()
            .into_iter()
            .filter(|l| l["type"] != "summary")
            .map(|l| (l["source"].as_str().unwrap().to_owned(), l))
            .collect()
    }
}

type Env = Vec<(String, String)>;

/// The local world's S3 peer knows one static key pair (no session token), so the tests allow
/// presigning with long-term keys, as an operator must say explicitly; a test's env may override it.
const ALLOW_LONG_TERM: (&str, &str) = ("VINOFY_ALLOW_LONG_TERM_CREDENTIALS", "1");

async fn vinofy(env: &Env, args: &[&str]) -> Run {
    let allow = [(ALLOW_LONG_TERM.0.to_owned(), ALLOW_LONG_TERM.1.to_owned())];
    // The test's own env comes last, so it may override the allowance.
    let env: Vec<(String, String)> = allow.into_iter().chain(env.iter().cloned()).collect();
    vinofy_test_support::harness::cli::run_vinofy(env!("CARGO_BIN_EXE_vinofy"), env, args).await
}

fn set(mut env: Env, name: &str, value: &str) -> Env {
    env.retain(|(k, _)| k != name);
    env.push((name.to_owned(), value.to_owned()));
    env
}

/// What the read-only commands get: the table and AWS, nothing of Cloudflare.
fn read_only_env(world: &World) -> Env {
    world.env().into_iter().filter(|(k, _)| !k.starts_with("CLOUDFLARE_")).collect()
}

fn api_request_count(requests: &Value) -> usize {
    requests.as_array().map_or(0, Vec::len)
}

// ---------------------------------------------------------------------------------------------
// World helpers

fn video_of<'a>(videos: &'a [Value], uid: &str) -> &'a Value {
    videos.iter().find(|v| v["video"]["uid"] == uid).unwrap_or_else(|| panic!("no emulator video {uid}"))
}

fn object(world: &World, key: &str, size: usize, etag: &str) -> ObjectVersion {
    ObjectVersion {
        bucket: world.bucket.clone(),
        key: key.to_owned(),
        size: size as u64,
        etag: etag.to_owned(),
        version_id: None,
        sequencer: normalize_sequencer(SEQUENCER),
    }
}

fn records_by_source(records: Vec<Record>) -> HashMap<String, Record> {
    records.into_iter().map(|r| (s(&r, "source").unwrap(), r)).collect()
}

// ---------------------------------------------------------------------------------------------
// Usage

#[tokio::test]
async fn every_command_has_help_with_examples() {
    let none = Env::new();
    let top = vinofy(&none, &["--help"]).await;
    assert_eq!(top.code, 0, "{top:?}");
    for command in ["backfill", "reconcile", "status", "list", "export", "migrate", "redrive", "cost"] {
        assert!(top.stdout.contains(command), "{top:?}");
        for args in [vec![command, "--help"], vec!["help", command]] {
            let run = vinofy(&none, &args).await;
            assert_eq!(run.code, 0, "{args:?}: {run:?}");
            assert!(run.stdout.contains(&format!("Usage: vinofy {command}")), "{run:?}");
            assert!(run.stdout.contains("Examples:"), "{run:?}");
            assert!(run.stdout.contains(&format!("vinofy {command}")), "{run:?}");
            assert!(run.stdout.contains("VIDEOS_TABLE"), "the environment is documented: {run:?}");
        }
    }
    let signing = vinofy(&none, &["signing-key", "create", "--help"]).await;
    assert_eq!(signing.code, 0, "{signing:?}");
    assert!(signing.stdout.contains("Examples:") && signing.stdout.contains("never printed"), "{signing:?}");
    assert!(top.stdout.contains("signing-key"), "{top:?}");
    let backfill = vinofy(&none, &["backfill", "--help"]).await.stdout;
    for flag in ["--bucket", "--prefix", "--concurrency", "--rate", "--dry-run", "--json"] {
        assert!(backfill.contains(flag), "{flag}: {backfill}");
    }
    let migrate = vinofy(&none, &["migrate", "--help"]).await.stdout;
    for flag in ["--to", "--prefix", "--dry-run", "--delete-old", "--ready-timeout", "--concurrency"] {
        assert!(migrate.contains(flag), "{flag}: {migrate}");
    }
    let version = vinofy(&none, &["--version"]).await;
    assert!(version.stdout.starts_with("vinofy "), "{version:?}");
}

#[tokio::test]
async fn flags_and_configuration_are_checked_before_anything_runs() {
    let none = Env::new();
    // Above Cloudflare's 1,200 calls / 5 minutes: refused with the reason.
    let too_fast = vinofy(&none, &["backfill", "--bucket", "uploads", "--rate", "241"]).await;
    assert_eq!(too_fast.code, 2, "{too_fast:?}");
    assert!(too_fast.stderr.contains("240") && too_fast.stderr.contains("1,200"), "{too_fast:?}");
    for bad in ["0", "-5", "lots", "1000"] {
        let run = vinofy(&none, &["backfill", "--bucket", "uploads", &format!("--rate={bad}")]).await;
        assert_eq!(run.code, 2, "--rate {bad}: {run:?}");
        assert!(run.stderr.contains("--rate"), "{run:?}");
    }
    let bad_concurrency = vinofy(&none, &["backfill", "--bucket", "uploads", "--concurrency", "0"]).await;
    assert_eq!(bad_concurrency.code, 2, "{bad_concurrency:?}");
    let bad_age = vinofy(&none, &["reconcile", "--older-than", "15 minutes"]).await;
    assert_eq!(bad_age.code, 2, "{bad_age:?}");
    assert!(bad_age.stderr.contains("--older-than"), "{bad_age:?}");

    // 240 is allowed: what stops it is the configuration, whose error names the variable.
    let max = vinofy(&none, &["backfill", "--bucket", "uploads", "--rate", "240"]).await;
    assert_eq!(max.code, 2, "{max:?}");
    assert!(max.stderr.contains("VIDEOS_TABLE") && !max.stderr.contains("--rate"), "{max:?}");
    for command in [&["list"][..], &["export"], &["status", "s3://b/k.mp4"]] {
        let run = vinofy(&none, command).await;
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("VIDEOS_TABLE"), "{run:?}");
    }
    let table = set(Env::new(), "VIDEOS_TABLE", "videos");
    let no_account = vinofy(&table, &["backfill", "--bucket", "uploads"]).await;
    assert_eq!(no_account.code, 2, "{no_account:?}");
    assert!(no_account.stderr.contains("CLOUDFLARE_ACCOUNT_ID"), "{no_account:?}");
    let no_token = vinofy(&set(table.clone(), "CLOUDFLARE_ACCOUNT_ID", ACCOUNT_ID), &["reconcile"]).await;
    assert_eq!(no_token.code, 2, "{no_token:?}");
    assert!(no_token.stderr.contains("CLOUDFLARE_API_TOKEN"), "{no_token:?}");
    let bad_table = vinofy(&set(Env::new(), "VIDEOS_TABLE", "no such table!"), &["list"]).await;
    assert_eq!(bad_table.code, 2, "{bad_table:?}");
    assert!(bad_table.stderr.contains("VIDEOS_TABLE"), "{bad_table:?}");

    // A key without its bucket: a usage error with the way out.
    let keyless = vinofy(&table, &["status", "videos/a.mp4"]).await;
    assert_eq!(keyless.code, 2, "{keyless:?}");
    assert!(keyless.stderr.contains("--bucket"), "{keyless:?}");
}

// ---------------------------------------------------------------------------------------------
// backfill

#[tokio::test(flavor = "multi_thread")]
async fn backfill_ingests_existing_videos_and_a_rerun_makes_no_cloudflare_call_and_no_write() {
    let world = World::new().await;
    let spy = vinofy_test_support::harness::dynamo_proxy::DynamoProxy::start().await;
    let video = sample_video();
    let videos = ["videos/tasting.mp4", "videos/cellar tour (1)+final.mov", "videos/deep/nested/PAIRING.MOV"];
    let mut etags = HashMap::new();
    for key in videos {
        etags.insert(world.source(key), world.put_object(key, &video).await);
    }
    world.put_object("videos/notes.txt", b"not a video").await;
    world.put_object("videos/empty.mp4", b"").await;
    world.put_object("elsewhere/outside.mp4", &video).await;

    let env = spy.env(world.env());
    let bucket = world.bucket.as_str();
    let first = vinofy(&env, &["--json", "backfill", "--bucket", bucket, "--prefix", "videos/", "--rate", "240"]).await;
    assert_eq!(first.code, 0, "{first:?}");
    let lines = first.by_source();
    assert_eq!(lines.len(), 5, "only the prefix is listed: {first:?}");
    for key in videos {
        assert_eq!(lines[&world.source(key)]["outcome"], "submitted", "{key}: {first:?}");
    }
    assert_eq!(lines[&world.source("videos/notes.txt")]["outcome"], "skipped");
    assert_eq!(lines[&world.source("videos/empty.mp4")]["outcome"], "skipped");
    let summary = first.summary();
    assert_eq!(summary["outcomes"]["submitted"], 3, "{summary}");
    assert_eq!(summary["outcomes"]["skipped"], 2, "{summary}");
    assert_eq!(summary["outcomes"]["failed"], 0, "{summary}");
    assert!(!spy.writes().is_empty(), "the spy sees the claims and completions");

    // Each record points at its emulator video, which fetched exactly the uploaded bytes.
    let records = records_by_source(world.all_records().await);
    assert_eq!(records.len(), 3, "no record for skipped objects");
    for key in videos {
        let record = &records[&world.source(key)];
        let uid = s(record, "video_uid").unwrap();
        assert_eq!(lines[&world.source(key)]["video_uid"], uid.as_str());
        assert_eq!(s(record, "status").unwrap(), "submitted");
        assert_eq!(s(record, "etag"), Some(etags[&world.source(key)].clone()));
        assert_eq!(s(record, "key").unwrap(), key);
        assert!(!record.contains_key("claim_token"));
        let fetched = world.wait_video_final(&uid).await;
        assert_eq!(fetched["source_sha256"], sha256_hex(&video), "{fetched}");
        assert_eq!(s(record, "hls_url").as_deref(), fetched["video"]["playback"]["hls"].as_str());
    }
    assert_eq!(world.videos().await.len(), 3);
    assert_eq!(world.requests("copy").await, 3);

    // Again: everything is a duplicate, decided from a batch read alone.
    let calls_before = api_request_count(&world.emulator_get("/__emulator/requests").await);
    let records_before = world.all_records().await;
    spy.clear();
    let second = vinofy(&env, &["--json", "backfill", "--bucket", bucket, "--prefix", "videos/"]).await;
    assert_eq!(second.code, 0, "{second:?}");
    let summary = second.summary();
    assert_eq!(summary["outcomes"]["duplicate"], 3, "{second:?}");
    assert_eq!(summary["outcomes"]["submitted"], 0, "{second:?}");
    assert_eq!(spy.writes(), Vec::<String>::new(), "a re-run writes nothing");
    assert_eq!(spy.operations(), ["BatchGetItem"], "one batch read for the page {second:?}");
    assert_eq!(
        api_request_count(&world.emulator_get("/__emulator/requests").await),
        calls_before,
        "no Cloudflare call"
    );
    let mut after = world.all_records().await;
    let mut before = records_before;
    after.sort_by_key(|r| s(r, "source"));
    before.sort_by_key(|r| s(r, "source"));
    assert_eq!(after, before, "records unchanged");

    // Human output: the summary, and nothing per object that needs no look.
    let human = vinofy(&env, &["backfill", "--bucket", bucket, "--prefix", "videos/"]).await;
    assert_eq!(human.code, 0, "{human:?}");
    assert!(human.stdout.contains("5 objects"), "{human:?}");
    assert!(human.stdout.lines().any(|l| l.split_whitespace().eq(["duplicate", "3"])), "{human:?}");
    assert!(!human.stdout.contains("videos/tasting.mp4"), "{human:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_starting_new_ingests_and_a_rerun_resumes() {
    let world = World::new().await;
    let keys = ["videos/1.mp4", "videos/2.mp4", "videos/3.mp4"];
    for key in keys {
        world.put_object(key, &sample_video()).await;
    }
    // One start a minute: the first object starts at once, the second waits for its slot.
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_vinofy"))
        .env_clear()
        .env(ALLOW_LONG_TERM.0, ALLOW_LONG_TERM.1)
        .envs(vinofy_test_support::harness::iam_recorder::recorded("vinofy", world.env()))
        .args(["--json", "backfill", "--bucket", &world.bucket, "--rate", "1", "--concurrency", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut started = false;
    for _ in 0..200 {
        if world.all_records().await.iter().any(|r| s(r, "status").as_deref() == Some("submitted")) {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started, "the first object was never submitted");
    unsafe { libc::kill(child.id().unwrap() as i32, libc::SIGINT) };
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("Ctrl-C does not wait for the next rate-limit slot")
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(run.code, 130, "{run:?}");
    assert!(run.stderr.contains("interrupted"), "{run:?}");
    let summary = run.summary();
    assert_eq!(summary["interrupted"], true, "{run:?}");
    assert_eq!(summary["outcomes"]["submitted"], 1, "{run:?}");
    let records = world.all_records().await;
    assert_eq!(records.len(), 1, "nothing else was claimed, so nothing is left pending: {records:?}");

    let rerun = vinofy(&world.env(), &["--json", "backfill", "--bucket", &world.bucket, "--rate", "240"]).await;
    assert_eq!(rerun.code, 0, "{rerun:?}");
    assert_eq!(rerun.summary()["outcomes"]["submitted"], 2, "{rerun:?}");
    assert_eq!(rerun.summary()["outcomes"]["duplicate"], 1, "{rerun:?}");
    assert_eq!(world.videos().await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_lists_what_would_be_ingested_and_writes_nothing() {
    let world = World::new().await;
    let spy = vinofy_test_support::harness::dynamo_proxy::DynamoProxy::start().await;
    world.put_object("videos/a.mp4", &sample_video()).await;
    world.put_object("videos/readme.md", b"# hi").await;
    // No Cloudflare configuration at all: a dry run does not need it.
    let env = spy.env(read_only_env(&world));
    let run = vinofy(&env, &["--json", "backfill", "--bucket", &world.bucket, "--dry-run"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let lines = run.by_source();
    assert_eq!(lines[&world.source("videos/a.mp4")]["outcome"], "would_ingest", "{run:?}");
    assert_eq!(lines[&world.source("videos/a.mp4")]["detail"], "no record yet");
    assert_eq!(lines[&world.source("videos/readme.md")]["outcome"], "skipped");
    assert_eq!(run.summary()["dry_run"], true);
    assert_eq!(spy.writes(), Vec::<String>::new());
    assert!(world.all_records().await.is_empty());
    assert_eq!(api_request_count(&world.emulator_get("/__emulator/requests").await), 0);

    let human = vinofy(&env, &["backfill", "--bucket", &world.bucket, "--dry-run"]).await;
    assert_eq!(human.code, 0, "{human:?}");
    assert!(human.stdout.contains(&format!("would_ingest {}", world.source("videos/a.mp4"))), "{human:?}");
    assert!(human.stdout.contains("dry run: nothing written"), "{human:?}");
    assert!(world.all_records().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_replaces_an_older_recorded_version_and_a_newer_notification_still_wins() {
    let world = World::new().await;
    let ingestor = world.ingestor(&[]).await;
    let key = "videos/clip.mp4";
    let v1 = sample_video();
    let event = world.upload(key, &v1).await;
    let reply = ingestor.handle(&event, Deadline::after(Duration::from_secs(30))).await.unwrap();
    assert_eq!(reply["records"][0]["outcome"], "submitted");
    let first_uid = s(&world.record(key).await.unwrap(), "video_uid").unwrap();

    // A new version whose notification never came.
    let v2 = [v1.as_slice(), b"-v2"].concat();
    let etag2 = world.put_object(key, &v2).await;
    let run = vinofy(&world.env(), &["--json", "backfill", "--bucket", &world.bucket]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let line = &run.by_source()[&world.source(key)];
    assert_eq!(line["outcome"], "submitted", "{run:?}");
    assert_eq!(line["detail"], "the record is of another version");
    let record = world.record(key).await.unwrap();
    assert_eq!(s(&record, "etag"), Some(etag2));
    let second_uid = s(&record, "video_uid").unwrap();
    assert_ne!(second_uid, first_uid);
    let videos = world.videos().await;
    assert_eq!(video_of(&videos, &first_uid)["deleted"], true, "the replaced version's video is deleted");
    assert_eq!(world.wait_video_final(&second_uid).await["source_sha256"], sha256_hex(&v2));

    // The late notification of the first version stays outdated...
    let late = ingestor.handle(&event, Deadline::after(Duration::from_secs(30))).await.unwrap();
    assert_eq!(late["records"][0]["outcome"], "outdated", "{late}");
    // ...and the next upload's notification wins over the backfill.
    let v3 = [v1.as_slice(), b"-v3"].concat();
    let etag3 = world.put_object(key, &v3).await;
    let newer = world.created_event(key, v3.len(), &etag3, "0055AED6DCD90281E6");
    let reply = ingestor.handle(&newer, Deadline::after(Duration::from_secs(30))).await.unwrap();
    assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
    assert_eq!(s(&world.record(key).await.unwrap(), "etag"), Some(etag3));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_object_fails_the_run_and_list_filters_by_status() {
    let world = World::new().await;
    world.put_object("rejected/huge.mp4", &sample_video()).await;
    world.inject_faults(json!([{"route": "copy", "times": 1, "status": 413, "message": "too large"}])).await;
    let rejected =
        vinofy(&world.env(), &["--json", "backfill", "--bucket", &world.bucket, "--prefix", "rejected/"]).await;
    assert_eq!(rejected.code, 1, "a failed object fails the run: {rejected:?}");
    let line = &rejected.by_source()[&world.source("rejected/huge.mp4")];
    assert_eq!(line["outcome"], "failed");
    assert!(line["detail"].as_str().unwrap().contains("413"), "{line}");
    assert_eq!(rejected.summary()["outcomes"]["failed"], 1);

    // Re-running does not retry a version Cloudflare refused (and calls nothing).
    let calls = api_request_count(&world.emulator_get("/__emulator/requests").await);
    let again = vinofy(&world.env(), &["backfill", "--bucket", &world.bucket, "--prefix", "rejected/"]).await;
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stdout.contains("failed earlier"), "{again:?}");
    assert_eq!(api_request_count(&world.emulator_get("/__emulator/requests").await), calls);

    for key in ["videos/a.mp4", "videos/b.mp4"] {
        world.put_object(key, &sample_video()).await;
    }
    let ok = vinofy(&world.env(), &["backfill", "--bucket", &world.bucket, "--prefix", "videos/"]).await;
    assert_eq!(ok.code, 0, "{ok:?}");
    for key in ["videos/a.mp4", "videos/b.mp4"] {
        assert!(ok.stdout.contains(&format!("submitted    {}", world.source(key))), "{ok:?}");
    }

    let env = read_only_env(&world);
    let failed = vinofy(&env, &["list", "--status", "failed"]).await;
    assert_eq!(failed.code, 0, "{failed:?}");
    let rows: Vec<&str> = failed.stdout.lines().filter(|l| l.contains("s3://")).collect();
    assert_eq!(rows.len(), 1, "{failed:?}");
    assert!(rows[0].starts_with("failed") && rows[0].contains(&world.source("rejected/huge.mp4")), "{failed:?}");
    assert!(failed.stdout.contains("1 record"), "{failed:?}");

    let submitted = vinofy(&env, &["list", "--status", "submitted"]).await;
    let rows: Vec<&str> = submitted.stdout.lines().filter(|l| l.contains("s3://")).collect();
    assert_eq!(rows.len(), 2, "{submitted:?}");
    for row in rows {
        let uid = row.split_whitespace().nth(1).unwrap();
        assert_eq!(uid.len(), 32, "{row}");
        assert!(row.contains(".m3u8"), "the HLS URL: {row}");
    }
    let json = vinofy(&env, &["--json", "list", "--status", "submitted"]).await;
    let lines = json.json_lines();
    assert_eq!(lines.len(), 2, "{json:?}");
    assert!(lines.iter().all(|l| l["status"] == "submitted" && l["hls_url"].is_string()), "{json:?}");
    let limited = vinofy(&env, &["--json", "list", "--limit", "1"]).await;
    assert_eq!(limited.json_lines().len(), 1, "{limited:?}");
    let all = vinofy(&env, &["list"]).await;
    assert!(all.stdout.contains("3 records"), "{all:?}");
    let none = vinofy(&env, &["list", "--status", "ready"]).await;
    assert!(none.stdout.contains("0 records"), "{none:?}");
    let bad = vinofy(&env, &["list", "--status", "done"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_failed_resubmits_a_failed_version_once_the_cause_is_fixed() {
    let world = World::new().await;
    world.put_object("videos/a.mp4", &sample_video()).await;
    // Ingested with the wrong token (as every upload was while the secret held its placeholder).
    let wrong = set(world.env(), "CLOUDFLARE_API_TOKEN", "wrong-token-value-1234");
    let failed = vinofy(&wrong, &["--json", "backfill", "--bucket", &world.bucket]).await;
    assert_eq!(failed.code, 1, "{failed:?}");
    let before = world.record("videos/a.mp4").await.unwrap();
    assert_eq!(s(&before, "status").as_deref(), Some("failed"));
    let refused_copies = world.requests("copy").await;

    // The right token alone does not retry it: a failed version is left for the operator.
    let left = vinofy(&world.env(), &["backfill", "--bucket", &world.bucket]).await;
    assert_eq!(left.code, 1, "{left:?}");
    assert!(left.stdout.contains("--retry-failed retries it"), "{left:?}");
    assert_eq!(world.requests("copy").await, refused_copies, "no call for a failed version");

    let retried = vinofy(&world.env(), &["--json", "backfill", "--bucket", &world.bucket, "--retry-failed"]).await;
    assert_eq!(retried.code, 0, "{retried:?}");
    let line = &retried.by_source()[&world.source("videos/a.mp4")];
    assert_eq!(line["outcome"], "submitted", "{line}");
    let record = world.record("videos/a.mp4").await.unwrap();
    assert_eq!(s(&record, "status").as_deref(), Some("submitted"));
    assert!(!record.contains_key("error"), "the old error is cleared");
    assert_eq!(s(&record, "sequencer"), s(&before, "sequencer"), "the record keeps its place in the event order");
    let videos = world.videos().await;
    assert_eq!(videos.len(), 1);
    assert_eq!(videos[0]["video"]["uid"].as_str(), s(&record, "video_uid").as_deref());

    // Done now: a rerun with the flag is a duplicate (no call).
    let again = vinofy(&world.env(), &["--json", "backfill", "--bucket", &world.bucket, "--retry-failed"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.by_source()[&world.source("videos/a.mp4")]["outcome"], "duplicate");
    assert_eq!(world.requests("copy").await, refused_copies + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn long_term_credentials_are_refused_for_presigning_and_cap_the_url_when_allowed() {
    let world = World::new().await;
    world.put_object("videos/a.mp4", &sample_video()).await;
    // The local world's keys have no session token: long-term, as an IAM user's.
    let refused_env = set(world.env(), ALLOW_LONG_TERM.0, "0");
    for args in [&["backfill", "--bucket", &world.bucket][..], &["reconcile", "--older-than", "0s"]] {
        let run = vinofy(&refused_env, args).await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains("long-term AWS credentials") && run.stderr.contains("--allow-long-term-credentials")
        );
    }
    assert!(world.all_records().await.is_empty());
    assert_eq!(world.requests("copy").await, 0);
    // A dry run presigns nothing: it needs no such care.
    assert_eq!(vinofy(&refused_env, &["backfill", "--bucket", &world.bucket, "--dry-run"]).await.code, 0);

    // Allowed explicitly: a loud warning, and the URL Cloudflare keeps lives 15 minutes, not PRESIGN_TTL_SECONDS.
    let week = set(refused_env.clone(), "PRESIGN_TTL_SECONDS", "604800");
    let allowed = vinofy(&week, &["backfill", "--bucket", &world.bucket, "--allow-long-term-credentials"]).await;
    assert_eq!(allowed.code, 0, "{allowed:?}");
    assert!(allowed.stderr.contains("WARNING: presigning with long-term AWS credentials"), "{allowed:?}");
    let videos = world.videos().await;
    let url = videos[0]["video"]["meta"]["downloaded-from"].as_str().expect("the emulator keeps the source URL");
    assert!(url.contains("X-Amz-Expires=900"), "{url}");
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_refuses_a_bucket_other_than_the_upload_bucket() {
    let world = World::new().await;
    let run = vinofy(&world.env(), &["backfill", "--bucket", "someone-elses-bucket"]).await;
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("UPLOAD_BUCKET"), "{run:?}");
}

// ---------------------------------------------------------------------------------------------
// reconcile

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_records_what_cloudflare_says_ready_or_gone() {
    let world = World::new().await;
    for key in ["videos/ready.mp4", "videos/gone.mp4"] {
        world.put_object(key, &sample_video()).await;
    }
    let backfill = vinofy(&world.env(), &["backfill", "--bucket", &world.bucket]).await;
    assert_eq!(backfill.code, 0, "{backfill:?}");
    let uid = |record: Record| s(&record, "video_uid").unwrap();
    let ready_uid = uid(world.record("videos/ready.mp4").await.unwrap());
    let gone_uid = uid(world.record("videos/gone.mp4").await.unwrap());
    world.wait_video_final(&ready_uid).await;
    world.wait_video_final(&gone_uid).await;
    // Without a webhook the records stay `submitted`; one video is deleted behind our back.
    let deleted = world
        .http
        .delete(format!("{}/accounts/{ACCOUNT_ID}/stream/{gone_uid}", world.emulator.api_url))
        .bearer_auth(&world.token)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success());

    // Nothing is 15 minutes old yet.
    let recent = vinofy(&world.env(), &["--json", "reconcile"]).await;
    assert_eq!(recent.code, 0, "{recent:?}");
    assert_eq!(recent.summary()["actions"], 0, "{recent:?}");

    let dry = vinofy(&world.env(), &["--json", "reconcile", "--older-than", "0s", "--dry-run"]).await;
    assert_eq!(dry.code, 0, "{dry:?}");
    let lines = dry.by_source();
    assert_eq!(lines[&world.source("videos/ready.mp4")]["outcome"], "would_change", "{dry:?}");
    assert_eq!(lines[&world.source("videos/ready.mp4")]["after"], "ready");
    assert_eq!(lines[&world.source("videos/gone.mp4")]["after"], "error");
    assert_eq!(s(&world.record("videos/ready.mp4").await.unwrap(), "status").unwrap(), "submitted", "dry");

    let run = vinofy(&world.env(), &["--json", "reconcile", "--older-than", "0s"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let lines = run.by_source();
    let ready = &lines[&world.source("videos/ready.mp4")];
    assert_eq!((ready["before"].as_str(), ready["after"].as_str()), (Some("submitted"), Some("ready")), "{run:?}");
    assert_eq!(ready["outcome"], "changed");
    let gone = &lines[&world.source("videos/gone.mp4")];
    assert_eq!((gone["before"].as_str(), gone["after"].as_str()), (Some("submitted"), Some("error")), "{run:?}");
    assert!(gone["detail"].as_str().unwrap().contains("ERR_VIDEO_MISSING"), "{gone}");
    assert_eq!(run.summary()["changed"], 2);
    assert_eq!(run.summary()["transitions"]["submitted → ready"], 1);

    let record = world.record("videos/ready.mp4").await.unwrap();
    assert_eq!(s(&record, "status").unwrap(), "ready");
    assert_eq!(s(&record, "stream_state").unwrap(), "ready");
    assert!(s(&record, "ready_at").is_some());
    let record = world.record("videos/gone.mp4").await.unwrap();
    assert_eq!(s(&record, "status").unwrap(), "error");
    assert_eq!(s(&record, "stream_error_code").unwrap(), "ERR_VIDEO_MISSING");
    assert!(s(&record, "error").unwrap().starts_with("ERR_VIDEO_MISSING: "));

    // Done: a second pass finds nothing to do.
    let again = vinofy(&world.env(), &["reconcile", "--older-than", "0s"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("0 checked"), "{again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reconcile_adopts_the_video_of_a_dead_claim_without_copying_again() {
    let world = World::new().await;
    let video = sample_video();
    let etag = world.put_object("videos/orphan.mp4", &video).await;
    let orphan = object(&world, "videos/orphan.mp4", video.len(), &etag);
    world.leave_claim(&orphan, -1_000).await;
    // The dead invocation got as far as Cloudflare accepting the copy.
    let ingestor = world.ingestor(&[]).await;
    let url = S3Presigner::from_client(world.s3.clone()).presign_get(&orphan, Duration::from_secs(600)).await.unwrap();
    let tag = orphan.version_tag();
    let request = CreateVideoRequest { url: &url, object: &orphan, version_tag: &tag };
    let made = ingestor.provider.create_from_url(&request, Duration::from_secs(10)).await.unwrap();
    // Another object is claimed by an invocation that is still alive.
    let etag = world.put_object("videos/busy.mp4", &video).await;
    world.leave_claim(&object(&world, "videos/busy.mp4", video.len(), &etag), 600_000).await;

    let status = vinofy(&read_only_env(&world), &["status", &world.source("videos/orphan.mp4")]).await;
    assert!(status.stdout.contains("expired"), "{status:?}");

    let run = vinofy(&world.env(), &["--json", "reconcile", "--older-than", "0s"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let lines = run.by_source();
    let adopted = &lines[&world.source("videos/orphan.mp4")];
    assert_eq!((adopted["before"].as_str(), adopted["after"].as_str()), (Some("pending"), Some("submitted")));
    assert_eq!(adopted["action"], "reingest");
    assert!(adopted["detail"].as_str().unwrap().starts_with("adopted"), "{adopted}");
    assert_eq!(adopted["video_uid"], made.uid.as_str());
    let busy = &lines[&world.source("videos/busy.mp4")];
    assert_eq!((busy["action"].as_str(), busy["outcome"].as_str()), (Some("leave_claim"), Some("unchanged")));

    assert_eq!(world.requests("copy").await, 1, "no second copy");
    assert_eq!(
        world.requests("list").await,
        1,
        "looked up by creator first: {}",
        world.emulator_get("/__emulator/requests").await
    );
    assert_eq!(world.videos().await.len(), 1);
    let record = world.record("videos/orphan.mp4").await.unwrap();
    assert_eq!(s(&record, "status").unwrap(), "submitted");
    assert_eq!(s(&record, "video_uid").unwrap(), made.uid.as_str());
    assert!(!record.contains_key("claim_token"));
    assert_eq!(s(&world.record("videos/busy.mp4").await.unwrap(), "status").unwrap(), "pending");

    // Human output: before → after, per record.
    let human = vinofy(&world.env(), &["reconcile", "--older-than", "0s", "--dry-run"]).await;
    assert_eq!(human.code, 0, "{human:?}");
    assert!(human.stdout.contains("submitted → "), "{human:?}");
    assert!(human.stdout.contains(&format!("pending   → pending    {}", world.source("videos/busy.mp4"))), "{human:?}");
}

// ---------------------------------------------------------------------------------------------
// status, export

#[tokio::test(flavor = "multi_thread")]
async fn status_finds_a_record_by_key_uri_or_uid() {
    let world = World::new().await;
    world.put_object("videos/tasting night.mp4", &sample_video()).await;
    let backfill = vinofy(&world.env(), &["backfill", "--bucket", &world.bucket]).await;
    assert_eq!(backfill.code, 0, "{backfill:?}");
    let record = world.record("videos/tasting night.mp4").await.unwrap();
    let (uid, hls) = (s(&record, "video_uid").unwrap(), s(&record, "hls_url").unwrap());
    let source = world.source("videos/tasting night.mp4");
    let env = read_only_env(&world);

    let by_key = vinofy(&env, &["status", "videos/tasting night.mp4", "--bucket", &world.bucket]).await;
    assert_eq!(by_key.code, 0, "{by_key:?}");
    assert_eq!(by_key.stdout.lines().next(), Some(source.as_str()), "{by_key:?}");
    for (name, value) in [("status", "submitted"), ("video_uid", uid.as_str()), ("hls", hls.as_str())] {
        assert!(by_key.stdout.lines().any(|l| l.split_whitespace().eq([name, value])), "{name}: {by_key:?}");
    }
    for name in ["dash", "thumbnail", "preview", "created_at", "updated_at", "submitted_at", "object"] {
        assert!(by_key.stdout.lines().any(|l| l.trim_start().starts_with(name)), "{name}: {by_key:?}");
    }

    let by_uri = vinofy(&env, &["--json", "status", &source]).await;
    let by_uid = vinofy(&env, &["--json", "status", &uid]).await;
    assert_eq!(by_uid.code, 0, "{by_uid:?}");
    let (a, b) = (&by_uri.json_lines()[0], &by_uid.json_lines()[0]);
    assert_eq!(a, b);
    assert_eq!(a["source"], source.as_str());
    assert_eq!(a["hls_url"], hls.as_str());
    assert!(a.get("claim_token").is_none());

    let missing = vinofy(&env, &["status", &world.source("videos/none.mp4")]).await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.stderr.contains("no record"), "{missing:?}");
    let unknown_uid = vinofy(&env, &["status", "0123456789abcdef0123456789abcdef"]).await;
    assert_eq!(unknown_uid.code, 1, "{unknown_uid:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn export_writes_every_record_as_plain_json_lines_without_the_claim_token() {
    let world = World::new().await;
    let video = sample_video();
    world.put_object("videos/done.mp4", &video).await;
    let backfill = vinofy(&world.env(), &["backfill", "--bucket", &world.bucket]).await;
    assert_eq!(backfill.code, 0, "{backfill:?}");
    let etag = world.put_object("videos/claimed.mp4", &video).await;
    world.leave_claim(&object(&world, "videos/claimed.mp4", video.len(), &etag), 600_000).await;
    assert!(world.record("videos/claimed.mp4").await.unwrap().contains_key("claim_token"));

    let run = vinofy(&read_only_env(&world), &["export"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("claim_token") && !run.stdout.contains("dead-invocation"), "{run:?}");
    assert!(run.stderr.contains("exported 2 records"), "{run:?}");
    let lines = run.by_source();
    assert_eq!(lines.len(), 2);
    let done = &lines[&world.source("videos/done.mp4")];
    for field in [
        "source",
        "status",
        "bucket",
        "key",
        "size",
        "etag",
        "video_uid",
        "hls_url",
        "dash_url",
        "thumbnail_url",
        "preview_url",
        "stream_state",
        "created_at",
        "updated_at",
        "submitted_at",
    ] {
        assert!(done.get(field).is_some(), "{field} missing: {done}");
    }
    assert_eq!(done["size"], video.len(), "numbers are plain JSON numbers");
    assert_eq!(done["key"], "videos/done.mp4");
    assert_eq!(done["status"], "submitted");
    let claimed = &lines[&world.source("videos/claimed.mp4")];
    assert_eq!(claimed["status"], "pending");
    assert!(claimed["claim_expires_at"].is_i64(), "{claimed}");
    // Every line is one object with plain values (no DynamoDB type wrappers such as {"S": ...}).
    for line in lines.values() {
        assert!(line.as_object().unwrap().values().all(|v| !v.is_object()), "{line}");
    }
}
