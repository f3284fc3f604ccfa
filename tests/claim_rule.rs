//! One claim rule: the pure `judge_claim` decides, and the DynamoDB condition expression must agree
//! with it in every case. Each case of the rule is written to the local DynamoDB peer as a stored
//! record, then claimed through the real adapter's conditional write: the write must succeed
//! exactly when the rule says claim (or take over, or retry), and a refusal must say the rule's why.

use aws_sdk_dynamodb::types::AttributeValue;
use vinofy_adapters::DynamoVideoStore;
use vinofy_core::domain::ids::{ClaimToken, VideoUid};
use vinofy_core::domain::object::{ObjectVersion, normalize_sequencer};
use vinofy_core::domain::provider::{Provider, VideoRef};
use vinofy_core::domain::record::{ClaimVerdict, Status, StoredVersion, judge_claim};
use vinofy_core::ports::{Claim, ClaimOutcome, VideoStore};
use vinofy_test_support::harness::*;

const NOW: i64 = 1_764_590_400_000;
const STATUSES: [Status; 6] =
    [Status::Pending, Status::Submitted, Status::Failed, Status::Ready, Status::Error, Status::Deleted];

#[derive(Debug, Clone)]
struct Case {
    stored: Option<StoredVersion>,
    incoming_etag: &'static str,
    incoming_sequencer: String,
    retry_failed: bool,
}

fn cases() -> Vec<Case> {
    let seq = |s: &str| normalize_sequencer(s);
    let mut cases = Vec::new();
    for retry_failed in [false, true] {
        for incoming_sequencer in [seq("04"), seq("05"), seq("06")] {
            for incoming_etag in ["same", "other"] {
                cases.push(Case {
                    stored: None,
                    incoming_etag,
                    incoming_sequencer: incoming_sequencer.clone(),
                    retry_failed,
                });
                for status in STATUSES {
                    // A claim that is live, and one whose invocation is past its deadline.
                    for claim_expires_at_ms in [NOW + 60_000, NOW - 1] {
                        cases.push(Case {
                            stored: Some(StoredVersion {
                                status,
                                version_key: "etag:same".into(),
                                sequencer: seq("05"),
                                claim_expires_at_ms,
                                video: Some(VideoRef::new(
                                    Provider::Cloudflare,
                                    VideoUid::parse("0123456789abcdef0123456789abcdef").unwrap(),
                                )),
                                error: Some("a reason".into()),
                                version_id: None,
                            }),
                            incoming_etag,
                            incoming_sequencer: incoming_sequencer.clone(),
                            retry_failed,
                        });
                    }
                }
            }
        }
    }
    cases
}

