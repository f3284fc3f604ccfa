//! `vinofy reconcile`: records that stopped moving are brought in line with the video provider, by
//! the core's reconcile use case (`vinofy_core::reconcile`); this module walks the table and reports.
//!
//! - `submitted` (the webhook never came, or was lost): ask the provider and apply its answer as the
//!   webhook would; a video the provider does not have any more becomes `error`.
//! - `pending` whose claim expired (the invocation died): the ingest use case again, which takes
//!   the claim over and adopts the video the dead attempt may have made, or copies.
//! - a `replaced_video_uid` left behind (deleting the replaced video failed): delete it, clear it.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use futures::{StreamExt, stream};
use serde::Serialize;
use vinofy_adapters::LiveIngestor;
use vinofy_adapters::config::ReplacedVideoPolicy;
use vinofy_core::domain::ids::VideoUid;
use vinofy_core::domain::record::{RecordFilter, Status, VideoState};
use vinofy_core::ingest::{Deadline, earlier_video, now_ms, rfc3339};
use vinofy_core::ports::{ProviderVideo, VideoRecords};
use vinofy_core::reconcile::{self, Action, actions};
use vinofy_core::video_state::StateUpdateOutcome;

use crate::batch::{Batch, Finished, Work};
use crate::cli::ReconcileArgs;
use crate::error::CliError;
use crate::output::{Output, elapsed};
use crate::settings;
use crate::walk::Walk;

const INGEST_DEADLINE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum LineOutcome {
    Changed,
    Unchanged,
    WouldChange,
    Failed,
}

#[derive(Debug, Serialize)]
struct RecordLine {
    #[serde(rename = "type")]
    kind: &'static str,
    source: String,
    action: &'static str,
    before: String,
    after: String,
    outcome: LineOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    video_uid: Option<VideoUid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    command: &'static str,
    dry_run: bool,
    older_than_seconds: u64,
    updated_before: &'a str,
    actions: u64,
    changed: u64,
    unchanged: u64,
    would_change: u64,
    failed: u64,
    transitions: &'a BTreeMap<String, u64>,
    elapsed_ms: u64,
    interrupted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// One action on one record.
struct Task {
    source: String,
    before: String,
    action: Action,
}

struct Context<'a> {
    ingestor: &'a LiveIngestor,
    batch: &'a Batch,
    timeout: Duration,
    dry_run: bool,
}

