//! `vinofy cost`: the real binary against a seeded table (moto), with figures computed by hand.

use std::collections::HashMap;

use serde_json::Value;
use vinofy_test_support::harness::*;

const GIB: u64 = 1 << 30;

// ---------------------------------------------------------------------------------------------
// Running the binary

type Run = cli::CliRun;

type Env = Vec<(String, String)>;

/// `cost --json` prints one object.
fn json(run: &Run) -> Value {
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout.lines().count(), 1, "one JSON object: {run:?}");
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {run:?}"))
}

async fn vinofy(env: &Env, args: &[&str]) -> Run {
    cli::run_vinofy(env!("CARGO_BIN_EXE_vinofy"), env.iter().cloned(), args).await
}

/// `cost` reads the table only: no provider variable.
fn table_env(world: &World) -> Env {
    world.env().into_iter().filter(|(k, _)| !k.starts_with("CLOUDFLARE_") && !k.starts_with("MUX_")).collect()
}

// ---------------------------------------------------------------------------------------------
// Seeding records

/// DynamoDB's attribute value (the harness's `Record` values), named without the SDK crate.
trait ValueOf {
    type V;
}
impl<K, V> ValueOf for HashMap<K, V> {
    type V = V;
}
type Av = <Record as ValueOf>::V;

/// A record as the pipeline writes it, with only what `cost` reads (and what every record has).
struct Seed {
    key: String,
    status: &'static str,
    provider: Option<&'static str>,
    duration: Option<f64>,
    size: Option<u64>,
}

fn seed(
    key: &str,
    status: &'static str,
    provider: Option<&'static str>,
    duration: Option<f64>,
    size: Option<u64>,
) -> Seed {
    Seed { key: key.to_owned(), status, provider, duration, size }
}

async fn put_all(world: &World, seeds: Vec<Seed>) {
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in seeds.chunks(50).map(|c| c.iter().map(|s| item(world, s)).collect::<Vec<_>>()) {
        let (ddb, table) = (world.ddb.clone(), world.table.clone());
        tasks.spawn(async move {
            for item in chunk {
                ddb.put_item().table_name(&table).set_item(Some(item)).send().await.expect("put a record");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

fn item(world: &World, s: &Seed) -> Record {
    let mut item: Record = HashMap::from([
        ("source".to_owned(), Av::S(world.source(&s.key))),
        ("status".to_owned(), Av::S(s.status.to_owned())),
        ("bucket".to_owned(), Av::S(world.bucket.clone())),
        ("key".to_owned(), Av::S(s.key.clone())),
        ("version_key".to_owned(), Av::S(format!("etag:{:032x}", fastrand_like(&s.key)))),
        ("sequencer".to_owned(), Av::S(String::new())),
    ]);
    if let Some(p) = s.provider {
        item.insert("provider".into(), Av::S(p.to_owned()));
    }
    if let Some(d) = s.duration {
        item.insert("duration".into(), Av::N(d.to_string()));
    }
    if let Some(size) = s.size {
        item.insert("size".into(), Av::N(size.to_string()));
    }
    item
}

/// A stable stand-in eTag from the key.
fn fastrand_like(key: &str) -> u128 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325u128, |h, b| (h ^ b as u128).wrapping_mul(0x1000_0000_01b3))
}

// ---------------------------------------------------------------------------------------------
// The estimate, by hand

fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|a| (a - expected).abs() <= 1e-9 * expected.abs().max(1.0))
}

fn alternative<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["alternatives"].as_array().unwrap().iter().find(|a| a["id"] == id).unwrap_or_else(|| panic!("no {id}"))
}

fn line<'a>(alt: &'a Value, id: &str) -> &'a Value {
    let in_part = |part: &str| alt[part].as_array().unwrap().iter().find(|i| i["id"] == id);
    in_part("monthly").or_else(|| in_part("one_off")).unwrap_or_else(|| panic!("no line {id} in {alt}"))
}

fn usd(alt: &Value, id: &str) -> f64 {
    line(alt, id)["usd"].as_f64().unwrap()
}

macro_rules! assert_usd {
    ($alt:expr, $id:expr, $expected:expr) => {{
        let item = line($alt, $id);
        assert!(close(&item["usd"], $expected), "{} {}: {} != {}", $alt["id"], $id, item, $expected);
    }};
}

