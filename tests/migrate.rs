//! `vinofy migrate` end to end: the real CLI moves records between the Cloudflare Stream emulator
//! and the Mux emulator while the real `ingest` binary takes uploads, re-uploads and deletes;
//! afterwards every record points at a live video of its provider and nothing is left behind.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use vinofy_test_support::harness::*;

/// Mux's limits at 5× production speed (the ratios kept: the default create budget is 5/6 of the
/// POST limit, the other budget 4/5 of the rest), so that 20 creates take seconds, not minutes.
const MUX_LIMITS: &[&str] = &["--post-rate-limit", "5/1", "--post-burst", "5", "--other-rate-limit", "25/1"];
const MUX_BUDGETS: [(&str, &str); 2] = [("MUX_CREATE_BUDGET", "250/60"), ("MUX_CALL_BUDGET", "1200/60")];

fn cli_env(world: &World, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    world
        .env()
        .into_iter()
        .chain(MUX_BUDGETS.iter().chain(extra).map(|(k, v)| (k.to_string(), v.to_string())))
        .chain([("VINOFY_ALLOW_LONG_TERM_CREDENTIALS".to_owned(), "1".to_owned())])
        .collect()
}

fn migrate_command(world: &World, args: &[&str], extra: &[(&str, &str)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(peers::target_bin("vinofy"));
    command
        .env_clear()
        .envs(iam_recorder::recorded("vinofy", cli_env(world, extra)))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["--json", "migrate", "--poll-every", "1s"])
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// A finished run: its exit code, record lines and summary.
struct Run {
    code: i32,
    lines: Vec<Value>,
    summary: Value,
    stderr: String,
}

impl Run {
    fn count(&self, outcome: &str) -> u64 {
        self.summary["outcomes"][outcome].as_u64().unwrap_or(0)
    }
}

async fn migrate(world: &World, args: &[&str]) -> Run {
    let output = migrate_command(world, args, &[]).output().await.unwrap();
    parse_run(output.status.code().unwrap_or(-1), &String::from_utf8_lossy(&output.stdout), &output.stderr)
}

fn parse_run(code: i32, stdout: &str, stderr: &[u8]) -> Run {
    let values: Vec<Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let summary = values.iter().find(|v| v["type"] == "summary").cloned().unwrap_or(Value::Null);
    let lines = values.into_iter().filter(|v| v["type"] == "record").collect();
    Run { code, lines, summary, stderr: String::from_utf8_lossy(stderr).into_owned() }
}

/// `keys` ingested on Cloudflare by the real function (default provider).
async fn on_cloudflare(world: &World, keys: &[String]) {
    let function = Function::start(world, &[]).await;
    for key in keys {
        let mut body = sample_video();
        body.extend_from_slice(key.as_bytes());
        let reply = response(function.invoke(&world.upload(key, &body).await).await);
        assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
    }
}

fn removed_event(world: &World, key: &str, sequencer: &str) -> Value {
    json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
        "s3": {"bucket": {"name": world.bucket}, "object": {"key": vinofy_core::domain::s3_key::encode_s3_key(key),
        "sequencer": sequencer}}}]})
}

