//! `vinofy migrate --to P`: every record with a video on the other provider (or on P, made with
//! other options) moves to P through the core's migrate use case (`vinofy_core::migrate`); this
//! module walks the table and reports. Re-running continues where a run stopped: a migrated record
//! is no longer a candidate, and one a crash left half-done is resumed by its tag.

use std::collections::BTreeMap;
use std::process::ExitCode;

use futures::{StreamExt, stream};
use serde::Serialize;
use vinofy_adapters::LiveIngestor;
use vinofy_core::domain::provider::Provider;
use vinofy_core::domain::record::{RecordFilter, VideoRecord};
use vinofy_core::migrate::{MOVABLE, MigrationOutcome, MigrationSettings, Need, migration_need};
use vinofy_core::ports::VideoProvider;

use crate::batch::{Batch, Finished, Work};
use crate::cli::MigrateArgs;
use crate::error::CliError;
use crate::output::{Output, elapsed};
use crate::settings;
use crate::walk::Walk;

#[derive(Debug, Serialize)]
struct RecordLine {
    #[serde(rename = "type")]
    kind: &'static str,
    source: String,
    /// `move` or `re-encode`.
    need: &'static str,
    /// `provider:uid` before, and after when it moved.
    from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    command: &'static str,
    to: Provider,
    dry_run: bool,
    delete_old: bool,
    records: u64,
    outcomes: &'a BTreeMap<&'static str, u64>,
    elapsed_ms: u64,
    interrupted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Outcomes that leave a record not done: the exit status is 1 if any occurred.
const NOT_DONE: [&str; 4] = ["failed", "not_ready_yet", "busy", "old_not_deleted"];

pub async fn run(args: MigrateArgs, out: &Output) -> Result<ExitCode, CliError> {
    let config = settings::full_config(None)?;
    let mut ingestor = settings::ingestor(config, args.allow_long_term_credentials).await?;
    ingestor.provider = ingestor.provider.creating_on(args.to).ok_or_else(|| {
        let variables = vinofy_adapters::providers::variables_of(args.to);
        CliError::Usage(format!("--to {}: {} is not configured (set {variables})", args.to, args.to))
    })?;
    let target_encoding = ingestor.provider.encoding();
    let settings = MigrationSettings {
        delete_old: args.delete_old,
        ready_timeout: args.ready_timeout,
        poll_every: args.poll_every.max(std::time::Duration::from_secs(1)),
    };
    let batch = Batch::new(args.concurrency, args.rate);
    let filter = RecordFilter { statuses: MOVABLE.to_vec(), ..RecordFilter::default() };
    let walk = Walk::new(&ingestor.store, filter);
    out.start_progress("migrate");

    let prefix = args.prefix.clone();
    let (to, encoding) = (args.to, target_encoding.clone());
    let tasks = stream::unfold(Some(walk), move |walk| {
        let (prefix, encoding) = (prefix.clone(), encoding.clone());
        async move {
            let mut walk = walk?;
            match walk.next_page().await {
                Ok(None) => None,
                Ok(Some(records)) => {
                    let tasks: Vec<Work<(VideoRecord, Need)>> = records
                        .into_iter()
                        // An unreadable record is reported by `vinofy list`/`reconcile`; it cannot move.
                        .filter_map(Result::ok)
                        .filter(|r| r.key.starts_with(&prefix))
                        .filter_map(|r| migration_need(&r, to, &encoding).map(|need| Work::Item((r, need))))
                        .collect();
                    out.add_to_total(tasks.len() as u64);
                    Some((tasks, Some(walk)))
                }
                Err(e) => Some((vec![Work::Fatal(e.message().unwrap_or_default())], None)),
            }
        }
    })
    .flat_map(stream::iter);

    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let ended = batch
        .run(
            tasks,
            out,
            |(record, need)| process(record, need, &ingestor, &batch, &settings, args.dry_run),
            |line| {
                *counts.entry(line.outcome).or_default() += 1;
                report(out, &line)
            },
        )
        .await?;
    let total: u64 = counts.values().sum();
    let not_done: u64 = NOT_DONE.iter().map(|k| counts.get(k).copied().unwrap_or(0)).sum();
    if out.json {
        out.json_line(&Summary {
            kind: "summary",
            command: "migrate",
            to: args.to,
            dry_run: args.dry_run,
            delete_old: args.delete_old,
            records: total,
            outcomes: &counts,
            elapsed_ms: ended.elapsed.as_millis() as u64,
            interrupted: ended.interrupted,
            error: ended.fatal.clone(),
        })?;
    } else {
        let mut head = format!(
            "migrate --to {}{}: {total} records in {}",
            args.to,
            if args.dry_run { " --dry-run (nothing written, no provider called)" } else { "" },
            elapsed(ended.elapsed)
        );
        if ended.interrupted {
            head.push_str(" (interrupted: run again to continue)");
        }
        out.line(&head)?;
        for (outcome, n) in &counts {
            out.line(&format!("  {outcome:<16}{n:>7}"))?;
        }
    }
    Ok(ended.exit_code("migrate", not_done))
}

async fn process(
    record: VideoRecord,
    need: Need,
    ingestor: &LiveIngestor,
    batch: &Batch,
    settings: &MigrationSettings,
    dry_run: bool,
) -> Finished<RecordLine> {
    let from = record.video().map(|v| v.to_string()).unwrap_or_default();
    let line = |outcome: &'static str, to: Option<String>, detail: Option<String>| {
        Finished::Line(RecordLine {
            kind: "record",
            source: record.source.clone(),
            need: need.as_str(),
            from: from.clone(),
            to,
            outcome,
            detail,
        })
    };
    if dry_run {
        let would = match need {
            Need::Move => "would_move",
            Need::Reencode => "would_re_encode",
        };
        return line(would, None, None);
    }
    if !batch.slot().await {
        return Finished::NotStarted;
    }
    match ingestor.migrate(&record, settings).await {
        Ok(MigrationOutcome::Migrated { new, adopted, old_deleted }) => {
            let mut detail = Vec::new();
            if adopted {
                detail.push("adopted the video an interrupted run made".to_owned());
            }
            let outcome = match old_deleted {
                Some(true) => {
                    detail.push(format!("deleted {from}"));
                    "migrated"
                }
                Some(false) => {
                    detail.push(format!("could not delete {from}; delete it by hand or run again with --delete-old"));
                    "old_not_deleted"
                }
                None => "migrated",
            };
            line(outcome, Some(new.to_string()), Some(detail.join("; ")).filter(|d| !d.is_empty()))
        }
        Ok(MigrationOutcome::Superseded) => {
            line("superseded", None, Some("the record changed meanwhile (an upload or a delete won)".into()))
        }
        Ok(MigrationOutcome::Failed { reason }) => line("failed", None, Some(reason)),
        Ok(MigrationOutcome::NotReadyYet { new }) => {
            line("not_ready_yet", Some(new.to_string()), Some("not ready in time; run again to continue".into()))
        }
        Ok(MigrationOutcome::Busy { until_ms }) => line(
            "busy",
            None,
            Some(format!("another migration holds it until {}", vinofy_core::ingest::rfc3339(until_ms))),
        ),
        Err(e) => line("failed", None, Some(e.to_string())),
    }
}

fn report(out: &Output, line: &RecordLine) -> Result<(), CliError> {
    if out.json {
        return out.json_line(line);
    }
    let to = line.to.as_deref().map(|t| format!(" → {t}")).unwrap_or_default();
    let detail = line.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
    out.line(&format!("{:<16} {} {}{to}{detail}", line.outcome, line.source, line.from))
}
