//! Property-based fuzzing of everything that reads untrusted input: event decoding (whole events,
//! S3 records with hostile field values, SQS bodies), key decoding, and the claim rule. No input may
//! panic; decoded keys must round-trip. `FUZZ_CASES` sets the number of inputs per property
//! (CI runs a smoke run; `scripts/fuzz.sh` runs a million).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use vinofy_core::domain::event::{EventError, EventRules, Invocation, ObjectEvent};
use vinofy_core::domain::object::MAX_KEY_BYTES;
use vinofy_core::domain::record::{ClaimVerdict, Status, StoredVersion, judge_claim};
use vinofy_core::domain::s3_key::{decode_s3_key, encode_s3_key};

const UPLOAD_BUCKET: &str = "uploads";

fn parse_invocation(event: &Value) -> Result<Invocation, EventError> {
    vinofy_core::domain::event::parse_invocation(event, &EventRules { upload_bucket: UPLOAD_BUCKET })
}

fn cases() -> u32 {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000)
}

fn runner() -> TestRunner {
    TestRunner::new(Config { cases: cases(), failure_persistence: None, ..Config::default() })
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        "\\PC{0,20}".prop_map(Value::from),
        prop_oneof![
            Just("aws:s3"),
            Just("aws:sqs"),
            Just("ObjectCreated:Put"),
            Just("ObjectRemoved:Delete"),
            Just("s3:TestEvent")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
            prop::collection::hash_map(
                prop_oneof![
                    Just("Records".to_owned()),
                    Just("s3".to_owned()),
                    Just("eventSource".to_owned()),
                    Just("eventName".to_owned()),
                    Just("object".to_owned()),
                    Just("bucket".to_owned()),
                    Just("key".to_owned()),
                    Just("body".to_owned()),
                    "[a-zA-Z]{1,8}"
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A well-formed S3 record whose fields take hostile values (or go missing).
fn arb_s3_record() -> impl Strategy<Value = Value> {
    let field = |s: BoxedStrategy<Value>| prop_oneof![3 => s, 1 => Just(Value::Null)];
    (
        field(prop_oneof![Just(json!("ObjectCreated:Put")), Just(json!("ObjectRemoved:Delete")), "\\PC{0,30}".prop_map(Value::from)].boxed()),
        field(prop_oneof![3 => Just(json!(UPLOAD_BUCKET)), 1 => "[a-z0-9./-]{0,63}".prop_map(Value::from)].boxed()),
        field(prop_oneof!["[\\PC%+]{0,80}".prop_map(Value::from), "\\PC{0,40}".prop_map(|k| Value::from(encode_s3_key(&k)))].boxed()),
        field(prop_oneof![any::<i64>().prop_map(Value::from), "[0-9-]{0,12}".prop_map(Value::from)].boxed()),
        field("[0-9a-f-]{0,40}".prop_map(Value::from).boxed()),
        field("[0-9A-Fa-fx]{0,40}".prop_map(Value::from).boxed()),
    )
        .prop_map(|(name, bucket, key, size, etag, seq)| {
            json!({"eventSource": "aws:s3", "eventName": name,
                   "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": size, "eTag": etag, "sequencer": seq}}})
        })
}

#[test]
fn arbitrary_json_never_panics_the_decoder() {
    runner()
        .run(&arb_json(), |v| {
            let _ = parse_invocation(&v);
            let _ = parse_invocation(&json!({ "Records": [v] }));
            Ok(())
        })
        .unwrap();
}

#[test]
fn hostile_s3_records_decode_or_fail_cleanly() {
    runner()
        .run(&prop::collection::vec(arb_s3_record(), 1..4), |records| {
            match parse_invocation(&json!({ "Records": records })) {
                Ok(Invocation::S3(events)) => {
                    prop_assert_eq!(events.len(), records.len());
                    for e in events {
                        // Whatever decodes is within the bounds: our bucket, a bounded printable key.
                        let (bucket, key) = e.bucket_and_key();
                        prop_assert_eq!(bucket, UPLOAD_BUCKET);
                        prop_assert!(!key.is_empty() && key.len() <= MAX_KEY_BYTES);
                        prop_assert!(!key.chars().any(char::is_control));
                        if let ObjectEvent::Created(o) = e {
                            prop_assert!(!o.bucket.is_empty());
                            prop_assert!(o.sequencer.is_empty() || o.sequencer.len() >= 64);
                            prop_assert_eq!(o.version_tag().len(), 64);
                        }
                    }
                }
                Ok(other) => prop_assert!(false, "S3 records decoded as {:?}", other),
                Err(e) => prop_assert!(!e.0.is_empty()),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn sqs_bodies_of_any_text_never_panic() {
    runner()
        .run(&"\\PC{0,200}", |body| {
            let e = json!({"Records": [{"messageId": "m", "eventSource": "aws:sqs", "body": body}]});
            prop_assert!(matches!(parse_invocation(&e), Ok(Invocation::Sqs(_))));
            Ok(())
        })
        .unwrap();
}

#[test]
fn keys_round_trip_and_any_text_decodes_without_panicking() {
    runner()
        .run(&("\\PC{1,120}", "[\\PC%+]{0,120}"), |(key, junk)| {
            prop_assert_eq!(decode_s3_key(&encode_s3_key(&key)).unwrap(), key);
            let _ = decode_s3_key(&junk);
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_claim_rule_never_lets_an_older_version_win() {
    let status = prop_oneof![
        Just(Status::Pending),
        Just(Status::Submitted),
        Just(Status::Failed),
        Just(Status::Ready),
        Just(Status::Error),
        Just(Status::Deleted)
    ];
    runner()
        .run(
            &(status, "[ab]", "[0-9A-F]{2}", "[ab]", "[0-9A-F]{2}", -5i64..5, -5i64..5),
            |(st, vk1, seq1, vk2, seq2, exp, now)| {
                let stored = StoredVersion {
                    status: st,
                    version_key: vk1.as_str().into(),
                    sequencer: seq1.clone(),
                    claim_expires_at_ms: exp,
                    video: None,
                    error: None,
                    version_id: None,
                };
                let verdict = judge_claim(Some(&stored), &vk2.as_str().into(), &seq2, now, false);
                if vk1 != vk2 && seq2 <= seq1 {
                    prop_assert_eq!(verdict.clone(), ClaimVerdict::Outdated);
                }
                if verdict == ClaimVerdict::TakeOver {
                    prop_assert!(st == Status::Pending && exp < now && vk1 == vk2);
                }
                Ok(())
            },
        )
        .unwrap();
}
