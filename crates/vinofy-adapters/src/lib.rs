//! The edges of Vinofy video ingest: the core's ports implemented for AWS (S3, DynamoDB, Secrets
//! Manager) and Cloudflare Stream, the configuration read from the environment, and the start-up
//! wiring that builds every client once per process (never per event). A second video provider is
//! one more module here.

pub mod api;
pub mod budget;
pub mod cloudflare;
pub mod config;
pub mod dynamodb;
pub mod hmac_signature;
pub mod http;
pub mod mux;
pub mod oidc;
pub mod playback;
pub mod providers;
pub mod s3;
pub mod secrets;
pub mod sqs;

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls;

use crate::config::{Config, ConfigError, SecretSource, WebhookConfig};
use vinofy_core::ingest::Ingestor;
use vinofy_core::paced::Paced;
use vinofy_core::secret::SecretString;
use vinofy_core::webhook::WebhookHandler;

pub use budget::DynamoCallBudget;
pub use cloudflare::{CloudflareStream, CloudflareWebhookVerifier};
pub use dynamodb::DynamoVideoStore;
pub use mux::{MuxVideo, MuxWebhookVerifier};
pub use providers::{PacedCloudflare, PacedMux, ProviderWebhooks, Providers};
pub use s3::S3Presigner;
pub use sqs::SqsRedelivery;

/// Why the function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Init(String),
}

/// Each connection warm-up at init is best effort: it never holds init up for longer than this.
const WARM_UP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

pub type LiveIngestor = Ingestor<S3Presigner, Providers, DynamoVideoStore>;

/// How long the visibility delays may take, and what they leave before the deadline.
const REDELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
const REDELIVERY_MARGIN: std::time::Duration = std::time::Duration::from_millis(500);

/// The ingest function: the use case, and what hands SQS messages back with a delay.
pub struct IngestFunction {
    pub ingestor: LiveIngestor,
    redelivery: SqsRedelivery,
}

impl IngestFunction {
    /// One invocation: the use case, then the visibility delays of the messages it hands back
    /// (before answering, so the batch item failures come back only when they are due).
    pub async fn handle(
        &self,
        payload: &serde_json::Value,
        deadline: vinofy_core::ingest::Deadline,
    ) -> Result<serde_json::Value, vinofy_core::error::IngestError> {
        // No stop of our own at the deadline: Lambda stops the process there. (Tried, with and without
        // a grace: under a loaded local run it threw away SQS batches that finished late, and their
        // redeliveries outlasted the burst test. The CLI, which no runtime stops, uses
        // `within_deadline`.)
        let handled = self.ingestor.handle_invocation(payload, deadline).await?;
        // Bounded: a slow SQS must not take the invocation past its deadline, which would redeliver
        // the whole batch; an undelayed message only comes back after the visibility timeout.
        let time = deadline.remaining().saturating_sub(REDELIVERY_MARGIN).min(REDELIVERY_TIMEOUT);
        if tokio::time::timeout(time, self.redelivery.apply(&handled.delays)).await.is_err() {
            tracing::warn!("gave up delaying the handed-back messages before the deadline");
        }
        Ok(handled.response)
    }
}

/// Stops `work` at the deadline, as Lambda stops a function's process: the CLI's ingests (which no
/// runtime stops) must not complete, or delete, after a live invocation took their claims over.
pub async fn within_deadline<T>(
    remaining: std::time::Duration,
    work: impl std::future::Future<Output = Result<T, vinofy_core::error::IngestError>>,
) -> Result<T, vinofy_core::error::IngestError> {
    tokio::time::timeout(remaining, work).await.map_err(|_| vinofy_core::error::IngestError::OutOfTime)?
}

/// Builds everything the ingest function needs, once.
pub async fn build_ingest_function(config: Config) -> Result<IngestFunction, StartupError> {
    let aws = aws_config().await;
    let redelivery = SqsRedelivery::new(&aws);
    Ok(IngestFunction { ingestor: build_ingestor_with(config, &aws).await?, redelivery })
}

/// Loads the AWS configuration the standard way (region, credentials, and endpoint overrides such as
/// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_DYNAMODB`), with [`aws_http_client`].
pub async fn aws_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).http_client(aws_http_client()).load().await
}

/// The HTTPS client all AWS SDK clients share: hyper + rustls with the *ring* provider, as reqwest's
/// ([`ring_tls_config`]). The SDKs' default client brings aws-lc-rs, whose first TLS handshake in a
/// process spent ~30 ms building the ClientHello here (bench/run.sh, first-event phase), and a second
/// crypto library in the binary.
pub fn aws_http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

/// The TLS configuration of the Cloudflare client: rustls on *ring*, certificates verified by the
/// platform verifier against the system's roots (what reqwest does by default, with its aws-lc).
/// Handed to reqwest explicitly (feature `rustls-no-provider`), so nothing depends on a process-wide
/// provider that a build with other features might resolve differently.
pub fn ring_tls_config() -> Result<rustls::ClientConfig, StartupError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let tls_error = |e: rustls::Error| StartupError::Init(format!("cannot set up TLS: {e}"));
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .with_platform_verifier()
        .map_err(tls_error)?
        .with_no_client_auth())
}

