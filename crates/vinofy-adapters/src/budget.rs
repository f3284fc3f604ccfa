//! [`CallBudgetGate`] shared through DynamoDB: the token bucket of `vinofy_core::domain::budget`,
//! stored in the videos table under a partition key no `s3://` source can take, updated with an
//! optimistic conditional write (read, take, write if nobody wrote in between). Every ingest
//! instance and the CLI take their provider calls from it, so together they stay within the budget.

use std::sync::Arc;
use std::time::Duration;

use vinofy_core::domain::budget::{BucketState, CallBudget, hold_until};
use vinofy_core::error::ProviderError;
use vinofy_core::ports::{CallBudgetGate, Clock, SystemClock};

use crate::dynamodb::{DynamoVideoStore, get_n, key, n};

/// The bucket's partition key (not `s3://…`: walks over the records skip it).
pub const BUDGET_KEY: &str = "budget:cloudflare";

/// The end of a lock-out (epoch ms), written apart from the bucket (it does not move `version`).
const HELD_UNTIL: &str = "held_until_ms";

/// The shared budget of one provider.
#[derive(Clone)]
pub struct DynamoCallBudget {
    store: DynamoVideoStore,
    budget: CallBudget,
    clock: Arc<dyn Clock>,
}

impl DynamoCallBudget {
    pub fn new(store: DynamoVideoStore, budget: CallBudget) -> Self {
        Self { store, budget, clock: Arc::new(SystemClock) }
    }

    pub fn budget(&self) -> CallBudget {
        self.budget
    }

    /// The stored bucket, the hold (a lock-out's end, epoch ms) and the bucket's version (0: never
    /// written).
    async fn read(&self) -> Result<(Option<BucketState>, Option<i64>, i64), ProviderError> {
        let item = self.store.read(BUDGET_KEY).await.map_err(|e| unreadable(&e))?;
        let Some(item) = item else { return Ok((None, None, 0)) };
        let state = get_n::<f64>(&item, "tokens")
            .zip(get_n::<i64>(&item, "at_ms"))
            .map(|(tokens, at_ms)| BucketState { tokens, at_ms });
        Ok((state, get_n(&item, HELD_UNTIL), get_n(&item, "version").unwrap_or(0)))
    }

    /// Stores `state` if the bucket is still at `version`; `false` if another process wrote first.
    async fn write(&self, state: BucketState, version: i64) -> Result<bool, ProviderError> {
        let result = self
            .store
            .client()
            .update_item()
            .table_name(self.store.table())
            .set_key(Some(key(BUDGET_KEY)))
            .update_expression("SET tokens = :tokens, at_ms = :at, version = :next")
            .condition_expression("attribute_not_exists(version) OR version = :version")
            .expression_attribute_values(":tokens", n(format!("{:.6}", state.tokens)))
            .expression_attribute_values(":at", n(state.at_ms))
            .expression_attribute_values(":next", n(version + 1))
            .expression_attribute_values(":version", n(version))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unavailable(&e)),
        }
    }
}

fn unavailable(e: &(impl std::error::Error + 'static)) -> ProviderError {
    unreadable(&aws_sdk_dynamodb::error::DisplayErrorContext(e))
}

fn unreadable(e: &impl std::fmt::Display) -> ProviderError {
    ProviderError::Transport(format!("the call budget in the video table cannot be read or written: {e}"))
}

impl CallBudgetGate for DynamoCallBudget {
    async fn take_call(&self, max_wait: Duration) -> Result<Duration, ProviderError> {
        let started = tokio::time::Instant::now();
        loop {
            let (state, held_until, version) = self.read().await?;
            match self.budget.take(state, held_until, self.clock.now_ms()) {
                Ok(next) => {
                    if self.write(next, version).await? {
                        return Ok(started.elapsed());
                    }
                    // Another process took a slot in between: read again at once.
                }
                Err(wait) => {
                    if started.elapsed() + wait > max_wait {
                        return Err(ProviderError::OverBudget { wait });
                    }
                    // A little jitter, so that waiting processes do not all read at the same moment.
                    let jitter = Duration::from_millis(fastrand::u64(0..=wait.as_millis().min(50) as u64));
                    tokio::time::sleep(wait + jitter).await;
                }
            }
        }
    }

    async fn hold_for(&self, retry_after: Duration) {
        let until = hold_until(self.clock.now_ms(), retry_after);
        // Only ever moved later: several processes see the same lock-out.
        let result = self
            .store
            .client()
            .update_item()
            .table_name(self.store.table())
            .set_key(Some(key(BUDGET_KEY)))
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
