//! `vinofy redrive`: handle again the events that ran out of retries, from the failed-events queue
//! (template.yaml's `FailedEventsQueue`, the stack output `FailedEventsQueueUrl`).
//!
//! The queue holds either mode's failures in its own shape (`vinofy_core::domain::failed_event`):
//! Lambda's on-failure destination records (direct mode) and the S3 notifications the ingest
//! queue's redrive policy moved (sqs mode). Each message is decoded into the S3 records it carries,
//! each record goes through the function's own use case (claim, presigned copy, record; or the
//! deletion sync) within the shared call budget, as backfill does; a message is deleted only once
//! every one of its records ended for good. Anything else stays in the queue and is made visible
//! again when the run ends.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use futures::{StreamExt, stream};
use serde::Serialize;
use vinofy_adapters::LiveIngestor;
use vinofy_core::domain::event::{EventRules, ObjectEvent};
use vinofy_core::domain::failed_event::{FailedRecord, FailureOrigin, decode_failed_message};
use vinofy_core::domain::object::{skip_reason, source_uri};
use vinofy_core::error::IngestError;
use vinofy_core::ingest::Deadline;

use crate::batch::{Batch, Finished, Work};
use crate::cli::RedriveArgs;
use crate::error::{CliError, describe_aws};
use crate::outcome::{Outcome, Tally};
use crate::output::{Output, elapsed, plural};
use crate::settings;

/// The stack output's variable (template.yaml: `FailedEventsQueueUrl`).
pub const QUEUE_URL_ENV: &str = "FAILED_EVENTS_QUEUE_URL";
/// As backfill's: generous, so retries with backoff fit; a claim left by a killed run frees itself after it.
const INGEST_DEADLINE: Duration = Duration::from_secs(120);
/// How long a received message stays invisible while the run works on it (a message may wait out
/// lock-outs before its records are done). The run makes whatever it leaves visible again at its
/// end; only a killed run leaves its messages invisible this long.
const VISIBILITY: Duration = Duration::from_secs(900);
/// A dry run only decodes: its messages are hidden for the run, then made visible again.
const DRY_RUN_VISIBILITY: Duration = Duration::from_secs(300);
/// SQS's largest receive.
const RECEIVE_BATCH: u64 = 10;
/// A short long-poll: an empty (or drained) queue ends the run quickly.
const WAIT_TIME_SECONDS: i32 = 1;

/// The messages this run holds: by message id, the latest receipt handle (SQS honours only the
/// latest), until deleted; and every id seen, so a message that comes back is not handled twice.
#[derive(Default)]
struct Held {
    handles: HashMap<String, String>,
    seen: HashSet<String>,
}

struct Context<'a> {
    ingestor: Option<&'a LiveIngestor>,
    sqs: &'a aws_sdk_sqs::Client,
    queue_url: &'a str,
    batch: &'a Batch,
    held: &'a Mutex<Held>,
    rules: EventRules<'a>,
    video_filter: vinofy_core::domain::object::VideoFilter<'a>,
    retry_failed: bool,
}

