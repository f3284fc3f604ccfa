//! Every call to the video provider takes its slot from the shared call budget first, whoever makes
//! it (an invocation, the CLI), so that all of them together stay within the provider's limit.

use std::time::Duration;

use crate::domain::provider::VideoRef;
use crate::error::ProviderError;
use crate::ports::{CallBudgetGate, CreateVideoRequest, ProviderVideo, VideoProvider};

/// A provider whose calls are paced by a [`CallBudgetGate`]: creates by `creates`, every other call
/// by `calls` (the same budget for Cloudflare, which counts all calls alike; two for Mux, which
/// limits POSTs apart).
#[derive(Clone)]
pub struct Paced<P, B> {
    provider: P,
    creates: B,
    calls: B,
}

/// A call keeps at least this much time after waiting for its slot. The use case leaves a larger
/// margin before the deadline, so a wait of the whole timeout still ends the call before it.
const MIN_CALL_TIME: Duration = Duration::from_secs(1);

impl<P, B: CallBudgetGate + Clone> Paced<P, B> {
    /// Every call from one budget.
    pub fn new(provider: P, budget: B) -> Self {
        Self { provider, creates: budget.clone(), calls: budget }
    }
}

impl<P, B: CallBudgetGate> Paced<P, B> {
    /// Creates from `creates`, every other call from `calls`.
    pub fn split(provider: P, creates: B, calls: B) -> Self {
        Self { provider, creates, calls }
    }

    pub fn inner(&self) -> &P {
        &self.provider
    }

    /// The budget of the calls other than creates.
    pub fn budget(&self) -> &B {
        &self.calls
    }

    /// Waits for a slot of `budget` within `timeout`; the time the call itself has left.
    async fn slot(budget: &B, timeout: Duration) -> Result<Duration, ProviderError> {
        let waited = budget.take_call(timeout).await?;
        Ok(timeout.saturating_sub(waited).max(MIN_CALL_TIME))
    }

    /// Passes a lock-out on to every process through the budget, then returns the result.
    async fn watch<T>(budget: &B, result: Result<T, ProviderError>) -> Result<T, ProviderError> {
        if let Err(e) = &result
            && let Some(retry_after) = e.lockout()
        {
            tracing::warn!(
                retry_after_s = retry_after.as_secs(),
                "the provider locked the account out; every caller holds its calls"
            );
            budget.hold_for(retry_after).await;
        }
        result
    }
}

impl<P: VideoProvider, B: CallBudgetGate> VideoProvider for Paced<P, B> {
    fn encoding(&self) -> String {
        self.provider.encoding()
    }

    fn creates_on(&self) -> crate::domain::provider::Provider {
        self.provider.creates_on()
    }

    fn requests_per_lookup(&self) -> u32 {
        self.provider.requests_per_lookup()
    }

    async fn create_from_url(
        &self,
        request: &CreateVideoRequest<'_>,
        timeout: Duration,
    ) -> Result<ProviderVideo, ProviderError> {
        let timeout = Self::slot(&self.creates, timeout).await?;
        Self::watch(&self.creates, self.provider.create_from_url(request, timeout).await).await
    }

    async fn videos_with_tag(&self, version_tag: &str, timeout: Duration) -> Result<Vec<ProviderVideo>, ProviderError> {
        // As many slots as the look-up may make requests (a conservative count: the budget holds).
        let mut timeout = Self::slot(&self.calls, timeout).await?;
        for _ in 1..self.provider.requests_per_lookup() {
            timeout = Self::slot(&self.calls, timeout).await?;
        }
        Self::watch(&self.calls, self.provider.videos_with_tag(version_tag, timeout).await).await
    }

    async fn get(&self, video: &VideoRef, timeout: Duration) -> Result<Option<ProviderVideo>, ProviderError> {
        let timeout = Self::slot(&self.calls, timeout).await?;
        Self::watch(&self.calls, self.provider.get(video, timeout).await).await
    }

    async fn delete(&self, video: &VideoRef, timeout: Duration) -> Result<(), ProviderError> {
        let timeout = Self::slot(&self.calls, timeout).await?;
        Self::watch(&self.calls, self.provider.delete(video, timeout).await).await
    }
}
