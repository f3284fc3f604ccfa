//! Decoding the messages of the failed-events queue (template.yaml's `FailedEventsQueue`), which
//! receives the events that ran out of retries in either delivery mode, each in its own shape:
//!
//! - direct mode: Lambda's *on-failure destination* writes an invocation record,
//!   `{"version": "1.0", "timestamp", "requestContext": {"requestId", "functionArn", "condition":
//!   "RetriesExhausted" | "EventAgeExceeded", "approximateInvokeCount"}, "requestPayload": <the
//!   event as invoked>, "responseContext": {"statusCode", "executedVersion", "functionError"},
//!   "responsePayload": {"errorType", "errorMessage"}}` (AWS Lambda developer guide, "Capturing
//!   records of Lambda asynchronous invocations"); the response parts are absent when the event
//!   expired without running;
//! - sqs mode: the ingest queue's redrive policy moves the message itself, so its body is S3's
//!   notification exactly as S3 sent it (possibly `s3:TestEvent`).
//!
//! The events inside are decoded by [`super::event`]'s own rules (bounds, the upload bucket), so a
//! redriven record is exactly what the function would have accepted.

use serde_json::Value;

use super::event::{EventError, EventRules, Invocation, ObjectEvent, parse_invocation, parse_notification};
use super::object::truncate_for_message;

/// SQS's largest message body (256 KiB); a body above it cannot be a queue's message.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// How much of the function's error message a report quotes.
const MAX_ERROR_CHARS: usize = 300;

/// Where a failed event came from, with what the failure said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureOrigin {
    /// Direct mode: an on-failure destination record of an asynchronous invocation.
    OnFailureDestination(InvocationFailure),
    /// Sqs mode: moved to the dead-letter queue by the ingest queue's redrive policy.
    DeadLetter,
}

impl FailureOrigin {
    /// `on_failure_destination` or `dead_letter` (the report's vocabulary).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::OnFailureDestination(_) => "on_failure_destination",
            Self::DeadLetter => "dead_letter",
        }
    }
}

/// What an on-failure destination record says about the failed invocation. Every field is as
/// Lambda wrote it, bounded; absent fields are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvocationFailure {
    /// `RetriesExhausted` (every attempt failed) or `EventAgeExceeded` (throttled until too old).
    pub condition: Option<String>,
    pub approximate_invoke_count: Option<u64>,
    pub request_id: Option<String>,
    pub function_arn: Option<String>,
    /// When Lambda gave up (RFC 3339).
    pub timestamp: Option<String>,
    /// The last attempt's `errorType` (ours: `Retryable.<Kind>` / `NonRetryable.<Kind>`).
    pub error_type: Option<String>,
    pub error_message: Option<String>,
}

impl InvocationFailure {
    /// One line for a report: `RetriesExhausted after 3 attempts: Retryable.StreamUnavailable: ...`.
    pub fn describe(&self) -> String {
        let mut text = self.condition.clone().unwrap_or_else(|| "failed".into());
        if let Some(n) = self.approximate_invoke_count {
            text.push_str(&format!(" after {n} attempt{}", if n == 1 { "" } else { "s" }));
        }
        match (&self.error_type, &self.error_message) {
            (Some(t), Some(m)) => text.push_str(&format!(": {t}: {m}")),
            (Some(t), None) => text.push_str(&format!(": {t}")),
            (None, Some(m)) => text.push_str(&format!(": {m}")),
            (None, None) => {}
        }
        text
    }
}

/// One S3 record of a failed event: decoded, and as it was sent (to be handled again as is).
#[derive(Debug, Clone, PartialEq)]
pub struct FailedRecord {
    pub event: ObjectEvent,
    /// The record's JSON, exactly as in the notification.
    pub raw: Value,
}

impl FailedRecord {
    /// The one-record S3 notification that replays this record through the function's use case.
    pub fn as_notification(&self) -> Value {
        serde_json::json!({ "Records": [self.raw] })
    }
}

/// A decoded message of the failed-events queue.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedMessage {
    pub origin: FailureOrigin,
    /// The S3 records it carries; empty for an `s3:TestEvent` (nothing to redrive).
    pub records: Vec<FailedRecord>,
}