/// One message as received.
struct Received {
    message_id: String,
    body: Option<String>,
    receive_count: Option<u32>,
    /// Sqs mode: the queue the message was moved from (SQS's `DeadLetterQueueSourceArn`).
    moved_from: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Action {
    /// Every record ended for good: deleted from the queue.
    Deleted,
    /// Left in the queue (a record to try again, undecodable, or a failed delete).
    Kept,
    /// Dry run: left in the queue as it was.
    Released,
}

/// One line per S3 record of a message.
#[derive(Debug, Serialize)]
struct RecordLine {
    #[serde(rename = "type")]
    kind: &'static str,
    source: String,
    message_id: String,
    origin: &'static str,
    /// `created` or `removed`.
    event: &'static str,
    outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    video_uid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// Whether the record ended for good (its message may be deleted).
    #[serde(rename = "final")]
    done: bool,
}

/// One line per message, after its records.
#[derive(Debug, Serialize)]
struct MessageLine {
    #[serde(rename = "type")]
    kind: &'static str,
    message_id: String,
    /// `on_failure_destination`, `dead_letter`, or `undecodable`.
    origin: &'static str,
    records: usize,
    action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    receive_count: Option<u32>,
    /// What the failure said: the destination record's condition, attempts and error; a dead
    /// letter's source queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    failure: Option<String>,
    /// Why it was kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

struct MessageReport {
    records: Vec<RecordLine>,
    message: MessageLine,
}

#[derive(Debug, Serialize)]
struct Summary<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    command: &'static str,
    queue_url: &'a str,
    dry_run: bool,
    messages: u64,
    deleted: u64,
    kept: u64,
    undecodable: u64,
    /// Messages by origin (`on_failure_destination`, `dead_letter`, `undecodable`).
    by_origin: BTreeMap<&'static str, u64>,
    records: u64,
    outcomes: serde_json::Value,
    elapsed_ms: u64,
    interrupted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The queue's URL: `--queue-url`, else FAILED_EVENTS_QUEUE_URL.
fn queue_url(flag: Option<String>, lookup: impl Fn(&str) -> Option<String>) -> Result<String, CliError> {
    let url = flag.or_else(|| lookup(QUEUE_URL_ENV)).map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
    let Some(url) = url else {
        return Err(CliError::Usage(format!(
            "no queue: pass --queue-url or set {QUEUE_URL_ENV} (the stack output FailedEventsQueueUrl)"
        )));
    };
    let plausible = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 1024
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !plausible {
        return Err(CliError::Usage(format!(
            "--queue-url / {QUEUE_URL_ENV}: not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
        )));
    }
    Ok(url)
}

pub async fn run(args: RedriveArgs, out: &Output) -> Result<ExitCode, CliError> {
    let env = crate::settings::env;
    let queue_url = queue_url(args.queue_url.clone(), env)?;
    // The events name their bucket; only the upload bucket's are the function's to handle.
    if env("UPLOAD_BUCKET").is_none() {
        return Err(CliError::Usage(
            "UPLOAD_BUCKET is not set: redrive handles the events of the upload bucket only, as the function does"
                .into(),
        ));
    }
    let config = if args.dry_run { settings::config_without_cloudflare(None)? } else { settings::full_config(None)? };
    let aws = vinofy_adapters::aws_config().await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let ingestor = if args.dry_run {
        None
    } else {
        Some(settings::ingestor(config.clone(), args.allow_long_term_credentials).await?)
    };
    let batch = Batch::new(args.concurrency, args.rate);
    let held = Mutex::new(Held::default());
    let context = Context {
        ingestor: ingestor.as_ref(),
        sqs: &sqs,
        queue_url: &queue_url,
        batch: &batch,
        held: &held,
        rules: EventRules { upload_bucket: &config.upload_bucket },
        video_filter: config.video_filter(),
        retry_failed: args.retry_failed,
    };
    out.start_progress(&format!("redrive {queue_url}"));

    let visibility = if args.dry_run { DRY_RUN_VISIBILITY } else { VISIBILITY };
    let messages = receive_all(&sqs, &queue_url, args.limit, visibility, &held, out);
    let mut tally = Tally::default();
    let (mut deleted, mut kept) = (0u64, 0u64);
    let mut by_origin: BTreeMap<&'static str, u64> = BTreeMap::new();
    let ended = batch
        .run(
            messages,
            out,
            |message| process(message, &context),
            |report| {
                for line in &report.records {
                    tally.add(line.outcome);
                    report_record(out, line)?;
                }
                *by_origin.entry(report.message.origin).or_default() += 1;
                match report.message.action {
                    Action::Deleted => deleted += 1,
                    Action::Kept => kept += 1,
                    Action::Released => {}
                }
                report_message(out, &report.message)
            },
        )
        .await?;
    // Whatever is still held (kept, not started, a dry run's) is visible again at once.
    let release_errors = release(&sqs, &queue_url, &held).await;
    for e in &release_errors {
        out.note(&format!("vinofy: redrive: {e}"));
    }
    let messages = by_origin.values().sum::<u64>();
    let undecodable = by_origin.get("undecodable").copied().unwrap_or(0);
    let (interrupted, fatal) = (ended.interrupted, ended.fatal.clone());
    if out.json {
        out.json_line(&Summary {
            kind: "summary",
            command: "redrive",
            queue_url: &queue_url,
            dry_run: args.dry_run,
            messages,
            deleted,
            kept,
            undecodable,
            by_origin: by_origin.clone(),
            records: tally.total(),
            outcomes: tally.to_json(),
            elapsed_ms: ended.elapsed.as_millis() as u64,
            interrupted,
            error: fatal,
        })?;
    } else {
        let mut head = format!(
            "redrive {queue_url}: {}, {} in {}",
            plural(messages, "message"),
            plural(tally.total(), "record"),
            elapsed(ended.elapsed)
        );
        if args.dry_run {
            head.push_str(" (dry run: nothing written, no provider call, every message left in the queue)");
        }
        if interrupted {
            head.push_str(" (interrupted)");
        }
        out.line(&head)?;
        for (origin, n) in &by_origin {
            out.line(&format!("  from {:<24}{n:>7}", origin.replace('_', " ")))?;
        }
        if !args.dry_run {
            out.line(&format!("  {:<13}{deleted:>7}  messages deleted", "deleted"))?;
            out.line(&format!("  {:<13}{kept:>7}  messages left in the queue", "kept"))?;
        }
        for (outcome, n) in tally.rows() {
            out.line(&format!("  {:<13}{n:>7}", outcome.as_str()))?;
        }
    }
    // A message left behind (to try again, undecodable, a failed delete) is something to look at.
    let left = if args.dry_run { undecodable } else { kept };
    let problems = tally.get(Outcome::Failed) + left + release_errors.len() as u64;
    Ok(ended.exit_code("redrive", problems))
}

/// The queue's messages, received in batches until a receive brings nothing new (or `limit`).
fn receive_all<'a>(
    sqs: &'a aws_sdk_sqs::Client,
    queue_url: &'a str,
    limit: Option<u64>,
    visibility: Duration,
    held: &'a Mutex<Held>,
    out: &'a Output,
) -> impl futures::Stream<Item = Work<Received>> + 'a {
    stream::unfold(Some(limit), move |state| async move {
        let remaining = state?;
        let want = remaining.map_or(RECEIVE_BATCH, |r| r.min(RECEIVE_BATCH));
        if want == 0 {
            return None;
        }
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(want as i32)
            .wait_time_seconds(WAIT_TIME_SECONDS)
            .visibility_timeout(visibility.as_secs() as i32)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(r) => r.messages.unwrap_or_default(),
            Err(e) => {
                let message = format!("ReceiveMessage {queue_url} failed: {}", describe_aws(&e));
                return Some((vec![Work::Fatal(message)], None));
            }
        };
        let mut new = Vec::new();
        {
            let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
            for m in messages {
                let (Some(id), Some(handle)) = (m.message_id.clone(), m.receipt_handle.clone()) else { continue };
                // A message seen before came back (its visibility ran out): keep its latest handle
                // if this run still holds it, and do not handle it twice.
                if !held.seen.insert(id.clone()) {
                    if let Some(h) = held.handles.get_mut(&id) {
                        *h = handle;
                    }
                    continue;
                }
                held.handles.insert(id.clone(), handle);
                let attribute = |name: aws_sdk_sqs::types::MessageSystemAttributeName| {
                    m.attributes.as_ref().and_then(|a| a.get(&name)).cloned()
                };
                use aws_sdk_sqs::types::MessageSystemAttributeName as A;
                new.push(Work::Item(Received {
                    message_id: id,
                    receive_count: attribute(A::ApproximateReceiveCount).and_then(|n| n.parse().ok()),
                    moved_from: attribute(A::DeadLetterQueueSourceArn),
                    body: m.body,
                }));
            }
        }
        if new.is_empty() {
            return Some((Vec::new(), None));
        }
        out.add_to_total(new.len() as u64);
        let next = remaining.map(|r| r - new.len() as u64);
        Some((new, Some(next)))
    })
    .flat_map(stream::iter)
}

