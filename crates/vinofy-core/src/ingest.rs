//! The ingest use case: for each S3 record, claim the object version, have the video provider
//! fetch it, and record the video. Exactly one video per object version, whatever is delivered
//! twice or dies half-way:
//!
//! 1. claim: one conditional write keyed by the object version (duplicates stop here, for the
//!    price of that write and no provider call);
//! 2. create: presign, create the video from the URL with a version tag derived from the version;
//!    on a retry (or when taking over a dead invocation's claim) first look the video up by that tag;
//! 3. complete: a write that only the claim holder can make.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;
use tracing::{Instrument, error, field, info, info_span, warn};

use crate::domain::event::{EventRules, Invocation, Notification, ObjectEvent, parse_invocation};
use crate::domain::ids::{ClaimToken, VideoUid};
use crate::domain::object::{ObjectVersion, VideoFilter, skip_reason, source_uri};
use crate::domain::provider::VideoRef;
use crate::domain::record::{ClaimVerdict, RemovalVerdict, Status, judge_removal};
use crate::domain::retry::RetryPolicy;
use crate::domain::upload::owner_of_key;
use crate::error::{IngestError, PresignError, ProviderError};
use crate::ports::{
    Claim, ClaimOutcome, Clock, CreateVideoRequest, ObjectPresigner, ProviderVideo, SystemClock, VideoProvider,
    VideoStore,
};
use crate::secret::PresignedUrl;

/// What to do with a replaced version's video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplacedVideoPolicy {
    /// A new upload to the same key deletes the video of the version it replaces.
    Delete,
    /// Keep replaced videos at the provider (they stay billed for storage).
    Keep,
}

/// What the ingest use case is configured with (read from the environment by the edge).
#[derive(Debug, Clone, PartialEq)]
pub struct IngestSettings {
    /// The one bucket whose notifications are ingested.
    pub upload_bucket: String,
    /// Lower-case, without the dot.
    pub video_extensions: Vec<String>,
    /// Only keys under this prefix are ingested ("" = all).
    pub source_prefix: String,
    pub presign_ttl: Duration,
    /// The longest one call to the video provider may take (shortened to fit the deadline).
    pub provider_request_timeout: Duration,
    pub replaced_video_policy: ReplacedVideoPolicy,
    /// The queue whose messages may be handed back with a visibility delay (sqs mode).
    pub ingest_queue_arn: Option<String>,
    /// `UPLOAD_PREFIX`: keys `{prefix}{space}/{name}` there belong to the space's app user
    /// ([`owner_of_key`]), whose `sub` the record keeps as `owner`.
    pub upload_prefix: String,
}

impl IngestSettings {
    /// What counts as a video to ingest.
    pub fn video_filter(&self) -> VideoFilter<'_> {
        VideoFilter { extensions: &self.video_extensions, source_prefix: &self.source_prefix }
    }
}

/// The invocation deadline, as Lambda gives it (epoch milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    pub epoch_ms: i64,
}

impl Deadline {
    /// Lambda sends an absolute epoch-ms deadline. Local runtimes may not: cargo-lambda's sends the
    /// timeout itself (`600000`). A value before 2001 cannot be a real deadline, so it is read as a
    /// duration from now rather than as "already expired".
    pub fn from_epoch_ms(epoch_ms: u64) -> Self {
        const NOT_BEFORE_MS: u64 = 1_000_000_000_000; // 2001-09-09
        if epoch_ms < NOT_BEFORE_MS {
            return Self::after(Duration::from_millis(epoch_ms));
        }
        Self { epoch_ms: i64::try_from(epoch_ms).unwrap_or(i64::MAX) }
    }

    pub fn after(d: Duration) -> Self {
        Self { epoch_ms: now_ms().saturating_add(d.as_millis() as i64) }
    }

    pub fn remaining(&self) -> Duration {
        self.remaining_at(now_ms())
    }

