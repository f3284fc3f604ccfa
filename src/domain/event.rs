//! Decoding what invokes the function: S3 notifications (direct, or inside SQS messages in the
//! buffered mode), S3's `s3:TestEvent`, and shapes we refuse with a clear reason.

use serde::Deserialize;
use serde_json::Value;

use super::object::{ObjectVersion, normalize_sequencer};
use super::s3_key::decode_s3_key;

/// What one invocation carries.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// A notification sent straight to the function.
    S3(Vec<ObjectEvent>),
    /// S3's `s3:TestEvent`, sent when a notification is configured: acknowledged, nothing to do.
    S3Test,
    /// SQS-buffered mode: each message is decoded on its own, so one bad message fails alone.
    Sqs(Vec<SqsMessage>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SqsMessage {
    pub message_id: String,
    pub body: Result<Notification, EventError>,
}

/// The body of an S3 notification.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    Records(Vec<ObjectEvent>),
    Test,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectEvent {
    Created(ObjectVersion),
    /// `ObjectRemoved:*`: the source is gone (key decoded; size and eTag are not sent).
    /// `delete_marker`: a versioned bucket hid the object (`versionId` is then the marker's).
    Removed {
        bucket: String,
        key: String,
        version_id: Option<String>,
        sequencer: String,
        delete_marker: bool,
    },
}

impl ObjectEvent {
    pub fn bucket_and_key(&self) -> (&str, &str) {
        match self {
            Self::Created(o) => (&o.bucket, &o.key),
            Self::Removed { bucket, key, .. } => (bucket, key),
        }
    }
}

/// Why an event cannot be processed. Never retryable: the same bytes will fail the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EventError(pub String);

fn invalid(msg: impl Into<String>) -> EventError {
    EventError(msg.into())
}

#[derive(Deserialize)]
struct RawRecord {
    #[serde(rename = "eventSource")]
    event_source: Option<String>,
    #[serde(rename = "eventName")]
    event_name: Option<String>,
    s3: Option<RawS3>,
}

#[derive(Deserialize)]
struct RawS3 {
    bucket: Option<RawBucket>,
    object: Option<RawObject>,
}

#[derive(Deserialize)]
struct RawBucket {
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawObject {
    key: Option<String>,
    size: Option<Value>,
    #[serde(rename = "eTag")]
    e_tag: Option<String>,
    #[serde(rename = "versionId")]
    version_id: Option<String>,
    sequencer: Option<String>,
}

/// Decodes the invocation payload. Every record is validated before anything is done, so a
/// malformed event is rejected whole and leaves nothing half-written.
pub fn parse_invocation(payload: &Value) -> Result<Invocation, EventError> {
    let Some(object) = payload.as_object() else {
        return Err(invalid("the event is not a JSON object"));
    };
    if object.get("source").and_then(Value::as_str) == Some("aws.s3") && object.contains_key("detail-type") {
        return Err(invalid(
            "EventBridge-delivered S3 events are not supported: configure the bucket to notify the function \
             directly (or through SQS), as template.yaml does",
        ));
    }
    let Some(records) = object.get("Records") else {
        if object.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
            return Ok(Invocation::S3Test);
        }
        return Err(invalid("the event has no Records array: it is not an S3 or SQS notification"));
    };
    let Some(records) = records.as_array() else {
        return Err(invalid("Records is not an array"));
    };
    if records.is_empty() {
        return Err(invalid("Records is empty"));
    }
    if records.iter().all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs")) {
        return records
            .iter()
            .enumerate()
            .map(|(i, r)| parse_sqs_message(i, r))
            .collect::<Result<_, _>>()
            .map(Invocation::Sqs);
    }
    parse_records(records).map(Invocation::S3)
}

fn parse_sqs_message(index: usize, record: &Value) -> Result<SqsMessage, EventError> {
    let message_id = record
        .get("messageId")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("Records[{index}]: SQS message has no messageId")))?
        .to_owned();
    let body = match record.get("body").and_then(Value::as_str) {
        None => Err(invalid(format!("SQS message {message_id} has no body"))),
        Some(text) => serde_json::from_str::<Value>(text)
            .map_err(|e| invalid(format!("SQS message {message_id}: body is not JSON: {e}")))
            .and_then(|body| parse_notification(&body)),
    };
    Ok(SqsMessage { message_id, body })
}

/// Decodes an S3 notification body (as S3 sends it to SQS).
pub fn parse_notification(body: &Value) -> Result<Notification, EventError> {
    match parse_invocation(body)? {
        Invocation::S3(records) => Ok(Notification::Records(records)),
        Invocation::S3Test => Ok(Notification::Test),
        Invocation::Sqs(_) => Err(invalid("an SQS event nested inside an SQS message")),
    }
}

fn parse_records(records: &[Value]) -> Result<Vec<ObjectEvent>, EventError> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| parse_record(r).map_err(|e| invalid(format!("Records[{i}]: {}", e.0))))
        .collect()
}

