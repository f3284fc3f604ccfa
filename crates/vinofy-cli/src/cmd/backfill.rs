//! `vinofy backfill`: ingest the videos already in a bucket, as the function would have.
//!
//! Per listed object: decide from the listing and its record alone (read in batches, before any
//! write) whether there is anything to do; only then confirm the object in S3 and ingest it with
//! the function's own use case (`Ingestor::ingest`: claim, presigned copy, record), so exactly-once
//! holds against the live function as it does between invocations.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use futures::{StreamExt, stream};
use serde::Serialize;
use vinofy_adapters::config::Config;
use vinofy_adapters::{DynamoVideoStore, LiveIngestor};
use vinofy_core::domain::ids::VideoUid;
use vinofy_core::domain::object::{ObjectVersion, skip_reason};
use vinofy_core::domain::record::{ClaimVerdict, Status, VideoRecord, judge_claim};
use vinofy_core::error::IngestError;
use vinofy_core::ingest::{Deadline, now_ms};
use vinofy_core::ports::{ReadRecord, VideoRecords};

use crate::batch::{Batch, Finished, Work};
use crate::cli::BackfillArgs;
use crate::error::{CliError, describe_aws};
use crate::outcome::{Outcome, Tally};
use crate::output::{Output, elapsed, plural};
use crate::settings;

/// Generous, so retries with backoff fit; a claim left by a killed run frees itself after it.
const INGEST_DEADLINE: Duration = Duration::from_secs(120);

/// What to do with one listed object.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Skip(String),
    /// A record with this eTag exists: nothing to do, and nothing is written.
    Duplicate(Status),
    InProgress {
        until_ms: i64,
    },
    PreviouslyFailed(String),
    Unreadable(String),
    Ingest {
        object: ObjectVersion,
        why: Why,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// No record.
    New,
    /// The record is of another version of the key (its notification was lost, or came before
    /// the function existed).
    OtherVersion,
    /// The record says `deleted`, yet the object is there: uploaded again since.
    UploadedAgain,
    /// A claim on this very version whose invocation died: take it over (the ingest logic looks
    /// for the video that invocation may have made before copying).
    DeadClaim,
    /// This version is recorded as `failed` and `--retry-failed` was given.
    RetryFailed,
}

impl Why {
    pub fn describe(self) -> &'static str {
        match self {
            Self::New => "no record yet",
            Self::OtherVersion => "the record is of another version",
            Self::UploadedAgain => "uploaded again after a delete",
            Self::DeadClaim => "a dead invocation's claim",
            Self::RetryFailed => "failed earlier; retried (--retry-failed)",
        }
    }
}

/// The smallest sequencer above `recorded`. Real (normalised) sequencers are 64 characters, so
/// any later notification's sequencer, greater than `recorded`, already differs from it in those
/// 64 characters and so is greater than this one too: the backfill wins over the recorded
/// version, and a newer upload's notification still wins over the backfill.
pub fn sequencer_after(recorded: &str) -> String {
    format!("{recorded}0")
}

