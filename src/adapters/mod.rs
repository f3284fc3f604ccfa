//! Adapters: the ports implemented for AWS and Cloudflare, and the start-up wiring that builds
//! them once per process (never per event).

pub mod cloudflare;
pub mod dynamodb;
pub mod s3;
pub mod secrets;

use aws_config::{BehaviorVersion, SdkConfig};

use crate::config::{Config, ConfigError, TokenSource};
use crate::ingest::Ingestor;
use crate::secret::SecretString;

pub use cloudflare::CloudflareStream;
pub use dynamodb::DynamoVideoStore;
pub use s3::S3Presigner;

/// Why the function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Init(String),
}

pub type LiveIngestor = Ingestor<S3Presigner, CloudflareStream, DynamoVideoStore>;

/// Loads the AWS configuration the standard way (region, credentials, and endpoint overrides such as
/// `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_DYNAMODB`).
pub async fn aws_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// The Cloudflare API token, from the environment or Secrets Manager (read once, at start-up).
pub async fn cloudflare_token(source: &TokenSource, aws: &SdkConfig) -> Result<SecretString, StartupError> {
    match source {
        TokenSource::Inline(token) => Ok(token.clone()),
        TokenSource::SecretsManager(arn) => secrets::read_token(aws, arn).await,
    }
}

/// Builds everything the ingest function needs, once.
pub async fn build_ingestor(config: Config) -> Result<LiveIngestor, StartupError> {
    let aws = aws_config().await;
    let token = cloudflare_token(&config.cloudflare_token, &aws).await?;
    let stream = CloudflareStream::new(&config.cloudflare_api_url, &config.cloudflare_account_id, token)?;
    let presigner = S3Presigner::new(&aws);
    let store = DynamoVideoStore::new(&aws, &config.videos_table);
    Ok(Ingestor::new(presigner, stream, store, config))
}
