//! The sample events in events/ (used by `sam local invoke` and `cargo lambda invoke`) decode as
//! their README says.

use serde_json::Value;
use vinofy_adapters::cloudflare::parse_video_json;
use vinofy_adapters::cloudflare::signature::verify;
use vinofy_core::domain::event::{EventRules, Invocation, MAX_SQS_MESSAGES, Notification, ObjectEvent};

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The samples' bucket, as the local stack (scripts/demo.sh) sets UPLOAD_BUCKET.
const RULES: EventRules<'static> = EventRules { upload_bucket: "vinofy-uploads-local" };

fn parse_invocation(event: &Value) -> Result<Invocation, vinofy_core::domain::event::EventError> {
    vinofy_core::domain::event::parse_invocation(event, &RULES)
}

fn created(name: &str) -> Vec<ObjectEvent> {
    match parse_invocation(&load(name)) {
        Ok(Invocation::S3(events)) => events,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn s3_samples_decode_to_the_documented_keys() {
    let key = |e: &ObjectEvent| e.bucket_and_key().1.to_owned();
    assert_eq!(key(&created("s3-put.json")[0]), "videos/holiday clip.mp4");
    assert_eq!(key(&created("s3-put-hostile-key.json")[0]), "uploads/My Movie (1) = a&b%#?:'~ 2+2 café 日本.MOV");
    let ObjectEvent::Created(multipart) = &created("s3-put-multipart.json")[0] else { panic!() };
    assert!(multipart.version_id.is_some() && multipart.etag.ends_with("-3"));
    assert_eq!(created("s3-put-two-records.json").len(), 2);
    assert!(matches!(created("s3-delete.json")[0], ObjectEvent::Removed { .. }));
    assert_eq!(parse_invocation(&load("s3-test-event.json")), Ok(Invocation::S3Test));
}

#[test]
fn foreign_and_malformed_samples_are_refused() {
    assert!(parse_invocation(&load("eventbridge-object-created.json")).unwrap_err().0.contains("EventBridge"));
    assert!(parse_invocation(&load("malformed.json")).is_err());
}

#[test]
fn the_sqs_sample_carries_a_notification_and_a_test_event() {
    let Ok(Invocation::Sqs(messages)) = parse_invocation(&load("sqs-s3-put.json")) else { panic!() };
    assert!(matches!(&messages[0].body, Ok(Notification::Records(r)) if r.len() == 1));
    assert_eq!(messages[1].body, Ok(Notification::Test));
}

/// The event source's batch size must stay within what the function accepts, or every batch would
/// be refused as an invalid event.
#[test]
fn the_template_sqs_batch_fits_the_records_cap() {
    let text = std::fs::read_to_string(format!("{}/template.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let batch = template["Resources"]["IngestQueueEventSource"]["Properties"]["BatchSize"].as_u64().unwrap();
    assert!(batch as usize <= MAX_SQS_MESSAGES, "BatchSize {batch} > {MAX_SQS_MESSAGES}");
}

#[test]
fn samples_of_another_bucket_are_refused() {
    let other = EventRules { upload_bucket: "another-bucket" };
    let err = vinofy_core::domain::event::parse_invocation(&load("s3-put.json"), &other).unwrap_err();
    assert!(err.0.contains("UPLOAD_BUCKET"), "{err}");
}

#[test]
fn webhook_samples_are_signed_function_url_requests() {
    for name in ["webhook-ready.json", "webhook-error.json"] {
        let event = load(name);
        let body = event["body"].as_str().unwrap();
        let header = event["headers"]["webhook-signature"].as_str();
        let sent_at = event["requestContext"]["timeEpoch"].as_i64().unwrap() / 1000;
        assert_eq!(
            verify(header, body.as_bytes(), b"85011ed3a913c6ad5f9cf6c5573cc0a7", sent_at, 300),
            Ok(()),
            "{name}"
        );
        assert!(verify(header, body.as_bytes(), b"85011ed3a913c6ad5f9cf6c5573cc0a7", sent_at + 3600, 300).is_err());
        let video = parse_video_json(body.as_bytes()).unwrap();
        assert_eq!(video.uid, "6b9e68b07dfee8cc2d116e4c51d6a957");
    }
}