/// The library of the hand-computed tests: 4 live videos, 4 records that must not count.
fn small_library() -> Vec<Seed> {
    vec![
        seed("videos/a.mp4", "ready", Some("cloudflare"), Some(600.0), Some(2 * GIB)), // 10 min
        seed("videos/b.mp4", "ready", Some("cloudflare"), Some(1500.0), Some(3 * GIB)), // 25 min
        seed("videos/c.mp4", "submitted", Some("mux"), Some(900.0), Some(150 * GIB)),  // 15 min
        // Without a duration (the webhook has not said yet) and without `provider` (Cloudflare).
        seed("videos/d.mp4", "ready", None, None, Some(GIB / 2)),
        seed("videos/deleted.mp4", "deleted", Some("cloudflare"), Some(6000.0), Some(10 * GIB)),
        seed("videos/failed.mp4", "failed", None, None, Some(10 * GIB)),
        seed("videos/pending.mp4", "pending", Some("mux"), None, Some(10 * GIB)),
        seed("videos/error.mp4", "error", Some("cloudflare"), Some(60.0), Some(10 * GIB)),
    ]
}

/// Lambda + DynamoDB per video ingested, with the built-in figures: 3 invocations × $0.20/M
/// + 3 × 1 s × 0.125 GB × $0.0000166667/GB-s + 6 writes × $0.625/M + 2 reads × $0.125/M.
const PER_VIDEO: f64 = 3.0 * 0.20 / 1e6 + 3.0 * 1.0 * 0.125 * 0.0000166667 + 6.0 * 0.625 / 1e6 + 2.0 * 0.125 / 1e6;