async fn process(message: Received, context: &Context<'_>) -> Finished<MessageReport> {
    if !context.batch.slot().await {
        return Finished::NotStarted;
    }
    let Received { message_id, body, receive_count, moved_from } = message;
    let mut line = MessageLine {
        kind: "message",
        message_id: message_id.clone(),
        origin: "undecodable",
        records: 0,
        action: if context.ingestor.is_none() { Action::Released } else { Action::Kept },
        receive_count,
        failure: None,
        detail: None,
    };
    let decoded = match body.as_deref() {
        None => Err("the message has no body".to_owned()),
        Some(body) => decode_failed_message(body, &context.rules).map_err(|e| e.to_string()),
    };
    let decoded = match decoded {
        Ok(decoded) => decoded,
        Err(reason) => {
            line.detail = Some(format!("undecodable, kept in the queue: {reason}"));
            return Finished::Line(MessageReport { records: Vec::new(), message: line });
        }
    };
    line.origin = decoded.origin.as_str();
    line.records = decoded.records.len();
    line.failure = match &decoded.origin {
        FailureOrigin::OnFailureDestination(f) => Some(f.describe()),
        FailureOrigin::DeadLetter => moved_from.map(|arn| format!("moved from {arn}")),
    };
    let mut records = Vec::with_capacity(decoded.records.len());
    for record in &decoded.records {
        records.push(handle_record(record, &message_id, line.origin, context).await);
    }
    if context.ingestor.is_none() {
        return Finished::Line(MessageReport { records, message: line });
    }
    let open: Vec<&RecordLine> = records.iter().filter(|r| !r.done).collect();
    if !open.is_empty() {
        line.detail = Some(format!("kept in the queue: {} to try again", plural(open.len() as u64, "record")));
        return Finished::Line(MessageReport { records, message: line });
    }
    match delete(context, &message_id).await {
        Ok(()) => line.action = Action::Deleted,
        Err(e) => line.detail = Some(e),
    }
    Finished::Line(MessageReport { records, message: line })
}

