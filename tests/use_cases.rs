//! Every branch of the ingest, removal and webhook use cases, against the in-memory ports of
//! `vinofy-test-support`: no peer, no wall clock (tokio's paused time drives the retry backoff and
//! the injected clock together), microseconds per test.

use std::sync::Arc;

use serde_json::{Value, json};
use vinofy_adapters::cloudflare::CloudflareWebhookVerifier;
use vinofy_adapters::cloudflare::signature::sign;
use vinofy_core::domain::ids::{ClaimToken, VideoUid};
use vinofy_core::domain::object::{ObjectVersion, normalize_sequencer};
use vinofy_core::domain::record::Status;
use vinofy_core::error::{IngestError, ProviderError, StoreError};
use vinofy_core::ingest::{Deadline, IngestSettings, Ingestor};
use vinofy_core::ports::ProviderVideo;
use vinofy_core::secret::SecretString;
use vinofy_core::webhook::WebhookHandler;
use vinofy_test_support::{MemoryPresigner, MemoryProvider, MemoryRecord, MemoryStore, Scripted, TokioClock};

/// 2025-12-01T12:00:00Z.
const T0: i64 = 1_764_590_400_000;
const BUCKET: &str = "uploads";
const SEQ: &str = "0055AED6DCD90281E5";

type Memory = Ingestor<MemoryPresigner, MemoryProvider, MemoryStore>;

fn config(overrides: &[(&str, &str)]) -> IngestSettings {
    vinofy_test_support::ingest_settings(BUCKET, overrides)
}

fn ingestor(overrides: &[(&str, &str)]) -> Memory {
    Ingestor::new(MemoryPresigner::default(), MemoryProvider::default(), MemoryStore::default(), config(overrides))
        .with_clock(Arc::new(TokioClock::starting_at(T0)))
}

/// The template's 60 s invocation.
fn deadline() -> Deadline {
    Deadline::from_epoch_ms((T0 + 60_000) as u64)
}

fn object(key: &str, etag: &str, sequencer: &str) -> ObjectVersion {
    ObjectVersion {
        bucket: BUCKET.into(),
        key: key.into(),
        size: 1024,
        etag: etag.into(),
        version_id: None,
        sequencer: normalize_sequencer(sequencer),
    }
}

fn created(key: &str, etag: &str, sequencer: &str) -> Value {
    json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 1024, "eTag": etag, "sequencer": sequencer}}}]})
}

fn removed(key: &str, sequencer: &str, version_id: Option<&str>, marker: bool) -> Value {
    let name = if marker { "ObjectRemoved:DeleteMarkerCreated" } else { "ObjectRemoved:Delete" };
    json!({"Records": [{"eventSource": "aws:s3", "eventName": name,
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "versionId": version_id, "sequencer": sequencer}}}]})
}

fn source(key: &str) -> String {
    format!("s3://{BUCKET}/{key}")
}

async fn ok(i: &Memory, event: &Value) -> Value {
    i.handle(event, deadline()).await.unwrap_or_else(|e| panic!("{}: {e}", e.error_type()))
}

async fn outcome(i: &Memory, event: &Value) -> String {
    ok(i, event).await["records"][0]["outcome"].as_str().unwrap().to_owned()
}

async fn error_type(i: &Memory, event: &Value) -> (String, String) {
    let e: IngestError = i.handle(event, deadline()).await.expect_err("the invocation fails");
    (e.error_type(), e.to_string())
}

fn http(status: u16) -> ProviderError {
    ProviderError::Http { status, message: format!("HTTP {status}"), retry_after: None }
}

fn transport() -> ProviderError {
    ProviderError::Transport("connection reset".into())
}

/// A record of `object` holding a video (submitted).
fn submitted(i: &Memory, object: &ObjectVersion) -> ProviderVideo {
    let video = i.provider.new_video(Some(&object.version_tag()), Some(&object.source()));
    i.provider.insert(video.clone());
    let mut record = MemoryRecord::of(object, Status::Submitted);
    record.video_uid = Some(video.uid.clone());
    i.store.put(&object.source(), record);
    video
}

// ------------------------------------------------------------------------------------- ingest

#[tokio::test(start_paused = true)]
async fn a_new_upload_is_claimed_copied_and_recorded() {
    let i = ingestor(&[]);
    let reply = ok(&i, &created("videos/a+b.mp4", "e1", SEQ)).await;
    let record = i.store.record(&source("videos/a b.mp4")).unwrap();
    assert_eq!(reply["records"][0]["outcome"], "submitted");
    assert_eq!(record.status, Status::Submitted);
    assert_eq!(record.video_uid.as_ref().map(|u| u.as_str()), reply["records"][0]["video_uid"].as_str());
    assert_eq!(record.claim_token, None, "the claim is gone once complete");
    assert_eq!(*i.provider.calls.lock().unwrap(), ["copy"], "a first delivery copies without a look-up");
}

#[tokio::test(start_paused = true)]
async fn an_upload_into_a_users_space_records_its_owner_and_a_private_video_says_so() {
    let i = ingestor(&[("UPLOAD_PREFIX", "users/")]);
    i.provider.signed_playback.store(true, std::sync::atomic::Ordering::SeqCst);
    let key = vinofy_core::domain::upload::upload_key("users/", "auth0|alice", "20261201T000000Z-00000000000000aa.mp4");
    assert_eq!(outcome(&i, &created(&key, "e1", SEQ)).await, "submitted");
    let record = i.store.record(&source(&key)).unwrap();
    assert_eq!(record.owner.as_deref(), Some("auth0|alice"));
    assert!(record.signed_playback, "the provider's answer decides privacy");
    // Outside the users' folder (or with a key not shaped like one), no owner.
    for other in ["videos/a.mp4".to_owned(), format!("uploads/{}", key.trim_start_matches("users/"))] {
        assert_eq!(outcome(&i, &created(&other, "e2", SEQ)).await, "submitted");
        assert_eq!(i.store.record(&source(&other)).unwrap().owner, None, "{other}");
    }
}