    /// The time left at `now_ms` (the use case's injected clock).
    pub fn remaining_at(&self, now_ms: i64) -> Duration {
        Duration::from_millis(u64::try_from(self.epoch_ms - now_ms).unwrap_or(0))
    }
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds, the record's timestamp format.
pub fn rfc3339(ms: i64) -> String {
    use chrono::TimeZone;
    chrono::Utc
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// What happened to one record; the function's response lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordReport {
    pub source: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_uid: Option<VideoUid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Copied into Stream and recorded.
    Submitted,
    /// An earlier attempt's video was found by `creator` and recorded (no second copy).
    Adopted,
    /// Not a video (or outside the prefix): nothing done.
    Skipped,
    /// This version is already recorded: nothing done.
    Duplicate,
    /// Another invocation is submitting this version right now: nothing done.
    InProgress,
    /// A newer version is already recorded: nothing done.
    Outdated,
    /// A newer version took the record while we copied; our video was deleted again.
    Superseded,
    /// Nothing to do (a delete of an object never ingested, or of another version).
    Ignored,
    /// The source was deleted: its Stream video deleted, the record marked `deleted`.
    Deleted,
    /// No provider call fitted before the deadline: handed back to be tried again (nothing done).
    Deferred,
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 11] = [
        Self::Submitted,
        Self::Adopted,
        Self::Skipped,
        Self::Duplicate,
        Self::InProgress,
        Self::Outdated,
        Self::Superseded,
        Self::Ignored,
        Self::Deleted,
        Self::Deferred,
        Self::Failed,
    ];

    /// As in the response (`outcome`), and the metrics' `Outcome` dimension.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Adopted => "adopted",
            Self::Skipped => "skipped",
            Self::Duplicate => "duplicate",
            Self::InProgress => "in_progress",
            Self::Outdated => "outdated",
            Self::Superseded => "superseded",
            Self::Ignored => "ignored",
            Self::Deleted => "deleted",
            Self::Deferred => "deferred",
            Self::Failed => "failed",
        }
    }

    /// The outcome a response names (the inverse of [`Self::as_str`]).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }

    /// Whether the outcome is about a video at a provider (the metrics then name the provider);
    /// the others are records nothing was asked of a provider for.
    pub fn concerns_provider(self) -> bool {
        !matches!(self, Self::Skipped | Self::Duplicate | Self::InProgress | Self::Outdated | Self::Ignored)
    }
}

/// The response for an SQS-buffered invocation: Lambda's partial batch failure report
/// (`batchItemFailures`, `aws_lambda_events`' own type), plus a report per record.
#[derive(Debug, Serialize)]
pub struct SqsBatchResponse {
    #[serde(flatten)]
    pub batch: aws_lambda_events::sqs::SqsBatchResponse,
    pub records: Vec<RecordReport>,
}

/// What an invocation produced: the response, and the SQS messages to hand back with a delay.
#[derive(Debug)]
pub struct Handled {
    pub response: Value,
    pub delays: Vec<RedeliveryDelay>,
}

impl Handled {
    fn response(response: Value) -> Self {
        Self { response, delays: Vec::new() }
    }
}

/// An SQS message handed back (a batch item failure) that should become visible again only once a
/// provider call may go: `ChangeMessageVisibility(receipt_handle, delay)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeliveryDelay {
    pub message_id: String,
    pub queue_arn: String,
    pub receipt_handle: String,
    pub delay: Duration,
}

/// When an event handed back for lack of time in its invocation is tried again (its wait is not
/// known: nothing refused it).
const NO_TIME_RETRY: Duration = Duration::from_secs(1);

/// SQS's longest visibility timeout.
pub const MAX_VISIBILITY_DELAY: Duration = Duration::from_secs(12 * 3600);

/// The visibility delay of a message handed back for `retry_in` on its `receive_count`th delivery:
/// at least `retry_in`, and from the second hand-back on at least 10 s doubling with each receive
/// (at most 15 minutes), so that a message refused again and again (Stream's in-flight limit
/// saturated by long transcodes) spends its receives over hours, not minutes; whole seconds,
/// rounded up, plus up to 10% (at most 30 s) of jitter so the messages of one lock-out do not all
/// come back at once; `unit` is a random number in [0, 1).
pub fn redelivery_delay(retry_in: Duration, receive_count: u32, unit: f64) -> Duration {
    let floor = match receive_count {
        0 | 1 => Duration::ZERO,
        n => Duration::from_secs(10).saturating_mul(1u32 << (n - 2).min(10)).min(Duration::from_secs(900)),
    };
    let wait = retry_in.max(floor);
    let jitter = wait.mul_f64(0.1).min(Duration::from_secs(30)).mul_f64(unit.clamp(0.0, 1.0));
    let seconds = (wait + jitter).as_secs_f64().ceil().max(1.0) as u64;
    Duration::from_secs(seconds).min(MAX_VISIBILITY_DELAY)
}

