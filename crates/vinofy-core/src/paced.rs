//! Every call to the video provider takes its slot from the shared call budget first, whoever makes
//! it (an invocation, the CLI), so that all of them together stay within the provider's limit.

use std::time::Duration;

use crate::domain::ids::VideoUid;
use crate::error::ProviderError;
use crate::ports::{CallBudgetGate, CreateVideoRequest, ProviderVideo, VideoProvider};

/// A provider whose calls are paced by a [`CallBudgetGate`].
pub struct Paced<P, B> {
    provider: P,
    budget: B,
}

/// A call keeps at least this much time after waiting for its slot. The use case leaves a larger
/// margin before the deadline, so a wait of the whole timeout still ends the call before it.
const MIN_CALL_TIME: Duration = Duration::from_secs(1);

impl<P, B: CallBudgetGate> Paced<P, B> {
    pub fn new(provider: P, budget: B) -> Self {
        Self { provider, budget }
    }

    pub fn inner(&self) -> &P {
        &self.provider
    }

    pub fn budget(&self) -> &B {
        &self.budget
    }

    /// Waits for a slot within `timeout`; the time the call itself has left.
    async fn slot(&self, timeout: Duration) -> Result<Duration, ProviderError> {
        let waited = self.budget.take_call(timeout).await?;
        Ok(timeout.saturating_sub(waited).max(MIN_CALL_TIME))
    }

    /// Passes a lock-out on to every process through the budget, then returns the result.
    async fn watch<T>(&self, result: Result<T, ProviderError>) -> Result<T, ProviderError> {
        if let Err(e) = &result
            && let Some(retry_after) = e.lockout()
        {
            tracing::warn!(
                retry_after_s = retry_after.as_secs(),
                "the provider locked the account out; every caller holds its calls"
            );
            self.budget.hold_for(retry_after).await;
        }
        result
    }
}

impl<P: VideoProvider, B: CallBudgetGate> VideoProvider for Paced<P, B> {
    async fn create_from_url(
        &self,
        request: &CreateVideoRequest<'_>,
        timeout: Duration,
    ) -> Result<ProviderVideo, ProviderError> {
        let timeout = self.slot(timeout).await?;
        self.watch(self.provider.create_from_url(request, timeout).await).await
    }

    async fn videos_with_tag(&self, version_tag: &str, timeout: Duration) -> Result<Vec<ProviderVideo>, ProviderError> {
        let timeout = self.slot(timeout).await?;
        self.watch(self.provider.videos_with_tag(version_tag, timeout).await).await
    }

    async fn get(&self, uid: &VideoUid, timeout: Duration) -> Result<Option<ProviderVideo>, ProviderError> {
        let timeout = self.slot(timeout).await?;
        self.watch(self.provider.get(uid, timeout).await).await
    }

    async fn delete(&self, uid: &VideoUid, timeout: Duration) -> Result<(), ProviderError> {
        let timeout = self.slot(timeout).await?;
        self.watch(self.provider.delete(uid, timeout).await).await
    }
}