pub async fn run(args: ReconcileArgs, out: &Output) -> Result<ExitCode, CliError> {
    let config = settings::full_config(None)?;
    let delete_replaced = config.replaced_video_policy == ReplacedVideoPolicy::Delete;
    let timeout = config.provider_request_timeout;
    let ingestor = settings::ingestor(config, args.allow_long_term_credentials).await?;
    let batch = Batch::new(args.concurrency, args.rate);
    let older_than_ms = i64::try_from(args.older_than.as_millis()).unwrap_or(i64::MAX);
    let cutoff = rfc3339(now_ms().saturating_sub(older_than_ms));

    // Records that stopped moving: pending or submitted (and, when replaced videos are deleted, any
    // record that still references one), not updated since the cutoff.
    let filter = RecordFilter {
        statuses: vec![Status::Pending, Status::Submitted],
        or_replaced_video: delete_replaced,
        updated_before: Some(cutoff.clone()),
    };
    let walk = Walk::new(&ingestor.store, filter);
    out.start_progress("reconcile");

    let tasks = stream::unfold(Some(walk), move |walk| async move {
        let mut walk = walk?;
        match walk.next_page().await {
            Ok(None) => None,
            Ok(Some(records)) => {
                let now = now_ms();
                let tasks: Vec<Work<Task>> = records
                    .into_iter()
                    .flat_map(|record| {
                        let record = match record {
                            Ok(record) => record,
                            Err(e) => {
                                let action = Action::Unreadable(e.problem);
                                return vec![Work::Item(Task { source: e.source_uri, before: "?".into(), action })];
                            }
                        };
                        let before = record.status.as_str().to_owned();
                        actions(&record, now, delete_replaced)
                            .into_iter()
                            .map(|action| {
                                Work::Item(Task { source: record.source.clone(), before: before.clone(), action })
                            })
                            .collect()
                    })
                    .collect();
                out.add_to_total(tasks.len() as u64);
                Some((tasks, Some(walk)))
            }
            Err(e) => Some((vec![Work::Fatal(e.message().unwrap_or_default())], None)),
        }
    })
    .flat_map(stream::iter);

    let context = Context { ingestor: &ingestor, batch: &batch, timeout, dry_run: args.dry_run };
    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut transitions: BTreeMap<String, u64> = BTreeMap::new();
    let ended = batch
        .run(
            tasks,
            out,
            |task| process(task, &context),
            |line| {
                let key = match line.outcome {
                    LineOutcome::Changed => "changed",
                    LineOutcome::Unchanged => "unchanged",
                    LineOutcome::WouldChange => "would_change",
                    LineOutcome::Failed => "failed",
                };
                *counts.entry(key).or_default() += 1;
                if line.before != line.after {
                    *transitions.entry(format!("{} → {}", line.before, line.after)).or_default() += 1;
                }
                report(out, &line)
            },
        )
        .await?;
    let (interrupted, fatal) = (ended.interrupted, ended.fatal.clone());
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    let total: u64 = counts.values().sum();
    if out.json {
        out.json_line(&Summary {
            kind: "summary",
            command: "reconcile",
            dry_run: args.dry_run,
            older_than_seconds: args.older_than.as_secs(),
            updated_before: &cutoff,
            actions: total,
            changed: count("changed"),
            unchanged: count("unchanged"),
            would_change: count("would_change"),
            failed: count("failed"),
            transitions: &transitions,
            elapsed_ms: ended.elapsed.as_millis() as u64,
            interrupted,
            error: fatal.clone(),
        })?;
    } else {
        let mut head = if args.dry_run {
            format!(
                "reconcile --dry-run (records not updated since {cutoff}): {total} checked, {} would change, {} \
                 unchanged, {} failed; nothing written",
                count("would_change"),
                count("unchanged"),
                count("failed")
            )
        } else {
            format!(
                "reconcile (records not updated since {cutoff}): {total} checked, {} changed, {} unchanged, {} failed \
                 in {}",
                count("changed"),
                count("unchanged"),
                count("failed"),
                elapsed(ended.elapsed)
            )
        };
        if interrupted {
            head.push_str(" (interrupted)");
        }
        out.line(&head)?;
        for (transition, n) in &transitions {
            out.line(&format!("  {transition:<24}{n:>7}"))?;
        }
    }
    Ok(ended.exit_code("reconcile", count("failed")))
}

