//! The arithmetic of `vinofy cost`: the library, the usage, and each alternative's bill. Pure.

use std::collections::BTreeMap;

use serde::Serialize;
use vinofy_core::domain::provider::Provider;
use vinofy_core::domain::record::Status;

use super::prices::Prices;

/// AWS bills a GB as 2^30 bytes.
pub const GB: f64 = 1_073_741_824.0;

/// A part of the library (all of it, or the videos at one provider).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Slice {
    pub videos: u64,
    /// Sum of the known durations.
    pub seconds: f64,
    /// Sum of the sources' sizes (`size`, bytes of the S3 object).
    pub source_bytes: u64,
    pub without_duration: u64,
    pub without_size: u64,
}

impl Slice {
    pub fn minutes(&self) -> f64 {
        self.seconds / 60.0
    }

    pub fn source_gb(&self) -> f64 {
        self.source_bytes as f64 / GB
    }

    fn add(&mut self, duration: Option<f64>, size: Option<u64>) {
        self.videos += 1;
        match duration.filter(|d| d.is_finite() && *d >= 0.0) {
            Some(d) => self.seconds += d,
            None => self.without_duration += 1,
        }
        match size {
            Some(s) => self.source_bytes += s,
            None => self.without_size += 1,
        }
    }

    fn minus(&self, other: &Slice) -> Slice {
        Slice {
            videos: self.videos - other.videos,
            seconds: (self.seconds - other.seconds).max(0.0),
            source_bytes: self.source_bytes - other.source_bytes,
            without_duration: self.without_duration - other.without_duration,
            without_size: self.without_size - other.without_size,
        }
    }
}

/// What the table holds: the live videos (ready or submitted) and what was left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Library {
    /// Every record read.
    pub records: u64,
    /// The live videos.
    #[serde(flatten)]
    pub live: Slice,
    /// Live videos by status (`ready`, `submitted`).
    pub by_status: BTreeMap<&'static str, u64>,
    /// Live videos by the provider that holds them now.
    pub by_provider: BTreeMap<&'static str, Slice>,
    /// Records not counted, by status (`deleted`, `failed`, `pending`, `error`).
    pub not_counted: BTreeMap<&'static str, u64>,
}

/// Whether a record is a video the library pays for: ready, or submitted (at the provider, encoding).
pub fn is_live(status: Status) -> bool {
    matches!(status, Status::Ready | Status::Submitted)
}

impl Library {
    pub fn add(&mut self, status: Status, provider: Provider, duration: Option<f64>, size: Option<u64>) {
        self.records += 1;
        if !is_live(status) {
            *self.not_counted.entry(status.as_str()).or_default() += 1;
            return;
        }
        *self.by_status.entry(status.as_str()).or_default() += 1;
        self.live.add(duration, size);
        self.by_provider.entry(provider.as_str()).or_default().add(duration, size);
    }

    /// The live videos not already at `provider` (all of them for `None`): what moving there re-encodes.
    pub fn not_at(&self, provider: Option<Provider>) -> Slice {
        match provider.and_then(|p| self.by_provider.get(p.as_str())) {
            Some(there) => self.live.minus(there),
            None => self.live,
        }
    }

    /// Average minutes and bytes of a video (over the videos whose duration / size is known).
    pub fn averages(&self) -> (f64, f64) {
        let known_duration = self.live.videos - self.live.without_duration;
        let known_size = self.live.videos - self.live.without_size;
        let minutes = if known_duration == 0 { 0.0 } else { self.live.minutes() / known_duration as f64 };
        let bytes = if known_size == 0 { 0.0 } else { self.live.source_bytes as f64 / known_size as f64 };
        (minutes, bytes)
    }
}

