//! Every call to the video provider takes its slot from the shared call budget first, whoever makes
//! it (an invocation, the CLI), so that all of them together stay within the provider's limit.
//! Every call passes here, so this is also where an invocation's [`crate::metrics`] of its provider
//! calls are taken: the wait for each slot, each call's latency and error, the lock-outs met.

use std::time::Duration;

use tokio::time::Instant;

use crate::domain::provider::{Provider, VideoRef};
use crate::error::ProviderError;
use crate::metrics;
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
}

/// Which budget a call outside the port takes its slot from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A POST that makes something (a signing key): Mux counts those with the creates.
    Create,
    /// Every other call (the token check, the webhook, a listing).
    Other,
}

impl<P: VideoProvider, B: CallBudgetGate> Paced<P, B> {
    /// A call of the client's own, outside the port (the CLI's token check, webhook, signing key),
    /// paced by the budget of its `kind` like the port's calls.
    pub async fn operator_call<'a, T, Fut>(
        &'a self,
        kind: CallKind,
        timeout: Duration,
        call: impl FnOnce(&'a P, Duration) -> Fut,
    ) -> Result<T, ProviderError>
    where
        Fut: std::future::Future<Output = Result<T, ProviderError>> + 'a,
    {
        let budget = match kind {
            CallKind::Create => &self.creates,
            CallKind::Other => &self.calls,
        };
        paced_call(budget, self.provider.creates_on(), timeout, |left| call(&self.provider, left)).await
    }
}

/// One provider call outside the [`VideoProvider`] port (an operator's: the token check, the
/// webhook, a signing key), paced and watched exactly like the port's: its slot from `budget`
/// first (within `timeout`), then `call` with the time left; a lock-out it meets is passed on.
pub async fn paced_call<B, T, F, Fut>(
    budget: &B,
    provider: Provider,
    timeout: Duration,
    call: F,
) -> Result<T, ProviderError>
where
    B: CallBudgetGate,
    F: FnOnce(Duration) -> Fut,
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let timeout = slot(budget, timeout, provider).await?;
    timed(budget, provider, call(timeout)).await
}

/// Waits for a slot of `budget` within `timeout`; the time the call itself has left. The wait
/// is the invocation's `BudgetWaitTime`; a refused slot, a `ProviderCallErrors` of its class.
async fn slot<B: CallBudgetGate>(budget: &B, timeout: Duration, provider: Provider) -> Result<Duration, ProviderError> {
    let started = Instant::now();
    let taken = budget.take_call(timeout).await;
    // The gate says how long it waited; a refusal, how long it took to refuse.
    let waited = taken.as_ref().map_or_else(|_| started.elapsed(), |waited| *waited);
    metrics::record(|m| {
        m.budget_wait(provider, waited);
        if let Err(e) = &taken {
            m.call_error(provider, metrics::ErrorClass::of(e));
        }
    });
    Ok(timeout.saturating_sub(taken?).max(MIN_CALL_TIME))
}

/// Makes the call, timed (`ProviderCallLatency`, and `ProviderCallErrors` when it fails); passes
/// a lock-out on to every process through the budget, then returns the result.
async fn timed<B: CallBudgetGate, T>(
    budget: &B,
    provider: Provider,
    call: impl std::future::Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    let started = Instant::now();
    let result = call.await;
    metrics::record(|m| {
        m.provider_call(provider, started.elapsed(), result.as_ref().err());
        if result.as_ref().err().and_then(ProviderError::lockout).is_some() {
            m.lockout_seen(provider);
        }
    });
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
        paced_call(&self.creates, self.provider.creates_on(), timeout, |left| {
            self.provider.create_from_url(request, left)
        })
        .await
    }

    async fn videos_with_tag(&self, version_tag: &str, timeout: Duration) -> Result<Vec<ProviderVideo>, ProviderError> {
        let provider = self.provider.creates_on();
        // As many slots as the look-up may make requests (a conservative count: the budget holds).
        let mut timeout = slot(&self.calls, timeout, provider).await?;
        for _ in 1..self.provider.requests_per_lookup() {
            timeout = slot(&self.calls, timeout, provider).await?;
        }
        timed(&self.calls, provider, self.provider.videos_with_tag(version_tag, timeout)).await
    }

    async fn get(&self, video: &VideoRef, timeout: Duration) -> Result<Option<ProviderVideo>, ProviderError> {
        paced_call(&self.calls, self.provider.creates_on(), timeout, |left| self.provider.get(video, left)).await
    }

    async fn delete(&self, video: &VideoRef, timeout: Duration) -> Result<(), ProviderError> {
        paced_call(&self.calls, self.provider.creates_on(), timeout, |left| self.provider.delete(video, left)).await
    }
}
