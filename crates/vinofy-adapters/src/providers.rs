//! Every configured video provider behind the one port: new videos (creates and their look-ups by
//! tag) go to the provider that takes new uploads (`VIDEO_PROVIDER`); a get or a delete goes to the
//! provider the record says holds the video, so records on both providers work side by side (during
//! and after `vinofy migrate`).

use std::sync::Arc;
use std::time::Duration;

use vinofy_core::domain::provider::{Provider, VideoRef};
use vinofy_core::error::ProviderError;
use vinofy_core::paced::Paced;
use vinofy_core::ports::{CreateVideoRequest, ProviderVideo, VideoProvider};

use crate::budget::DynamoCallBudget;
use crate::{CloudflareStream, MuxVideo};

/// Cloudflare, every call paced by one budget shared through the videos table.
pub type PacedCloudflare = Paced<CloudflareStream, DynamoCallBudget>;
/// Mux, creates and other calls paced by their own shared budgets.
pub type PacedMux = Paced<MuxVideo, DynamoCallBudget>;

/// The configured providers; cheap to clone (the clients are shared).
#[derive(Clone)]
pub struct Providers {
    primary: Provider,
    cloudflare: Option<Arc<PacedCloudflare>>,
    mux: Option<Arc<PacedMux>>,
}

impl Providers {
    /// `None` when `primary` is not among the configured providers.
    pub fn new(primary: Provider, cloudflare: Option<PacedCloudflare>, mux: Option<PacedMux>) -> Option<Self> {
        let providers = Self { primary, cloudflare: cloudflare.map(Arc::new), mux: mux.map(Arc::new) };
        providers.is_configured(primary).then_some(providers)
    }

    /// Who takes new videos.
    pub fn primary(&self) -> Provider {
        self.primary
    }

    pub fn is_configured(&self, provider: Provider) -> bool {
        match provider {
            Provider::Cloudflare => self.cloudflare.is_some(),
            Provider::Mux => self.mux.is_some(),
        }
    }

    /// The same providers, new videos going to `provider` (`vinofy migrate --to`); `None` if it is
    /// not configured.
    pub fn creating_on(&self, provider: Provider) -> Option<Self> {
        self.is_configured(provider).then(|| Self { primary: provider, ..self.clone() })
    }

    pub fn cloudflare(&self) -> Option<&PacedCloudflare> {
        self.cloudflare.as_deref()
    }

    pub fn mux(&self) -> Option<&PacedMux> {
        self.mux.as_deref()
    }
}

/// The variables that configure `provider` (for messages that say what to set).
pub fn variables_of(provider: Provider) -> &'static str {
    match provider {
        Provider::Cloudflare => "CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN (or CLOUDFLARE_API_TOKEN_SECRET_ARN)",
        Provider::Mux => "MUX_TOKEN_ID and MUX_TOKEN_SECRET (or MUX_TOKEN_SECRET_ARN)",
    }
}

/// Nothing sent (a `ProviderCallErrors` of class `unconfigured`).
fn unconfigured(provider: Provider) -> ProviderError {
    let variables = variables_of(provider);
    vinofy_core::metrics::record(|m| m.call_error(provider, vinofy_core::metrics::ErrorClass::Unconfigured));
    ProviderError::Unconfigured(format!("the video is on {provider}, which is not configured here (set {variables})"))
}

impl VideoProvider for Providers {
    fn creates_on(&self) -> Provider {
        self.primary
    }

    fn requests_per_lookup(&self) -> u32 {
        match self.primary {
            Provider::Cloudflare => self.cloudflare().map_or(1, |p| p.requests_per_lookup()),
            Provider::Mux => self.mux().map_or(1, |p| p.requests_per_lookup()),
        }
    }

    fn encoding(&self) -> String {
        match self.primary {
            Provider::Cloudflare => self.cloudflare().map(|p| p.encoding()).unwrap_or_default(),
            Provider::Mux => self.mux().map(|p| p.encoding()).unwrap_or_default(),
        }
    }

    async fn create_from_url(
        &self,
        request: &CreateVideoRequest<'_>,
        timeout: Duration,
    ) -> Result<ProviderVideo, ProviderError> {
        match self.primary {
            Provider::Cloudflare => {
                self.cloudflare().ok_or_else(|| unconfigured(self.primary))?.create_from_url(request, timeout).await
            }
            Provider::Mux => {
                self.mux().ok_or_else(|| unconfigured(self.primary))?.create_from_url(request, timeout).await
            }
        }
    }

    async fn videos_with_tag(&self, version_tag: &str, timeout: Duration) -> Result<Vec<ProviderVideo>, ProviderError> {
        match self.primary {
            Provider::Cloudflare => {
                self.cloudflare().ok_or_else(|| unconfigured(self.primary))?.videos_with_tag(version_tag, timeout).await
            }
            Provider::Mux => {
                self.mux().ok_or_else(|| unconfigured(self.primary))?.videos_with_tag(version_tag, timeout).await
            }
        }
    }

    async fn get(&self, video: &VideoRef, timeout: Duration) -> Result<Option<ProviderVideo>, ProviderError> {
        match video.provider {
            Provider::Cloudflare => {
                self.cloudflare().ok_or_else(|| unconfigured(video.provider))?.get(video, timeout).await
            }
            Provider::Mux => self.mux().ok_or_else(|| unconfigured(video.provider))?.get(video, timeout).await,
        }
    }

    async fn delete(&self, video: &VideoRef, timeout: Duration) -> Result<(), ProviderError> {
        match video.provider {
            Provider::Cloudflare => {
                self.cloudflare().ok_or_else(|| unconfigured(video.provider))?.delete(video, timeout).await
            }
            Provider::Mux => self.mux().ok_or_else(|| unconfigured(video.provider))?.delete(video, timeout).await,
        }
    }
}

/// Both providers' webhooks at one Function URL, told apart by their signature header (Mux's
/// `mux-signature`, Cloudflare's `webhook-signature`). A provider without a configured secret
/// gets 401 for everything, as an unsigned delivery would.
pub struct ProviderWebhooks {
    pub cloudflare: Option<crate::CloudflareWebhookVerifier>,
    pub mux: Option<crate::MuxWebhookVerifier>,
}

impl vinofy_core::ports::WebhookVerifier for ProviderWebhooks {
    fn verify(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
        now_s: i64,
    ) -> Result<ProviderVideo, vinofy_core::ports::WebhookRejection> {
        use vinofy_core::ports::WebhookRejection::Unauthenticated;
        let not_configured = |provider| Unauthenticated(format!("{provider} webhooks are not configured here"));
        if header("mux-signature").is_some() {
            return self.mux.as_ref().ok_or_else(|| not_configured(Provider::Mux))?.verify(header, body, now_s);
        }
        if header("webhook-signature").is_some() {
            let cloudflare = self.cloudflare.as_ref().ok_or_else(|| not_configured(Provider::Cloudflare))?;
            return cloudflare.verify(header, body, now_s);
        }
        Err(Unauthenticated("unsigned: no Webhook-Signature or mux-signature header".into()))
    }
}