async fn process(task: Task, context: &Context<'_>) -> Finished<RecordLine> {
    let Task { source, before, action } = task;
    let name = action.name();
    let line = |after: String, outcome: LineOutcome, video_uid: Option<VideoUid>, detail: String| {
        Finished::Line(RecordLine {
            kind: "record",
            source: source.clone(),
            action: name,
            before: before.clone(),
            after,
            outcome,
            video_uid,
            detail: Some(detail).filter(|d| !d.is_empty()),
        })
    };
    let ingestor = context.ingestor;
    // The record's status once the action is done: the table's word, not our guess.
    let read_back = || async {
        match ingestor.store.record(&source).await {
            Ok(Some(record)) => record.status.as_str().to_owned(),
            Ok(None) => "(no record)".to_owned(),
            Err(_) => "?".to_owned(),
        }
    };
    let finished = |after: String, video_uid: Option<VideoUid>, detail: String| {
        let outcome = if context.dry_run {
            if after != before { LineOutcome::WouldChange } else { LineOutcome::Unchanged }
        } else if after != before {
            LineOutcome::Changed
        } else {
            LineOutcome::Unchanged
        };
        line(after, outcome, video_uid, detail)
    };

    match action {
        Action::Unreadable(reason) => line(before.clone(), LineOutcome::Failed, None, reason),
        Action::LeaveClaim { until_ms } => finished(
            before.clone(),
            None,
            format!("claimed by a live invocation until {}; left alone", rfc3339(until_ms)),
        ),
        Action::Refresh { video: video_ref } => {
            let uid = video_ref.uid.clone();
            if !context.batch.slot().await {
                return Finished::NotStarted;
            }
            let (video, applied) = match reconcile::refresh(
                &ingestor.provider,
                &ingestor.store,
                &video_ref,
                context.timeout,
                now_ms(),
                context.dry_run,
            )
            .await
            {
                Ok(done) => done,
                Err(e) => return line(before.clone(), LineOutcome::Failed, Some(uid), e),
            };
            let mut detail = describe(&video);
            match applied {
                None => {
                    let after = video.state.final_status().map_or(before.clone(), |s| s.as_str().to_owned());
                    return finished(after, Some(uid), detail);
                }
                Some(StateUpdateOutcome::Applied { .. }) => {}
                Some(StateUpdateOutcome::Ignored { .. }) => detail.push_str("; the record already had this or newer"),
                Some(StateUpdateOutcome::UnknownVideo) => detail.push_str("; no record points at this video any more"),
                Some(StateUpdateOutcome::NotRecordedYet { .. }) => {
                    detail.push_str("; its object version is being submitted right now")
                }
            }
            finished(read_back().await, Some(uid), detail)
        }
        Action::Reingest { object } => {
            if !context.batch.slot().await {
                return Finished::NotStarted;
            }
            if context.dry_run {
                return match earlier_video(&ingestor.provider, &object.version_tag(), context.timeout).await {
                    Ok(Some(video)) => finished(
                        Status::Submitted.as_str().into(),
                        Some(video.uid.clone()),
                        format!("would adopt video {} that the dead attempt made", video.uid),
                    ),
                    Ok(None) => finished(Status::Submitted.as_str().into(), None, "would copy it again".into()),
                    Err(e) => line(before.clone(), LineOutcome::Failed, None, e.to_string()),
                };
            }
            let attempt = || {
                vinofy_adapters::within_deadline(
                    INGEST_DEADLINE,
                    ingestor.ingest(&object, Deadline::after(INGEST_DEADLINE)),
                )
            };
            match context.batch.patiently(attempt).await {
                Ok(report) => {
                    let mut detail = crate::outcome::Outcome::from(report.outcome).as_str().to_owned();
                    if let Some(more) = report.detail {
                        detail.push_str(&format!(": {more}"));
                    }
                    finished(read_back().await, report.video_uid, detail)
                }
                Err(e) => {
                    let text = e.to_string();
                    let text = text.strip_prefix(&format!("{source}: ")).unwrap_or(&text).to_owned();
                    line(read_back().await, LineOutcome::Failed, None, text)
                }
            }
        }
        Action::DeleteReplaced { video } => {
            let uid = video.uid.clone();
            if context.dry_run {
                return line(
                    before.clone(),
                    LineOutcome::WouldChange,
                    Some(uid.clone()),
                    format!("would delete replaced video {uid}"),
                );
            }
            if !context.batch.slot().await {
                return Finished::NotStarted;
            }
            if let Err(e) =
                reconcile::delete_replaced(&ingestor.provider, &ingestor.store, &source, &video, context.timeout).await
            {
                return line(before.clone(), LineOutcome::Failed, Some(uid), e);
            }
            line(before.clone(), LineOutcome::Changed, Some(uid.clone()), format!("deleted replaced video {uid}"))
        }
    }
}

/// What the provider says about a video, in a few words.
fn describe(video: &ProviderVideo) -> String {
    let d = &video.details;
    match (d.error_code.as_deref(), d.error_text.as_deref()) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        (Some(code), None) => code.to_owned(),
        _ => match d.pct_complete.as_deref() {
            Some(pct) if video.state != VideoState::Ready => format!("provider: {} ({pct}%)", video.state),
            _ => format!("provider: {}", video.state),
        },
    }
}

fn report(out: &Output, line: &RecordLine) -> Result<(), CliError> {
    if out.json {
        return out.json_line(line);
    }
    let mut text = format!("{:<9} → {:<9}  {}", line.before, line.after, line.source);
    if line.outcome == LineOutcome::Failed {
        text.push_str("  FAILED");
    }
    if let Some(detail) = &line.detail {
        text.push_str(&format!("  ({detail})"));
    }
    out.line(&text)
}