/// Deletes a message with its latest receipt handle, and lets go of it.
async fn delete(context: &Context<'_>, message_id: &str) -> Result<(), String> {
    let handle = context.held.lock().unwrap_or_else(|e| e.into_inner()).handles.get(message_id).cloned();
    let Some(handle) = handle else { return Err("no receipt handle held".into()) };
    context
        .sqs
        .delete_message()
        .queue_url(context.queue_url)
        .receipt_handle(handle)
        .send()
        .await
        .map_err(|e| format!("DeleteMessage failed, kept in the queue: {}", describe_aws(&e)))?;
    context.held.lock().unwrap_or_else(|e| e.into_inner()).handles.remove(message_id);
    Ok(())
}

/// Makes every message still held visible again (`ChangeMessageVisibility 0`); the errors, if any.
async fn release(sqs: &aws_sdk_sqs::Client, queue_url: &str, held: &Mutex<Held>) -> Vec<String> {
    let handles: Vec<(String, String)> = held.lock().unwrap_or_else(|e| e.into_inner()).handles.drain().collect();
    let results = stream::iter(handles)
        .map(|(id, handle)| async move {
            sqs.change_message_visibility()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .visibility_timeout(0)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "could not make message {id} visible again ({}); it comes back in {} min",
                        describe_aws(&e),
                        VISIBILITY.as_secs() / 60
                    )
                })
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    results.into_iter().filter_map(Result::err).collect()
}

/// Runs one record through the function's use case, as backfill does: within the shared call
/// budget, waiting out hand-backs (no Lambda deadline to fit), stopped at its own deadline.
async fn handle_record(
    record: &FailedRecord,
    message_id: &str,
    origin: &'static str,
    context: &Context<'_>,
) -> RecordLine {
    let (bucket, key) = record.event.bucket_and_key();
    let source = source_uri(bucket, key);
    let line = |outcome: Outcome, video_uid: Option<String>, detail: Option<String>, done: bool| RecordLine {
        kind: "record",
        source: source.clone(),
        message_id: message_id.to_owned(),
        origin,
        event: match record.event {
            ObjectEvent::Created(_) => "created",
            ObjectEvent::Removed { .. } => "removed",
        },
        outcome,
        video_uid,
        detail,
        done,
    };
    let Some(ingestor) = context.ingestor else {
        let skip = match &record.event {
            ObjectEvent::Created(object) => skip_reason(object, &context.video_filter).map(|r| r.to_string()),
            ObjectEvent::Removed { .. } => None,
        };
        return match skip {
            Some(reason) => line(Outcome::Skipped, None, Some(reason), true),
            None => line(Outcome::WouldIngest, None, None, true),
        };
    };
    let retry_failed = context.retry_failed;
    let source = source.as_str();
    let handled = context
        .batch
        .patiently(|| {
            let deadline = Deadline::after(INGEST_DEADLINE);
            vinofy_adapters::within_deadline(INGEST_DEADLINE, async move {
                match &record.event {
                    ObjectEvent::Created(object) if retry_failed => ingestor.retry_failed(object, deadline).await,
                    ObjectEvent::Created(object) => ingestor.ingest(object, deadline).await,
                    // The deletion sync, exactly as the function runs it for this one record.
                    ObjectEvent::Removed { .. } => {
                        let response = ingestor.handle(&record.as_notification(), deadline).await?;
                        Ok(report_of(&response, source))
                    }
                }
            })
        })
        .await;
    match handled {
        Ok(report) => {
            let outcome = Outcome::from(report.outcome);
            let done = !matches!(outcome, Outcome::Deferred | Outcome::Failed);
            line(outcome, report.video_uid.map(|u| u.to_string()), report.detail, done)
        }
        Err(e) => {
            let detail = Some(without_source(&e.to_string(), source));
            if matches!(e, IngestError::Deferred { .. }) {
                // Ctrl-C stopped the wait: nothing was done.
                return line(Outcome::Deferred, None, detail, false);
            }
            // Failed for good (the record says so: refused by the provider, or failed earlier),
            // or to be tried again later.
            line(Outcome::Failed, None, detail, !e.is_retryable())
        }
    }
}