/// Where the delivered minutes come from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum Delivery {
    /// Neither flag: nothing delivered.
    Unspecified,
    /// `--delivered-minutes N`.
    DeliveredMinutes,
    /// `--views-per-video N`: each view watches a whole video.
    ViewsPerVideo { views_per_video: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Usage {
    pub delivered_minutes_per_month: f64,
    #[serde(flatten)]
    pub delivery: Delivery,
    pub new_videos_per_month: u64,
    /// New videos × the library's average duration.
    pub new_minutes_per_month: f64,
    /// New videos × the library's average source size.
    pub new_source_bytes_per_month: f64,
}

impl Usage {
    pub fn new(
        library: &Library,
        delivered_minutes: Option<f64>,
        views_per_video: Option<f64>,
        new_videos: u64,
    ) -> Self {
        let (delivered, delivery) = match (delivered_minutes, views_per_video) {
            (Some(m), _) => (m, Delivery::DeliveredMinutes),
            (None, Some(v)) => (v * library.live.minutes(), Delivery::ViewsPerVideo { views_per_video: v }),
            (None, None) => (0.0, Delivery::Unspecified),
        };
        let (avg_minutes, avg_bytes) = library.averages();
        Usage {
            delivered_minutes_per_month: delivered,
            delivery,
            new_videos_per_month: new_videos,
            new_minutes_per_month: new_videos as f64 * avg_minutes,
            new_source_bytes_per_month: new_videos as f64 * avg_bytes,
        }
    }
}

/// The design's alternatives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Alternative {
    Stream,
    Mux,
    AwsOnly,
}

impl Alternative {
    pub const ALL: [Alternative; 3] = [Self::Stream, Self::Mux, Self::AwsOnly];

    pub fn id(self) -> &'static str {
        match self {
            Self::Stream => "stream",
            Self::Mux => "mux",
            Self::AwsOnly => "aws_only",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Stream => "Cloudflare Stream",
            Self::Mux => "Mux",
            Self::AwsOnly => "AWS-only",
        }
    }

    /// The provider of the records that are already there.
    pub fn provider(self) -> Option<Provider> {
        match self {
            Self::Stream => Some(Provider::Cloudflare),
            Self::Mux => Some(Provider::Mux),
            Self::AwsOnly => None,
        }
    }
}

/// One line of a bill.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineItem {
    pub id: &'static str,
    pub label: &'static str,
    pub usd: f64,
    /// How it was computed, in words and numbers.
    pub detail: String,
    /// The figures it rests on (`prices.toml` keys).
    pub figures: Vec<&'static str>,
    /// Whether one of those figures is unconfirmed.
    pub unconfirmed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bill {
    pub id: &'static str,
    pub name: &'static str,
    pub monthly: Vec<LineItem>,
    pub monthly_total: f64,
    /// The videos not there yet, which the one-off costs cover.
    pub one_off_videos: u64,
    pub one_off: Vec<LineItem>,
    pub one_off_total: f64,
    /// One-off + 12 × monthly.
    pub first_year_total: f64,
}

/// The rows of every bill, in order: `(id, label)`.
pub const MONTHLY_ROWS: &[(&str, &str)] = &[
    ("storage", "Video storage"),
    ("delivery", "Delivery"),
    ("encoding_new", "Encoding new uploads"),
    ("egress_new", "S3 egress: provider fetches new uploads"),
    ("source_storage", "S3 storage of the sources"),
    ("dynamodb_storage", "DynamoDB storage"),
    ("pipeline_new", "Lambda + DynamoDB for new uploads"),
];
pub const ONE_OFF_ROWS: &[(&str, &str)] = &[
    ("encoding_library", "Encoding the library"),
    ("egress_library", "S3 egress: provider fetches the sources"),
    ("pipeline_library", "Lambda + DynamoDB to ingest the library"),
];

fn label(rows: &[(&'static str, &'static str)], id: &str) -> &'static str {
    rows.iter().find(|(i, _)| *i == id).map(|(_, l)| *l).expect("a known row")
}

/// `minutes` rounded up to whole `increment`s (Stream bills in blocks of 1,000 minutes). A float
/// sum of durations a hair above a whole block is not a block more.
pub fn round_up_to(minutes: f64, increment: f64) -> f64 {
    if minutes <= 0.0 {
        return 0.0;
    }
    ((minutes / increment) - 1e-9).ceil().max(1.0) * increment
}

/// Bytes after a monthly free allowance, in GB.
fn billable_gb(bytes: f64, free_gb: f64) -> f64 {
    (bytes / GB - free_gb).max(0.0)
}