fn item(source: &str, stored: &StoredVersion) -> std::collections::HashMap<String, AttributeValue> {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let mut item: std::collections::HashMap<String, AttributeValue> = [
        ("source", s(source)),
        ("status", s(stored.status.as_str())),
        ("version_key", s(stored.version_key.as_str())),
        ("sequencer", s(&stored.sequencer)),
        ("etag", s(stored.version_key.as_str().trim_start_matches("etag:"))),
        ("claim_expires_at", AttributeValue::N(stored.claim_expires_at_ms.to_string())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(video) = &stored.video {
        item.insert("video_uid".into(), s(video.uid.as_str()));
        item.insert("provider".into(), s(video.provider.as_str()));
    }
    if let Some(error) = &stored.error {
        item.insert("error".into(), s(error));
    }
    item
}

#[tokio::test(flavor = "multi_thread")]
async fn the_condition_expression_claims_exactly_when_the_rule_says_claim() {
    let world = World::new().await;
    let store = DynamoVideoStore::new(&sdk_config(&shared().dynamodb_endpoint).await, &world.table);
    let cases = cases();
    let (mut claimed, mut refused) = (0, 0);
    for (n, case) in cases.iter().enumerate() {
        let key = format!("videos/case-{n}.mp4");
        let object = ObjectVersion {
            bucket: world.bucket.clone(),
            key: key.clone(),
            size: 1,
            etag: case.incoming_etag.into(),
            version_id: None,
            sequencer: case.incoming_sequencer.clone(),
        };
        let source = object.source();
        if let Some(stored) = &case.stored {
            world.ddb.put_item().table_name(&world.table).set_item(Some(item(&source, stored))).send().await.unwrap();
        }
        let claim = Claim {
            object: &object,
            source: &source,
            version_key: object.version_key(),
            version_tag: object.version_tag(),
            token: ClaimToken::from_stored(format!("token-{n}")),
            expires_at_ms: NOW + 60_000,
            now_ms: NOW,
            retry_failed: case.retry_failed,
            owner: None,
        };
        let rule = judge_claim(case.stored.as_ref(), &claim.version_key, &object.sequencer, NOW, case.retry_failed);
        let written = store.claim(&claim).await.unwrap_or_else(|e| panic!("case {n} {case:?}: {e}"));
        match (&rule, written) {
            (
                ClaimVerdict::Claim | ClaimVerdict::TakeOver | ClaimVerdict::RetryFailed,
                ClaimOutcome::Claimed { verdict, .. },
            ) => {
                assert_eq!(&verdict, &rule, "case {n} {case:?}");
                let record = world.record(&key).await.unwrap();
                assert_eq!(
                    s(&record, "claim_token").as_deref(),
                    Some(claim.token.as_str()),
                    "case {n}: the claim was written"
                );
                claimed += 1;
            }
            (refusal, ClaimOutcome::Refused(verdict)) => {
                assert_eq!(&verdict, refusal, "case {n} {case:?}");
                let record = world.record(&key).await.unwrap();
                assert_eq!(s(&record, "claim_token"), None, "case {n}: a refused claim writes nothing");
                refused += 1;
            }
            (rule, written) => panic!("case {n} {case:?}: the rule says {rule:?}, DynamoDB did {written:?}"),
        }
    }
    // Both sides of the rule are exercised, in every status.
    assert_eq!(claimed + refused, cases.len());
    assert!(claimed >= 30 && refused >= 60, "claimed {claimed}, refused {refused}");
}

/// The SDK may resend a claim whose first write succeeded (its reply lost to a timeout): the resent
/// write is refused by our own claim, which must be recognised as ours (by its token) and not taken
/// for another invocation's, or the version would be left claimed by nobody.
#[tokio::test]
async fn a_resent_claim_that_had_succeeded_is_ours_and_looks_up_first() {
    let world = World::new().await;
    let store = DynamoVideoStore::new(&sdk_config(&shared().dynamodb_endpoint).await, &world.table);
    let object = ObjectVersion {
        bucket: world.bucket.clone(),
        key: "videos/resent.mp4".into(),
        size: 10,
        etag: "same".into(),
        version_id: None,
        sequencer: normalize_sequencer("05"),
    };
    let source = object.source();
    let claim = Claim {
        object: &object,
        source: &source,
        version_key: object.version_key(),
        version_tag: object.version_tag(),
        token: ClaimToken::from_stored("the-one-attempt"),
        expires_at_ms: NOW + 60_000,
        now_ms: NOW,
        retry_failed: false,
        owner: None,
    };
    assert!(matches!(store.claim(&claim).await.unwrap(), ClaimOutcome::Claimed { verdict: ClaimVerdict::Claim, .. }));
    match store.claim(&claim).await.unwrap() {
        ClaimOutcome::Claimed { verdict, nothing_submitted, .. } => {
            assert_eq!(verdict, ClaimVerdict::TakeOver, "what it replaced is not known: look up first");
            assert!(!nothing_submitted);
        }
        other => panic!("our own claim was taken for another's: {other:?}"),
    }
    // Another invocation's attempt is still refused.
    let theirs = Claim { token: ClaimToken::from_stored("another-attempt"), ..claim.clone() };
    assert_eq!(store.claim(&theirs).await.unwrap(), ClaimOutcome::Refused(ClaimVerdict::InProgress));
}
