//! The migration's rule is stated twice: `Expected::held_by` (the core's, which the memory store
//! uses) and the DynamoDB adapter's condition expressions. Every combination of what a record may
//! hold goes through the real conditional writes on moto, and the two must agree; so must the
//! marker's rules (a live marker is another run's, a released or expired one is resumable).

use aws_sdk_dynamodb::types::AttributeValue;
use vinofy_adapters::DynamoVideoStore;
use vinofy_adapters::dynamodb::record_from_item;
use vinofy_core::domain::ids::{ClaimToken, VideoUid};
use vinofy_core::domain::provider::{Provider, VideoRef};
use vinofy_core::domain::record::{Status, VideoState};
use vinofy_core::migrate::{Expected, MigrationMarker, MigrationStart, MigrationStore};
use vinofy_core::ports::{ProviderVideo, VideoDetails};
use vinofy_test_support::harness::*;

const NOW: i64 = 1_764_590_400_000;

type Item = std::collections::HashMap<String, AttributeValue>;

fn item(source: &str, status: Status, version_key: &str, uid: &str, provider: Option<Provider>) -> Item {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let mut item: Item = [
        ("source", s(source)),
        ("status", s(status.as_str())),
        ("version_key", s(version_key)),
        ("video_uid", s(uid)),
        ("sequencer", s("0055")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if let Some(p) = provider {
        item.insert("provider".into(), s(p.as_str()));
    }
    item
}

fn video(provider: Provider, uid: &str) -> ProviderVideo {
    ProviderVideo {
        provider,
        uid: VideoUid::parse(uid).unwrap(),
        playback_id: Some("p1".into()),
        signed_playback: true,
        state: VideoState::Ready,
        hls_url: Some("https://stream.test/p1.m3u8".into()),
        dash_url: None,
        thumbnail_url: None,
        preview_url: None,
        created: None,
        version_tag: None,
        source_tag: None,
        details: VideoDetails::default(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_condition_expressions_hold_a_record_exactly_when_the_rule_says_so() {
    let world = World::new().await;
    let store = DynamoVideoStore::new(&sdk_config(&shared().dynamodb_endpoint).await, &world.table);
    let expected_video = VideoRef::new(Provider::Cloudflare, VideoUid::parse("oldvideo").unwrap());
    let version_key = "etag:e1".into();
    let expected = Expected { version_key: &version_key, video: &expected_video };
    let (mut held, mut not_held, mut n) = (0, 0, 0);
    for status in [Status::Pending, Status::Submitted, Status::Ready, Status::Error, Status::Failed, Status::Deleted] {
        for vk in ["etag:e1", "etag:e2"] {
            for uid in ["oldvideo", "othervideo"] {
                for provider in [None, Some(Provider::Cloudflare), Some(Provider::Mux)] {
                    n += 1;
                    let source = format!("s3://{}/case-{n}.mp4", world.bucket);
                    let stored = item(&source, status, vk, uid, provider);
                    world.ddb.put_item().table_name(&world.table).set_item(Some(stored.clone())).send().await.unwrap();
                    let rule = expected.held_by(&record_from_item(&stored).unwrap());
                    let token = ClaimToken::from_stored(format!("token-{n}"));
                    let marker =
                        MigrationMarker { tag: "tag", token: &token, expires_at_ms: NOW + 60_000, now_ms: NOW };
                    let started = store.begin_migration(&source, &expected, &marker).await.unwrap();
                    let case = format!("{status} {vk} {uid} {provider:?}");
                    assert_eq!(started == (MigrationStart::Started { resumed: false }), rule, "begin: {case}");
                    assert_eq!(started == MigrationStart::Changed, !rule, "begin: {case}");
                    // The switch states the same rule (plus our marker): put the marker on every
                    // record so that only the rule decides.
                    let mut marked = stored.clone();
                    marked.insert("migration_token".into(), AttributeValue::S(token.as_str().into()));
                    world.ddb.put_item().table_name(&world.table).set_item(Some(marked)).send().await.unwrap();
                    let switched = store
                        .switch_migrated(&source, &expected, &token, &video(Provider::Mux, "newvideo"), "enc", NOW)
                        .await
                        .unwrap();
                    assert_eq!(switched, rule, "switch: {case}");
                    if rule {
                        held += 1;
                        let r =
                            world.all_items().await.into_iter().find(|i| s(i, "source").as_deref() == Some(&source));
                        let r = r.unwrap();
                        assert_eq!(s(&r, "provider").as_deref(), Some("mux"));
                        assert_eq!(s(&r, "previous_provider").as_deref(), Some("cloudflare"));
                        assert_eq!(s(&r, "previous_video_uid").as_deref(), Some("oldvideo"));
                        assert!(!r.contains_key("migration_token") && !r.contains_key("migration_tag"));
                    } else {
                        not_held += 1;
                    }
                }
            }
        }
    }
    // Only a movable status, the same version and the same video on Cloudflare (absent or named).
    assert_eq!((held, not_held), (3 * 2, 72 - 6));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_live_marker_is_another_runs_and_a_released_one_is_resumed() {
    let world = World::new().await;
    let store = DynamoVideoStore::new(&sdk_config(&shared().dynamodb_endpoint).await, &world.table);
    let old = VideoRef::new(Provider::Mux, VideoUid::parse("oldasset").unwrap());
    let version_key = "etag:e1".into();
    let expected = Expected { version_key: &version_key, video: &old };
    let source = format!("s3://{}/a.mp4", world.bucket);
    let stored = item(&source, Status::Ready, "etag:e1", "oldasset", Some(Provider::Mux));
    world.ddb.put_item().table_name(&world.table).set_item(Some(stored)).send().await.unwrap();
    let (ours, theirs) = (ClaimToken::from_stored("ours"), ClaimToken::from_stored("theirs"));
    let marker = |token, now_ms| MigrationMarker { tag: "tag-a", token, expires_at_ms: now_ms + 60_000, now_ms };

    assert_eq!(
        store.begin_migration(&source, &expected, &marker(&theirs, NOW)).await.unwrap(),
        MigrationStart::Started { resumed: false }
    );
    assert_eq!(
        store.begin_migration(&source, &expected, &marker(&ours, NOW + 1_000)).await.unwrap(),
        MigrationStart::Busy { until_ms: NOW + 60_000 },
        "their marker is live"
    );
    // Ending someone else's marker changes nothing; theirs, released with its tag kept, is resumed.
    store.end_migration(&source, &ours, false, Some("not mine")).await.unwrap();
    store.end_migration(&source, &theirs, true, Some("not ready in time")).await.unwrap();
    let record = world.all_items().await.into_iter().next().unwrap();
    assert_eq!(s(&record, "migration_error").as_deref(), Some("not ready in time"));
    assert_eq!(s(&record, "migration_tag").as_deref(), Some("tag-a"));
    assert_eq!(
        store.begin_migration(&source, &expected, &marker(&ours, NOW + 2_000)).await.unwrap(),
        MigrationStart::Started { resumed: true },
        "the same tag: look the video up first"
    );
    // A marker past its time (its run died) is taken over as well.
    assert_eq!(
        store.begin_migration(&source, &expected, &marker(&theirs, NOW + 120_000)).await.unwrap(),
        MigrationStart::Started { resumed: true }
    );
}
