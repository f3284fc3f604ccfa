//! The migration benchmark (`BENCH_PHASES=migrate bash bench/run.sh`; ignored by the test run):
//! 100 videos ingested on Cloudflare by `vinofy backfill` (the baseline, in the same run), then moved
//! to Mux and back by `vinofy migrate --delete-old`, with the production budgets and the emulators'
//! production limits. Reports each run's time, its ratio to the baseline and to the least time the
//! budgets allow, and the API calls per migrated video on each provider. Writes one JSON line to
//! `BENCH_MIGRATE_OUT` (default `target/bench-migrate.json`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vinofy_test_support::harness::*;

const VIDEOS: usize = 100;

fn cli(world: &World, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(peers::target_bin("vinofy"));
    command
        .env_clear()
        .envs(world.env())
        .env("VINOFY_ALLOW_LONG_TERM_CREDENTIALS", "1")
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["--json"])
        .args(args);
    command
}

async fn run(world: &World, args: &[&str]) -> (Duration, Value) {
    let started = Instant::now();
    let output = cli(world, args).output().await.unwrap();
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or("null")).unwrap();
    assert!(output.status.success(), "{args:?}: {summary}\n{}", String::from_utf8_lossy(&output.stderr));
    (elapsed, summary)
}

/// API requests by route since `from` (an index into the emulator's request log).
fn routes(log: &Value, from: usize) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in log.as_array().unwrap().iter().skip(from).filter(|r| r["status"] != 401) {
        *out.entry(r["route"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
    }
    out
}

fn per_video(calls: &BTreeMap<String, u64>, videos: u64) -> Value {
    let total: u64 = calls.values().sum();
    json!({"total": total as f64 / videos as f64, "by_route": calls})
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: BENCH_PHASES=migrate bash bench/run.sh"]
async fn migrate_a_hundred_videos() {
    // Production limits: Mux 1 POST/s (burst 5) and 5 other calls/s; Cloudflare 1,200 calls per 5 min.
    let world = World::new().await.with_mux(&["--transcode", "off"]);
    for i in 0..VIDEOS {
        let key = format!("library/{i:03}.mp4");
        let mut body = sample_video();
        body.extend_from_slice(key.as_bytes());
        world.put_object(&key, &body).await;
    }
    let cf_log = || world.emulator_get("/__emulator/requests");
    let mux_log = || world.mux_get("/__emulator/requests");

    let (backfill, summary) = run(&world, &["backfill", "--bucket", &world.bucket]).await;
    assert_eq!(summary["outcomes"]["submitted"], VIDEOS as u64, "{summary}");

    let (cf_before, mux_before) = (cf_log().await.as_array().unwrap().len(), mux_log().await.as_array().unwrap().len());
    let (to_mux, summary) =
        run(&world, &["migrate", "--to", "mux", "--delete-old", "--concurrency", "8", "--poll-every", "2s"]).await;
    assert_eq!(summary["outcomes"]["migrated"], VIDEOS as u64, "{summary}");
    let (cf_to_mux, mux_to_mux) = (routes(&cf_log().await, cf_before), routes(&mux_log().await, mux_before));
    assert_eq!(mux_to_mux.get("create"), Some(&(VIDEOS as u64)), "one create per video");

    let (cf_before, mux_before) = (cf_log().await.as_array().unwrap().len(), mux_log().await.as_array().unwrap().len());
    let (back, summary) =
        run(&world, &["migrate", "--to", "cloudflare", "--delete-old", "--concurrency", "8", "--poll-every", "2s"])
            .await;
    assert_eq!(summary["outcomes"]["migrated"], VIDEOS as u64, "{summary}");
    let (cf_back, mux_back) = (routes(&cf_log().await, cf_before), routes(&mux_log().await, mux_before));
    assert_eq!(cf_back.get("copy"), Some(&(VIDEOS as u64)), "one copy per video");

    // The least time the budgets allow: Mux's creates at 50 per 60 s (after its burst capacity of 2),
    // Cloudflare's calls at 1000 per 300 s.
    let mux_floor = (VIDEOS as f64 - 2.0) / ((50.0 - 2.0 - 1.0) / 60.0);
    let cf_calls_back: u64 = cf_back.values().sum();
    let cf_floor = (cf_calls_back as f64 - 10.0) / ((1000.0 - 10.0 - 1.0) / 300.0);
    let result = json!({
        "videos": VIDEOS,
        "baseline_backfill_s": backfill.as_secs_f64(),
        "to_mux": {"seconds": to_mux.as_secs_f64(), "vs_baseline": to_mux.as_secs_f64() / backfill.as_secs_f64(),
                   "vs_budget_floor": to_mux.as_secs_f64() / mux_floor, "budget_floor_s": mux_floor,
                   "calls_per_video": {"mux": per_video(&mux_to_mux, VIDEOS as u64), "cloudflare": per_video(&cf_to_mux, VIDEOS as u64)}},
        "to_cloudflare": {"seconds": back.as_secs_f64(), "vs_baseline": back.as_secs_f64() / backfill.as_secs_f64(),
                   "vs_budget_floor": back.as_secs_f64() / cf_floor, "budget_floor_s": cf_floor,
                   "calls_per_video": {"cloudflare": per_video(&cf_back, VIDEOS as u64), "mux": per_video(&mux_back, VIDEOS as u64)}},
    });
    let out = std::env::var("BENCH_MIGRATE_OUT").unwrap_or_else(|_| "target/bench-migrate.json".into());
    std::fs::write(&out, format!("{result}\n")).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&result).unwrap());
}