/// Decodes one message body of the failed-events queue, in either mode's shape. An error says why
/// it is not one (the message must then be kept and reported, never dropped silently).
pub fn decode_failed_message(body: &str, rules: &EventRules<'_>) -> Result<FailedMessage, EventError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(EventError(format!("the body is {} bytes; SQS messages are at most {MAX_BODY_BYTES}", body.len())));
    }
    let value: Value = serde_json::from_str(body).map_err(|e| EventError(format!("the body is not JSON: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(EventError("the body is not a JSON object".into()));
    };
    if object.contains_key("requestContext") || object.contains_key("requestPayload") {
        let failure = invocation_failure(&value)?;
        let payload = object
            .get("requestPayload")
            .ok_or_else(|| EventError("the invocation record has no requestPayload".into()))?;
        let records = invocation_records(payload, rules)
            .map_err(|e| EventError(format!("the invocation record's requestPayload: {}", e.0)))?;
        return Ok(FailedMessage { origin: FailureOrigin::OnFailureDestination(failure), records });
    }
    let records = notification_records(&value, rules)?;
    Ok(FailedMessage { origin: FailureOrigin::DeadLetter, records })
}

/// The records of an S3 notification (none for `s3:TestEvent`), each paired with its JSON.
fn notification_records(notification: &Value, rules: &EventRules<'_>) -> Result<Vec<FailedRecord>, EventError> {
    match parse_notification(notification, rules)? {
        super::event::Notification::Test => Ok(Vec::new()),
        super::event::Notification::Records(events) => Ok(paired(events, notification)),
    }
}

/// The records of an invocation payload: an S3 notification, or (only if an SQS batch was ever
/// invoked asynchronously, which the event source mapping never does) the notifications in its
/// messages' bodies, all of which must decode.
fn invocation_records(payload: &Value, rules: &EventRules<'_>) -> Result<Vec<FailedRecord>, EventError> {
    match parse_invocation(payload, rules)? {
        Invocation::S3Test => Ok(Vec::new()),
        Invocation::S3(events) => Ok(paired(events, payload)),
        Invocation::Sqs(messages) => {
            let mut out = Vec::new();
            for (i, message) in messages.into_iter().enumerate() {
                message.body?;
                // Decoded once already: the body is JSON holding a notification.
                let body = payload["Records"][i]["body"].as_str().unwrap_or_default();
                let notification: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                out.extend(notification_records(&notification, rules)?);
            }
            Ok(out)
        }
    }
}

fn paired(events: Vec<ObjectEvent>, notification: &Value) -> Vec<FailedRecord> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| FailedRecord { event, raw: notification["Records"][i].clone() })
        .collect()
}

fn invocation_failure(record: &Value) -> Result<InvocationFailure, EventError> {
    let context = record.get("requestContext").unwrap_or(&Value::Null);
    if !(context.is_object() || context.is_null()) {
        return Err(EventError("requestContext is not an object".into()));
    }
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(truncate_for_message).filter(|s| !s.is_empty());
    let response = record.get("responsePayload");
    // A function's error object; a plain-text payload is kept as the message.
    let (error_type, error_message) = match response {
        Some(Value::Object(r)) => {
            (text(r.get("errorType")), r.get("errorMessage").and_then(Value::as_str).map(bounded))
        }
        Some(Value::String(s)) => (None, Some(bounded(s))),
        _ => (None, None),
    };
    Ok(InvocationFailure {
        condition: text(context.get("condition")),
        approximate_invoke_count: context.get("approximateInvokeCount").and_then(Value::as_u64),
        request_id: text(context.get("requestId")),
        function_arn: context.get("functionArn").and_then(Value::as_str).map(bounded),
        timestamp: text(record.get("timestamp")),
        error_type,
        error_message,
    })
}