/// Every record points at a live video of its own provider, no live video is nobody's, and the
/// deleted keys' records are `deleted` with their video gone.
async fn assert_no_orphans(world: &World, deleted: &[String]) -> HashMap<String, Record> {
    let records: HashMap<String, Record> =
        world.all_records().await.into_iter().map(|r| (s(&r, "key").unwrap(), r)).collect();
    let live_cloudflare: HashSet<String> = world
        .videos()
        .await
        .into_iter()
        .filter(|v| v["deleted"] != true)
        .map(|v| v["video"]["uid"].as_str().unwrap().to_owned())
        .collect();
    let live_mux: HashSet<String> = world
        .mux_assets()
        .await
        .into_iter()
        .filter(|a| a["deleted"] != true)
        .map(|a| a["asset"]["id"].as_str().unwrap().to_owned())
        .collect();
    let (mut referenced_cloudflare, mut referenced_mux) = (HashSet::new(), HashSet::new());
    for (key, record) in &records {
        let status = s(record, "status").unwrap();
        if deleted.contains(key) {
            assert_eq!(status, "deleted", "{key}: {record:?}");
            continue;
        }
        assert!(["ready", "submitted"].contains(&status.as_str()), "{key}: {record:?}");
        let uid = s(record, "video_uid").unwrap();
        match s(record, "provider").as_deref() {
            Some("mux") => {
                assert!(live_mux.contains(&uid), "{key}: its Mux asset {uid} is gone");
                referenced_mux.insert(uid);
            }
            None | Some("cloudflare") => {
                assert!(live_cloudflare.contains(&uid), "{key}: its Stream video {uid} is gone");
                referenced_cloudflare.insert(uid);
            }
            Some(other) => panic!("{key}: provider {other}"),
        }
    }
    assert_eq!(live_cloudflare, referenced_cloudflare, "Stream videos no record points at");
    assert_eq!(live_mux, referenced_mux, "Mux assets no record points at");
    records
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_records_go_to_mux_and_back_while_uploads_and_deletes_go_on() {
    let world = World::new().await.with_mux(&[MUX_LIMITS, &["--transcode", "off"]].concat());
    let keys: Vec<String> = (0..20).map(|i| format!("library/{i:02}.mp4")).collect();
    on_cloudflare(&world, &keys).await;
    let mux_function = Function::start(&world, &[("VIDEO_PROVIDER", "mux"), MUX_BUDGETS[0], MUX_BUDGETS[1]]).await;

    // To Mux, while new uploads land on Mux (VIDEO_PROVIDER=mux), 3 keys are uploaded again and
    // 2 are deleted.
    let started = Instant::now();
    let run = tokio::spawn({
        let command = migrate_command(&world, &["--to", "mux", "--delete-old"], &[]);
        async move {
            let mut command = command;
            command.output().await.unwrap()
        }
    });
    let (reuploaded, deleted): (Vec<String>, Vec<String>) = (keys[0..3].to_vec(), keys[3..5].to_vec());
    let mut newer_etags = HashMap::new();
    for (i, key) in reuploaded.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut body = sample_video();
        body.extend_from_slice(format!("a newer upload {i}").as_bytes());
        let etag = world.put_object(key, &body).await;
        let event = world.created_event(key, body.len(), &etag, &format!("0055AED6DCD90281F{i}"));
        newer_etags.insert(key.clone(), etag);
        let reply = response(mux_function.invoke(&event).await);
        assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
    }
    // New uploads meanwhile, on the provider of new uploads.
    let fresh: Vec<String> = (0..2).map(|i| format!("library/new-{i}.mp4")).collect();
    for key in &fresh {
        let reply = response(mux_function.invoke(&world.upload(key, &sample_video()).await).await);
        assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
    }
    for (i, key) in deleted.iter().enumerate() {
        world.s3.delete_object().bucket(&world.bucket).key(key).send().await.unwrap();
        let reply = response(mux_function.invoke(&removed_event(&world, key, &format!("FF{i:02}"))).await);
        assert!(["deleted", "outdated"].contains(&reply["records"][0]["outcome"].as_str().unwrap()), "{reply}");
    }
    let output = run.await.unwrap();
    let to_mux = parse_run(output.status.code().unwrap(), &String::from_utf8_lossy(&output.stdout), &output.stderr);
    let to_mux_time = started.elapsed();
    assert_eq!(to_mux.code, 0, "{:?}\n{}", to_mux.summary, to_mux.stderr);
    assert!(to_mux.count("migrated") >= 15, "{}", to_mux.summary);
    assert_eq!(to_mux.count("failed"), 0, "{}", to_mux.summary);
    let records = assert_no_orphans(&world, &deleted).await;
    for key in &keys[5..] {
        let r = &records[key];
        assert_eq!(s(r, "provider").as_deref(), Some("mux"), "{key}: {r:?}");
        assert_eq!(s(r, "previous_provider").as_deref(), Some("cloudflare"), "{key}");
        assert!(s(r, "previous_video_uid").is_some() && s(r, "migrated_at").is_some(), "{key}");
        assert_eq!(s(r, "status").as_deref(), Some("ready"), "{key}");
        assert!(s(r, "hls_url").is_some_and(|u| u.ends_with(&format!("{}.m3u8", s(r, "playback_id").unwrap()))));
        assert!(!r.contains_key("dash_url") && !r.contains_key("migration_token"), "{key}: {r:?}");
    }
    for key in &fresh {
        assert_eq!(s(&records[key], "provider").as_deref(), Some("mux"), "{key}: a new upload stays on Mux");
    }
    for key in &reuploaded {
        let r = &records[key];
        assert_eq!(s(r, "etag"), newer_etags.get(key).cloned(), "{key}: the newer upload is never overwritten");
        assert_eq!(s(r, "provider").as_deref(), Some("mux"), "{key}: ingested on the provider of new uploads");
    }
    let creates_to_mux = world.mux_requests("create").await;

    // And back, with nothing going on.
    let started = Instant::now();
    let back = migrate(&world, &["--to", "cloudflare", "--delete-old"]).await;
    let back_time = started.elapsed();
    assert_eq!(back.code, 0, "{:?}\n{}", back.summary, back.stderr);
    assert_eq!(back.count("migrated"), 20, "{}\n{:#?}", back.summary, back.lines);
    let records = assert_no_orphans(&world, &deleted).await;
    assert!(
        records
            .values()
            .all(|r| s(r, "status").as_deref() == Some("deleted") || s(r, "provider").as_deref() == Some("cloudflare"))
    );
    assert!(
        world.mux_assets().await.iter().all(|a| a["deleted"] == true),
        "every Mux asset deleted after --delete-old"
    );
    // Once done, a run finds nothing to do and calls no provider.
    let (mux_before, cloudflare_before) =
        (world.mux_get("/__emulator/requests").await, world.emulator_get("/__emulator/requests").await);
    let again = migrate(&world, &["--to", "cloudflare"]).await;
    assert_eq!((again.code, again.summary["records"].as_u64()), (0, Some(0)), "{}", again.summary);
    assert_eq!(world.mux_get("/__emulator/requests").await, mux_before);
    assert_eq!(world.emulator_get("/__emulator/requests").await, cloudflare_before);
    eprintln!(
        "migrate: to Mux {} migrated in {} ms ({creates_to_mux} creates), back to Cloudflare {} in {} ms",
        to_mux.count("migrated"),
        to_mux_time.as_millis(),
        back.count("migrated"),
        back_time.as_millis()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_migration_resumes_and_creates_nothing_twice() {
    // Mux takes 3 s per asset: a run that waits 1 s gives every record up, not ready.
    let world =
        World::new().await.with_mux(&[MUX_LIMITS, &["--transcode", "off", "--processing-delay-ms", "3000"]].concat());
    let keys: Vec<String> = (0..6).map(|i| format!("videos/{i}.mp4")).collect();
    on_cloudflare(&world, &keys).await;

    let first = migrate(&world, &["--to", "mux", "--ready-timeout", "1s"]).await;
    assert_eq!(first.code, 1, "not done: {}", first.summary);
    assert_eq!(first.count("not_ready_yet"), 6, "{}", first.summary);
    for r in world.all_records().await {
        assert_eq!(s(&r, "provider").as_deref(), Some("cloudflare"), "still on Cloudflare: {r:?}");
        assert!(r.contains_key("migration_tag") && !r.contains_key("migration_token"), "let go, resumable: {r:?}");
    }

    // Ctrl-C in the middle of the next run: what started finishes, nothing new starts, exit 130.
    let mut child =
        migrate_command(&world, &["--to", "mux", "--concurrency", "1"], &[]).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while let Some(line) = stdout.next_line().await.unwrap() {
        let value: Value = serde_json::from_str(&line).unwrap();
        if value["type"] == "record" && seen.is_empty() {
            let pid = child.id().unwrap().to_string();
            std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap();
        }
        seen.push(value);
    }
    let status = child.wait().await.unwrap();
    assert_eq!(status.code(), Some(130), "{seen:?}");
    let interrupted = seen.iter().find(|v| v["type"] == "summary").unwrap();
    assert_eq!(interrupted["interrupted"], true);
    let migrated_before = interrupted["outcomes"]["migrated"].as_u64().unwrap_or(0);
    assert!((1..6).contains(&migrated_before), "{interrupted}");

    let last = migrate(&world, &["--to", "mux", "--delete-old"]).await;
    assert_eq!(last.code, 0, "{}\n{}", last.summary, last.stderr);
    assert_eq!(last.count("migrated") + migrated_before, 6, "{}", last.summary);
    assert!(last.lines.iter().all(|l| l["detail"].as_str().is_some_and(|d| d.contains("adopted"))), "{:?}", last.lines);
    assert_eq!(world.mux_requests("create").await, 6, "one create per record over three runs");
    // --delete-old came only with the last run: the records the interrupted run moved still hold
    // their previous video.
    let records = world.all_records().await;
    assert!(records.iter().all(|r| s(r, "provider").as_deref() == Some("mux")), "{records:?}");
    let live_cloudflare = world.videos().await.into_iter().filter(|v| v["deleted"] != true).count() as u64;
    assert_eq!(live_cloudflare, migrated_before, "kept by the run without --delete-old");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_says_what_would_move_and_touches_nothing() {
    let world = World::new().await.with_mux(&["--transcode", "off"]);
    let keys: Vec<String> = ["videos/a.mp4", "videos/b.mp4", "other/c.mp4"].map(str::to_owned).to_vec();
    on_cloudflare(&world, &keys).await;
    let records_before = world.all_records().await;
    let run = migrate(&world, &["--to", "mux", "--dry-run", "--prefix", "videos/"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.count("would_move"), 2, "{}", run.summary);
    assert_eq!(world.all_records().await, records_before, "nothing written");
    let api_calls = world.mux_get("/__emulator/requests").await;
    // (The ingest function's warm-up opens a connection with an unauthenticated HEAD: no API call.)
    let called = api_calls.as_array().unwrap().iter().filter(|r| r["status"] != 401).count();
    assert_eq!(called, 0, "Mux never called: {api_calls}");

    // A target that is not configured is a usage error, before anything happens.
    let output = tokio::process::Command::new(peers::target_bin("vinofy"))
        .env_clear()
        .envs(cli_env(&world, &[]).into_iter().filter(|(k, _)| !k.starts_with("MUX_")))
        .args(["migrate", "--to", "mux"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("MUX_TOKEN_ID"), "{output:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migrated_records_hls_plays_in_headless_chromium() {
    let hls_dist = player::hls_dist();
    let world = World::new().await.with_mux(&["--transcode", "on", "--player-dir", &hls_dist]);
    on_cloudflare(&world, &["videos/tasting.mp4".to_owned()]).await;
    let run = migrate(&world, &["--to", "mux", "--delete-old"]).await;
    assert_eq!((run.code, run.count("migrated")), (0, 1), "{}\n{}", run.summary, run.stderr);

    let record = world.record("videos/tasting.mp4").await.unwrap();
    let (hls, playback_id) = (s(&record, "hls_url").unwrap(), s(&record, "playback_id").unwrap());
    let playlist = world.http.get(&hls).send().await.unwrap();
    assert_eq!(playlist.status(), 200, "{hls}");
    assert!(playlist.text().await.unwrap().starts_with("#EXTM3U"));
    let thumbnail = world.http.get(s(&record, "thumbnail_url").unwrap()).send().await.unwrap();
    assert_eq!(thumbnail.headers()["content-type"], "image/jpeg");

    player::assert_plays(&format!("{}/{playback_id}/watch", world.mux.as_ref().unwrap().base_url)).await;
}