#[tokio::test(flavor = "multi_thread")]
async fn cost_json_counts_only_the_live_library_and_prices_it_as_computed_by_hand() {
    let world = World::new().await;
    put_all(&world, small_library()).await;
    let env = table_env(&world);
    let report =
        json(&vinofy(&env, &["--json", "cost", "--views-per-video", "4", "--new-videos-per-month", "3"]).await);
    assert_eq!(report["type"], "cost");

    // Live: a, b, c, d (ready or submitted); deleted, failed, pending, error do not count.
    // Minutes 10 + 25 + 15 = 50 (d has no duration: counted apart); bytes 2 + 3 + 150 + 0.5 = 155.5 GiB.
    let lib = &report["library"];
    assert_eq!(lib["records"], 8);
    assert_eq!(lib["videos"], 4);
    assert!(close(&lib["seconds"], 3000.0), "{lib}");
    assert_eq!(lib["source_bytes"], 155 * GIB + GIB / 2);
    assert_eq!(lib["without_duration"], 1);
    assert_eq!(lib["by_status"], serde_json::json!({"ready": 3, "submitted": 1}));
    assert_eq!(lib["not_counted"], serde_json::json!({"deleted": 1, "error": 1, "failed": 1, "pending": 1}));
    // Where they are now: a, b, d on Cloudflare (d by default), c on Mux.
    assert_eq!(lib["by_provider"]["cloudflare"]["videos"], 3);
    assert_eq!(lib["by_provider"]["cloudflare"]["source_bytes"], 5 * GIB + GIB / 2);
    assert_eq!(lib["by_provider"]["mux"]["videos"], 1);

    // Delivery: 4 whole-video views × 50 min = 200 min a month. New uploads: 3 videos at the
    // averages (50 min / 3 known durations; 155.5 GiB / 4) = 50 min, 116.625 GiB a month.
    let usage = &report["usage"];
    assert_eq!(usage["basis"], "views_per_video");
    assert!(close(&usage["delivered_minutes_per_month"], 200.0), "{usage}");
    assert!(close(&usage["new_minutes_per_month"], 50.0), "{usage}");
    assert!(close(&usage["new_source_bytes_per_month"], 116.625 * GIB as f64), "{usage}");

    // Shared by all three: sources 155.5 GB × $0.023 = $3.5765; DynamoDB 8 records × 2 KB =
    // 8 × 2 / 1,048,576 GB × $0.25; Lambda + DynamoDB for 3 new videos a month.
    let source_storage = 155.5 * 0.023;
    let dynamodb_storage = 8.0 * 2.0 / 1_048_576.0 * 0.25;
    let shared = source_storage + dynamodb_storage + 3.0 * PER_VIDEO;
    // Stream and Mux fetch the new uploads from S3: 116.625 GB − 100 GB free = 16.625 GB × $0.09.
    let egress_new = 16.625 * 0.09;

    // Cloudflare Stream: 50 min stored → one block of 1,000 → $5; 200 delivered → one block → $1;
    // encoding free. One-off: c (on Mux) moves: 150 GB − 100 free = 50 GB × $0.09 = $4.50.
    let stream = alternative(&report, "stream");
    assert_usd!(stream, "storage", 5.0);
    assert_usd!(stream, "delivery", 1.0);
    assert_usd!(stream, "encoding_new", 0.0);
    assert_usd!(stream, "egress_new", egress_new);
    assert_usd!(stream, "source_storage", source_storage);
    assert_usd!(stream, "dynamodb_storage", dynamodb_storage);
    assert_usd!(stream, "pipeline_new", 3.0 * PER_VIDEO);
    assert!(close(&stream["monthly_total"], 5.0 + 1.0 + egress_new + shared), "{stream}");
    assert_eq!(stream["one_off_videos"], 1);
    assert_usd!(stream, "encoding_library", 0.0);
    assert_usd!(stream, "egress_library", 4.5);
    assert_usd!(stream, "pipeline_library", PER_VIDEO);
    assert!(close(&stream["one_off_total"], 4.5 + PER_VIDEO));
    assert!(close(&stream["first_year_total"], 4.5 + PER_VIDEO + 12.0 * (6.0 + egress_new + shared)));
    assert_eq!(line(stream, "storage")["unconfirmed"], false);
    assert_eq!(line(stream, "source_storage")["unconfirmed"], true);

    // Mux: 50 min × $0.0024 = $0.12; 200 min is within the 100,000 free. One-off: a, b, d move
    // (5.5 GB, within the 100 GB free): no egress; basic encoding free.
    let mux = alternative(&report, "mux");
    assert_usd!(mux, "storage", 0.12);
    assert_usd!(mux, "delivery", 0.0);
    assert_usd!(mux, "egress_new", egress_new);
    assert!(close(&mux["monthly_total"], 0.12 + egress_new + shared), "{mux}");
    assert_eq!(mux["one_off_videos"], 3);
    assert_usd!(mux, "egress_library", 0.0);
    assert!(close(&mux["one_off_total"], 3.0 * PER_VIDEO));
    assert_eq!(line(mux, "storage")["unconfirmed"], true);

    // AWS-only: renditions 50 min × 0.07 GB × $0.023 = $0.0805; CloudFront 200 × 0.021 = 4.2 GB
    // (within 1 TB free), 2,000 requests (within 10 M); MediaConvert 2 HD × $0.03 + 1 SD × $0.015
    // = $0.075 per minute: 50 new min = $3.75 a month, and the whole library once (50 min) = $3.75;
    // no egress (in-region).
    let aws = alternative(&report, "aws_only");
    assert_usd!(aws, "storage", 0.0805);
    assert_usd!(aws, "delivery", 0.0);
    assert_usd!(aws, "encoding_new", 3.75);
    assert_usd!(aws, "egress_new", 0.0);
    assert!(close(&aws["monthly_total"], 0.0805 + 3.75 + shared), "{aws}");
    assert_eq!(aws["one_off_videos"], 4);
    assert_usd!(aws, "encoding_library", 3.75);
    assert_usd!(aws, "egress_library", 0.0);
    assert!(close(&aws["one_off_total"], 3.75 + 4.0 * PER_VIDEO));

    // Every figure, with its source, date and whether it is confirmed.
    let figure = &report["prices"]["figures"]["stream.storage_per_1000_minutes"];
    assert_eq!(figure["value"], 5.0);
    assert_eq!(figure["confirmed"], true);
    assert!(figure["source"].as_str().unwrap().contains("cloudflare-docs"), "{figure}");
    assert_eq!(report["prices"]["figures"]["mux.delivery_per_minute"]["confirmed"], false);
    assert!(report["notes"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("1 video without")));

    // The same in words: the table says what it left out.
    let text = vinofy(&env, &["cost", "--views-per-video", "4", "--new-videos-per-month", "3"]).await;
    assert_eq!(text.code, 0, "{text:?}");
    for expected in [
        "library: 4 live videos (ready 3, submitted 1), 50 minutes stored, 155.5 GB of sources",
        "not counted (not ready or submitted): 1 deleted, 1 error, 1 failed, 1 pending",
        "1 video without a known duration",
        "delivery: 200 minutes a month (4 views per video",
        "Cloudflare Stream",
        "Monthly total",
        "$5.00 ",
        "$4.50",
        "█",
    ] {
        assert!(text.stdout.contains(expected), "{expected:?} in {text:?}");
    }
    assert!(!text.stdout.contains('\x1b'), "no colour in a pipe: {text:?}");
    let sum_line = |label: &str| text.stdout.lines().find(|l| l.starts_with(label)).unwrap().to_owned();
    assert!(sum_line("Monthly total").contains(&format!("${:.2}", 6.0 + egress_new + shared)), "{text:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prices_file_overrides_only_the_figures_it_names_and_a_bad_one_is_refused_with_the_key() {
    let world = World::new().await;
    put_all(&world, small_library()).await;
    let env = table_env(&world);
    let dir = std::env::temp_dir().join(format!("vinofy-cost-{}", world.table));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("prices.toml");
    std::fs::write(
        &file,
        "[meta]\nversion = \"2027-01-01\"\n\n[mux]\nstorage_per_minute = 0.01\n\n[stream.storage_per_1000_minutes]\nvalue = 4\nsource = \"our invoice\"\nas_of = \"2027-01-01\"\nconfirmed = true\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let report = json(&vinofy(&env, &["--json", "cost", "--delivered-minutes", "200", "--prices", path]).await);
    assert_eq!(report["usage"]["basis"], "delivered_minutes");
    assert_eq!(report["prices"]["version"], "2027-01-01");
    assert_eq!(report["prices"]["origin"], format!("{path} over built-in prices.toml"));
    // Stream: one block of 1,000 min × $4; Mux: 50 min × $0.01 = $0.50 (a bare number: unconfirmed).
    assert_usd!(alternative(&report, "stream"), "storage", 4.0);
    assert_usd!(alternative(&report, "mux"), "storage", 0.5);
    let figures = &report["prices"]["figures"];
    assert_eq!(figures["stream.storage_per_1000_minutes"]["source"], "our invoice");
    assert_eq!(figures["mux.storage_per_minute"]["source"], format!("{path} (override)"));
    assert_eq!(figures["mux.storage_per_minute"]["confirmed"], false);
    // Everything else is the built-in figure: Stream delivery $1 per 1,000 min (200 → one block).
    assert_usd!(alternative(&report, "stream"), "delivery", 1.0);
    assert_eq!(figures["aws.cloudfront_per_gb"]["value"], 0.085);
    assert_eq!(line(alternative(&report, "stream"), "storage")["unconfirmed"], false);
    assert_eq!(line(alternative(&report, "mux"), "storage")["unconfirmed"], true);

    // A misspelt figure, a wrong type, a file that is not there: exit 2, naming the file and the key.
    std::fs::write(&file, "[mux]\nstorage_per_minit = 0.01\n").unwrap();
    let typo = vinofy(&env, &["cost", "--prices", path]).await;
    assert_eq!(typo.code, 2, "{typo:?}");
    assert!(typo.stderr.contains(path) && typo.stderr.contains("mux.storage_per_minit"), "{typo:?}");
    assert!(typo.stdout.is_empty(), "{typo:?}");
    std::fs::write(&file, "[aws.cloudfront_per_gb]\nvalue = \"cheap\"\n").unwrap();
    let wrong = vinofy(&env, &["cost", "--prices", path]).await;
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(wrong.stderr.contains("aws.cloudfront_per_gb.value") && wrong.stderr.contains("number"), "{wrong:?}");
    let missing = dir.join("nope.toml");
    let gone = vinofy(&env, &["cost", "--prices", missing.to_str().unwrap()]).await;
    assert_eq!(gone.code, 2, "{gone:?}");
    assert!(gone.stderr.contains("nope.toml"), "{gone:?}");

    // Both ways of giving delivery at once, or a negative one: bad usage.
    let both = vinofy(&env, &["cost", "--delivered-minutes", "5", "--views-per-video", "2"]).await;
    assert_eq!(both.code, 2, "{both:?}");
    assert!(both.stderr.contains("--delivered-minutes") && both.stderr.contains("--views-per-video"), "{both:?}");
    let negative = vinofy(&env, &["cost", "--views-per-video=-1"]).await;
    assert_eq!(negative.code, 2, "{negative:?}");
    // Without VIDEOS_TABLE: the configuration error, as every command.
    let no_table = vinofy(&Env::new(), &["cost"]).await;
    assert_eq!(no_table.code, 2, "{no_table:?}");
    assert!(no_table.stderr.contains("VIDEOS_TABLE"), "{no_table:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn html_writes_a_self_contained_report_with_an_svg_chart() {
    let world = World::new().await;
    put_all(&world, small_library()).await;
    let env = table_env(&world);
    let file = std::env::temp_dir().join(format!("vinofy-cost-{}.html", world.table));
    let run = vinofy(&env, &["cost", "--views-per-video", "4", "--html", file.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("wrote the cost report to"), "{run:?}");
    assert!(run.stdout.contains("Monthly total"), "the table is printed too: {run:?}");
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("<svg") && html.contains("</svg>"));
    for id in ["stream", "mux", "aws_only"] {
        assert!(html.contains(&format!("data-alternative=\"{id}\"")), "{id}");
    }
    for text in ["Cloudflare Stream", "Mux", "AWS-only", "$5.00", "stream.storage_per_1000_minutes", "1 video without"]
    {
        assert!(html.contains(text), "{text:?}");
    }
    // Self-contained: no script, stylesheet or image from elsewhere.
    assert!(!html.contains("<script") && !html.contains("<link") && !html.contains("src="));
    std::fs::remove_file(&file).ok();
}

/// 1,000 live videos (700 on Stream, 300 on Mux; 2 to 12 minutes; about 37.5 MB a minute, i.e.
/// 5 Mbit/s sources; 10 without a duration yet) and 40 records that do not count.
fn thousand_videos() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for i in 0..1000u64 {
        let minutes = 2 + i % 11; // 2..=12
        let provider = if i % 10 < 7 { "cloudflare" } else { "mux" };
        let status = if i % 50 == 0 { "submitted" } else { "ready" };
        let duration = (i % 100 != 1).then_some(minutes as f64 * 60.0);
        seeds.push(seed(&format!("videos/{i:04}.mp4"), status, Some(provider), duration, Some(minutes * 37_500_000)));
    }
    for i in 0..30 {
        seeds.push(seed(&format!("gone/{i}.mp4"), "deleted", Some("cloudflare"), Some(300.0), Some(GIB)));
    }
    for i in 0..10 {
        seeds.push(seed(&format!("refused/{i}.mp4"), "failed", None, None, Some(GIB)));
    }
    seeds
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_video_library_is_priced_and_printed() {
    let world = World::new().await;
    let seeds = thousand_videos();
    // By hand: minutes 2..=12 repeat every 11 videos; the live ones with a duration.
    let (minutes, bytes): (u64, u64) = seeds
        .iter()
        .filter(|s| s.status == "ready" || s.status == "submitted")
        .fold((0, 0), |(m, b), s| (m + s.duration.map_or(0, |d| d as u64 / 60), b + s.size.unwrap()));
    put_all(&world, seeds).await;
    let env = table_env(&world);
    let args = ["cost", "--views-per-video", "20", "--new-videos-per-month", "50"];
    let run = vinofy(&env, &args).await;
    assert_eq!(run.code, 0, "{run:?}");
    println!("$ vinofy {}\n{}", args.join(" "), run.stdout);
    assert!(run.stdout.contains("library: 1,000 live videos"), "{run:?}");
    assert!(run.stdout.contains("10 videos without a known duration"), "{run:?}");
    assert!(run.stdout.contains("not counted (not ready or submitted): 30 deleted, 10 failed"), "{run:?}");
    assert!(run.stdout.contains("at cloudflare: 700 videos") && run.stdout.contains("at mux: 300 videos"));

    let json = json(&vinofy(&env, &[&["--json"][..], &args].concat()).await);
    assert_eq!(json["library"]["videos"], 1000);
    assert!(close(&json["library"]["seconds"], minutes as f64 * 60.0));
    assert_eq!(json["library"]["source_bytes"], bytes);
    // Stream stores `minutes` rounded up to whole thousands at $5 each.
    let blocks = minutes.div_ceil(1000) as f64;
    assert_usd!(alternative(&json, "stream"), "storage", blocks * 5.0);
    // Delivery: 20 × minutes, in whole thousands at $1.
    assert_usd!(alternative(&json, "stream"), "delivery", (20 * minutes).div_ceil(1000) as f64);
    let totals: Vec<f64> =
        ["stream", "mux", "aws_only"].iter().map(|a| usd(alternative(&json, a), "storage")).collect();
    assert!(totals.iter().all(|t| *t > 0.0), "{totals:?}");
}