/// At most [`MAX_ERROR_CHARS`] characters, without control characters.
fn bounded(text: &str) -> String {
    let mut out: String = text.chars().take(MAX_ERROR_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.chars().count() > MAX_ERROR_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: EventRules<'static> = EventRules { upload_bucket: "uploads" };

    fn record(key: &str, name: &str) -> Value {
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": name,
            "s3": {"bucket": {"name": "uploads"},
                   "object": {"key": key, "size": 1024, "eTag": "abc", "sequencer": "0055AED6DCD90281E5"}}
        })
    }

    fn notification(records: &[Value]) -> Value {
        json!({ "Records": records })
    }

    /// The shape the AWS Lambda developer guide shows, around one of our events.
    fn destination_record(payload: Value) -> Value {
        json!({
            "version": "1.0",
            "timestamp": "2026-11-25T18:16:05.568Z",
            "requestContext": {
                "requestId": "e4b46cbf-b738-4ff3-8880-a18cdf61200e",
                "functionArn": "arn:aws:lambda:eu-west-1:123456789012:function:vinofy-IngestFunction:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 3
            },
            "requestPayload": payload,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorType": "Retryable.StreamUnavailable",
                                "errorMessage": "s3://uploads/v/a.mp4: the video provider could not be reached in time"}
        })
    }

    #[test]
    fn an_on_failure_destination_record_yields_its_events_and_the_failure() {
        let body = destination_record(notification(&[record("v/a+b.mp4", "ObjectCreated:Put")])).to_string();
        let m = decode_failed_message(&body, &RULES).unwrap();
        let FailureOrigin::OnFailureDestination(f) = &m.origin else { panic!("{m:?}") };
        assert_eq!(f.condition.as_deref(), Some("RetriesExhausted"));
        assert_eq!(f.approximate_invoke_count, Some(3));
        assert_eq!(f.error_type.as_deref(), Some("Retryable.StreamUnavailable"));
        assert_eq!(m.origin.as_str(), "on_failure_destination");
        assert!(f.describe().starts_with("RetriesExhausted after 3 attempts: Retryable.StreamUnavailable: s3://"));
        assert_eq!(m.records.len(), 1);
        let ObjectEvent::Created(o) = &m.records[0].event else { panic!() };
        assert_eq!(o.key, "v/a b.mp4");
        // Replayed exactly as sent: the key stays encoded.
        assert_eq!(m.records[0].as_notification()["Records"][0]["s3"]["object"]["key"], "v/a+b.mp4");
    }

    #[test]
    fn an_expired_event_has_no_response_and_is_still_redriven() {
        let mut r = destination_record(notification(&[record("v/a.mp4", "ObjectCreated:Put")]));
        r["requestContext"]["condition"] = json!("EventAgeExceeded");
        r["requestContext"]["approximateInvokeCount"] = json!(0);
        let r = json!({"version": r["version"], "timestamp": r["timestamp"], "requestContext": r["requestContext"],
                       "requestPayload": r["requestPayload"]});
        let m = decode_failed_message(&r.to_string(), &RULES).unwrap();
        let FailureOrigin::OnFailureDestination(f) = &m.origin else { panic!() };
        assert_eq!(f.describe(), "EventAgeExceeded after 0 attempts");
        assert_eq!(m.records.len(), 1);
    }

    #[test]
    fn a_dead_letter_is_the_notification_itself() {
        let body = notification(&[record("v/a.mp4", "ObjectCreated:Put"), record("v/b.mp4", "ObjectRemoved:Delete")]);
        let m = decode_failed_message(&body.to_string(), &RULES).unwrap();
        assert_eq!(m.origin, FailureOrigin::DeadLetter);
        assert_eq!(m.records.len(), 2);
        assert!(matches!(m.records[1].event, ObjectEvent::Removed { .. }));
        assert_eq!(m.records[1].raw, body["Records"][1]);
    }

    #[test]
    fn test_events_carry_nothing_to_redrive() {
        let test = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "uploads"});
        let m = decode_failed_message(&test.to_string(), &RULES).unwrap();
        assert_eq!((m.origin.clone(), m.records.len()), (FailureOrigin::DeadLetter, 0));
        let m = decode_failed_message(&destination_record(test).to_string(), &RULES).unwrap();
        assert!(matches!(m.origin, FailureOrigin::OnFailureDestination(_)) && m.records.is_empty());
    }

    #[test]
    fn an_sqs_batch_inside_an_invocation_record_is_unwrapped() {
        let body = notification(&[record("v/a.mp4", "ObjectCreated:Put")]).to_string();
        let test = json!({"Event": "s3:TestEvent"}).to_string();
        let batch = json!({"Records": [
            {"messageId": "m1", "eventSource": "aws:sqs", "body": body},
            {"messageId": "m2", "eventSource": "aws:sqs", "body": test},
        ]});
        let m = decode_failed_message(&destination_record(batch).to_string(), &RULES).unwrap();
        assert_eq!(m.records.len(), 1);
        let bad = json!({"Records": [{"messageId": "m1", "eventSource": "aws:sqs", "body": "not json"}]});
        let err = decode_failed_message(&destination_record(bad).to_string(), &RULES).unwrap_err();
        assert!(err.0.contains("requestPayload") && err.0.contains("not JSON"), "{err}");
    }

    #[test]
    fn what_is_not_a_failed_event_says_why() {
        let foreign = {
            let mut r = record("v/a.mp4", "ObjectCreated:Put");
            r["s3"]["bucket"]["name"] = json!("other-bucket");
            notification(&[r])
        };
        let cases = [
            ("not json".to_owned(), "not JSON"),
            ("[1]".to_owned(), "not a JSON object"),
            (json!({"hello": "world"}).to_string(), "no Records"),
            (foreign.to_string(), "not the upload bucket"),
            (destination_record(foreign.clone()).to_string(), "requestPayload: Records[0]"),
            (json!({"requestContext": {"condition": "RetriesExhausted"}}).to_string(), "no requestPayload"),
            (json!({"requestContext": 5, "requestPayload": {}}).to_string(), "requestContext"),
            ("x".repeat(MAX_BODY_BYTES + 1), "bytes"),
        ];
        for (body, want) in cases {
            let err = decode_failed_message(&body, &RULES).unwrap_err();
            assert!(err.0.contains(want), "want {want:?}: {err}");
            assert!(err.0.len() < 400, "bounded: {}", err.0.len());
        }
    }

    #[test]
    fn quoted_fields_are_bounded() {
        let mut r = destination_record(notification(&[record("v/a.mp4", "ObjectCreated:Put")]));
        r["responsePayload"]["errorMessage"] = json!(format!("line\n{}", "x".repeat(5000)));
        r["requestContext"]["condition"] = json!("c".repeat(500));
        let m = decode_failed_message(&r.to_string(), &RULES).unwrap();
        let FailureOrigin::OnFailureDestination(f) = m.origin else { panic!() };
        assert!(f.error_message.as_ref().unwrap().chars().count() <= MAX_ERROR_CHARS + 1);
        assert!(!f.error_message.unwrap().contains('\n'));
        assert!(f.condition.unwrap().chars().count() <= 65);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(s in "\\PC{0,400}") {
            let _ = decode_failed_message(&s, &RULES);
            let wrapped = format!("{{\"requestContext\":{{}},\"requestPayload\":{s}}}");
            let _ = decode_failed_message(&wrapped, &RULES);
        }
    }
}