/// Decides what to do with `listed` (as listed: no version id, no sequencer) given its record, by
/// the functions' own claim rule (`judge_claim`). A listing carries no version id, so the listed
/// object is taken as the recorded version when the eTags agree (it takes the record's version id),
/// and as another version otherwise; as its sequencer it takes [`sequencer_after`] the recorded one.
/// `retry_failed`: a version recorded as `failed` is ingested again instead of reported.
pub fn plan(
    listed: &ObjectVersion,
    record: Option<&ReadRecord>,
    config: &Config,
    now_ms: i64,
    retry_failed: bool,
) -> Plan {
    if let Some(reason) = skip_reason(listed, &config.video_filter()) {
        return Plan::Skip(reason.to_string());
    }
    let record = match record {
        None => return Plan::Ingest { object: listed.clone(), why: Why::New },
        Some(Err(e)) => return Plan::Unreadable(e.problem.clone()),
        Some(Ok(record)) => record,
    };
    let same_version = record.etag.as_deref() == Some(listed.etag.as_str());
    let candidate = ObjectVersion {
        version_id: if same_version { record.version_id.clone() } else { None },
        sequencer: sequencer_after(&record.sequencer),
        ..listed.clone()
    };
    let stored = record.stored_version();
    match judge_claim(Some(&stored), &candidate.version_key(), &candidate.sequencer, now_ms, retry_failed) {
        ClaimVerdict::Claim if !same_version => Plan::Ingest { object: candidate, why: Why::OtherVersion },
        ClaimVerdict::Claim if record.status == Status::Deleted => {
            Plan::Ingest { object: candidate, why: Why::UploadedAgain }
        }
        ClaimVerdict::Claim => Plan::Ingest { object: candidate, why: Why::New },
        // The claimed version exactly as recorded, so the claim rule sees the same version.
        ClaimVerdict::TakeOver => Plan::Ingest { object: recorded(record, listed), why: Why::DeadClaim },
        ClaimVerdict::RetryFailed => Plan::Ingest { object: recorded(record, listed), why: Why::RetryFailed },
        ClaimVerdict::InProgress => Plan::InProgress { until_ms: stored.claim_expires_at_ms },
        ClaimVerdict::PreviouslyFailed(reason) => {
            Plan::PreviouslyFailed(reason.unwrap_or_else(|| "no reason recorded".into()))
        }
        ClaimVerdict::Duplicate(status) => Plan::Duplicate(status),
        // Cannot happen (the candidate's sequencer is after the recorded one); nothing to do if it did.
        ClaimVerdict::Outdated => Plan::Duplicate(record.status),
    }
}

