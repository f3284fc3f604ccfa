//! Decoding what invokes the function: S3 notifications (direct, or inside SQS messages in the
//! buffered mode), S3's `s3:TestEvent`, and shapes we refuse with a clear reason.

use serde::Deserialize;
use serde_json::Value;

use super::object::{
    MAX_KEY_BYTES, ObjectVersion, check_bucket_name, check_key, normalize_sequencer, truncate_for_message,
};
use super::s3_key::decode_s3_key;

/// S3 sends one record per notification; anything near this is forged or broken.
pub const MAX_RECORDS_PER_NOTIFICATION: usize = 10;
/// The SQS event source's `BatchSize` in template.yaml may not exceed this (a test checks it).
pub const MAX_SQS_MESSAGES: usize = 10;
/// S3 version ids and eTags are short ASCII tokens; this bounds what an event may carry.
const MAX_TOKEN_BYTES: usize = 1024;
/// A sequencer is a hex number; [`normalize_sequencer`] pads it to this width for string comparison.
const MAX_SEQUENCER_CHARS: usize = 64;

/// What an event must also satisfy to be ours, beyond its shape.
#[derive(Debug, Clone, Copy)]
pub struct EventRules<'a> {
    /// Every record must name this bucket (`UPLOAD_BUCKET`).
    pub upload_bucket: &'a str,
}

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
    /// What the message's visibility is changed with (a hand-back's delay); `None` if absent.
    pub receipt_handle: Option<String>,
    /// The queue it came from (`arn:aws:sqs:REGION:ACCOUNT:NAME`); `None` if absent or not one.
    pub queue_arn: Option<String>,
    /// `attributes.ApproximateReceiveCount` (1 on the first delivery); `None` if absent.
    pub receive_count: Option<u32>,
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
/// malformed, oversized or foreign event is rejected whole and leaves nothing half-written.
pub fn parse_invocation(payload: &Value, rules: &EventRules<'_>) -> Result<Invocation, EventError> {
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
        if records.len() > MAX_SQS_MESSAGES {
            return Err(invalid(format!(
                "Records: {} SQS messages in one batch; at most {MAX_SQS_MESSAGES} are accepted (template.yaml's BatchSize)",
                records.len()
            )));
        }
        return records
            .iter()
            .enumerate()
            .map(|(i, r)| parse_sqs_message(i, r, rules))
            .collect::<Result<_, _>>()
            .map(Invocation::Sqs);
    }
    if records.len() > MAX_RECORDS_PER_NOTIFICATION {
        return Err(invalid(format!(
            "Records: {} records in one notification; at most {MAX_RECORDS_PER_NOTIFICATION} are accepted (S3 sends one)",
            records.len()
        )));
    }
    parse_records(records, rules).map(Invocation::S3)
}

fn parse_sqs_message(index: usize, record: &Value, rules: &EventRules<'_>) -> Result<SqsMessage, EventError> {
    let message_id = record
        .get("messageId")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| invalid(format!("Records[{index}].messageId is missing or not an SQS message id")))?
        .to_owned();
    let body = match record.get("body").and_then(Value::as_str) {
        None => Err(invalid(format!("SQS message {message_id} has no body"))),
        Some(text) => serde_json::from_str::<Value>(text)
            .map_err(|e| invalid(format!("SQS message {message_id}: body is not JSON: {e}")))
            .and_then(|body| parse_notification(&body, rules)),
    };
    // Both only serve a hand-back's delay: a message without them is still processed (and, if
    // handed back, redelivered after the queue's own visibility timeout).
    let receipt_handle = record
        .get("receiptHandle")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty() && h.len() <= 1024 && h.chars().all(|c| c.is_ascii_graphic()))
        .map(str::to_owned);
    let queue_arn =
        record.get("eventSourceARN").and_then(Value::as_str).filter(|arn| is_sqs_arn(arn)).map(str::to_owned);
    let receive_count = record
        .get("attributes")
        .and_then(|a| a.get("ApproximateReceiveCount"))
        .and_then(Value::as_str)
        .and_then(|n| n.parse::<u32>().ok());
    Ok(SqsMessage { message_id, receipt_handle, queue_arn, receive_count, body })
}