fn parse_record(record: &Value) -> Result<ObjectEvent, EventError> {
    // Deserialise from the borrowed value: no copy of the record.
    let raw = RawRecord::deserialize(record).map_err(|e| invalid(format!("malformed record: {e}")))?;
    match raw.event_source.as_deref() {
        Some("aws:s3") => {}
        other => return Err(invalid(format!("eventSource is {other:?}, expected \"aws:s3\""))),
    }
    let event_name = raw.event_name.ok_or_else(|| invalid("eventName is missing"))?;
    let s3 = raw.s3.ok_or_else(|| invalid("s3 is missing"))?;
    let bucket =
        s3.bucket.and_then(|b| b.name).filter(|n| !n.is_empty()).ok_or_else(|| invalid("s3.bucket.name is missing"))?;
    let object = s3.object.ok_or_else(|| invalid("s3.object is missing"))?;
    let encoded_key = object.key.ok_or_else(|| invalid("s3.object.key is missing"))?;
    let key = decode_s3_key(&encoded_key).map_err(|e| invalid(format!("s3.object.key cannot be decoded: {e}")))?;
    let version_id = object.version_id.filter(|v| !v.is_empty() && v != "null");
    let sequencer = normalize_sequencer(object.sequencer.as_deref().unwrap_or(""));
    if sequencer.chars().any(|c| !c.is_ascii_hexdigit()) {
        return Err(invalid("s3.object.sequencer is not hexadecimal"));
    }

    if event_name.starts_with("ObjectCreated:") {
        let size = match object.size {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| invalid("s3.object.size is missing or not a whole number"))?;
        // Folder markers and empty objects are skipped whatever their eTag; anything else needs one,
        // since it identifies the version in unversioned buckets.
        let etag = match object.e_tag.filter(|e| !e.is_empty()) {
            Some(etag) => etag,
            None if size == 0 || key.ends_with('/') => String::new(),
            None => return Err(invalid("s3.object.eTag is missing")),
        };
        Ok(ObjectEvent::Created(ObjectVersion { bucket, key, size, etag, version_id, sequencer }))
    } else if event_name.starts_with("ObjectRemoved:") {
        let delete_marker = event_name == "ObjectRemoved:DeleteMarkerCreated";
        Ok(ObjectEvent::Removed { bucket, key, version_id, sequencer, delete_marker })
    } else {
        Err(invalid(format!("eventName {event_name:?} is not an ObjectCreated or ObjectRemoved event")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(key: &str) -> Value {
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "eventTime": "2026-11-25T10:00:00.000Z",
            "s3": {"bucket": {"name": "uploads"},
                   "object": {"key": key, "size": 1024, "eTag": "abc", "sequencer": "0055AED6DCD90281E5"}}
        })
    }

    #[test]
    fn decodes_a_put_with_an_encoded_key() {
        let inv = parse_invocation(&json!({"Records": [record("videos/holiday+clip+%281%29.mp4")]})).unwrap();
        let Invocation::S3(events) = inv else { panic!("{inv:?}") };
        let ObjectEvent::Created(o) = &events[0] else { panic!() };
        assert_eq!(o.key, "videos/holiday clip (1).mp4");
        assert_eq!((o.size, o.etag.as_str(), o.version_id.as_deref()), (1024, "abc", None));
        assert!(o.sequencer.starts_with("0055AED6DCD90281E5"));
    }

    #[test]
    fn test_event_is_recognised() {
        let e = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "uploads"});
        assert_eq!(parse_invocation(&e).unwrap(), Invocation::S3Test);
    }

    #[test]
    fn malformed_and_foreign_events_get_clear_errors() {
        let cases = [
            (json!([]), "not a JSON object"),
            (json!({"hello": 1}), "no Records"),
            (json!({"Records": {}}), "not an array"),
            (json!({"Records": []}), "empty"),
            (json!({"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {}}}]}), "eventName is missing"),
            (
                json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "s3": {"bucket": {}}}]}),
                "bucket.name",
            ),
            (json!({"Records": [{"eventSource": "aws:dynamodb"}]}), "eventSource"),
            (json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}), "EventBridge"),
            (json!({"Records": [record("bad%zz.mp4")]}), "cannot be decoded"),
        ];
        for (event, want) in cases {
            let err = parse_invocation(&event).unwrap_err();
            assert!(err.0.contains(want), "{event}: {err}");
        }
    }

    #[test]
    fn one_bad_record_rejects_the_whole_event() {
        let mut bad = record("b.mp4");
        bad["s3"]["object"]["size"] = json!(-1);
        let err = parse_invocation(&json!({"Records": [record("a.mp4"), bad]})).unwrap_err();
        assert!(err.0.starts_with("Records[1]"), "{err}");
    }

    #[test]
    fn sqs_messages_are_decoded_one_by_one() {
        let good = json!({"Records": [record("a.mp4")]}).to_string();
        let test = json!({"Event": "s3:TestEvent"}).to_string();
        let e = json!({"Records": [
            {"messageId": "m1", "eventSource": "aws:sqs", "body": good},
            {"messageId": "m2", "eventSource": "aws:sqs", "body": test},
            {"messageId": "m3", "eventSource": "aws:sqs", "body": "not json"},
        ]});
        let Invocation::Sqs(msgs) = parse_invocation(&e).unwrap() else { panic!() };
        assert!(matches!(&msgs[0].body, Ok(Notification::Records(r)) if r.len() == 1));
        assert_eq!(msgs[1].body, Ok(Notification::Test));
        assert!(msgs[2].body.is_err());
    }

    #[test]
    fn removed_events_need_no_size_or_etag() {
        let e = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
            "s3": {"bucket": {"name": "b"}, "object": {"key": "a+b.mp4", "sequencer": "0A"}}}]});
        let Invocation::S3(events) = parse_invocation(&e).unwrap() else { panic!() };
        assert!(matches!(&events[0], ObjectEvent::Removed { key, .. } if key == "a b.mp4"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_json_never_panics(s in "\\PC{0,400}") {
            if let Ok(v) = serde_json::from_str::<Value>(&s) { let _ = parse_invocation(&v); }
        }
    }
}