/// The version a record holds, its missing parts taken from the listing.
fn recorded(record: &VideoRecord, listed: &ObjectVersion) -> ObjectVersion {
    record.object_version().unwrap_or_else(|| ObjectVersion {
        version_id: record.version_id.clone(),
        sequencer: record.sequencer.clone(),
        ..listed.clone()
    })
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    command: &'static str,
    bucket: &'a str,
    /// The prefix listed (`--prefix`, else SOURCE_PREFIX).
    prefix: &'a str,
    dry_run: bool,
    objects: u64,
    outcomes: serde_json::Value,
    elapsed_ms: u64,
    interrupted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// One line of the report.
#[derive(Debug, Serialize)]
struct ObjectLine {
    #[serde(rename = "type")]
    kind: &'static str,
    source: String,
    bucket: String,
    key: String,
    size: u64,
    etag: String,
    outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    video_uid: Option<VideoUid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// One listed object and what its record says to do with it.
type Task = Box<(ObjectVersion, Plan)>;

struct Context<'a> {
    ingestor: Option<&'a LiveIngestor>,
    s3: &'a aws_sdk_s3::Client,
    batch: &'a Batch,
}

pub async fn run(args: BackfillArgs, out: &Output) -> Result<ExitCode, CliError> {
    let config = if args.dry_run {
        settings::config_without_cloudflare(Some(&args.bucket))?
    } else {
        settings::full_config(Some(&args.bucket))?
    };
    let aws = vinofy_adapters::aws_config().await;
    let s3 = settings::s3_client(&aws);
    let ingestor = if args.dry_run {
        None
    } else {
        Some(settings::ingestor(config.clone(), args.allow_long_term_credentials).await?)
    };
    let table = match &ingestor {
        Some(i) => i.store.clone(),
        None => DynamoVideoStore::new(&aws, &config.videos_table),
    };
    // Without --prefix, list only SOURCE_PREFIX: nothing outside it would be ingested anyway.
    let prefix = args.prefix.clone().unwrap_or_else(|| config.source_prefix.clone());
    let batch = Batch::new(args.concurrency, args.rate);
    let context = Context { ingestor: ingestor.as_ref(), s3: &s3, batch: &batch };
    let what = format!("s3://{}/{prefix}", args.bucket);
    out.start_progress(&format!("backfill {what}"));

    let pages = s3
        .list_objects_v2()
        .bucket(&args.bucket)
        .set_prefix(Some(prefix.clone()).filter(|p| !p.is_empty()))
        .into_paginator()
        .send();
    let (config, table, bucket, prefix, s3) = (&config, &table, args.bucket.as_str(), prefix.as_str(), &s3);
    let retry_failed = args.retry_failed;
    let tasks = stream::unfold(Some(pages), move |pages| async move {
        let mut pages = pages?;
        let page = match pages.next().await? {
            Ok(page) => page,
            Err(e) => {
                let message = format!("ListObjectsV2 s3://{bucket}/{prefix} failed: {}", describe_aws(&e));
                return Some((vec![Work::Fatal(message)], None));
            }
        };
        match plan_page(page.contents(), s3, bucket, config, table, retry_failed).await {
            Ok(tasks) => {
                out.add_to_total(tasks.len() as u64);
                Some((tasks, Some(pages)))
            }
            Err(e) => Some((vec![Work::Fatal(e.message().unwrap_or_default())], None)),
        }
    })
    .flat_map(stream::iter);

    let mut tally = Tally::default();
    let ended = batch
        .run(
            tasks,
            out,
            |task| process(task, &context),
            |line| {
                tally.add(line.outcome);
                report(out, &line)
            },
        )
        .await?;
    let (interrupted, elapsed_time, fatal) = (ended.interrupted, ended.elapsed, ended.fatal.clone());
    if out.json {
        out.json_line(&Summary {
            kind: "summary",
            command: "backfill",
            bucket,
            prefix,
            dry_run: args.dry_run,
            objects: tally.total(),
            outcomes: tally.to_json(),
            elapsed_ms: elapsed_time.as_millis() as u64,
            interrupted,
            error: fatal.clone(),
        })?;
    } else {
        let objects = plural(tally.total(), "object");
        let mut head = format!("backfill {what}: {objects} in {}", elapsed(elapsed_time));
        if args.dry_run {
            head.push_str(" (dry run: nothing written, no Cloudflare call)");
        }
        if interrupted {
            head.push_str(" (interrupted)");
        }
        out.line(&head)?;
        for (outcome, n) in tally.rows() {
            out.line(&format!("  {:<13}{n:>7}", outcome.as_str()))?;
        }
    }
    Ok(ended.exit_code("backfill", tally.get(Outcome::Failed)))
}

/// Plans one listing page: one BatchGetItem round for the candidates' records, no write.
async fn plan_page(
    objects: &[aws_sdk_s3::types::Object],
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    config: &Config,
    table: &DynamoVideoStore,
    retry_failed: bool,
) -> Result<Vec<Work<Task>>, CliError> {
    let listed: Vec<ObjectVersion> = objects
        .iter()
        .filter_map(|o| {
            Some(ObjectVersion {
                bucket: bucket.to_owned(),
                key: o.key()?.to_owned(),
                size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                etag: o.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
                version_id: None,
                // Sorts before any notification's: a live notification for a newer upload wins.
                sequencer: String::new(),
            })
        })
        .collect();
    let mut listed = listed;
    fill_missing_etags(s3, &mut listed, config).await?;
    let candidates: Vec<String> =
        listed.iter().filter(|o| skip_reason(o, &config.video_filter()).is_none()).map(ObjectVersion::source).collect();
    let records: HashMap<String, ReadRecord> =
        if candidates.is_empty() { HashMap::new() } else { table.records_of(&candidates).await? };
    let now = now_ms();
    Ok(listed
        .into_iter()
        .map(|o| {
            let plan = plan(&o, records.get(&o.source()), config, now, retry_failed);
            Work::Item(Box::new((o, plan)))
        })
        .collect())
}

/// S3 lists every object with its ETag, but some S3-compatible stores leave it out (s3s-fs does):
/// read those candidates' ETags with HeadObject, so the record check can still compare them.
async fn fill_missing_etags(
    s3: &aws_sdk_s3::Client,
    listed: &mut [ObjectVersion],
    config: &Config,
) -> Result<(), CliError> {
    let missing: Vec<usize> = (0..listed.len())
        .filter(|&i| listed[i].etag.is_empty() && skip_reason(&listed[i], &config.video_filter()).is_none())
        .collect();
    let heads: Vec<(usize, Result<Option<String>, String>)> = stream::iter(missing)
        .map(|i| {
            let (bucket, key) = (listed[i].bucket.clone(), listed[i].key.clone());
            async move {
                let etag = match s3.head_object().bucket(&bucket).key(&key).send().await {
                    Ok(head) => Ok(Some(head.e_tag().unwrap_or_default().trim_matches('"').to_owned())),
                    Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
                    Err(e) => Err(format!("HeadObject s3://{bucket}/{key} failed: {}", describe_aws(&e))),
                };
                (i, etag)
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (i, etag) in heads {
        // Deleted since the listing: left with no eTag, `confirm` reports it.
        listed[i].etag = etag.map_err(CliError::Fatal)?.unwrap_or_default();
    }
    Ok(())
}

async fn process(task: Task, context: &Context<'_>) -> Finished<ObjectLine> {
    let (listed, plan) = *task;
    let line = |outcome: Outcome, video_uid: Option<VideoUid>, detail: Option<String>| {
        Finished::Line(ObjectLine {
            kind: "object",
            source: listed.source(),
            bucket: listed.bucket.clone(),
            key: listed.key.clone(),
            size: listed.size,
            etag: listed.etag.clone(),
            outcome,
            video_uid,
            detail,
        })
    };
    let (object, why) = match plan {
        Plan::Skip(reason) => return line(Outcome::Skipped, None, Some(reason)),
        Plan::Duplicate(status) => return line(Outcome::Duplicate, None, Some(format!("already {status}"))),
        Plan::InProgress { until_ms } => {
            let until = vinofy_core::ingest::rfc3339(until_ms);
            return line(Outcome::InProgress, None, Some(format!("claimed by a live invocation until {until}")));
        }
        Plan::PreviouslyFailed(reason) => {
            return line(
                Outcome::Failed,
                None,
                Some(format!("failed earlier (not retried; --retry-failed retries it): {reason}")),
            );
        }
        Plan::Unreadable(reason) => return line(Outcome::Failed, None, Some(reason)),
        Plan::Ingest { object, why } => (object, why),
    };
    let Some(ingestor) = context.ingestor else {
        return line(Outcome::WouldIngest, None, Some(why.describe().to_owned()));
    };
    if !context.batch.slot().await {
        return Finished::NotStarted;
    }
    // Confirmed right before the claim, to keep the window for a concurrent upload small.
    let object = if why == Why::DeadClaim {
        object
    } else {
        match confirm(context.s3, object).await {
            Ok(Confirmed::Current(object)) => object,
            Ok(Confirmed::Changed(detail)) => return line(Outcome::Outdated, None, Some(detail)),
            Err(e) => return line(Outcome::Failed, None, Some(e)),
        }
    };
    let ingested = context
        .batch
        .patiently(|| {
            let deadline = Deadline::after(INGEST_DEADLINE);
            let object = &object;
            // Stopped at its deadline, as the function is: past it, a live invocation may take over.
            vinofy_adapters::within_deadline(INGEST_DEADLINE, async move {
                if why == Why::RetryFailed {
                    ingestor.retry_failed(object, deadline).await
                } else {
                    ingestor.ingest(object, deadline).await
                }
            })
        })
        .await;
    match ingested {
        Ok(report) => {
            let detail = report.detail.or_else(|| (why != Why::New).then(|| why.describe().to_owned()));
            line(report.outcome.into(), report.video_uid, detail)
        }
        Err(e) => {
            let outcome = if matches!(e, IngestError::Deferred { .. }) { Outcome::Deferred } else { Outcome::Failed };
            line(outcome, None, Some(without_source(&e.to_string(), &object.source())))
        }
    }
}

/// The library's errors start with the source, which the line already carries.
fn without_source(text: &str, source: &str) -> String {
    text.strip_prefix(source).and_then(|t| t.strip_prefix(": ")).unwrap_or(text).to_owned()
}

enum Confirmed {
    /// Still the listed version; with its S3 version id when the bucket is versioned, so the
    /// record and the presigned URL pin that version, as a notification's would.
    Current(ObjectVersion),
    Changed(String),
}

/// Re-reads the object just before ingesting it (after its record was read): a version uploaded
/// since the listing is its notification's business.
async fn confirm(s3: &aws_sdk_s3::Client, object: ObjectVersion) -> Result<Confirmed, String> {
    match s3.head_object().bucket(&object.bucket).key(&object.key).send().await {
        Ok(head) => {
            let etag = head.e_tag().unwrap_or_default().trim_matches('"');
            if etag != object.etag {
                return Ok(Confirmed::Changed(format!(
                    "changed since it was listed (now eTag {etag}); its own notification ingests it"
                )));
            }
            let version_id = head.version_id().filter(|v| !v.is_empty() && *v != "null").map(str::to_owned);
            Ok(Confirmed::Current(ObjectVersion { version_id, ..object }))
        }
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {
            Ok(Confirmed::Changed("deleted since it was listed".into()))
        }
        Err(e) => Err(format!("HeadObject failed: {}", describe_aws(&e))),
    }
}

fn report(out: &Output, line: &ObjectLine) -> Result<(), CliError> {
    if out.json {
        return out.json_line(line);
    }
    // Human output lists what needs a look or was done; the summary counts the rest.
    if matches!(line.outcome, Outcome::Duplicate | Outcome::Skipped) {
        return Ok(());
    }
    let mut text = format!("{:<13}{}", line.outcome.as_str(), line.source);
    if let Some(uid) = &line.video_uid {
        text.push_str(&format!("  video {uid}"));
    }
    if let Some(detail) = &line.detail {
        text.push_str(&format!("  ({detail})"));
    }
    out.line(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vinofy_core::domain::object::normalize_sequencer;
    use vinofy_core::ports::UnreadableRecord;

    fn config() -> Config {
        Config::from_lookup(|k| {
            match k {
                "VIDEOS_TABLE" => Some("videos"),
                "UPLOAD_BUCKET" => Some("uploads"),
                "CLOUDFLARE_ACCOUNT_ID" => Some("acct"),
                "CLOUDFLARE_API_TOKEN" => Some("tok"),
                _ => None,
            }
            .map(str::to_owned)
        })
        .unwrap()
    }

    fn listed(key: &str, etag: &str) -> ObjectVersion {
        ObjectVersion {
            bucket: "b".into(),
            key: key.into(),
            size: 10,
            etag: etag.into(),
            version_id: None,
            sequencer: String::new(),
        }
    }

    fn record(status: &str, etag: &str, sequencer: &str) -> ReadRecord {
        Ok(VideoRecord {
            source: "s3://b/v/a.mp4".into(),
            status: Status::parse(status).unwrap(),
            bucket: "b".into(),
            key: "v/a.mp4".into(),
            size: Some(10),
            etag: Some(etag.into()),
            version_key: vinofy_core::domain::ids::VersionKey::of_etag(etag),
            sequencer: sequencer.into(),
            ..VideoRecord::default()
        })
    }

    fn with(record: ReadRecord, edit: impl FnOnce(&mut VideoRecord)) -> ReadRecord {
        record.map(|mut r| {
            edit(&mut r);
            r
        })
    }

    #[test]
    fn what_is_done_is_not_touched_again() {
        let (c, o, seq) = (config(), listed("v/a.mp4", "e1"), normalize_sequencer("0055AED6DCD90281E5"));
        assert_eq!(plan(&o, None, &c, 0, false), Plan::Ingest { object: o.clone(), why: Why::New });
        for (status, want) in [("submitted", Status::Submitted), ("ready", Status::Ready), ("error", Status::Error)] {
            assert_eq!(plan(&o, Some(&record(status, "e1", &seq)), &c, 0, false), Plan::Duplicate(want));
        }
        let failed = with(record("failed", "e1", &seq), |r| r.error = Some("HTTP 413".into()));
        assert_eq!(plan(&o, Some(&failed), &c, 0, false), Plan::PreviouslyFailed("HTTP 413".into()));
        // --retry-failed: the same version again, keeping the record's sequencer (its event order).
        let Plan::Ingest { object, why: Why::RetryFailed } = plan(&o, Some(&failed), &c, 0, true) else { panic!() };
        assert_eq!(object.sequencer, seq);
        assert_eq!(object.etag, o.etag);
        assert_eq!(
            plan(&listed("v/notes.txt", "e"), None, &c, 0, false),
            Plan::Skip("extension \"txt\" is not in VIDEO_EXTENSIONS".into())
        );
        let unreadable =
            Err(UnreadableRecord { source_uri: "s3://b/v/a.mp4".into(), problem: "no valid status".into() });
        assert!(matches!(plan(&o, Some(&unreadable), &c, 0, false), Plan::Unreadable(_)));
    }

    #[test]
    fn claims_are_left_to_live_invocations_and_taken_from_dead_ones() {
        let (c, o, seq) = (config(), listed("v/a.mp4", "e1"), normalize_sequencer("0055AED6DCD90281E5"));
        let pending = with(record("pending", "e1", &seq), |r| {
            r.claim_expires_at_ms = Some(5000);
            r.version_id = Some("v1".into());
            r.version_key = "version:v1".into();
        });
        assert_eq!(plan(&o, Some(&pending), &c, 4_000, false), Plan::InProgress { until_ms: 5000 });
        let Plan::Ingest { object, why: Why::DeadClaim } = plan(&o, Some(&pending), &c, 6_000, false) else { panic!() };
        assert_eq!((object.sequencer, object.version_id.as_deref()), (seq, Some("v1")), "the recorded version");
    }

    #[test]
    fn another_recorded_version_is_replaced_but_a_later_notification_still_wins() {
        let (c, o) = (config(), listed("v/a.mp4", "e2"));
        let recorded = normalize_sequencer("0055AED6DCD90281E5");
        let Plan::Ingest { object, why: Why::OtherVersion } =
            plan(&o, Some(&record("ready", "e1", &recorded)), &c, 0, false)
        else {
            panic!()
        };
        assert!(object.sequencer > recorded, "the claim condition lets it replace the recorded version");
        for later in ["0055AED6DCD90281E6", "0055AED6DCD90281E501", "0055AED6DCD90281E50000000001", "1"] {
            assert!(normalize_sequencer(later) > object.sequencer, "{later} must still win");
        }
        assert!(normalize_sequencer("0055AED6DCD90281E4") < object.sequencer, "an older event stays outdated");
        // A record made by an earlier backfill (no sequencer): still below every real one.
        assert_eq!(sequencer_after(""), "0");
        assert!(normalize_sequencer("00000000000000001") > sequencer_after(""));
        // Deleted, then the same bytes uploaded again.
        let Plan::Ingest { why: Why::UploadedAgain, object } =
            plan(&listed("v/a.mp4", "e1"), Some(&record("deleted", "e1", &recorded)), &c, 0, false)
        else {
            panic!()
        };
        assert!(object.sequencer > recorded);
    }
}