/// `arn:PARTITION:sqs:REGION:ACCOUNT:NAME`, each part a plain token (a queue name: at most 80
/// letters, digits, `-`, `_`, with `.fifo` allowed).
pub fn is_sqs_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    let token = |p: &str, max: usize| {
        !p.is_empty()
            && p.len() <= max
            && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    };
    matches!(parts.as_slice(), ["arn", partition, "sqs", region, account, name]
        if partition.starts_with("aws") && token(partition, 16) && token(region, 32)
            && account.len() == 12 && account.chars().all(|c| c.is_ascii_digit()) && token(name, 80))
}

/// Decodes an S3 notification body (as S3 sends it to SQS).
pub fn parse_notification(body: &Value, rules: &EventRules<'_>) -> Result<Notification, EventError> {
    match parse_invocation(body, rules)? {
        Invocation::S3(records) => Ok(Notification::Records(records)),
        Invocation::S3Test => Ok(Notification::Test),
        Invocation::Sqs(_) => Err(invalid("an SQS event nested inside an SQS message")),
    }
}

fn parse_records(records: &[Value], rules: &EventRules<'_>) -> Result<Vec<ObjectEvent>, EventError> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| parse_record(r, rules).map_err(|e| invalid(format!("Records[{i}]: {}", e.0))))
        .collect()
}

/// A short ASCII token (eTag, versionId): printable, bounded.
fn check_token(field: &str, value: &str) -> Result<(), EventError> {
    if value.len() > MAX_TOKEN_BYTES || !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(invalid(format!("{field} is not a printable ASCII token of at most {MAX_TOKEN_BYTES} bytes")));
    }
    Ok(())
}

/// `size` as S3 sends it: a non-negative whole number (a JSON number, or a string of digits).
fn parse_size(size: Option<&Value>) -> Result<u64, EventError> {
    match size {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        _ => None,
    }
    .ok_or_else(|| invalid("s3.object.size is missing or not a non-negative whole number"))
}