/// The one record report of a one-record notification's response (`{"records": [...]}`).
fn report_of(response: &serde_json::Value, source: &str) -> vinofy_core::ingest::RecordReport {
    let report = &response["records"][0];
    let outcome = report["outcome"]
        .as_str()
        .and_then(vinofy_core::ingest::Outcome::parse)
        .unwrap_or(vinofy_core::ingest::Outcome::Failed);
    vinofy_core::ingest::RecordReport {
        source: source.to_owned(),
        outcome,
        video_uid: report["video_uid"].as_str().and_then(|u| vinofy_core::domain::ids::VideoUid::parse(u).ok()),
        detail: report["detail"].as_str().map(str::to_owned),
    }
}

/// The library's errors start with the source, which the line already carries.
fn without_source(text: &str, source: &str) -> String {
    text.strip_prefix(source).and_then(|t| t.strip_prefix(": ")).unwrap_or(text).to_owned()
}

fn report_record(out: &Output, line: &RecordLine) -> Result<(), CliError> {
    if out.json {
        return out.json_line(line);
    }
    let mut text = format!("{:<13}{}", line.outcome.as_str(), line.source);
    if line.event == "removed" {
        text.push_str("  (deletion)");
    }
    if let Some(uid) = &line.video_uid {
        text.push_str(&format!("  video {uid}"));
    }
    if let Some(detail) = &line.detail {
        text.push_str(&format!("  ({detail})"));
    }
    out.line(&text)
}

fn report_message(out: &Output, line: &MessageLine) -> Result<(), CliError> {
    if out.json {
        return out.json_line(line);
    }
    // Human output names a message only when it stays in the queue for a reason.
    if line.action != Action::Kept && line.origin != "undecodable" {
        return Ok(());
    }
    let mut text = format!("{:<13}message {} ({})", "kept", line.message_id, line.origin.replace('_', " "));
    if let Some(failure) = &line.failure {
        text.push_str(&format!("  {failure}"));
    }
    if let Some(detail) = &line.detail {
        text.push_str(&format!("  {detail}"));
    }
    out.line(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_comes_from_the_flag_or_the_stack_output_variable() {
        let none = |_: &str| None;
        let env = |k: &str| (k == QUEUE_URL_ENV).then(|| "https://sqs.eu-west-1.amazonaws.com/1/q".to_owned());
        assert_eq!(queue_url(None, env).unwrap(), "https://sqs.eu-west-1.amazonaws.com/1/q");
        assert_eq!(queue_url(Some("http://localhost:5000/1/q".into()), env).unwrap(), "http://localhost:5000/1/q");
        let missing = queue_url(None, none).unwrap_err();
        assert_eq!(missing.exit_code(), ExitCode::from(2));
        assert!(missing.message().unwrap().contains("FailedEventsQueueUrl"));
        for bad in ["arn:aws:sqs:eu-west-1:123456789012:q", "sqs.eu-west-1.amazonaws.com/1/q", "https://a b"] {
            assert_eq!(queue_url(Some(bad.into()), none).unwrap_err().exit_code(), ExitCode::from(2), "{bad}");
        }
    }

    #[test]
    fn removal_reports_read_back_from_the_response() {
        let response =
            serde_json::json!({"records": [{"source": "s3://b/k", "outcome": "deleted", "video_uid": "abc123"}]});
        let report = report_of(&response, "s3://b/k");
        assert_eq!(report.outcome, vinofy_core::ingest::Outcome::Deleted);
        assert_eq!(report.video_uid.map(|u| u.to_string()).as_deref(), Some("abc123"));
        let odd = report_of(&serde_json::json!({"records": []}), "s3://b/k");
        assert_eq!(odd.outcome, vinofy_core::ingest::Outcome::Failed);
    }
}
