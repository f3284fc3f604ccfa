//! [`CallBudgetGate`] shared through DynamoDB: the token bucket of `vinofy_core::domain::budget`,
//! stored in the videos table under a partition key no `s3://` source can take, updated with an
//! optimistic conditional write. Every ingest instance and the CLI take their provider calls from
//! it, so together they stay within the budget.
//!
//! One round trip per slot in the common case: the process remembers the bucket as it last saw it
//! and writes the next state on that version at once; if another process wrote in between (or a
//! lock-out is on), the refused write returns the item as it is now (`ALL_OLD` on the failed
//! condition), and the take is computed again from that, still without a read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use vinofy_core::domain::budget::{BucketState, CallBudget, hold_until};
use vinofy_core::domain::provider::Provider;
use vinofy_core::error::ProviderError;
use vinofy_core::ports::{CallBudgetGate, Clock, SystemClock};

use crate::dynamodb::{DynamoVideoStore, get_n, key, n, refused_item};

/// The buckets' partition keys (not `s3://…`: walks over the records skip them). Cloudflare counts
/// every call in one budget; Mux limits POSTs (creates) apart from every other method.
pub const CLOUDFLARE_BUDGET_KEY: &str = "budget:cloudflare";
pub const MUX_CREATE_BUDGET_KEY: &str = "budget:mux:create";
pub const MUX_CALL_BUDGET_KEY: &str = "budget:mux";

/// The end of a lock-out (epoch ms), written apart from the bucket (it does not move `version`).
const HELD_UNTIL: &str = "held_until_ms";

/// The item as a process last saw it.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    state: Option<BucketState>,
    held_until: Option<i64>,
    /// 0: never written.
    version: i64,
}

impl Seen {
    fn of(item: &HashMap<String, AttributeValue>) -> Self {
        let state = get_n::<f64>(item, "tokens")
            .zip(get_n::<i64>(item, "at_ms"))
            .map(|(tokens, at_ms)| BucketState { tokens, at_ms });
        Self { state, held_until: get_n(item, HELD_UNTIL), version: get_n(item, "version").unwrap_or(0) }
    }
}

/// The shared budget of one provider.
#[derive(Clone)]
pub struct DynamoCallBudget {
    store: DynamoVideoStore,
    /// The item's partition key.
    key: &'static str,
    budget: CallBudget,
    clock: Arc<dyn Clock>,
    /// `None` until first read (or after an error): then read once.
    seen: Arc<Mutex<Option<Seen>>>,
}

enum Write {
    Taken,
    /// Refused: the item as it is now (if DynamoDB returned it).
    Moved(Option<Seen>),
}

impl DynamoCallBudget {
    /// The budget stored in the item `key` (one of the `*_BUDGET_KEY`s).
    pub fn new(store: DynamoVideoStore, budget: CallBudget, key: &'static str) -> Self {
        Self { store, key, budget, clock: Arc::new(SystemClock), seen: Arc::default() }
    }

    pub fn budget(&self) -> CallBudget {
        self.budget
    }

    async fn read(&self) -> Result<Seen, ProviderError> {
        let item = self.store.read(self.key).await.map_err(|e| unreadable(&e))?;
        Ok(item.as_ref().map(Seen::of).unwrap_or_default())
    }

    /// Stores `state` if the bucket is still at `version` and no lock-out holds calls at the
    /// bucket's time (`state.at_ms`, which never goes back).
    async fn write(&self, state: BucketState, version: i64) -> Result<Write, ProviderError> {
        let result = self
            .update()
            .update_expression("SET tokens = :tokens, at_ms = :at, version = :next")
            .condition_expression(
                "(attribute_not_exists(version) OR version = :version) AND (attribute_not_exists(#held) OR #held <= :at)",
            )
            .expression_attribute_names("#held", HELD_UNTIL)
            .expression_attribute_values(":tokens", n(format!("{:.6}", state.tokens)))
            .expression_attribute_values(":at", n(state.at_ms))
            .expression_attribute_values(":next", n(version + 1))
            .expression_attribute_values(":version", n(version))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Write::Taken),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Ok(Write::Moved(refused_item(&e).map(Seen::of)))
            }
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// An update of the bucket's item.
    fn update(&self) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.store.client().update_item().table_name(self.store.table()).set_key(Some(key(self.key)))
    }

    fn remember(&self, seen: Option<Seen>) {
        *self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = seen;
    }
}

/// The provider whose budget the item `key` holds.
fn provider_of(key: &str) -> Provider {
    if key.starts_with("budget:mux") { Provider::Mux } else { Provider::Cloudflare }
}

fn unavailable(e: &(impl std::error::Error + 'static)) -> ProviderError {
    unreadable(&aws_sdk_dynamodb::error::DisplayErrorContext(e))
}

fn unreadable(e: &impl std::fmt::Display) -> ProviderError {
    ProviderError::NotSent(format!("the call budget in the video table cannot be read or written: {e}"))
}

impl CallBudgetGate for DynamoCallBudget {
    async fn take_call(&self, max_wait: Duration) -> Result<Duration, ProviderError> {
        let started = tokio::time::Instant::now();
        let remembered = *self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut seen = match remembered {
            Some(seen) => seen,
            None => self.read().await?,
        };
        // A lock-out held this slot back (`LockoutsSeen`, once per slot).
        let mut held = false;
        loop {
            let now = self.clock.now_ms();
            if !held && seen.held_until.is_some_and(|until| until > now) {
                held = true;
                let provider = provider_of(self.key);
                vinofy_core::metrics::record(|m| m.lockout_seen(provider));
            }
            match self.budget.take(seen.state, seen.held_until, now) {
                Ok(next) => match self.write(next, seen.version).await {
                    Ok(Write::Taken) => {
                        self.remember(Some(Seen { state: Some(next), version: seen.version + 1, ..seen }));
                        return Ok(started.elapsed());
                    }
                    // Another process took a slot in between, or a lock-out began: try again on
                    // the item as it is now.
                    Ok(Write::Moved(Some(now_seen))) => seen = now_seen,
                    Ok(Write::Moved(None)) => seen = self.read().await?,
                    Err(e) => {
                        self.remember(None);
                        return Err(e);
                    }
                },
                Err(wait) => {
                    if started.elapsed() + wait > max_wait {
                        self.remember(Some(seen));
                        return Err(ProviderError::OverBudget { wait });
                    }
                    // A little jitter, so that waiting processes do not all write at the same moment.
                    let jitter = Duration::from_millis(fastrand::u64(0..=wait.as_millis().min(20) as u64));
                    tokio::time::sleep(wait + jitter).await;
                    // No read: the write on what we saw either succeeds or returns what changed.
                }
            }
        }
    }

    async fn hold_for(&self, retry_after: Duration) {
        let until = hold_until(self.clock.now_ms(), retry_after);
        // Only ever moved later: several processes see the same lock-out.
        let result = self
            .update()
            .update_expression("SET #held = :until")
            .condition_expression("attribute_not_exists(#held) OR #held < :until")
            .expression_attribute_names("#held", HELD_UNTIL)
            .expression_attribute_values(":until", n(until))
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::warn!(held_until_ms = until, "every caller holds its provider calls until the lock-out ends")
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
            Err(e) => tracing::warn!(error = %unavailable(&e), "could not share the lock-out through the call budget"),
        }
    }
}