fn parse_record(record: &Value, rules: &EventRules<'_>) -> Result<ObjectEvent, EventError> {
    // Deserialise from the borrowed value: no copy of the record.
    let raw = RawRecord::deserialize(record).map_err(|e| invalid(format!("malformed record: {e}")))?;
    match raw.event_source.as_deref() {
        Some("aws:s3") => {}
        other => {
            return Err(invalid(format!("eventSource is {:?}, expected \"aws:s3\"", other.map(truncate_for_message))));
        }
    }
    let event_name = raw.event_name.ok_or_else(|| invalid("eventName is missing"))?;
    let s3 = raw.s3.ok_or_else(|| invalid("s3 is missing"))?;
    let bucket =
        s3.bucket.and_then(|b| b.name).filter(|n| !n.is_empty()).ok_or_else(|| invalid("s3.bucket.name is missing"))?;
    check_bucket_name(&bucket).map_err(|e| invalid(format!("s3.bucket.name: {e}")))?;
    if bucket != rules.upload_bucket {
        return Err(invalid(format!(
            "s3.bucket.name {bucket:?} is not the upload bucket (UPLOAD_BUCKET {:?})",
            rules.upload_bucket
        )));
    }
    let object = s3.object.ok_or_else(|| invalid("s3.object is missing"))?;
    let encoded_key = object.key.ok_or_else(|| invalid("s3.object.key is missing"))?;
    // Bounded before decoding: each key byte is at most three encoded characters (`%XX`).
    if encoded_key.len() > 3 * MAX_KEY_BYTES {
        return Err(invalid(format!(
            "s3.object.key is {} characters long encoded; S3 keys are at most {MAX_KEY_BYTES} bytes",
            encoded_key.len()
        )));
    }
    let key = decode_s3_key(&encoded_key).map_err(|e| invalid(format!("s3.object.key cannot be decoded: {e}")))?;
    check_key(&key).map_err(|e| invalid(format!("s3.object.key {e}")))?;
    let version_id = object.version_id.filter(|v| !v.is_empty() && v != "null");
    if let Some(v) = &version_id {
        check_token("s3.object.versionId", v)?;
    }
    let raw_sequencer = object.sequencer.as_deref().unwrap_or("").trim();
    if raw_sequencer.len() > MAX_SEQUENCER_CHARS || !raw_sequencer.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(invalid(format!(
            "s3.object.sequencer is not a hexadecimal number of at most {MAX_SEQUENCER_CHARS} digits"
        )));
    }
    let sequencer = normalize_sequencer(raw_sequencer);

    if event_name.starts_with("ObjectCreated:") {
        let size = parse_size(object.size.as_ref())?;
        // Folder markers and empty objects are skipped whatever their eTag; anything else needs one,
        // since it identifies the version in unversioned buckets.
        let etag = match object.e_tag.filter(|e| !e.is_empty()) {
            Some(etag) => {
                check_token("s3.object.eTag", &etag)?;
                etag
            }
            None if size == 0 || key.ends_with('/') => String::new(),
            None => return Err(invalid("s3.object.eTag is missing")),
        };
        Ok(ObjectEvent::Created(ObjectVersion { bucket, key, size, etag, version_id, sequencer }))
    } else if event_name.starts_with("ObjectRemoved:") {
        let delete_marker = event_name == "ObjectRemoved:DeleteMarkerCreated";
        Ok(ObjectEvent::Removed { bucket, key, version_id, sequencer, delete_marker })
    } else {
        Err(invalid(format!(
            "eventName {:?} is not an ObjectCreated or ObjectRemoved event",
            truncate_for_message(&event_name)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: EventRules<'static> = EventRules { upload_bucket: "uploads" };

    fn parse(payload: &Value) -> Result<Invocation, EventError> {
        parse_invocation(payload, &RULES)
    }

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
        let inv = parse(&json!({"Records": [record("videos/holiday+clip+%281%29.mp4")]})).unwrap();
        let Invocation::S3(events) = inv else { panic!("{inv:?}") };
        let ObjectEvent::Created(o) = &events[0] else { panic!() };
        assert_eq!(o.key, "videos/holiday clip (1).mp4");
        assert_eq!((o.size, o.etag.as_str(), o.version_id.as_deref()), (1024, "abc", None));
        assert!(o.sequencer.starts_with("0055AED6DCD90281E5"));
    }

    #[test]
    fn test_event_is_recognised() {
        let e = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "uploads"});
        assert_eq!(parse(&e).unwrap(), Invocation::S3Test);
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
            let err = parse(&event).unwrap_err();
            assert!(err.0.contains(want), "{event}: {err}");
        }
    }

    #[test]
    fn one_bad_record_rejects_the_whole_event() {
        let mut bad = record("b.mp4");
        bad["s3"]["object"]["size"] = json!(-1);
        let err = parse(&json!({"Records": [record("a.mp4"), bad]})).unwrap_err();
        assert!(err.0.starts_with("Records[1]"), "{err}");
    }

    /// Each bound of the security review: the error names the field, and nothing is decoded.
    #[test]
    fn oversized_hostile_and_foreign_fields_are_refused_naming_the_field() {
        let with = |path: &[&str], value: Value| {
            let mut r = record("videos/a.mp4");
            let mut at = &mut r;
            for p in &path[..path.len() - 1] {
                at = &mut at[*p];
            }
            at[path[path.len() - 1]] = value;
            json!({"Records": [r]})
        };
        let long_key = "k".repeat(MAX_KEY_BYTES + 1);
        let huge_key = "%41".repeat(70_000); // decodes to 70 KB
        let cases = [
            (with(&["s3", "object", "key"], json!(long_key)), "s3.object.key is 1025 bytes"),
            (with(&["s3", "object", "key"], json!(huge_key)), "s3.object.key is 210000 characters"),
            (with(&["s3", "object", "key"], json!("a%00b.mp4")), "s3.object.key contains the control character U+0000"),
            (with(&["s3", "object", "key"], json!("a%0Ab.mp4")), "control character U+000A"),
            (with(&["s3", "object", "key"], json!("")), "s3.object.key cannot be decoded: key is empty"),
            (with(&["s3", "object", "size"], json!("+5")), "s3.object.size"),
            (with(&["s3", "object", "size"], json!("-5")), "s3.object.size"),
            (with(&["s3", "object", "size"], json!(1.5)), "s3.object.size"),
            (with(&["s3", "object", "size"], json!(-1)), "s3.object.size"),
            (with(&["s3", "object", "size"], json!(" 5")), "s3.object.size"),
            (with(&["s3", "bucket", "name"], json!("other-bucket")), "is not the upload bucket (UPLOAD_BUCKET"),
            (with(&["s3", "bucket", "name"], json!("uploads/videos")), "s3.bucket.name"),
            (with(&["s3", "bucket", "name"], json!("UPLOADS")), "s3.bucket.name"),
            (with(&["s3", "object", "eTag"], json!("a".repeat(2000))), "s3.object.eTag"),
            (with(&["s3", "object", "eTag"], json!("a b")), "s3.object.eTag"),
            (with(&["s3", "object", "versionId"], json!("v\u{0}1")), "s3.object.versionId"),
            (with(&["s3", "object", "sequencer"], json!("A".repeat(65))), "s3.object.sequencer"),
            (with(&["s3", "object", "sequencer"], json!("0x12")), "s3.object.sequencer"),
        ];
        for (event, want) in cases {
            let err = parse(&event).unwrap_err();
            assert!(err.0.contains(want), "want {want:?}, got {err}");
            assert!(err.0.len() < 300, "errors quote no unbounded input: {} bytes", err.0.len());
        }
        // At the limits, still accepted.
        let max_key = format!("videos/{}", "é".repeat((MAX_KEY_BYTES - 7) / 2));
        assert!(parse(&with(&["s3", "object", "key"], json!(crate::domain::s3_key::encode_s3_key(&max_key)))).is_ok());
        assert!(parse(&with(&["s3", "object", "size"], json!("5"))).is_ok());
    }

    #[test]
    fn the_review_collision_is_refused_before_it_can_reach_a_source() {
        // Bucket "uploads/videos" + key "a.mp4" used to give the same source as "uploads" + "videos/a.mp4".
        let mut r = record("a.mp4");
        r["s3"]["bucket"]["name"] = json!("uploads/videos");
        assert!(parse(&json!({"Records": [r]})).unwrap_err().0.contains("s3.bucket.name"));
    }

    #[test]
    fn records_per_invocation_are_capped() {
        let many = vec![record("videos/a.mp4"); MAX_RECORDS_PER_NOTIFICATION + 1];
        let err = parse(&json!({"Records": many})).unwrap_err();
        assert!(err.0.contains("at most 10"), "{err}");
        let ok = vec![record("videos/a.mp4"); MAX_RECORDS_PER_NOTIFICATION];
        assert!(parse(&json!({"Records": ok})).is_ok());
        let body = json!({"Records": [record("a.mp4")]}).to_string();
        let message = json!({"messageId": "m", "eventSource": "aws:sqs", "body": body});
        let err = parse(&json!({"Records": vec![message.clone(); MAX_SQS_MESSAGES + 1]})).unwrap_err();
        assert!(err.0.contains("SQS messages"), "{err}");
        let ten_thousand = vec![record("videos/a.mp4"); 10_000];
        assert!(parse(&json!({"Records": ten_thousand})).is_err());
        assert!(parse(&json!({"Records": vec![message; MAX_SQS_MESSAGES]})).is_ok());
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
        let Invocation::Sqs(msgs) = parse(&e).unwrap() else { panic!() };
        assert!(matches!(&msgs[0].body, Ok(Notification::Records(r)) if r.len() == 1));
        assert_eq!(msgs[1].body, Ok(Notification::Test));
        assert!(msgs[2].body.is_err());
    }

    #[test]
    fn removed_events_need_no_size_or_etag() {
        let e = json!({"Records": [{"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
            "s3": {"bucket": {"name": "uploads"}, "object": {"key": "a+b.mp4", "sequencer": "0A"}}}]});
        let Invocation::S3(events) = parse(&e).unwrap() else { panic!() };
        assert!(matches!(&events[0], ObjectEvent::Removed { key, .. } if key == "a b.mp4"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_json_never_panics(s in "\\PC{0,400}") {
            if let Ok(v) = serde_json::from_str::<Value>(&s) { let _ = parse(&v); }
        }
    }
}
