//! Configuration and clients, from the function's own environment variables. Each command asks
//! only for what it uses: reading the table needs VIDEOS_TABLE (and AWS), not the Cloudflare token.

use aws_config::SdkConfig;
use vinofy_ingest::adapters::{DynamoVideoStore, LiveIngestor, StartupError, aws_config, build_ingestor};
use vinofy_ingest::config::{Config, ConfigError};

use crate::error::CliError;

/// A stand-in for the Cloudflare settings when a command does not talk to Cloudflare, so the
/// library's own validation (and error messages) apply to everything else.
const UNUSED: &str = "unused";

/// Everything `backfill` and `reconcile` need: the function's configuration, validated as the
/// function validates it.
pub fn full_config() -> Result<Config, CliError> {
    Config::from_env().map_err(CliError::Config)
}

/// The configuration without the Cloudflare part (a dry-run backfill decides what is a video but
/// calls nothing): Cloudflare variables are validated when set, not required.
pub fn config_without_cloudflare() -> Result<Config, CliError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let has_token = env("CLOUDFLARE_API_TOKEN").is_some() || env("CLOUDFLARE_API_TOKEN_SECRET_ARN").is_some();
    Config::from_lookup(|name| match name {
        "CLOUDFLARE_ACCOUNT_ID" => env(name).or_else(|| Some(UNUSED.into())),
        "CLOUDFLARE_API_TOKEN" if !has_token => Some(UNUSED.into()),
        _ => env(name),
    })
    .map_err(CliError::Config)
}

/// VIDEOS_TABLE only, validated by the library (nothing else is read, so an unrelated bad variable
/// cannot stop a read-only command).
pub fn videos_table() -> Result<String, CliError> {
    videos_table_from(|name| std::env::var(name).ok()).map_err(CliError::Config)
}

fn videos_table_from(lookup: impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    Config::from_lookup(|name| match name {
        "VIDEOS_TABLE" => lookup(name),
        "CLOUDFLARE_ACCOUNT_ID" | "CLOUDFLARE_API_TOKEN" => Some(UNUSED.into()),
        _ => None,
    })
    .map(|c| c.videos_table)
}

/// Whether S3 requests go to a custom endpoint (a local S3 peer), which wants path-style URLs
/// (as `vinofy_ingest::adapters::s3` decides for the presigner).
fn custom_s3_endpoint() -> bool {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"].iter().any(|v| std::env::var(v).is_ok_and(|s| !s.trim().is_empty()))
}

pub fn s3_client(aws: &SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(aws).force_path_style(custom_s3_endpoint()).build();
    aws_sdk_s3::Client::from_conf(config)
}

/// The table, for commands that only read it.
pub async fn store(table: &str) -> DynamoVideoStore {
    DynamoVideoStore::new(&aws_config().await, table)
}

/// The function's ingest use case, wired exactly as the function wires it, except that it does not
/// warm connections up: a short-lived CLI gains nothing, and it would cost a Cloudflare call per run.
pub async fn ingestor(mut config: Config) -> Result<LiveIngestor, CliError> {
    config.warm_up_connections = false;
    build_ingestor(config).await.map_err(|e| match e {
        StartupError::Config(c) => CliError::Config(c),
        StartupError::Init(message) => CliError::Startup(message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_alone_is_enough_for_reading() {
        let table = videos_table_from(|k| (k == "VIDEOS_TABLE").then(|| "videos".into()));
        assert_eq!(table.unwrap(), "videos");
        let missing = videos_table_from(|_| None).unwrap_err();
        assert_eq!(missing.name, "VIDEOS_TABLE");
        let bad = videos_table_from(|k| (k == "VIDEOS_TABLE").then(|| "no spaces please".into())).unwrap_err();
        assert_eq!(bad.name, "VIDEOS_TABLE");
        assert!(bad.to_string().contains("VIDEOS_TABLE"), "{bad}");
    }
}