/// The Lambda and DynamoDB cost of ingesting one video.
pub fn pipeline_per_video(p: &Prices) -> f64 {
    let invocations = p.value("assumptions.lambda_invocations_per_video");
    let gb_seconds =
        invocations * p.value("assumptions.lambda_seconds_per_invocation") * p.value("assumptions.lambda_memory_gb");
    invocations * p.value("pipeline.lambda_per_million_requests") / 1e6
        + gb_seconds * p.value("pipeline.lambda_per_gb_second")
        + p.value("assumptions.dynamodb_writes_per_video") * p.value("pipeline.dynamodb_per_million_writes") / 1e6
        + p.value("assumptions.dynamodb_reads_per_video") * p.value("pipeline.dynamodb_per_million_reads") / 1e6
}

const PIPELINE_FIGURES: &[&str] = &[
    "assumptions.lambda_invocations_per_video",
    "assumptions.lambda_seconds_per_invocation",
    "assumptions.lambda_memory_gb",
    "pipeline.lambda_per_million_requests",
    "pipeline.lambda_per_gb_second",
    "assumptions.dynamodb_writes_per_video",
    "pipeline.dynamodb_per_million_writes",
    "assumptions.dynamodb_reads_per_video",
    "pipeline.dynamodb_per_million_reads",
];

/// AWS-only: MediaConvert cost per minute of source (the whole ladder).
pub fn aws_encoding_per_minute(p: &Prices) -> f64 {
    p.value("assumptions.aws_hd_renditions") * p.value("aws.mediaconvert_hd_per_output_minute")
        + p.value("assumptions.aws_sd_renditions") * p.value("aws.mediaconvert_sd_per_output_minute")
}

const AWS_ENCODING_FIGURES: &[&str] = &[
    "assumptions.aws_hd_renditions",
    "aws.mediaconvert_hd_per_output_minute",
    "assumptions.aws_sd_renditions",
    "aws.mediaconvert_sd_per_output_minute",
];

struct Lines<'a> {
    prices: &'a Prices,
    rows: &'static [(&'static str, &'static str)],
    items: Vec<LineItem>,
}

impl<'a> Lines<'a> {
    fn new(prices: &'a Prices, rows: &'static [(&'static str, &'static str)]) -> Self {
        Self { prices, rows, items: Vec::new() }
    }

    fn push(&mut self, id: &'static str, usd: f64, detail: String, figures: &[&'static str]) {
        let unconfirmed = figures.iter().any(|f| !self.prices.confirmed(f));
        self.items.push(LineItem {
            id,
            label: label(self.rows, id),
            usd,
            detail,
            figures: figures.to_vec(),
            unconfirmed,
        });
    }

    fn total(&self) -> f64 {
        self.items.iter().map(|i| i.usd).sum()
    }
}

fn n(v: f64) -> String {
    super::render::number(v)
}

/// Each alternative's monthly and one-off bill for `library` with `usage`.
pub fn estimate(library: &Library, usage: &Usage, p: &Prices) -> Vec<Bill> {
    Alternative::ALL.into_iter().map(|alt| bill(alt, library, usage, p)).collect()
}

