//! What the use cases and the call budget's pacing report to an invocation's metrics, against the
//! in-memory ports: outcomes, provider calls and their errors, budget waits and lock-outs, webhook
//! results, API routes and statuses. Outside `metrics::collect` (the CLI) nothing is recorded.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vinofy_core::error::ProviderError;
use vinofy_core::ingest::{Deadline, Ingestor};
use vinofy_core::metrics::{Metrics, NAMESPACE, collect};
use vinofy_core::paced::Paced;
use vinofy_test_support::{MemoryBudget, MemoryPresigner, MemoryProvider, MemoryStore, Scripted, TokioClock};

const T0: i64 = 1_764_590_400_000;
const BUCKET: &str = "uploads";
const SEQ: &str = "0055AED6DCD90281E5";

type PacedMemory = Ingestor<MemoryPresigner, Paced<MemoryProvider, Arc<MemoryBudget>>, MemoryStore>;

fn paced() -> PacedMemory {
    let provider = Paced::new(MemoryProvider::default(), Arc::new(MemoryBudget::default()));
    let settings = vinofy_test_support::ingest_settings(BUCKET, &[]);
    Ingestor::new(MemoryPresigner::default(), provider, MemoryStore::default(), settings)
        .with_clock(Arc::new(TokioClock::starting_at(T0)))
}

fn deadline(seconds: i64) -> Deadline {
    Deadline::from_epoch_ms((T0 + seconds * 1000) as u64)
}

fn created(key: &str, etag: &str) -> Value {
    json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 1024, "eTag": etag, "sequencer": SEQ}}}]})
}

fn removed(key: &str) -> Value {
    json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
        "s3": {"bucket": {"name": BUCKET}, "object": {"key": key, "sequencer": "0055AED6DCD90281F0"}}}]})
}

fn documents(metrics: &Metrics) -> Vec<Value> {
    let lines = metrics.to_emf_lines(NAMESPACE, T0, "ingest");
    lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The value of `metric` in the document with exactly these dimension values (besides Function).
fn value(docs: &[Value], metric: &str, pairs: &[(&str, &str)]) -> Option<Value> {
    let keys = ["Provider", "Outcome", "ErrorClass", "Result", "Route", "Status"];
    docs.iter()
        .find(|d| {
            keys.iter().all(|k| match pairs.iter().find(|(key, _)| key == k) {
                Some((_, v)) => d[*k] == *v,
                None => d.get(*k).is_none(),
            })
        })
        .and_then(|d| d.get(metric).cloned())
}

#[tokio::test(start_paused = true)]
async fn a_lockout_is_seen_classified_and_its_calls_timed() {
    let i = paced();
    let provider = i.provider.inner().creates_on_name();
    let lockout =
        ProviderError::Http { status: 429, message: "code 971".into(), retry_after: Some(Duration::from_secs(300)) };
    i.provider.inner().script("copy", [Scripted::Fail(lockout)]);
    i.provider.budget().refuse([Duration::from_secs(2)]);
    let (reply, metrics) = collect(i.handle(&created("videos/a.mp4", "e1"), deadline(360))).await;
    assert_eq!(reply.unwrap()["records"][0]["outcome"], "submitted");
    let docs = documents(&metrics);
    let p = [("Provider", provider)];
    assert_eq!(value(&docs, "RecordOutcome", &[("Provider", provider), ("Outcome", "submitted")]), Some(json!(1)));
    assert_eq!(value(&docs, "LockoutsSeen", &p), Some(json!(1)));
    assert_eq!(value(&docs, "BudgetWaitTime", &p), Some(json!(2000)), "the slot waited 2 s");
    assert_eq!(value(&docs, "ProviderCallLatency", &p).unwrap().as_array().unwrap().len(), 2, "two copies");
    let rate_limited = [("Provider", provider), ("ErrorClass", "rate_limited")];
    assert_eq!(value(&docs, "ProviderCallErrors", &rate_limited), Some(json!(1)));
}

#[tokio::test(start_paused = true)]
async fn no_slot_is_an_error_without_a_latency_and_the_record_is_deferred() {
    let i = paced();
    let provider = i.provider.inner().creates_on_name();
    i.provider.budget().refuse(std::iter::repeat_n(Duration::from_secs(120), 10));
    let (result, metrics) = collect(i.handle(&created("videos/a.mp4", "e1"), deadline(60))).await;
    assert_eq!(result.unwrap_err().error_type(), "Retryable.Deferred");
    let docs = documents(&metrics);
    assert_eq!(value(&docs, "RecordOutcome", &[("Provider", provider), ("Outcome", "deferred")]), Some(json!(1)));
    let over = [("Provider", provider), ("ErrorClass", "over_budget")];
    assert!(value(&docs, "ProviderCallErrors", &over).unwrap().as_i64().unwrap() >= 1);
    assert_eq!(value(&docs, "ProviderCallLatency", &[("Provider", provider)]), None, "nothing was sent");
    assert_eq!(value(&docs, "LockoutsSeen", &[("Provider", provider)]), Some(json!(0)));
}

#[tokio::test(start_paused = true)]
async fn each_record_counts_its_outcome_and_a_deletion_names_the_videos_provider() {
    let i = paced();
    let provider = i.provider.inner().creates_on_name();
    let batch = json!({"Records": [
        created("videos/a.mp4", "e1")["Records"][0],
        created("videos/b.mp4", "e2")["Records"][0],
        created("docs/readme.txt", "e3")["Records"][0],
    ]});
    let (_, metrics) = collect(i.handle(&batch, deadline(60))).await;
    let docs = documents(&metrics);
    assert_eq!(value(&docs, "RecordOutcome", &[("Provider", provider), ("Outcome", "submitted")]), Some(json!(2)));
    assert_eq!(value(&docs, "RecordOutcome", &[("Outcome", "skipped")]), Some(json!(1)));
    assert_eq!(value(&docs, "ProviderCallLatency", &[("Provider", provider)]).unwrap().as_array().unwrap().len(), 2);

    let (_, metrics) = collect(i.handle(&created("videos/a.mp4", "e1"), deadline(60))).await;
    let docs = documents(&metrics);
    assert_eq!(docs.len(), 1, "a duplicate makes no provider call: {docs:?}");
    assert_eq!(value(&docs, "RecordOutcome", &[("Outcome", "duplicate")]), Some(json!(1)));

    let (reply, metrics) = collect(i.handle(&removed("videos/a.mp4"), deadline(60))).await;
    assert_eq!(reply.unwrap()["records"][0]["outcome"], "deleted");
    let docs = documents(&metrics);
    assert_eq!(value(&docs, "RecordOutcome", &[("Provider", provider), ("Outcome", "deleted")]), Some(json!(1)));
    let (_, metrics) = collect(i.handle(&removed("videos/never.mp4"), deadline(60))).await;
    assert_eq!(value(&documents(&metrics), "RecordOutcome", &[("Outcome", "ignored")]), Some(json!(1)));
}

#[tokio::test(start_paused = true)]
async fn outside_an_invocation_nothing_is_recorded() {
    // The CLI's ingests run the same use case without `collect`: no collector, nothing kept.
    let i = paced();
    i.handle(&created("videos/a.mp4", "e1"), deadline(60)).await.unwrap();
    let ((), metrics) = collect(async {}).await;
    assert!(metrics.is_empty());
}

trait ProviderName {
    fn creates_on_name(&self) -> &'static str;
}

impl ProviderName for MemoryProvider {
    fn creates_on_name(&self) -> &'static str {
        use vinofy_core::ports::VideoProvider;
        self.creates_on().as_str()
    }
}
