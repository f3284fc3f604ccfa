//! The edges of Vinofy video ingest: the core's ports implemented for AWS (S3, DynamoDB, Secrets
//! Manager) and Cloudflare Stream, the configuration read from the environment, and the start-up
//! wiring that builds every client once per process (never per event). A second video provider is
//! one more module here.

pub mod budget;
pub mod cloudflare;
pub mod config;
pub mod dynamodb;
pub mod hmac_signature;
mod http;
pub mod mux;
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

/// Cloudflare, every call paced by the budget shared through the videos table.
pub type PacedCloudflare = Paced<CloudflareStream, DynamoCallBudget>;

pub type LiveIngestor = Ingestor<S3Presigner, PacedCloudflare, DynamoVideoStore>;

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
    let aws = aws.clone();
    let token = resolve_secret(&config.cloudflare_token, &aws).await?;
    let stream = CloudflareStream::new(
        &config.cloudflare_api_url,
        &config.cloudflare_account_id,
        token,
        config.cloudflare_options.clone(),
    )?;
    let presigner = S3Presigner::new(&aws);
    let store = DynamoVideoStore::new(&aws, &config.videos_table);
    let budget = DynamoCallBudget::new(store.clone(), config.cloudflare_call_budget);
    if config.warm_up_connections {
        // Open the TLS connections during init (billed at init speed, not on the first event):
        // the first request after a cold start otherwise pays the handshakes. Neither costs a
        // Cloudflare API call (see `CloudflareStream::warm_up`), so a burst of cold starts spends
        // nothing of the call budget.
        let cloudflare = stream.warm_up();
        let (a, b) = tokio::join!(store.warm_up(), cloudflare);
        tracing::debug!(dynamodb = a, cloudflare = b, "warmed up connections");
    }
    let stream = Paced::new(stream, budget);
    Ok(Ingestor::new(presigner, stream, store, config.ingest_settings()))
}

pub type LiveWebhook = WebhookHandler<DynamoVideoStore, CloudflareWebhookVerifier>;

/// Builds everything the webhook function needs, once.
pub async fn build_webhook(config: WebhookConfig) -> Result<LiveWebhook, StartupError> {
    let aws = aws_config().await;
    let secret = resolve_secret(&config.secret, &aws).await?;
    let store = DynamoVideoStore::new(&aws, &config.videos_table);
    let verifier = CloudflareWebhookVerifier::new(secret, config.tolerance_seconds);
    Ok(WebhookHandler::new(store, verifier, config.tolerance_seconds))
}