/// A secret from the environment or Secrets Manager (read once, at start-up).
pub async fn resolve_secret(source: &SecretSource, aws: &SdkConfig) -> Result<SecretString, StartupError> {
    match source {
        SecretSource::Inline(value) => Ok(value.clone()),
        SecretSource::SecretsManager { arn, variable } => secrets::read_secret(aws, arn, variable).await,
    }
}

/// Builds the ingest use case with its adapters, once (the function's, and the CLI's).
pub async fn build_ingestor(config: Config) -> Result<LiveIngestor, StartupError> {
    build_ingestor_with(config, &aws_config().await).await
}

async fn build_ingestor_with(config: Config, aws: &SdkConfig) -> Result<LiveIngestor, StartupError> {
    let store = DynamoVideoStore::new(aws, &config.videos_table);
    let providers = build_providers(&config, aws, &store).await?;
    Ok(Ingestor::new(S3Presigner::new(aws), providers, store, config.ingest_settings()))
}

/// The Cloudflare client, every call paced by the one budget in the videos table that every
/// process shares: the functions' and the CLI's, operator commands included.
pub fn paced_cloudflare(
    cf: &config::CloudflareConfig,
    token: SecretString,
    store: &DynamoVideoStore,
) -> Result<PacedCloudflare, StartupError> {
    let stream = CloudflareStream::new(&cf.api_url, &cf.account_id, token, cf.options.clone())?;
    Ok(Paced::new(stream, DynamoCallBudget::new(store.clone(), cf.call_budget, budget::CLOUDFLARE_BUDGET_KEY)))
}

/// The Mux client, creates (POSTs) and other calls paced by their own shared budgets.
pub fn paced_mux(
    mux: &mux::config::MuxConfig,
    credentials: mux::config::MuxCredentials,
    store: &DynamoVideoStore,
) -> Result<PacedMux, StartupError> {
    let client = MuxVideo::from_config(mux, credentials)?;
    let creates = DynamoCallBudget::new(store.clone(), mux.create_budget, budget::MUX_CREATE_BUDGET_KEY);
    let calls = DynamoCallBudget::new(store.clone(), mux.call_budget, budget::MUX_CALL_BUDGET_KEY);
    Ok(Paced::split(client, creates, calls))
}

/// Every configured provider's client, paced by its budgets in the videos table.
pub async fn build_providers(
    config: &Config,
    aws: &SdkConfig,
    store: &DynamoVideoStore,
) -> Result<Providers, StartupError> {
    let cloudflare = match &config.cloudflare {
        None => None,
        Some(cf) => Some(paced_cloudflare(cf, resolve_secret(&cf.token, aws).await?, store)?),
    };
    let mux = match &config.mux {
        None => None,
        Some(mux) => Some(paced_mux(mux, mux::config::resolve_token(&mux.token, aws).await?, store)?),
    };
    if config.warm_up_connections {
        // Open the TLS connections during init (billed at init speed, not on the first event):
        // the first request after a cold start otherwise pays the handshakes. No warm-up costs a
        // provider API call (see `CloudflareStream::warm_up`, `MuxVideo::warm_up`), so a burst of
        // cold starts spends nothing of the call budgets.
        let cloudflare_warm_up = async {
            match &cloudflare {
                Some(paced) => paced.inner().warm_up().await,
                None => false,
            }
        };
        let mux_warm_up = async {
            match &mux {
                Some(paced) => paced.inner().warm_up().await,
                None => false,
            }
        };
        let (a, b, c) = tokio::join!(store.warm_up(), cloudflare_warm_up, mux_warm_up);
        tracing::debug!(dynamodb = a, cloudflare = b, mux = c, "warmed up connections");
    }
    let primary = config.video_provider;
    // The configuration already requires the primary provider's variables.
    Providers::new(primary, cloudflare, mux)
        .ok_or_else(|| StartupError::Init(format!("VIDEO_PROVIDER={primary}, but {primary} is not configured")))
}

pub type LiveWebhook = WebhookHandler<DynamoVideoStore, ProviderWebhooks>;

/// Builds everything the webhook function needs, once.
pub async fn build_webhook(config: WebhookConfig) -> Result<LiveWebhook, StartupError> {
    let aws = aws_config().await;
    let tolerance = config.tolerance_seconds;
    let cloudflare = match &config.cloudflare_secret {
        Some(source) => Some(CloudflareWebhookVerifier::new(resolve_secret(source, &aws).await?, tolerance)),
        None => None,
    };
    let mux = match &config.mux_secret {
        Some(source) => {
            Some(MuxWebhookVerifier::new(resolve_secret(source, &aws).await?, tolerance, config.mux_options.clone()))
        }
        None => None,
    };
    let store = DynamoVideoStore::new(&aws, &config.videos_table);
    Ok(WebhookHandler::new(store, ProviderWebhooks { cloudflare, mux }, tolerance))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use vinofy_core::error::IngestError;

    #[tokio::test(start_paused = true)]
    async fn work_stops_at_the_deadline_and_is_retried() {
        let never = std::future::pending::<Result<(), IngestError>>();
        let e = within_deadline(Duration::from_secs(60), never).await.unwrap_err();
        assert!(matches!(e, IngestError::OutOfTime) && e.is_retryable(), "{e:?}");
        assert_eq!(within_deadline(Duration::from_secs(60), async { Ok::<_, IngestError>(7) }).await.unwrap(), 7);
    }
}