struct EventsHandled {
    reports: Vec<RecordReport>,
    failure: Option<IngestError>,
    /// The longest `retry_in` of the records handed back.
    retry_in: Option<Duration>,
}

fn batch_item_failure(message_id: String) -> aws_lambda_events::sqs::BatchItemFailure {
    let mut failure = aws_lambda_events::sqs::BatchItemFailure::default();
    failure.item_identifier = message_id;
    failure
}

pub struct Ingestor<P, S, V> {
    presigner: P,
    pub provider: S,
    pub store: V,
    pub(crate) config: IngestSettings,
    retry: RetryPolicy,
    pub(crate) clock: Arc<dyn Clock>,
}

impl<P: ObjectPresigner, S: VideoProvider, V: VideoStore> Ingestor<P, S, V> {
    pub fn new(presigner: P, provider: S, store: V, config: IngestSettings) -> Self {
        Self { presigner, provider, store, config, retry: RetryPolicy::default(), clock: Arc::new(SystemClock) }
    }

    /// The same use case on another clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn remaining(&self, deadline: Deadline) -> Duration {
        deadline.remaining_at(self.clock.now_ms())
    }

    /// Handles one invocation payload. `Ok` carries the response: a report per record (and, for
    /// SQS, the messages to redeliver); `Err` fails the invocation so Lambda retries it (or sends
    /// it to the failure destination once retries run out).
    pub async fn handle(&self, payload: &Value, deadline: Deadline) -> Result<Value, IngestError> {
        self.handle_invocation(payload, deadline).await.map(|handled| handled.response)
    }

    /// As [`Self::handle`], with the visibility delays of the SQS messages handed back, which the
    /// edge applies before it answers (the response alone would redeliver them after the queue's
    /// whole visibility timeout).
    pub async fn handle_invocation(&self, payload: &Value, deadline: Deadline) -> Result<Handled, IngestError> {
        let rules = EventRules { upload_bucket: &self.config.upload_bucket };
        let invocation =
            parse_invocation(payload, &rules).inspect_err(|e| error!(error = %e, "rejected a malformed event"))?;
        match invocation {
            Invocation::S3Test => {
                info!("acknowledged s3:TestEvent");
                Ok(Handled::response(serde_json::json!({ "records": [] })))
            }
            Invocation::S3(events) => {
                let handled = self.handle_events(&events, deadline).await;
                match handled.failure {
                    Some(e) => Err(e),
                    None => Ok(Handled::response(serde_json::json!({ "records": handled.reports }))),
                }
            }
            Invocation::Sqs(messages) => {
                let mut response = SqsBatchResponse { batch: Default::default(), records: Vec::new() };
                let mut delays = Vec::new();
                for message in messages {
                    let failed = match message.body {
                        Err(e) => {
                            error!(message_id = %message.message_id, error = %e, "rejected a malformed SQS message");
                            true
                        }
                        Ok(Notification::Test) => {
                            info!(message_id = %message.message_id, "acknowledged s3:TestEvent");
                            false
                        }
                        Ok(Notification::Records(events)) => {
                            let handled = self.handle_events(&events, deadline).await;
                            response.records.extend(handled.reports);
                            let ours =
                                message.queue_arn.filter(|arn| Some(arn) == self.config.ingest_queue_arn.as_ref());
                            if handled.retry_in.is_some() && ours.is_none() {
                                warn!(message_id = %message.message_id, "handed back without a delay: not from INGEST_QUEUE_ARN");
                            }
                            if let (Some(retry_in), Some(receipt_handle), Some(queue_arn)) =
                                (handled.retry_in, message.receipt_handle, ours)
                            {
                                let receives = message.receive_count.unwrap_or(1);
                                let delay = redelivery_delay(retry_in, receives, fastrand::f64());
                                info!(message_id = %message.message_id, delay_s = delay.as_secs(), "handing the message back with a visibility delay");
                                delays.push(RedeliveryDelay {
                                    message_id: message.message_id.clone(),
                                    queue_arn,
                                    receipt_handle,
                                    delay,
                                });
                            }
                            handled.failure.is_some()
                        }
                    };
                    if failed {
                        response.batch.batch_item_failures.push(batch_item_failure(message.message_id));
                    }
                }
                Ok(Handled { response: serde_json::to_value(response).expect("plain structs serialise"), delays })
            }
        }
    }

    /// Handles every record, each on its own: the reports, the error to fail with (the first
    /// retryable one if any, so Lambda retries; else the first one), and the longest hand-back.
    async fn handle_events(&self, events: &[ObjectEvent], deadline: Deadline) -> EventsHandled {
        let mut handled = EventsHandled { reports: Vec::with_capacity(events.len()), failure: None, retry_in: None };
        for event in events {
            let (bucket, key) = event.bucket_and_key();
            let span = info_span!("object", bucket = %bucket, key = %key, video_uid = field::Empty);
            // The provider the record's video is (to be) at, for the metrics.
            let mut provider = None;
            let report = match event {
                ObjectEvent::Created(object) => {
                    provider = Some(self.provider.creates_on());
                    self.ingest(object, deadline).instrument(span).await
                }
                ObjectEvent::Removed { bucket, key, version_id, sequencer, delete_marker } => {
                    let removed_version = if *delete_marker { None } else { version_id.as_deref() };
                    let source = source_uri(bucket, key);
                    self.remove(&source, removed_version, sequencer, deadline, &mut provider).instrument(span).await
                }
            };
            let outcome = match &report {
                Ok(r) => r.outcome,
                Err(IngestError::Deferred { .. }) => Outcome::Deferred,
                Err(_) => Outcome::Failed,
            };
            crate::metrics::record(|m| {
                m.record_outcome(outcome.as_str(), provider.filter(|_| outcome.concerns_provider()))
            });
            match report {
                Ok(r) => handled.reports.push(r),
                Err(e) => {
                    handled.reports.push(RecordReport {
                        source: source_uri(bucket, key),
                        outcome,
                        video_uid: None,
                        detail: Some(e.to_string()),
                    });
                    if let IngestError::Deferred { retry_in, .. } = &e {
                        handled.retry_in = handled.retry_in.max(Some(*retry_in));
                    }
                    let replace = match &handled.failure {
                        None => true,
                        Some(current) => e.is_retryable() && !current.is_retryable(),
                    };
                    if replace {
                        handled.failure = Some(e);
                    }
                }
            }
        }
        handled
    }

    /// Ingests one object version (claim → copy → complete), exactly as for a notification; the
    /// operator CLI's backfill and reconcile use it too.
    pub async fn ingest(&self, object: &ObjectVersion, deadline: Deadline) -> Result<RecordReport, IngestError> {
        self.ingest_version(object, deadline, false).await
    }

    /// As [`Self::ingest`], but a version recorded as `failed` is claimed and submitted again (the
    /// operator's `vinofy backfill --retry-failed`, once the cause, say a bad token, is fixed).
    pub async fn retry_failed(&self, object: &ObjectVersion, deadline: Deadline) -> Result<RecordReport, IngestError> {
        self.ingest_version(object, deadline, true).await
    }

    async fn ingest_version(
        &self,
        object: &ObjectVersion,
        deadline: Deadline,
        retry_failed: bool,
    ) -> Result<RecordReport, IngestError> {
        let source = object.source();
        let report = |outcome, video_uid: Option<VideoUid>, detail: Option<String>| RecordReport {
            source: source.clone(),
            outcome,
            video_uid,
            detail,
        };
        if let Some(reason) = skip_reason(object, &self.config.video_filter()) {
            info!(reason = %reason, "skipped: not a video to ingest");
            return Ok(report(Outcome::Skipped, None, Some(reason.to_string())));
        }

        // Not even one whole call would fit before the deadline (the end of a long SQS batch): hand
        // the event back before claiming, which costs nothing (a call clipped short would only time
        // out, ambiguously).
        if !self.retry.fits(0, Duration::ZERO, self.config.provider_request_timeout, self.remaining(deadline)) {
            info!("no time left in this invocation for a provider call; handing the event back");
            return Err(IngestError::Deferred {
                source_uri: source,
                reason: "no time left in this invocation for a provider call".into(),
                retry_in: NO_TIME_RETRY,
            });
        }
        let claim = Claim {
            object,
            source: &source,
            version_key: object.version_key(),
            version_tag: object.version_tag(),
            token: ClaimToken::random(),
            expires_at_ms: deadline.epoch_ms,
            now_ms: self.clock.now_ms(),
            retry_failed,
            owner: owner_of_key(&self.config.upload_prefix, &object.key),
        };
        let (verdict, current_video, nothing_submitted) = match self.store.claim(&claim).await? {
            ClaimOutcome::Claimed { verdict, current_video, nothing_submitted } => {
                (verdict, current_video, nothing_submitted)
            }
            ClaimOutcome::Refused(verdict) => {
                return match verdict {
                    ClaimVerdict::PreviouslyFailed(reason) => {
                        let reason = reason.unwrap_or_else(|| "no reason recorded".into());
                        warn!(reason = %reason, "this object version failed earlier; not retrying it");
                        Err(IngestError::PreviouslyFailed { source_uri: source, reason })
                    }
                    ClaimVerdict::Duplicate(status) => {
                        info!(status = %status, "duplicate delivery: this version is already recorded");
                        Ok(report(Outcome::Duplicate, None, Some(format!("already {status}"))))
                    }
                    ClaimVerdict::InProgress => {
                        info!("duplicate delivery: another invocation is submitting this version");
                        Ok(report(Outcome::InProgress, None, None))
                    }
                    ClaimVerdict::Outdated => {
                        info!("outdated event: a newer version of this object is already recorded");
                        Ok(report(Outcome::Outdated, None, None))
                    }
                    ClaimVerdict::Claim | ClaimVerdict::TakeOver | ClaimVerdict::RetryFailed => {
                        unreachable!("a refused claim has a refusing verdict")
                    }
                };
            }
        };
        // A failed attempt may have got as far as the provider: look up before creating, as for a
        // take-over; unless it proved, when it let go, that it was only refused.
        let takeover = matches!(verdict, ClaimVerdict::TakeOver | ClaimVerdict::RetryFailed);
        let look_up_first = takeover && !(nothing_submitted && verdict == ClaimVerdict::TakeOver);
        info!(takeover, look_up_first, retry_failed = verdict == ClaimVerdict::RetryFailed, "claimed object version");

        let (video, adopted) = match self.submit(&claim, look_up_first, deadline).await {
            Ok(v) => v,
            Err(SubmitError::Rejected(reason)) => {
                error!(reason = %reason, "the video provider refused the copy; recording the failure");
                self.store.fail(&claim, &reason).await?;
                return Err(IngestError::CopyRejected { source_uri: source, reason });
            }
            Err(SubmitError::Presign(PresignError(reason))) => {
                self.release(&claim, &reason, false).await;
                return Err(IngestError::Presign { source_uri: source, reason });
            }
            Err(SubmitError::Deferred { reason, retry_in, nothing_submitted }) => {
                warn!(reason = %reason, retry_in_ms = retry_in.as_millis() as u64, "no provider call fits before the deadline; handing the event back");
                self.release(&claim, &reason, nothing_submitted).await;
                return Err(IngestError::Deferred { source_uri: source, reason, retry_in });
            }
            Err(SubmitError::Unavailable(reason)) => {
                error!(reason = %reason, "the video provider is unavailable; releasing the claim for a retry");
                self.release(&claim, &reason, false).await;
                return Err(IngestError::StreamUnavailable { source_uri: source, reason });
            }
        };
        tracing::Span::current().record("video_uid", video.uid.as_str());

        let replaced = current_video.filter(|current| *current != video.video_ref());
        // An adopted video was made by an earlier attempt, perhaps with other options: not known.
        let encoding = (!adopted).then(|| self.provider.encoding());
        if !self.store.complete(&claim, &video, replaced.as_ref(), encoding.as_deref()).await?
            && let Some((outcome, uid, detail)) = self.lost_claim(&claim, &video).await?
        {
            return Ok(report(outcome, uid, detail));
        }
        info!(state = %video.state, adopted, "recorded the Stream video");

        if let Some(old) = replaced
            && self.config.replaced_video_policy == ReplacedVideoPolicy::Delete
            && self.delete_video(&old).await
            && let Err(e) = self.store.clear_replaced(&source, &old.uid).await
        {
            warn!(error = %e, replaced_video_uid = %old.uid, "could not clear replaced_video_uid");
        }
        let outcome = if adopted { Outcome::Adopted } else { Outcome::Submitted };
        Ok(report(outcome, Some(video.uid), None))
    }

    /// The completing write was refused: our claim was lost while copying, to a newer version of
    /// the key (our video is nobody's: deleted again), or, past our deadline, to a take-over of this
    /// same version, which may have adopted our video by its tag; or the SDK resent a write that had
    /// succeeded. A video the record points at, or may still adopt, is never deleted. `None`: the
    /// record holds our video after all (a resent write, or a take-over that adopted it), so the
    /// ingest goes on as recorded.
    async fn lost_claim(
        &self,
        claim: &Claim<'_>,
        video: &ProviderVideo,
    ) -> Result<Option<(Outcome, Option<VideoUid>, Option<String>)>, IngestError> {
        let stored = self.store.stored(claim.source).await?;
        let uid = Some(video.uid.clone());
        match stored.filter(|s| s.version_key == claim.version_key) {
            Some(s) if s.video == Some(video.video_ref()) && s.status != Status::Pending => {
                info!("the record holds this video (a resent write, or the take-over adopted it)");
                Ok(None)
            }
            Some(s) if s.status == Status::Pending => {
                warn!("another invocation took this version over and may adopt this video; left for reconcile");
                Ok(Some((Outcome::InProgress, uid, Some("taken over while copying".into()))))
            }
            Some(_) => {
                warn!("this version was recorded with another video meanwhile; deleting this one");
                self.delete_video(&video.video_ref()).await;
                Ok(Some((Outcome::Superseded, uid, Some("a duplicate of the recorded video".into()))))
            }
            None => {
                warn!("a newer version took the record while copying; deleting this video again");
                self.delete_video(&video.video_ref()).await;
                Ok(Some((Outcome::Superseded, uid, None)))
            }
        }
    }

    /// Deletion sync: the source object is gone, so its Stream video goes too, and the record is
    /// kept, marked `deleted`. A delete older than the recorded upload (a re-upload raced it) or of
    /// another version changes nothing.
    async fn remove(
        &self,
        source: &str,
        removed_version: Option<&str>,
        sequencer: &str,
        deadline: Deadline,
        provider: &mut Option<crate::domain::provider::Provider>,
    ) -> Result<RecordReport, IngestError> {
        let report = |outcome, video_uid: Option<VideoUid>, detail: &str| RecordReport {
            source: source.to_owned(),
            outcome,
            video_uid,
            detail: Some(detail.to_owned()).filter(|d| !d.is_empty()),
        };
        let stored = self.store.stored(source).await?;
        let video = match judge_removal(stored.as_ref(), removed_version, sequencer) {
            RemovalVerdict::NotIngested => {
                info!("object removed; it was never ingested: nothing to do");
                return Ok(report(Outcome::Ignored, None, "never ingested"));
            }
            RemovalVerdict::AlreadyDeleted => {
                info!("object removed; already recorded as deleted");
                return Ok(report(Outcome::Duplicate, None, "already deleted"));
            }
            RemovalVerdict::OtherVersion => {
                info!("a non-current version was removed; the recorded version stays");
                return Ok(report(Outcome::Ignored, None, "another version"));
            }
            RemovalVerdict::Outdated => {
                info!("object removed, but a newer upload of the key is recorded: keeping it");
                return Ok(report(Outcome::Outdated, None, "re-uploaded since"));
            }
            RemovalVerdict::Remove { video } => video,
        };
        let video_uid = video.as_ref().map(|v| v.uid.clone());
        *provider = video.as_ref().map(|v| v.provider);
        if let Some(video) = &video {
            let uid = &video.uid;
            tracing::Span::current().record("video_uid", uid.as_str());
            let timeout = self
                .timeout(self.config.provider_request_timeout, deadline)
                .map_err(|e| IngestError::StreamUnavailable { source_uri: source.to_owned(), reason: e.to_string() })?;
            // Delete first, then mark: if marking fails, the retry finds the record unchanged and
            // deletes again (a 404 counts as deleted).
            self.provider.delete(video, timeout).await.map_err(|e| {
                let reason = format!("deleting video {uid}: {e}");
                match e.retry_after().filter(|_| e.is_refusal()) {
                    // Nothing was deleted: hand the event back for when a call may go.
                    Some(retry_in) => IngestError::Deferred { source_uri: source.to_owned(), reason, retry_in },
                    None => IngestError::StreamUnavailable { source_uri: source.to_owned(), reason },
                }
            })?;
        }
        if self.store.mark_deleted(source, sequencer).await? {
            // `vinofy migrate` may have switched the record to a new video between our read and
            // our mark: that video is nobody's now (a deleted record moves no more), so it goes too.
            // Only while the record is still `deleted`: a re-upload claimed since then owns its video.
            if let Some(switched) =
                self.store.stored(source).await?.filter(|s| s.status == Status::Deleted).and_then(|s| s.video)
                && Some(&switched) != video.as_ref()
            {
                warn!(video = %switched, "the record was switched to another video meanwhile; deleting that one too");
                self.delete_video(&switched).await;
            }
            info!("source deleted: the video deleted and the record marked deleted");
            Ok(report(Outcome::Deleted, video_uid, ""))
        } else {
            info!("the record changed meanwhile (re-uploaded or deleted): left as it is");
            Ok(report(Outcome::Outdated, video_uid, "changed meanwhile"))
        }
    }

    /// Copies the object into Stream, retrying what is worth retrying within the deadline. Before
    /// repeating a copy (or when an earlier invocation may have made one), looks the video up first.
    pub(crate) async fn submit(
        &self,
        claim: &Claim<'_>,
        mut look_up_first: bool,
        deadline: Deadline,
    ) -> Result<(ProviderVideo, bool), SubmitError> {
        let ttl = self.config.presign_ttl;
        let url = self.presigner.presign_get(claim.object, ttl).await.map_err(SubmitError::Presign)?;
        let redact = |e: &ProviderError| redact(&e.to_string(), &url);
        let request = CreateVideoRequest { url: &url, object: claim.object, version_tag: &claim.version_tag };
        let per_call = self.config.provider_request_timeout;
        // Attempts that may have reached the provider's processing (capped); refusals are not.
        let mut attempt = 0;
        let mut refusals = 0;
        // Whether no video can exist for this version: true until a copy may have been made.
        let mut proven_none = !look_up_first;
        loop {
            let result = async {
                if look_up_first {
                    let timeout = self.timeout(per_call, deadline)?;
                    if let Some(video) = earlier_video(&self.provider, &claim.version_tag, timeout).await? {
                        info!(video_uid = %video.uid, "found the video an earlier attempt created; adopting it");
                        return Ok((video, true));
                    }
                }
                let timeout = self.timeout(per_call, deadline)?;
                self.provider.create_from_url(&request, timeout).await.map(|v| (v, false))
            }
            .await;
            let error = match result {
                Ok(done) => return Ok(done),
                Err(e) if !e.is_retryable() => return Err(SubmitError::Rejected(redact(&e))),
                Err(e) => e,
            };
            let wait = if error.is_refusal() {
                // Refused before anything was done (budget, lock-out, videos in flight): wait for
                // the slot or the quoted time, and call again as before; this costs no attempt.
                refusals += 1;
                self.retry.backoff(refusals, error.retry_after(), fastrand::f64())
            } else {
                // The failed call may still have created the video: never copy again without looking.
                attempt += 1;
                look_up_first = true;
                proven_none = false;
                self.retry.backoff(attempt, error.retry_after(), fastrand::f64())
            };
            let next_calls = if look_up_first { per_call * 2 } else { per_call };
            if !self.retry.fits(attempt, wait, next_calls, self.remaining(deadline)) {
                let reason = format!("{} (after {} attempts)", redact(&error), attempt + refusals);
                return Err(if error.is_refusal() {
                    SubmitError::Deferred { reason, retry_in: wait, nothing_submitted: proven_none }
                } else {
                    SubmitError::Unavailable(reason)
                });
            }
            warn!(attempt, refusals, wait_ms = wait.as_millis() as u64, error = %redact(&error), "video provider call failed; retrying");
            tokio::time::sleep(wait).await;
        }
    }

    fn timeout(&self, per_call: Duration, deadline: Deadline) -> Result<Duration, ProviderError> {
        self.retry
            .request_timeout(per_call, self.remaining(deadline))
            .ok_or_else(|| ProviderError::NotSent("no time left before the invocation deadline".into()))
    }

    async fn release(&self, claim: &Claim<'_>, reason: &str, nothing_submitted: bool) {
        if let Err(e) = self.store.release(claim, reason, nothing_submitted).await {
            // The claim then expires at the deadline instead; the retry waits for that.
            warn!(error = %e, "could not release the claim");
        }
    }

    /// Deletes a video at its provider; `false` (logged) if that failed.
    pub(crate) async fn delete_video(&self, video: &VideoRef) -> bool {
        match self.provider.delete(video, self.config.provider_request_timeout).await {
            Ok(()) => {
                info!(deleted_video_uid = %video.uid, provider = %video.provider, "deleted the video");
                true
            }
            Err(e) => {
                warn!(video_uid = %video.uid, provider = %video.provider, error = %e, "could not delete the video; left for reconcile");
                false
            }
        }
    }
}

