//! [`CallBudgetGate`] shared through DynamoDB: the token bucket of `vinofy_core::domain::budget`,
//! stored in the videos table under a partition key no `s3://` source can take, updated with an
//! optimistic conditional write (read, take, write if nobody wrote in between). Every ingest
//! instance and the CLI take their provider calls from it, so together they stay within the budget.

use std::sync::Arc;
use std::time::Duration;

use vinofy_core::domain::budget::{BucketState, CallBudget};
use vinofy_core::error::ProviderError;
use vinofy_core::ports::{CallBudgetGate, Clock, SystemClock};

use crate::dynamodb::{DynamoVideoStore, get_n, key, n};

/// The bucket's partition key (not `s3://…`: walks over the records skip it).
pub const BUDGET_KEY: &str = "budget:cloudflare";

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

    /// The stored bucket and its version (0: never written).
    async fn read(&self) -> Result<(Option<BucketState>, i64), ProviderError> {
        let item = self.store.read(BUDGET_KEY).await.map_err(|e| unreadable(&e))?;
        let Some(item) = item else { return Ok((None, 0)) };
        let state = get_n::<f64>(&item, "tokens")
            .zip(get_n::<i64>(&item, "at_ms"))
            .map(|(tokens, at_ms)| BucketState { tokens, at_ms });
        Ok((state, get_n(&item, "version").unwrap_or(0)))
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
            let (state, version) = self.read().await?;
            match self.budget.take(state, self.clock.now_ms()) {
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
}