fn bill(alt: Alternative, library: &Library, usage: &Usage, p: &Prices) -> Bill {
    let minutes = library.live.minutes();
    let delivered = usage.delivered_minutes_per_month;
    let new_minutes = usage.new_minutes_per_month;
    let mut monthly = Lines::new(p, MONTHLY_ROWS);
    let mut one_off = Lines::new(p, ONE_OFF_ROWS);
    let moving = library.not_at(alt.provider());
    let egress_per_gb = p.value("pipeline.s3_egress_per_gb");
    let egress_free = p.value("pipeline.s3_egress_free_gb");
    const EGRESS: &[&str] = &["pipeline.s3_egress_per_gb", "pipeline.s3_egress_free_gb"];

    match alt {
        Alternative::Stream => {
            let block = p.value("stream.billing_increment_minutes");
            let stored = round_up_to(minutes, block);
            monthly.push(
                "storage",
                stored / 1000.0 * p.value("stream.storage_per_1000_minutes"),
                format!("{} min stored, billed as {} (whole blocks of {})", n(minutes), n(stored), n(block)),
                &["stream.storage_per_1000_minutes", "stream.billing_increment_minutes"],
            );
            let billed = round_up_to(delivered, block);
            monthly.push(
                "delivery",
                billed / 1000.0 * p.value("stream.delivery_per_1000_minutes"),
                format!("{} min delivered, billed as {}", n(delivered), n(billed)),
                &["stream.delivery_per_1000_minutes", "stream.billing_increment_minutes"],
            );
            let rate = p.value("stream.encoding_per_minute");
            monthly.push(
                "encoding_new",
                new_minutes * rate,
                format!("{} min a month × ${rate}/min (free)", n(new_minutes)),
                &["stream.encoding_per_minute"],
            );
            one_off.push(
                "encoding_library",
                moving.minutes() * rate,
                format!("{} min × ${rate}/min (free)", n(moving.minutes())),
                &["stream.encoding_per_minute"],
            );
        }
        Alternative::Mux => {
            let rate = p.value("mux.storage_per_minute");
            monthly.push(
                "storage",
                minutes * rate,
                format!("{} min stored × ${rate}/min", n(minutes)),
                &["mux.storage_per_minute"],
            );
            let free = p.value("mux.free_delivery_minutes");
            let billed = (delivered - free).max(0.0);
            let rate = p.value("mux.delivery_per_minute");
            monthly.push(
                "delivery",
                billed * rate,
                format!("{} min delivered − {} free = {} × ${rate}/min", n(delivered), n(free), n(billed)),
                &["mux.delivery_per_minute", "mux.free_delivery_minutes"],
            );
            let rate = p.value("mux.encoding_per_minute");
            monthly.push(
                "encoding_new",
                new_minutes * rate,
                format!("{} min a month × ${rate}/min (basic quality)", n(new_minutes)),
                &["mux.encoding_per_minute"],
            );
            one_off.push(
                "encoding_library",
                moving.minutes() * rate,
                format!("{} min × ${rate}/min (basic quality)", n(moving.minutes())),
                &["mux.encoding_per_minute"],
            );
        }
        Alternative::AwsOnly => {
            let gb = minutes * p.value("assumptions.aws_rendition_gb_per_minute");
            let rate = p.value("pipeline.s3_storage_per_gb_month");
            monthly.push(
                "storage",
                gb * rate,
                format!(
                    "{} min × {} GB/min of renditions = {} GB × ${rate}/GB-month",
                    n(minutes),
                    p.value("assumptions.aws_rendition_gb_per_minute"),
                    n(gb)
                ),
                &["assumptions.aws_rendition_gb_per_minute", "pipeline.s3_storage_per_gb_month"],
            );
            let gb = delivered * p.value("assumptions.aws_delivered_gb_per_minute");
            let free_gb = p.value("aws.cloudfront_free_gb");
            let billed_gb = (gb - free_gb).max(0.0);
            let requests = delivered * 60.0 / p.value("assumptions.aws_segment_seconds");
            let billed_requests = (requests - p.value("aws.cloudfront_free_requests")).max(0.0);
            let usd = billed_gb * p.value("aws.cloudfront_per_gb")
                + billed_requests / 10_000.0 * p.value("aws.cloudfront_per_10k_requests");
            monthly.push(
                "delivery",
                usd,
                format!(
                    "CloudFront: {} GB − {} free = {} GB; {} segment requests − {} free",
                    n(gb),
                    n(free_gb),
                    n(billed_gb),
                    n(requests),
                    n(p.value("aws.cloudfront_free_requests"))
                ),
                &[
                    "assumptions.aws_delivered_gb_per_minute",
                    "aws.cloudfront_free_gb",
                    "aws.cloudfront_per_gb",
                    "assumptions.aws_segment_seconds",
                    "aws.cloudfront_free_requests",
                    "aws.cloudfront_per_10k_requests",
                ],
            );
            let rate = aws_encoding_per_minute(p);
            monthly.push(
                "encoding_new",
                new_minutes * rate,
                format!("MediaConvert: {} min a month × ${} per source minute (the ladder)", n(new_minutes), n(rate)),
                AWS_ENCODING_FIGURES,
            );
            one_off.push(
                "encoding_library",
                moving.minutes() * rate,
                format!("MediaConvert: {} min × ${} per source minute (the ladder)", n(moving.minutes()), n(rate)),
                AWS_ENCODING_FIGURES,
            );
        }
    }

    // The drawback the design names: Stream and Mux fetch the source from S3 over the internet.
    if alt == Alternative::AwsOnly {
        monthly.push("egress_new", 0.0, "none: MediaConvert reads S3 in-region".into(), &[]);
        one_off.push("egress_library", 0.0, "none: MediaConvert reads S3 in-region".into(), &[]);
    } else {
        let bytes = usage.new_source_bytes_per_month;
        let billed = billable_gb(bytes, egress_free);
        monthly.push(
            "egress_new",
            billed * egress_per_gb,
            format!(
                "{} GB a month − {} GB free = {} GB × ${egress_per_gb}/GB",
                n(bytes / GB),
                n(egress_free),
                n(billed)
            ),
            EGRESS,
        );
        let bytes = moving.source_bytes as f64;
        let billed = billable_gb(bytes, egress_free);
        one_off.push(
            "egress_library",
            billed * egress_per_gb,
            format!("{} GB − {} GB free = {} GB × ${egress_per_gb}/GB", n(bytes / GB), n(egress_free), n(billed)),
            EGRESS,
        );
    }

    // Shared by every alternative: the sources stay in S3; the records in DynamoDB; Lambda ingests.
    let rate = p.value("pipeline.s3_storage_per_gb_month");
    monthly.push(
        "source_storage",
        library.live.source_gb() * rate,
        format!("{} GB × ${rate}/GB-month", n(library.live.source_gb())),
        &["pipeline.s3_storage_per_gb_month"],
    );
    let gb = library.records as f64 * p.value("assumptions.dynamodb_item_kb") / (1024.0 * 1024.0);
    let rate = p.value("pipeline.dynamodb_storage_per_gb_month");
    monthly.push(
        "dynamodb_storage",
        gb * rate,
        format!(
            "{} records × {} KB = {} GB × ${rate}/GB-month",
            library.records,
            p.value("assumptions.dynamodb_item_kb"),
            n(gb)
        ),
        &["assumptions.dynamodb_item_kb", "pipeline.dynamodb_storage_per_gb_month"],
    );
    let per_video = pipeline_per_video(p);
    monthly.push(
        "pipeline_new",
        usage.new_videos_per_month as f64 * per_video,
        format!("{} videos a month × ${per_video:.8} per video", usage.new_videos_per_month),
        PIPELINE_FIGURES,
    );
    one_off.push(
        "pipeline_library",
        moving.videos as f64 * per_video,
        format!("{} videos × ${per_video:.8} per video", moving.videos),
        PIPELINE_FIGURES,
    );

    // Rows in the table's order.
    let order = |rows: &[(&str, &str)], mut items: Vec<LineItem>| {
        items.sort_by_key(|i| rows.iter().position(|(id, _)| *id == i.id));
        items
    };
    let (monthly_total, one_off_total) = (monthly.total(), one_off.total());
    Bill {
        id: alt.id(),
        name: alt.name(),
        monthly: order(MONTHLY_ROWS, monthly.items),
        monthly_total,
        one_off_videos: moving.videos,
        one_off: order(ONE_OFF_ROWS, one_off.items),
        one_off_total,
        first_year_total: one_off_total + 12.0 * monthly_total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    fn item<'b>(bill: &'b Bill, id: &str) -> &'b LineItem {
        bill.monthly.iter().chain(&bill.one_off).find(|i| i.id == id).unwrap()
    }

    /// 3 live videos (2 on Stream: 30 + 90 min; 1 on Mux: 60 min without... see below), plus left-outs.
    fn library() -> Library {
        let mut lib = Library::default();
        lib.add(Status::Ready, Provider::Cloudflare, Some(1800.0), Some(2 * GB as u64)); // 30 min, 2 GB
        lib.add(Status::Submitted, Provider::Cloudflare, Some(5400.0), Some(4 * GB as u64)); // 90 min, 4 GB
        lib.add(Status::Ready, Provider::Mux, Some(3600.0), Some(200 * GB as u64)); // 60 min, 200 GB
        lib.add(Status::Ready, Provider::Mux, None, Some(GB as u64)); // unknown duration, 1 GB
        lib.add(Status::Deleted, Provider::Cloudflare, Some(600.0), Some(GB as u64));
        lib.add(Status::Failed, Provider::Cloudflare, None, Some(GB as u64));
        lib.add(Status::Pending, Provider::Mux, None, Some(GB as u64));
        lib.add(Status::Error, Provider::Cloudflare, Some(60.0), Some(GB as u64));
        lib
    }

    #[test]
    fn only_ready_and_submitted_videos_count_and_unknown_durations_are_counted_apart() {
        let lib = library();
        assert_eq!(lib.records, 8);
        assert_eq!(lib.live.videos, 4);
        assert!(close(lib.live.minutes(), 180.0));
        assert_eq!(lib.live.source_bytes, 207 * GB as u64);
        assert_eq!(lib.live.without_duration, 1);
        assert_eq!(lib.by_status, BTreeMap::from([("ready", 3), ("submitted", 1)]));
        assert_eq!(lib.not_counted, BTreeMap::from([("deleted", 1), ("error", 1), ("failed", 1), ("pending", 1)]));
        assert_eq!(lib.by_provider["cloudflare"].videos, 2);
        assert_eq!(lib.by_provider["mux"].without_duration, 1);
        // Not on Stream: the two Mux videos; not on Mux: the two Stream videos.
        assert_eq!(lib.not_at(Some(Provider::Cloudflare)).source_bytes, 201 * GB as u64);
        assert!(close(lib.not_at(Some(Provider::Mux)).minutes(), 120.0));
        assert_eq!(lib.not_at(None), lib.live);
        // Averages over what is known: 180 min / 3, 207 GB / 4.
        let (minutes, bytes) = lib.averages();
        assert!(close(minutes, 60.0) && close(bytes, 51.75 * GB));
    }

    #[test]
    fn stream_bills_whole_blocks_of_a_thousand_minutes() {
        assert_eq!(round_up_to(0.0, 1000.0), 0.0);
        assert_eq!(round_up_to(1.0, 1000.0), 1000.0);
        assert_eq!(round_up_to(1000.0, 1000.0), 1000.0);
        assert_eq!(round_up_to(1_000.000_000_1, 1000.0), 1000.0);
        assert_eq!(round_up_to(1000.5, 1000.0), 2000.0);
        assert_eq!(round_up_to(5432.1, 1000.0), 6000.0);
    }

    #[test]
    fn usage_comes_from_one_flag_or_whole_video_views() {
        let lib = library();
        let by_views = Usage::new(&lib, None, Some(10.0), 0);
        assert!(close(by_views.delivered_minutes_per_month, 1800.0));
        assert_eq!(by_views.delivery, Delivery::ViewsPerVideo { views_per_video: 10.0 });
        let direct = Usage::new(&lib, Some(123.0), None, 0);
        assert_eq!((direct.delivered_minutes_per_month, direct.delivery), (123.0, Delivery::DeliveredMinutes));
        let none = Usage::new(&lib, None, None, 6);
        assert_eq!((none.delivered_minutes_per_month, none.delivery), (0.0, Delivery::Unspecified));
        assert!(close(none.new_minutes_per_month, 360.0));
        assert!(close(none.new_source_bytes_per_month, 6.0 * 51.75 * GB));
    }

    #[test]
    fn each_alternative_is_priced_by_hand() {
        let p = Prices::built_in();
        let lib = library();
        // 200,000 min delivered a month; 10 new videos a month (600 min, 517.5 GB).
        let usage = Usage::new(&lib, Some(200_000.0), None, 10);
        let bills = estimate(&lib, &usage, &p);
        let [stream, mux, aws] = [&bills[0], &bills[1], &bills[2]];
        let per_video = 3.0 * 0.2 / 1e6 + 3.0 * 1.0 * 0.125 * 0.0000166667 + 6.0 * 0.625 / 1e6 + 2.0 * 0.125 / 1e6;
        assert!(close(pipeline_per_video(&p), per_video));

        // Stream: 180 min stored → 1 block of 1,000 → $5; 200,000 delivered → $200.
        assert!(close(item(stream, "storage").usd, 5.0));
        assert!(close(item(stream, "delivery").usd, 200.0));
        assert_eq!(item(stream, "encoding_new").usd, 0.0);
        // New uploads: 517.5 GB − 100 free = 417.5 GB × $0.09.
        assert!(close(item(stream, "egress_new").usd, 417.5 * 0.09));
        // Shared: 207 GB × $0.023; 8 records × 2 KB; 10 new videos.
        assert!(close(item(stream, "source_storage").usd, 207.0 * 0.023));
        assert!(close(item(stream, "dynamodb_storage").usd, 8.0 * 2.0 / 1048576.0 * 0.25));
        assert!(close(item(stream, "pipeline_new").usd, 10.0 * per_video));
        // One-off: the 2 Mux videos move (201 GB − 100 free = 101 GB × $0.09); encoding free.
        assert_eq!(stream.one_off_videos, 2);
        assert!(close(item(stream, "egress_library").usd, 101.0 * 0.09));
        assert!(close(item(stream, "pipeline_library").usd, 2.0 * per_video));
        assert!(!item(stream, "storage").unconfirmed && item(stream, "source_storage").unconfirmed);

        // Mux: 180 × $0.0024; (200,000 − 100,000) × $0.0008 = $80.
        assert!(close(item(mux, "storage").usd, 180.0 * 0.0024));
        assert!(close(item(mux, "delivery").usd, 80.0));
        // One-off: the 2 Stream videos (6 GB, within the 100 GB free).
        assert_eq!(mux.one_off_videos, 2);
        assert_eq!(item(mux, "egress_library").usd, 0.0);
        assert!(item(mux, "storage").unconfirmed);

        // AWS-only: 180 min × 0.07 GB × $0.023; 200,000 × 0.021 = 4,200 GB − 1,024 = 3,176 GB × $0.085,
        // 2,000,000 segment requests (within the 10 M free).
        assert!(close(item(aws, "storage").usd, 180.0 * 0.07 * 0.023));
        assert!(close(item(aws, "delivery").usd, 3176.0 * 0.085));
        // Ladder: 2 × $0.03 + 1 × $0.015 = $0.075 per minute; 600 new minutes; 180 library minutes.
        assert!(close(item(aws, "encoding_new").usd, 600.0 * 0.075));
        assert!(close(item(aws, "encoding_library").usd, 180.0 * 0.075));
        assert_eq!(item(aws, "egress_new").usd, 0.0);
        assert_eq!(item(aws, "egress_library").usd, 0.0);
        assert_eq!(aws.one_off_videos, 4);

        for bill in &bills {
            let monthly: f64 = bill.monthly.iter().map(|i| i.usd).sum();
            assert!(close(bill.monthly_total, monthly));
            assert!(close(bill.first_year_total, bill.one_off_total + 12.0 * monthly));
            let ids: Vec<_> = bill.monthly.iter().map(|i| i.id).collect();
            assert_eq!(ids, MONTHLY_ROWS.iter().map(|(id, _)| *id).collect::<Vec<_>>());
            assert_eq!(bill.one_off.len(), ONE_OFF_ROWS.len());
        }
    }

    #[test]
    fn cloudfront_requests_are_billed_past_the_free_ten_million() {
        let p = Prices::built_in();
        let lib = library();
        // 2,000,000 min × 60 / 6 s = 20 M requests − 10 M free = 10 M × $0.01 / 10k = $10;
        // 2,000,000 × 0.021 = 42,000 GB − 1,024 = 40,976 GB × $0.085.
        let usage = Usage::new(&lib, Some(2_000_000.0), None, 0);
        let aws = &estimate(&lib, &usage, &p)[2];
        assert!(close(item(aws, "delivery").usd, 40_976.0 * 0.085 + 10.0));
    }
}