#[tokio::test(start_paused = true)]
async fn what_is_not_a_video_is_skipped_without_any_call() {
    let i = ingestor(&[("SOURCE_PREFIX", "videos/")]);
    for event in
        [created("videos/notes.txt", "e", SEQ), created("other/a.mp4", "e", SEQ), created("videos/dir/", "", SEQ)]
    {
        assert_eq!(outcome(&i, &event).await, "skipped", "{event}");
    }
    assert!(i.store.records().is_empty());
    assert!(i.provider.calls.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_duplicate_delivery_costs_no_provider_call() {
    let i = ingestor(&[]);
    let event = created("videos/a.mp4", "e1", SEQ);
    assert_eq!(outcome(&i, &event).await, "submitted");
    assert_eq!(outcome(&i, &event).await, "duplicate");
    assert_eq!(i.provider.count("copy"), 1);
    assert_eq!(i.provider.videos().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_live_claim_is_left_to_its_invocation() {
    let i = ingestor(&[]);
    let o = object("videos/a.mp4", "e1", SEQ);
    let mut claimed = MemoryRecord::of(&o, Status::Pending);
    claimed.claim_token = Some(ClaimToken::from_stored("someone"));
    claimed.claim_expires_at_ms = T0 + 30_000;
    i.store.put(&o.source(), claimed.clone());
    assert_eq!(outcome(&i, &created("videos/a.mp4", "e1", SEQ)).await, "in_progress");
    assert_eq!(i.store.record(&o.source()).unwrap(), claimed, "nothing written");
    assert!(i.provider.calls.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_older_version_arriving_late_is_outdated() {
    let i = ingestor(&[]);
    submitted(&i, &object("videos/a.mp4", "new", "0055AED6DCD90281E9"));
    assert_eq!(outcome(&i, &created("videos/a.mp4", "old", SEQ)).await, "outdated");
    assert_eq!(i.store.record(&source("videos/a.mp4")).unwrap().version_key, "etag:new");
    assert!(i.provider.calls.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failed_version_fails_again_without_a_call_unless_the_operator_retries_it() {
    let i = ingestor(&[]);
    let o = object("videos/a.mp4", "e1", SEQ);
    let mut failed = MemoryRecord::of(&o, Status::Failed);
    failed.error = Some("HTTP 403: Authentication error".into());
    i.store.put(&o.source(), failed);
    let (kind, message) = error_type(&i, &created("videos/a.mp4", "e1", SEQ)).await;
    assert_eq!(kind, "NonRetryable.PreviouslyFailed");
    assert!(message.contains("Authentication error"), "{message}");
    assert!(i.provider.calls.lock().unwrap().is_empty());

    let report = i.retry_failed(&o, deadline()).await.unwrap();
    assert_eq!(format!("{:?}", report.outcome), "Submitted");
    assert_eq!(*i.provider.calls.lock().unwrap(), ["find", "copy"], "a retry looks up before copying");
    let record = i.store.record(&o.source()).unwrap();
    assert_eq!((record.status, record.error), (Status::Submitted, None));
}

#[tokio::test(start_paused = true)]
async fn a_dead_claim_is_taken_over_and_the_video_it_made_adopted() {
    let i = ingestor(&[]);
    let o = object("videos/a.mp4", "e1", SEQ);
    let mut dead = MemoryRecord::of(&o, Status::Pending);
    dead.claim_token = Some(ClaimToken::from_stored("dead"));
    dead.claim_expires_at_ms = T0 - 1;
    i.store.put(&o.source(), dead);
    let made = i.provider.new_video(Some(&o.version_tag()), Some(&o.source()));
    i.provider.insert(made.clone());
    let reply = ok(&i, &created("videos/a.mp4", "e1", SEQ)).await;
    assert_eq!(reply["records"][0]["outcome"], "adopted");
    assert_eq!(reply["records"][0]["video_uid"], made.uid.as_str());
    assert_eq!(*i.provider.calls.lock().unwrap(), ["find"], "no second copy");
}

#[tokio::test(start_paused = true)]
async fn a_dead_claim_that_made_no_video_is_copied_after_the_look_up() {
    let i = ingestor(&[]);
    let o = object("videos/a.mp4", "e1", SEQ);
    let mut dead = MemoryRecord::of(&o, Status::Pending);
    dead.claim_expires_at_ms = T0 - 1;
    i.store.put(&o.source(), dead);
    assert_eq!(outcome(&i, &created("videos/a.mp4", "e1", SEQ)).await, "submitted");
    assert_eq!(*i.provider.calls.lock().unwrap(), ["find", "copy"]);
}

#[tokio::test(start_paused = true)]
async fn retryable_failures_are_retried_with_a_look_up_before_each_copy() {
    for failure in [http(503), http(500), http(408), http(409), transport()] {
        let i = ingestor(&[]);
        i.provider.script("copy", [Scripted::Fail(failure.clone())]);
        assert_eq!(outcome(&i, &created("videos/a.mp4", "e1", SEQ)).await, "submitted", "{failure}");
        assert_eq!(*i.provider.calls.lock().unwrap(), ["copy", "find", "copy"], "{failure}");
        assert_eq!(i.provider.videos().len(), 1, "{failure}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_copy_whose_reply_was_lost_is_adopted_not_made_twice() {
    for lost in [transport(), ProviderError::InvalidResponse("no uid".into()), http(502)] {
        let i = ingestor(&[]);
        i.provider.script("copy", [Scripted::DoThenFail(lost.clone())]);
        assert_eq!(outcome(&i, &created("videos/a.mp4", "e1", SEQ)).await, "adopted", "{lost}");
        assert_eq!(i.provider.videos().len(), 1, "{lost}: exactly one video");
        assert_eq!(*i.provider.calls.lock().unwrap(), ["copy", "find"], "{lost}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_copy_is_recorded_failed_with_a_scrubbed_reason() {
    for status in [400, 401, 403, 404, 413, 422] {
        let i = ingestor(&[]);
        let echo = ProviderError::Http {
            status,
            message: "10005: bad url https://s3.test/uploads/videos/a.mp4?X-Amz-Signature=5f2b6c1b0f3a4e7d".into(),
            retry_after: None,
        };
        i.provider.script("copy", [Scripted::Fail(echo)]);
        let (kind, message) = error_type(&i, &created("videos/a.mp4", "e1", SEQ)).await;
        assert_eq!(kind, "NonRetryable.CopyRejected", "{status}");
        assert!(!message.contains("X-Amz") && message.contains("10005"), "{status}: {message}");
        let record = i.store.record(&source("videos/a.mp4")).unwrap();
        assert_eq!(record.status, Status::Failed, "{status}");
        assert!(!record.error.unwrap().contains("X-Amz"), "{status}");
        assert_eq!(i.provider.count("copy"), 1, "{status}: not retried");
    }
}

#[tokio::test(start_paused = true)]
async fn an_outage_stops_before_the_deadline_and_releases_the_claim() {
    let i = ingestor(&[]);
    i.provider.script("copy", std::iter::repeat_n(Scripted::Fail(http(503)), 20));
    let started = tokio::time::Instant::now();
    let (kind, message) = error_type(&i, &created("videos/a.mp4", "e1", SEQ)).await;
    assert_eq!(kind, "Retryable.StreamUnavailable");
    assert!(message.contains("after 5 attempts"), "{message}");
    assert!(started.elapsed() < std::time::Duration::from_secs(57), "stops before the deadline");
    let record = i.store.record(&source("videos/a.mp4")).unwrap();
    assert_eq!((record.status, record.claim_expires_at_ms, record.claim_token), (Status::Pending, 0, None));
    assert!(record.last_error.unwrap().contains("503"));
    // Once the provider recovers, the retry (a redelivery) takes the released claim at once and
    // looks up first.
    i.provider.recover();
    i.provider.calls.lock().unwrap().clear();
    assert_eq!(outcome(&i, &created("videos/a.mp4", "e1", SEQ)).await, "submitted");
    assert_eq!(*i.provider.calls.lock().unwrap(), ["find", "copy"]);
}

#[tokio::test(start_paused = true)]
async fn a_short_deadline_hands_the_event_back_before_claiming() {
    let i = ingestor(&[]);
    let e = i.handle(&created("videos/a.mp4", "e1", SEQ), Deadline::from_epoch_ms((T0 + 2_000) as u64)).await;
    assert_eq!(e.unwrap_err().error_type(), "Retryable.Deferred");
    assert!(i.provider.calls.lock().unwrap().is_empty(), "no time for a call");
    assert!(i.store.record(&source("videos/a.mp4")).is_none(), "not even a claim");
}

#[tokio::test(start_paused = true)]
async fn a_newer_version_taking_the_record_mid_copy_gets_our_video_deleted() {
    let i = ingestor(&[]);
    i.store.steal_next_complete(object("videos/a.mp4", "newer", "0055AED6DCD90281E9"));
    let reply = ok(&i, &created("videos/a.mp4", "e1", SEQ)).await;
    assert_eq!(reply["records"][0]["outcome"], "superseded");
    assert!(i.provider.videos().is_empty(), "our video was deleted again");
    assert_eq!(i.store.record(&source("videos/a.mp4")).unwrap().version_key, "etag:newer");
}

/// The SDK resent a completing write whose first attempt had succeeded: the refusal is our own
/// write, the record holds our video, and the ingest goes on as recorded (the replaced video of the
/// older version is still deleted), rather than reporting the take-over of a claim nobody took.
#[tokio::test(start_paused = true)]
async fn a_resent_complete_that_had_succeeded_goes_on_as_recorded() {
    let i = ingestor(&[]);
    let old = submitted(&i, &object("videos/a.mp4", "old", SEQ));
    i.store.resend_next_complete();
    let reply = ok(&i, &created("videos/a.mp4", "new", "0055AED6DCD90281E9")).await;
    assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
    let record = i.store.record(&source("videos/a.mp4")).unwrap();
    assert_eq!((record.status, record.version_key.as_str()), (Status::Submitted, "etag:new"));
    let live: Vec<VideoUid> = i.provider.videos().into_iter().map(|v| v.uid).collect();
    assert_eq!(live, [record.video_uid.clone().unwrap()], "one video, ours; the old one deleted");
    assert!(!live.contains(&old.uid));
}

#[tokio::test(start_paused = true)]
async fn a_new_version_replaces_and_deletes_the_old_video() {
    let i = ingestor(&[]);
    let old = submitted(&i, &object("videos/a.mp4", "old", SEQ));
    let reply = ok(&i, &created("videos/a.mp4", "new", "0055AED6DCD90281E9")).await;
    assert_eq!(reply["records"][0]["outcome"], "submitted");
    let record = i.store.record(&source("videos/a.mp4")).unwrap();
    assert_ne!(record.video_uid, Some(old.uid.clone()));
    assert_eq!(record.replaced_video_uid, None, "deleted, then forgotten");
    assert!(i.provider.videos().iter().all(|v| v.uid != old.uid), "the old video is gone from the provider");
}

#[tokio::test(start_paused = true)]
async fn a_failed_deletion_of_the_replaced_video_is_left_for_reconcile() {
    let i = ingestor(&[]);
    let old = submitted(&i, &object("videos/a.mp4", "old", SEQ));
    i.provider.script("delete", [Scripted::Fail(http(503))]);
    assert_eq!(outcome(&i, &created("videos/a.mp4", "new", "0055AED6DCD90281E9")).await, "submitted");
    let record = i.store.record(&source("videos/a.mp4")).unwrap();
    assert_eq!(record.replaced_video_uid, Some(old.uid.clone()), "kept for vinofy reconcile");
    assert_eq!(i.provider.videos().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn the_keep_policy_keeps_the_replaced_video() {
    let i = ingestor(&[("REPLACED_VIDEO_POLICY", "keep")]);
    let old = submitted(&i, &object("videos/a.mp4", "old", SEQ));
    assert_eq!(outcome(&i, &created("videos/a.mp4", "new", "0055AED6DCD90281E9")).await, "submitted");
    assert_eq!(i.provider.count("delete"), 0);
    assert_eq!(i.store.record(&source("videos/a.mp4")).unwrap().replaced_video_uid, Some(old.uid));
}

#[tokio::test(start_paused = true)]
async fn a_presign_failure_releases_the_claim_and_is_retried() {
    let i = ingestor(&[]);
    let presigner = MemoryPresigner::default();
    presigner.fail_with("no credentials");
    let i =
        Ingestor::new(presigner, i.provider, i.store, config(&[])).with_clock(Arc::new(TokioClock::starting_at(T0)));
    let (kind, message) = error_type(&i, &created("videos/a.mp4", "e1", SEQ)).await;
    assert_eq!(kind, "Retryable.Presign");
    assert!(message.contains("no credentials"), "{message}");
    assert!(i.provider.calls.lock().unwrap().is_empty());
    let record = i.store.record(&source("videos/a.mp4")).unwrap();
    assert_eq!((record.status, record.claim_expires_at_ms), (Status::Pending, 0));
}

#[tokio::test(start_paused = true)]
async fn store_errors_keep_their_class() {
    for (error, want) in [
        (StoreError::transient("throttled"), "Retryable.VideoStore"),
        (StoreError::permanent("rejected"), "NonRetryable.VideoStore"),
    ] {
        let i = ingestor(&[]);
        i.store.fail_next("claim", error);
        assert_eq!(error_type(&i, &created("videos/a.mp4", "e1", SEQ)).await.0, want);
        assert!(i.provider.calls.lock().unwrap().is_empty());
    }
    // Failing to record a refusal fails the invocation retryably; the copy was refused, no video exists.
    let i = ingestor(&[]);
    i.provider.script("copy", [Scripted::Fail(http(400))]);
    i.store.fail_next("fail", StoreError::transient("throttled"));
    assert_eq!(error_type(&i, &created("videos/a.mp4", "e1", SEQ)).await.0, "Retryable.VideoStore");
    assert!(i.provider.videos().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_failed_complete_after_the_copy_is_retried_and_the_video_adopted() {
    let i = ingestor(&[]);
    i.store.fail_next("complete", StoreError::transient("throttled"));
    assert_eq!(error_type(&i, &created("videos/a.mp4", "e1", SEQ)).await.0, "Retryable.VideoStore");
    // Lambda retries after the claim expired (the invocation's deadline passed).
    let later = Ingestor::new(MemoryPresigner::default(), i.provider, i.store, config(&[]))
        .with_clock(Arc::new(TokioClock::starting_at(T0 + 61_000)));
    let reply = later.handle(&created("videos/a.mp4", "e1", SEQ), Deadline::from_epoch_ms((T0 + 121_000) as u64)).await;
    assert_eq!(reply.unwrap()["records"][0]["outcome"], "adopted");
    assert_eq!(later.provider.videos().len(), 1, "exactly one video");
}

#[tokio::test(start_paused = true)]
async fn several_records_fail_the_invocation_with_the_retryable_error_first() {
    let i = ingestor(&[]);
    let o = object("videos/failed.mp4", "e1", SEQ);
    i.store.put(&o.source(), MemoryRecord::of(&o, Status::Failed));
    i.provider.script("copy", std::iter::repeat_n(Scripted::Fail(http(503)), 20));
    let mut event = created("videos/failed.mp4", "e1", SEQ);
    let records = event["Records"].as_array_mut().unwrap();
    records.push(created("videos/outage.mp4", "e2", SEQ)["Records"][0].clone());
    let e = i.handle(&event, deadline()).await.unwrap_err();
    assert_eq!(e.error_type(), "Retryable.StreamUnavailable", "so that Lambda retries the whole event");
}

#[tokio::test(start_paused = true)]
async fn sqs_batches_report_only_the_failed_messages() {
    let i = ingestor(&[]);
    let body = |key: &str| created(key, "e1", SEQ).to_string();
    i.provider.script("copy", [Scripted::Fail(http(400))]);
    let event = json!({"Records": [
        {"messageId": "m-refused", "eventSource": "aws:sqs", "body": body("videos/refused.mp4")},
        {"messageId": "m-ok", "eventSource": "aws:sqs", "body": body("videos/ok.mp4")},
        {"messageId": "m-garbage", "eventSource": "aws:sqs", "body": "not json"},
        {"messageId": "m-test", "eventSource": "aws:sqs", "body": json!({"Event": "s3:TestEvent"}).to_string()},
    ]});
    let reply = ok(&i, &event).await;
    let failed: Vec<&str> =
        reply["batchItemFailures"].as_array().unwrap().iter().map(|f| f["itemIdentifier"].as_str().unwrap()).collect();
    assert_eq!(failed, ["m-refused", "m-garbage"]);
    assert_eq!(i.store.record(&source("videos/ok.mp4")).unwrap().status, Status::Submitted);
}

#[tokio::test(start_paused = true)]
async fn invalid_events_and_test_events_write_nothing() {
    let i = ingestor(&[]);
    let (kind, _) = error_type(&i, &json!({"Records": [{"eventSource": "aws:s3"}]})).await;
    assert_eq!(kind, "NonRetryable.InvalidEvent");
    assert_eq!(ok(&i, &json!({"Event": "s3:TestEvent"})).await, json!({"records": []}));
    assert!(i.store.records().is_empty());
}

// ------------------------------------------------------------------------------------ removal

#[tokio::test(start_paused = true)]
async fn removing_an_object_never_ingested_is_a_no_op() {
    let i = ingestor(&[]);
    assert_eq!(outcome(&i, &removed("videos/a.mp4", "0055AED6DCD90281E9", None, false)).await, "ignored");
    assert!(i.provider.calls.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn removing_an_ingested_object_deletes_its_video_and_keeps_a_deleted_record() {
    let i = ingestor(&[]);
    let video = submitted(&i, &object("videos/a.mp4", "e1", SEQ));
    let reply = ok(&i, &removed("videos/a.mp4", "0055AED6DCD90281E9", None, true)).await;
    assert_eq!(reply["records"][0]["outcome"], "deleted");
    assert!(i.provider.videos().is_empty());
    let record = i.store.record(&source("videos/a.mp4")).unwrap();
    assert_eq!((record.status, record.video_uid), (Status::Deleted, Some(video.uid)));
    // Again: already deleted, no call.
    assert_eq!(outcome(&i, &removed("videos/a.mp4", "0055AED6DCD90281EA", None, true)).await, "duplicate");
    assert_eq!(i.provider.count("delete"), 1);
}

#[tokio::test(start_paused = true)]
async fn removing_another_version_or_an_older_upload_keeps_the_video() {
    let i = ingestor(&[]);
    let mut o = object("videos/a.mp4", "e1", SEQ);
    o.version_id = Some("v2".into());
    submitted(&i, &o);
    assert_eq!(outcome(&i, &removed("videos/a.mp4", "0055AED6DCD90281E9", Some("v1"), false)).await, "ignored");
    assert_eq!(outcome(&i, &removed("videos/a.mp4", "0055AED6DCD90281E0", None, true)).await, "outdated");
    assert_eq!(i.provider.videos().len(), 1);
    assert_eq!(i.store.record(&o.source()).unwrap().status, Status::Submitted);
}

#[tokio::test(start_paused = true)]
async fn a_failed_video_deletion_fails_retryably_and_changes_nothing() {
    let i = ingestor(&[]);
    submitted(&i, &object("videos/a.mp4", "e1", SEQ));
    i.provider.script("delete", [Scripted::Fail(http(503))]);
    let (kind, message) = error_type(&i, &removed("videos/a.mp4", "0055AED6DCD90281E9", None, true)).await;
    assert_eq!(kind, "Retryable.StreamUnavailable");
    assert!(message.contains("deleting video"), "{message}");
    assert_eq!(i.store.record(&source("videos/a.mp4")).unwrap().status, Status::Submitted);
}

#[tokio::test(start_paused = true)]
async fn a_reupload_racing_the_delete_keeps_its_record() {
    let i = ingestor(&[]);
    submitted(&i, &object("videos/a.mp4", "e1", SEQ));
    i.store.reupload_before_next_delete();
    let reply = ok(&i, &removed("videos/a.mp4", "0055AED6DCD90281E9", None, true)).await;
    assert_eq!(reply["records"][0]["outcome"], "outdated");
    assert_eq!(reply["records"][0]["detail"], "changed meanwhile");
    assert_ne!(i.store.record(&source("videos/a.mp4")).unwrap().status, Status::Deleted);
}

#[tokio::test(start_paused = true)]
async fn a_video_a_migration_switched_in_during_the_delete_is_deleted_too() {
    let i = ingestor(&[]);
    let o = object("videos/a.mp4", "e1", SEQ);
    let old = submitted(&i, &o);
    let migrated = i.provider.new_video(Some("a-migration-tag"), Some(&o.source()));
    i.provider.insert(migrated.clone());
    i.store.switch_before_next_delete(migrated.video_ref());
    let reply = ok(&i, &removed("videos/a.mp4", "0055AED6DCD90281E9", None, true)).await;
    assert_eq!(reply["records"][0]["outcome"], "deleted", "{reply}");
    assert_eq!(reply["records"][0]["video_uid"], old.uid.as_str());
    assert!(i.provider.videos().is_empty(), "neither the old nor the switched-in video is left");
    assert_eq!(i.store.record(&o.source()).unwrap().status, Status::Deleted);
}

// ------------------------------------------------------------------------------------ webhook

const SECRET: &str = "whsec-test-0123456789abcdef";
const TOLERANCE: i64 = 300;

type Hook = WebhookHandler<MemoryStore, CloudflareWebhookVerifier>;

fn webhook(store: MemoryStore) -> Hook {
    let verifier = CloudflareWebhookVerifier::new(SecretString::new(SECRET), TOLERANCE);
    WebhookHandler::new(store, verifier, TOLERANCE).with_clock(Arc::new(TokioClock::starting_at(T0)))
}

fn request(body: &str, signature: Option<String>) -> Value {
    let mut headers = json!({"content-type": "application/json"});
    if let Some(sig) = signature {
        headers["webhook-signature"] = json!(sig);
    }
    json!({"headers": headers, "body": body, "isBase64Encoded": false, "requestContext": {"http": {"method": "POST"}}})
}

fn signed(body: &str) -> Value {
    request(body, Some(sign(body.as_bytes(), SECRET.as_bytes(), T0 / 1000)))
}

fn delivery(uid: &str, state: &str, modified: &str, extra: Value) -> String {
    let mut body = json!({"uid": uid, "status": {"state": state}, "modified": modified, "meta": {}});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body.to_string()
}

/// A store with one submitted record of `videos/a.mp4`, and its video's uid.
fn recorded() -> (MemoryStore, String, ObjectVersion) {
    let store = MemoryStore::default();
    let o = object("videos/a.mp4", "e1", SEQ);
    let uid = "6b9e68b07dfee8cc2d116e4c51d6a957".to_owned();
    let mut record = MemoryRecord::of(&o, Status::Submitted);
    record.video_uid = Some(VideoUid::parse(&uid).unwrap());
    store.put(&o.source(), record);
    (store, uid, o)
}

async fn call(hook: &Hook, request: Value) -> (u64, Value) {
    let reply = hook.handle(&request).await;
    (reply["statusCode"].as_u64().unwrap(), serde_json::from_str(reply["body"].as_str().unwrap()).unwrap())
}

#[tokio::test(start_paused = true)]
async fn a_signed_ready_delivery_makes_the_record_ready() {
    let (store, uid, o) = recorded();
    let hook = webhook(store);
    let body = delivery(&uid, "ready", "2025-12-01T11:59:00Z", json!({"duration": 2.0}));
    let (status, reply) = call(&hook, signed(&body)).await;
    assert_eq!((status, reply["result"].as_str()), (200, Some("updated")));
    let record = hook_store(&hook).record(&o.source()).unwrap();
    assert_eq!((record.status, record.duration), (Status::Ready, Some(2.0)));
}

fn hook_store(hook: &Hook) -> &MemoryStore {
    hook.store()
}

#[tokio::test(start_paused = true)]
async fn a_processing_error_is_recorded_with_a_code_even_when_none_is_sent() {
    let (store, uid, o) = recorded();
    let hook = webhook(store);
    let (status, _) = call(&hook, signed(&delivery(&uid, "error", "2025-12-01T11:59:00Z", json!({})))).await;
    assert_eq!(status, 200);
    let record = hook_store(&hook).record(&o.source()).unwrap();
    assert_eq!(record.status, Status::Error);
    assert_eq!(record.stream_error_code.as_deref(), Some("ERR_UNKNOWN"));
    assert!(record.error.unwrap().starts_with("ERR_UNKNOWN: "));
}

#[tokio::test(start_paused = true)]
async fn unsigned_forged_and_stale_deliveries_change_nothing() {
    let (store, uid, o) = recorded();
    let hook = webhook(store);
    let body = delivery(&uid, "error", "2025-12-01T11:59:00Z", json!({}));
    let forged = sign(body.as_bytes(), b"not the secret", T0 / 1000);
    let stale = sign(body.as_bytes(), SECRET.as_bytes(), T0 / 1000 - TOLERANCE - 1);
    for req in [request(&body, None), request(&body, Some(forged)), request(&body, Some(stale))] {
        assert_eq!(call(&hook, req).await.0, 401);
    }
    assert_eq!(hook_store(&hook).record(&o.source()).unwrap().status, Status::Submitted);
}

#[tokio::test(start_paused = true)]
async fn older_or_repeated_deliveries_are_ignored() {
    let (store, uid, o) = recorded();
    let hook = webhook(store);
    let ready = delivery(&uid, "ready", "2025-12-01T11:59:00Z", json!({}));
    assert_eq!(call(&hook, signed(&ready)).await.1["result"], "updated");
    assert_eq!(call(&hook, signed(&ready)).await.1["result"], "ignored");
    let older = delivery(&uid, "inprogress", "2025-12-01T11:58:00Z", json!({}));
    assert_eq!(call(&hook, signed(&older)).await.1["result"], "ignored");
    assert_eq!(hook_store(&hook).record(&o.source()).unwrap().status, Status::Ready);
}

#[tokio::test(start_paused = true)]
async fn a_far_future_modified_time_cannot_freeze_the_record() {
    let (store, uid, o) = recorded();
    let hook = webhook(store);
    let future = delivery(&uid, "inprogress", "2300-01-01T00:00:00Z", json!({}));
    assert_eq!(call(&hook, signed(&future)).await.1["result"], "updated");
    assert_eq!(
        hook_store(&hook).record(&o.source()).unwrap().stream_modified.as_deref(),
        Some("2025-12-01T12:05:00Z"),
        "clamped to now + the tolerance"
    );
    // A genuine update after that moment still applies.
    let later =
        Hook::new(hook.into_store(), CloudflareWebhookVerifier::new(SecretString::new(SECRET), TOLERANCE), TOLERANCE)
            .with_clock(Arc::new(TokioClock::starting_at(T0 + 400_000)));
    let body = delivery(&uid, "ready", "2025-12-01T12:06:30Z", json!({}));
    let req = request(&body, Some(sign(body.as_bytes(), SECRET.as_bytes(), (T0 + 400_000) / 1000)));
    assert_eq!(call(&later, req).await.1["result"], "updated");
    assert_eq!(later.store().record(&o.source()).unwrap().status, Status::Ready);
}

#[tokio::test(start_paused = true)]
async fn an_unknown_video_gets_200_so_the_provider_stops_retrying() {
    let (store, _, _) = recorded();
    let hook = webhook(store);
    let body = delivery("0123456789abcdef0123456789abcdef", "ready", "2025-12-01T11:59:00Z", json!({}));
    let (status, reply) = call(&hook, signed(&body)).await;
    assert_eq!((status, reply["result"].as_str()), (200, Some("unknown video")));
}

#[tokio::test(start_paused = true)]
async fn a_delivery_that_outruns_the_index_or_the_completing_write() {
    // The index lags, but the record its meta.source names holds the video: applied.
    let (store, uid, o) = recorded();
    store.index_lags.store(true, std::sync::atomic::Ordering::SeqCst);
    let hook = webhook(store);
    let body = delivery(&uid, "ready", "2025-12-01T11:59:00Z", json!({"meta": {"source": o.source()}}));
    assert_eq!(call(&hook, signed(&body)).await.1["result"], "updated");

    // The record is still claiming the version this video was made from: 503, delivered again.
    let store = MemoryStore::default();
    store.put(&o.source(), MemoryRecord::of(&o, Status::Pending));
    let hook = webhook(store);
    let body = delivery(
        &uid,
        "error",
        "2025-12-01T11:59:00Z",
        json!({"meta": {"source": o.source()}, "creator": o.version_tag()}),
    );
    assert_eq!(call(&hook, signed(&body)).await.0, 503);
    // Another object version's claim, or no meta.source: nothing will ever match.
    let body =
        delivery(&uid, "error", "2025-12-01T11:59:00Z", json!({"meta": {"source": o.source()}, "creator": "other"}));
    assert_eq!(call(&hook, signed(&body)).await.1["result"], "unknown video");
    assert_eq!(hook.store().record(&o.source()).unwrap().status, Status::Pending);
}

#[tokio::test(start_paused = true)]
async fn a_store_failure_gets_500_so_the_provider_retries() {
    let (store, uid, _) = recorded();
    store.fail_next("write_video_state", StoreError::transient("throttled"));
    let hook = webhook(store);
    let body = delivery(&uid, "ready", "2025-12-01T11:59:00Z", json!({}));
    assert_eq!(call(&hook, signed(&body)).await.0, 500);
    assert_eq!(call(&hook, signed(&body)).await.0, 200, "the retry applies it");
}

#[tokio::test(start_paused = true)]
async fn requests_that_are_not_signed_video_posts_are_refused() {
    let (store, _, _) = recorded();
    let hook = webhook(store);
    let mut get = signed("{}");
    get["requestContext"]["http"]["method"] = json!("GET");
    assert_eq!(call(&hook, get).await.0, 405);
    let mut bad_base64 = signed("{}");
    bad_base64["isBase64Encoded"] = json!(true);
    bad_base64["body"] = json!("%%%");
    assert_eq!(call(&hook, bad_base64).await.0, 400);
    assert_eq!(call(&hook, signed(r#"{"hello": "world"}"#)).await.0, 400, "signed, but not a video");
}

// ---------------------------------------------------------------------------------- reconcile

mod reconcile_use_case {
    use super::*;
    use std::time::Duration;
    use vinofy_core::domain::record::VideoState;
    use vinofy_core::reconcile::{MISSING_VIDEO_CODE, delete_replaced, refresh};
    use vinofy_core::video_state::StateUpdateOutcome;

    const TIMEOUT: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_stale_submitted_record_takes_the_providers_state() {
        let i = ingestor(&[]);
        let o = object("videos/a.mp4", "e1", SEQ);
        let video = submitted(&i, &o);
        i.provider.update(&video.uid, |v| {
            v.state = VideoState::Ready;
            v.details.modified = Some("2025-12-01T11:59:00Z".into());
        });
        // The provider's answer is written as the webhook would write it.
        let (seen, applied) = refresh(&i.provider, &i.store, &video.video_ref(), TIMEOUT, T0, false).await.unwrap();
        assert!(matches!(applied, Some(StateUpdateOutcome::Applied { .. })), "{applied:?}");
        assert_eq!(seen.uid, video.uid);
        assert_eq!(i.store.record(&o.source()).unwrap().status, Status::Ready);
    }

    #[tokio::test(start_paused = true)]
    async fn a_video_the_provider_lost_becomes_an_error_and_a_dry_run_writes_nothing() {
        let i = ingestor(&[]);
        let o = object("videos/a.mp4", "e1", SEQ);
        let video = submitted(&i, &o);
        // Deleted at the provider, behind our back.
        use vinofy_core::ports::VideoProvider;
        i.provider.delete(&video.video_ref(), TIMEOUT).await.unwrap();

        let (seen, applied) = refresh(&i.provider, &i.store, &video.video_ref(), TIMEOUT, T0, true).await.unwrap();
        assert_eq!((seen.state.clone(), applied), (VideoState::Error, None), "dry run: said, not written");
        assert_eq!(i.store.record(&o.source()).unwrap().status, Status::Submitted);

        refresh(&i.provider, &i.store, &video.video_ref(), TIMEOUT, T0, false).await.unwrap();
        let record = i.store.record(&o.source()).unwrap();
        assert_eq!(record.status, Status::Error);
        assert_eq!(record.stream_error_code.as_deref(), Some(MISSING_VIDEO_CODE));
    }

    #[tokio::test(start_paused = true)]
    async fn a_provider_failure_leaves_the_record_alone() {
        let i = ingestor(&[]);
        let o = object("videos/a.mp4", "e1", SEQ);
        let video = submitted(&i, &o);
        i.provider.script("get", [Scripted::Fail(http(503))]);
        let err = refresh(&i.provider, &i.store, &video.video_ref(), TIMEOUT, T0, false).await.unwrap_err();
        assert!(err.contains("503"), "{err}");
        assert_eq!(i.store.record(&o.source()).unwrap().status, Status::Submitted);
    }

    #[tokio::test(start_paused = true)]
    async fn a_replaced_video_left_behind_is_deleted_and_forgotten_or_kept_when_that_fails() {
        let i = ingestor(&[]);
        let o = object("videos/a.mp4", "e1", SEQ);
        let old = i.provider.new_video(Some("old-tag"), Some(&o.source()));
        i.provider.insert(old.clone());
        let mut record = MemoryRecord::of(&o, Status::Ready);
        record.replaced_video_uid = Some(old.uid.clone());
        i.store.put(&o.source(), record);

        i.provider.script("delete", [Scripted::Fail(http(503))]);
        let err = delete_replaced(&i.provider, &i.store, &o.source(), &old.video_ref(), TIMEOUT).await.unwrap_err();
        assert!(err.starts_with("deleting replaced video"), "{err}");
        assert_eq!(i.store.record(&o.source()).unwrap().replaced_video_uid, Some(old.uid.clone()), "kept for later");

        delete_replaced(&i.provider, &i.store, &o.source(), &old.video_ref(), TIMEOUT).await.unwrap();
        assert_eq!(i.store.record(&o.source()).unwrap().replaced_video_uid, None);
        assert!(i.provider.videos().is_empty());
    }
}

// ------------------------------------------------------------------------------- call budget

mod call_budget {
    use super::*;
    use std::time::Duration;
    use vinofy_core::paced::{CallKind, Paced};
    use vinofy_test_support::MemoryBudget;

    type PacedMemory = Ingestor<MemoryPresigner, Paced<MemoryProvider, Arc<MemoryBudget>>, MemoryStore>;

    const QUEUE: &str = "arn:aws:sqs:us-east-1:123456789012:ingest";

    fn paced() -> PacedMemory {
        let provider = Paced::new(MemoryProvider::default(), Arc::new(MemoryBudget::default()));
        Ingestor::new(
            MemoryPresigner::default(),
            provider,
            MemoryStore::default(),
            config(&[("INGEST_QUEUE_ARN", QUEUE)]),
        )
        .with_clock(Arc::new(TokioClock::starting_at(T0)))
    }

    #[tokio::test(start_paused = true)]
    async fn every_provider_call_takes_a_slot_and_a_short_wait_is_waited_out() {
        let i = paced();
        // The first create finds no slot for 2 s (another instance used it), within the deadline.
        i.provider.budget().refuse([Duration::from_secs(2)]);
        let reply = i.handle(&created("videos/a.mp4", "e1", SEQ), deadline()).await.unwrap();
        assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
        let calls = i.provider.inner().calls.lock().unwrap().len();
        assert_eq!(calls, 1, "waited for its slot, then one create");
        assert_eq!(i.provider.budget().taken.load(std::sync::atomic::Ordering::SeqCst), calls);
    }

    #[tokio::test(start_paused = true)]
    async fn a_look_up_that_pages_takes_a_slot_per_page() {
        use vinofy_core::domain::provider::VideoRef;
        use vinofy_core::ports::VideoProvider;
        let budget = Arc::new(MemoryBudget::default());
        let provider = Paced::new(MemoryProvider::default().with_lookup_pages(10), budget.clone());
        let taken = || budget.taken.load(std::sync::atomic::Ordering::SeqCst);
        provider.videos_with_tag("tag", Duration::from_secs(10)).await.unwrap();
        assert_eq!(taken(), 10, "one slot per request it may make");
        let video = VideoRef::new(provider.creates_on(), VideoUid::parse("abc").unwrap());
        provider.get(&video, Duration::from_secs(10)).await.unwrap();
        assert_eq!(taken(), 11, "a get is one request");
    }

    #[tokio::test(start_paused = true)]
    async fn no_slot_before_the_deadline_releases_the_claim_without_calling() {
        let i = paced();
        i.provider.budget().refuse(std::iter::repeat_n(Duration::from_secs(120), 10));
        let e = i.handle(&created("videos/a.mp4", "e1", SEQ), deadline()).await.unwrap_err();
        assert_eq!(e.error_type(), "Retryable.Deferred");
        assert!(e.to_string().contains("call budget"), "{e}");
        assert!(matches!(e, IngestError::Deferred { retry_in, .. } if retry_in >= Duration::from_secs(120)), "{e:?}");
        assert!(i.provider.inner().calls.lock().unwrap().is_empty(), "nothing sent over budget");
        let record = i.store.record(&source("videos/a.mp4")).unwrap();
        assert_eq!((record.status, record.claim_expires_at_ms), (Status::Pending, 0), "released for the retry");
        assert!(record.nothing_submitted, "and it says that no video can exist");
    }

    fn lockout(seconds: u64) -> ProviderError {
        ProviderError::Http { status: 429, message: "code 971".into(), retry_after: Some(Duration::from_secs(seconds)) }
    }

    /// The CLI's own calls outside the port (token check, webhook, signing keys) are paced like the
    /// port's: a slot first, the call gets the time left, nothing is sent without a slot, and a
    /// lock-out they meet is passed on to every process.
    #[tokio::test(start_paused = true)]
    async fn an_operator_call_takes_its_slot_first_and_shares_a_lockout() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let budget = Arc::new(MemoryBudget::default());
        let provider = Paced::new(MemoryProvider::default(), budget.clone());
        let sent = AtomicUsize::new(0);
        let send = |answer: Result<u32, ProviderError>| {
            let sent = &sent;
            move |_: &MemoryProvider, left: Duration| {
                sent.fetch_add(1, SeqCst);
                async move { answer.map(|n| (n, left)) }
            }
        };

        budget.refuse([Duration::from_secs(2)]);
        let (answer, left) =
            provider.operator_call(CallKind::Other, Duration::from_secs(30), send(Ok(7))).await.unwrap();
        assert_eq!((answer, left), (7, Duration::from_secs(28)), "the call gets what the wait left");
        assert_eq!(budget.taken.load(SeqCst), 1);

        budget.refuse([Duration::from_secs(600)]);
        let refused = provider.operator_call(CallKind::Other, Duration::from_secs(30), send(Ok(0))).await.unwrap_err();
        assert!(matches!(refused, ProviderError::OverBudget { .. }), "{refused:?}");
        assert_eq!(sent.load(SeqCst), 1, "nothing sent without a slot");

        let locked = provider
            .operator_call(CallKind::Other, Duration::from_secs(30), send(Err(lockout(300))))
            .await
            .unwrap_err();
        assert_eq!(locked.lockout(), Some(Duration::from_secs(300)));
        assert_eq!(*budget.holds.lock().unwrap(), [Duration::from_secs(300)], "every process holds its calls");
    }

    /// A signing key is a POST, which Mux limits with the creates: it takes its slot from that budget.
    #[tokio::test(start_paused = true)]
    async fn an_operator_create_takes_its_slot_from_the_creates_budget() {
        use std::sync::atomic::Ordering::SeqCst;
        let (creates, calls) = (Arc::new(MemoryBudget::default()), Arc::new(MemoryBudget::default()));
        let provider = Paced::split(MemoryProvider::default(), creates.clone(), calls.clone());
        let timeout = Duration::from_secs(30);
        provider.operator_call(CallKind::Create, timeout, |_, _| async { Ok::<_, ProviderError>(()) }).await.unwrap();
        provider.operator_call(CallKind::Other, timeout, |_, _| async { Ok::<_, ProviderError>(()) }).await.unwrap();
        provider.operator_call(CallKind::Other, timeout, |_, _| async { Ok::<_, ProviderError>(()) }).await.unwrap();
        assert_eq!((creates.taken.load(SeqCst), calls.taken.load(SeqCst)), (1, 2));
    }

    /// The direct mode's timeout (360 s) holds a 300 s lock-out: waited out in the invocation, passed
    /// on to every process through the budget, and the copy is repeated without a look-up (a 429 made
    /// nothing), so it still costs one video and no extra call beyond the refused one.
    #[tokio::test(start_paused = true)]
    async fn a_lockout_that_fits_the_deadline_is_waited_out_and_shared() {
        let i = paced();
        i.provider.inner().script("copy", [Scripted::Fail(lockout(300))]);
        let long = Deadline::from_epoch_ms((T0 + 360_000) as u64);
        let reply = i.handle(&created("videos/a.mp4", "e1", SEQ), long).await.unwrap();
        assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
        assert_eq!(*i.provider.inner().calls.lock().unwrap(), ["copy", "copy"]);
        assert_eq!(*i.provider.budget().holds.lock().unwrap(), [Duration::from_secs(300)]);
        assert_eq!(i.provider.inner().videos().len(), 1);
    }

    /// A lock-out longer than what is left (the SQS mode's 60 s): handed back with the lock-out as its
    /// delay, the claim released as "nothing submitted", so the next delivery copies at once, without
    /// a look-up: one refused call and one copy in all.
    #[tokio::test(start_paused = true)]
    async fn a_lockout_past_the_deadline_hands_the_event_back_and_the_redelivery_needs_no_look_up() {
        let i = paced();
        i.provider.inner().script("copy", [Scripted::Fail(lockout(300))]);
        let e = i.handle(&created("videos/a.mp4", "e1", SEQ), deadline()).await.unwrap_err();
        let IngestError::Deferred { retry_in, .. } = &e else { panic!("{e:?}") };
        assert!(*retry_in >= Duration::from_secs(300), "{retry_in:?}");
        let record = i.store.record(&source("videos/a.mp4")).unwrap();
        assert_eq!(record.status, Status::Pending, "never failed: {record:?}");
        assert!(record.nothing_submitted);

        let reply = i.handle(&created("videos/a.mp4", "e1", SEQ), deadline()).await.unwrap();
        assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
        assert_eq!(*i.provider.inner().calls.lock().unwrap(), ["copy", "copy"], "no look-up");
        assert!(!i.store.record(&source("videos/a.mp4")).unwrap().nothing_submitted, "cleared by the claim");
    }

    /// Once a copy may have been made (a 503), a later hand-back does not say "nothing submitted":
    /// the next delivery looks up first.
    #[tokio::test(start_paused = true)]
    async fn a_hand_back_after_a_copy_that_may_have_worked_keeps_the_look_up() {
        let i = paced();
        i.provider.inner().script("copy", [Scripted::DoThenFail(http(503))]);
        i.provider.inner().script("find", [Scripted::Fail(lockout(300))]);
        let e = i.handle(&created("videos/a.mp4", "e1", SEQ), deadline()).await.unwrap_err();
        assert_eq!(e.error_type(), "Retryable.Deferred", "{e}");
        assert!(!i.store.record(&source("videos/a.mp4")).unwrap().nothing_submitted);
        let reply = i.handle(&created("videos/a.mp4", "e1", SEQ), deadline()).await.unwrap();
        assert_eq!(reply["records"][0]["outcome"], "adopted", "{reply}");
        assert_eq!(*i.provider.inner().calls.lock().unwrap(), ["copy", "find", "find"]);
        assert_eq!(i.provider.inner().videos().len(), 1, "no second video");
    }

    /// Stream's limit on videos in flight (429, no retry-after): retried past the attempt cap while
    /// the deadline allows, never recorded failed, no look-up.
    #[tokio::test(start_paused = true)]
    async fn the_in_flight_limit_is_waited_out_beyond_the_attempt_cap() {
        let i = paced();
        i.provider.inner().script("copy", std::iter::repeat_n(Scripted::Fail(http(429)), 8));
        let reply = i.handle(&created("videos/a.mp4", "e1", SEQ), deadline()).await.unwrap();
        assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
        let calls = i.provider.inner().calls.lock().unwrap().clone();
        assert_eq!(calls, vec!["copy"; 9]);
        assert!(i.provider.budget().holds.lock().unwrap().is_empty(), "no lock-out behind it");

        // Past the deadline it is handed back, still not failed.
        let j = paced();
        j.provider.inner().script("copy", std::iter::repeat_n(Scripted::Fail(http(429)), 1000));
        let e = j.handle(&created("videos/a.mp4", "e1", SEQ), deadline()).await.unwrap_err();
        assert_eq!(e.error_type(), "Retryable.Deferred", "{e}");
        assert_eq!(j.store.record(&source("videos/a.mp4")).unwrap().status, Status::Pending);
    }

    /// SQS: the message handed back gets a visibility delay (its receipt handle, at least the
    /// lock-out); the others of the batch are done and not reported.
    #[tokio::test(start_paused = true)]
    async fn an_sqs_message_handed_back_gets_a_visibility_delay_and_the_rest_of_the_batch_is_done() {
        let i = paced();
        i.provider.inner().script("copy", [Scripted::Fail(lockout(120))]);
        let arn = QUEUE;
        let message = |id: &str, key: &str| {
            json!({"messageId": id, "receiptHandle": format!("rh-{id}"), "eventSourceARN": arn,
                   "eventSource": "aws:sqs", "body": created(key, "e1", SEQ).to_string()})
        };
        let event = json!({"Records": [message("m-held", "videos/held.mp4"), message("m-ok", "videos/ok.mp4")]});
        let handled = i.handle_invocation(&event, deadline()).await.unwrap();
        let failed: Vec<&str> = handled.response["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap())
            .collect();
        assert_eq!(failed, ["m-held"]);
        assert_eq!(handled.response["records"][0]["outcome"], "deferred");
        assert_eq!(handled.delays.len(), 1, "{:?}", handled.delays);
        let d = &handled.delays[0];
        assert_eq!(
            (d.message_id.as_str(), d.receipt_handle.as_str(), d.queue_arn.as_str()),
            ("m-held", "rh-m-held", arn)
        );
        assert!(d.delay >= Duration::from_secs(120) && d.delay <= Duration::from_secs(132), "{:?}", d.delay);
        assert_eq!(i.store.record(&source("videos/ok.mp4")).unwrap().status, Status::Submitted);

        // From another queue than INGEST_QUEUE_ARN: still handed back, but its visibility is not touched.
        let j = paced();
        j.provider.inner().script("copy", [Scripted::Fail(lockout(120))]);
        let mut foreign = message("m-foreign", "videos/held.mp4");
        foreign["eventSourceARN"] = json!("arn:aws:sqs:us-east-1:123456789012:someone-elses");
        let handled = j.handle_invocation(&json!({"Records": [foreign]}), deadline()).await.unwrap();
        assert_eq!(handled.response["batchItemFailures"][0]["itemIdentifier"], "m-foreign");
        assert!(handled.delays.is_empty(), "{:?}", handled.delays);
    }
}
