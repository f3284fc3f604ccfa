//! The call budget shared through DynamoDB (the local moto peer): several takers racing on one
//! bucket never get more than N calls into any window of W, every one of them gets its calls, and
//! the bucket is no record (walks over the table do not see it).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use vinofy_adapters::DynamoVideoStore;
use vinofy_adapters::budget::{CLOUDFLARE_BUDGET_KEY, DynamoCallBudget};
use vinofy_core::domain::budget::CallBudget;
use vinofy_core::domain::record::RecordFilter;
use vinofy_core::ingest::now_ms;
use vinofy_core::ports::{CallBudgetGate, VideoRecords};
use vinofy_test_support::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn racing_takers_share_one_budget_and_never_exceed_it() {
    let world = World::new().await;
    let store = DynamoVideoStore::new(&sdk_config(&shared().dynamodb_endpoint).await, &world.table);
    // 20 calls per 2 s: a burst of 1, then 9.5 a second.
    let budget = CallBudget::parse("20/2").unwrap();
    let granted = Arc::new(Mutex::new(Vec::new()));
    let mut takers = Vec::new();
    for _ in 0..4 {
        let (gate, granted) = (DynamoCallBudget::new(store.clone(), budget, CLOUDFLARE_BUDGET_KEY), granted.clone());
        takers.push(tokio::spawn(async move {
            for _ in 0..10 {
                gate.take_call(Duration::from_secs(30)).await.expect("a slot within 30 s");
                granted.lock().unwrap().push(now_ms());
            }
        }));
    }
    for taker in takers {
        taker.await.unwrap();
    }
    let mut granted = granted.lock().unwrap().clone();
    granted.sort();
    assert_eq!(granted.len(), 40, "every taker got its calls");
    for (i, start) in granted.iter().enumerate() {
        let in_window = granted[i..].iter().take_while(|t| **t < start + 2_000).count();
        assert!(in_window <= 20, "{in_window} calls within 2 s of call {i}");
    }

    // The bucket is empty now: with no slot soon enough, a take is refused at once, with the wait
    // it would need.
    let gate = DynamoCallBudget::new(store.clone(), budget, CLOUDFLARE_BUDGET_KEY);
    match gate.take_call(Duration::ZERO).await {
        Err(vinofy_core::error::ProviderError::OverBudget { wait }) => assert!(wait > Duration::ZERO, "{wait:?}"),
        other => panic!("expected OverBudget, got {other:?}"),
    }

    // The bucket lives in the videos table, but is no record.
    let page = store.scan(&RecordFilter::default(), None).await.unwrap();
    assert!(page.records.is_empty(), "{:?}", page.records);
    assert!(world.all_items().await.iter().any(|r| s(r, "source").as_deref() == Some("budget:cloudflare")));
    assert!(world.all_records().await.is_empty());
}

/// A lock-out seen by one process holds every other, even one whose view of the bucket is older
/// than the hold (its write on that view is refused and returns the item as it is now).
#[tokio::test(flavor = "multi_thread")]
async fn a_lockout_seen_by_one_process_holds_every_other() {
    let world = World::new().await;
    let store = DynamoVideoStore::new(&sdk_config(&shared().dynamodb_endpoint).await, &world.table);
    let budget = CallBudget::parse("1000/300").unwrap();
    let (one, other) = (
        DynamoCallBudget::new(store.clone(), budget, CLOUDFLARE_BUDGET_KEY),
        DynamoCallBudget::new(store.clone(), budget, CLOUDFLARE_BUDGET_KEY),
    );
    other.take_call(Duration::ZERO).await.expect("a full bucket has a slot");
    one.take_call(Duration::ZERO).await.expect("and another");

    one.hold_for(Duration::from_secs(300)).await;
    for gate in [&one, &other] {
        match gate.take_call(Duration::from_secs(10)).await {
            Err(vinofy_core::error::ProviderError::OverBudget { wait }) => {
                assert!(wait > Duration::from_secs(290) && wait <= Duration::from_secs(300), "{wait:?}")
            }
            other => panic!("expected the hold, got {other:?}"),
        }
    }
    // A shorter lock-out seen later does not shorten the hold.
    other.hold_for(Duration::from_secs(5)).await;
    assert!(matches!(one.take_call(Duration::from_secs(10)).await,
        Err(vinofy_core::error::ProviderError::OverBudget { wait }) if wait > Duration::from_secs(200)));
}

/// Cloudflare's rate limit (code 971) is a lock-out even when its 429 carries no `retry-after`:
/// the real binary hands the event back for the 5 minutes and holds every process that long,
/// instead of calling again every few seconds into the lock-out.
#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_429_without_retry_after_is_shared_as_a_five_minute_lockout() {
    let world = World::new().await;
    let function = Function::start(&world, &[]).await;
    world.inject_faults(serde_json::json!([{"route": "copy", "times": 1, "status": 429, "code": 971}])).await;
    let event = world.upload("videos/locked.mp4", &sample_video()).await;
    let reply = function.invoke_with_deadline(&event, Duration::from_secs(60)).await.expect("a reply");
    match reply {
        Reply::Error { error_type, .. } => assert_eq!(error_type, "Retryable.Deferred"),
        other => panic!("expected a hand-back, got {other:?}"),
    }
    let budget = world.all_items().await.into_iter().find(|i| s(i, "source").as_deref() == Some("budget:cloudflare"));
    let held =
        budget.and_then(|b| b.get("held_until_ms").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok()));
    let held_for = held.expect("the lock-out is in the budget") - now_ms();
    assert!(held_for > 290_000 && held_for <= 300_000, "held for {held_for} ms");
    assert_eq!(world.requests("copy").await, 1, "no second call into the lock-out");
    let record = world.record("videos/locked.mp4").await.unwrap();
    assert_eq!(s(&record, "status").as_deref(), Some("pending"), "not failed: {record:?}");
}