/// The video an earlier attempt at this object version created, if any: the oldest, should there be
/// several (only attempts racing past a lost claim could make two; the record keeps one).
pub async fn earlier_video<S: VideoProvider>(
    provider: &S,
    version_tag: &str,
    timeout: Duration,
) -> Result<Option<ProviderVideo>, ProviderError> {
    let mut videos = provider.videos_with_tag(version_tag, timeout).await?;
    if videos.len() > 1 {
        warn!(version_tag, count = videos.len(), "several videos share one version tag; adopting the oldest");
    }
    // RFC 3339 timestamps of one format sort as strings.
    videos.sort_by(|a, b| a.created.cmp(&b.created));
    Ok(videos.into_iter().next())
}

pub(crate) enum SubmitError {
    Rejected(String),
    Unavailable(String),
    /// Only refusals, and no time left to wait for the next try. `nothing_submitted`: this attempt
    /// proved no video exists for the version (a fresh claim or an empty look-up, then refusals).
    Deferred {
        reason: String,
        retry_in: Duration,
        nothing_submitted: bool,
    },
    Presign(PresignError),
}

/// A provider may quote the request back in an error; a presigned URL must not reach a log, an
/// error, or the table that way, in any form (the adapter already scrubbed generically).
fn redact(text: &str, url: &PresignedUrl) -> String {
    crate::domain::scrub::scrub_with_known_secret(text, url.expose())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_presigned_urls_from_error_text() {
        let url = PresignedUrl::new("http://s3/b/k.mp4?X-Amz-Signature=abc&X-Amz-Credential=AK");
        let text = format!("bad url {} and query {}", url.expose(), "?X-Amz-Signature=abc&X-Amz-Credential=AK");
        let out = redact(&text, &url);
        assert!(!out.contains("X-Amz-Signature"), "{out}");
        assert!(!out.contains("abc&"), "{out}");
        assert!(out.starts_with("bad url <redacted>"), "{out}");
    }

    #[test]
    fn redelivery_delays_round_up_add_bounded_jitter_and_stay_within_sqs_limits() {
        let s = Duration::from_secs;
        assert_eq!(redelivery_delay(Duration::from_millis(1), 1, 0.0), s(1), "at least a second");
        assert_eq!(redelivery_delay(Duration::from_millis(2_100), 1, 0.0), s(3));
        assert_eq!(redelivery_delay(s(300), 1, 0.0), s(300));
        assert_eq!(redelivery_delay(s(300), 1, 0.999), s(330), "10% jitter");
        assert_eq!(redelivery_delay(s(3_000), 1, 0.999), s(3_030), "at most 30 s of jitter");
        assert_eq!(redelivery_delay(s(100_000), 1, 0.5), MAX_VISIBILITY_DELAY);
        // Handed back again and again: 10 s, 20 s, 40 s ... up to 15 minutes.
        let floors: Vec<u64> = (1..=12).map(|n| redelivery_delay(s(1), n, 0.0).as_secs()).collect();
        assert_eq!(floors, [1, 10, 20, 40, 80, 160, 320, 640, 900, 900, 900, 900]);
        assert_eq!(redelivery_delay(s(300), 3, 0.0), s(300), "a longer wait still wins");
        assert_eq!(redelivery_delay(s(1), u32::MAX, 0.0), s(900));
    }

    #[test]
    fn outcome_names_are_the_responses() {
        for outcome in Outcome::ALL {
            assert_eq!(serde_json::to_value(outcome).unwrap(), outcome.as_str(), "{outcome:?}");
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome), "read back");
        }
        assert_eq!(Outcome::parse("nonsense"), None);
    }

    #[test]
    fn deadline_counts_down() {
        let d = Deadline::after(Duration::from_secs(30));
        assert!(d.remaining() <= Duration::from_secs(30) && d.remaining() > Duration::from_secs(29));
        assert_eq!(Deadline::from_epoch_ms(1_000_000_000_000).remaining(), Duration::ZERO);
        // cargo-lambda's relative "deadline" (the timeout in ms).
        let relative = Deadline::from_epoch_ms(600_000).remaining();
        assert!(relative > Duration::from_secs(599) && relative <= Duration::from_secs(600));
    }
}
