//! Configuration and clients, from the function's own environment variables. Each command asks
//! only for what it uses: reading the table needs VIDEOS_TABLE (and AWS), not the Cloudflare token.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::config::ProvideCredentials;
use vinofy_adapters::config::CloudflareConfig;
use vinofy_adapters::config::{Config, ConfigError};
use vinofy_adapters::mux::config::MuxConfig;
use vinofy_adapters::{
    DynamoVideoStore, LiveIngestor, PacedCloudflare, PacedMux, StartupError, aws_config, build_ingestor,
    paced_cloudflare, paced_mux, resolve_secret,
};

use crate::error::CliError;

/// A stand-in for the settings a command does not use (the Cloudflare ones when it does not talk to
/// Cloudflare; the upload bucket, which only decodes notifications), so the library's own validation
/// (and error messages) apply to everything else.
const UNUSED: &str = "unused";

/// Presigned URLs the CLI hands Cloudflare live at most this long, whatever PRESIGN_TTL_SECONDS
/// says (the function may use up to 7 days; an operator's URL should not).
pub const CLI_MAX_PRESIGN_TTL: Duration = Duration::from_secs(3600);
/// With long-term keys (allowed explicitly), the URL's lifetime is all that limits it.
pub const LONG_TERM_PRESIGN_TTL: Duration = Duration::from_secs(900);
/// Set to `1` (or pass `--allow-long-term-credentials`) to presign with long-term IAM user keys.
pub const ALLOW_LONG_TERM_ENV: &str = "VINOFY_ALLOW_LONG_TERM_CREDENTIALS";

/// The configuration of `backfill` and `reconcile`, validated as the function validates it.
/// `bucket` (`backfill --bucket`) stands for UPLOAD_BUCKET when that is unset; a different one is
/// refused: the functions can only read the upload bucket, so its records would be unusable.
pub fn full_config(bucket: Option<&str>) -> Result<Config, CliError> {
    config_with(bucket, env)
}

/// The configuration without the Cloudflare part (a dry-run backfill decides what is a video but
/// calls nothing): Cloudflare variables are validated when set, not required.
pub fn config_without_cloudflare(bucket: Option<&str>) -> Result<Config, CliError> {
    let has_token = env("CLOUDFLARE_API_TOKEN").is_some() || env("CLOUDFLARE_API_TOKEN_SECRET_ARN").is_some();
    config_with(bucket, |name| match name {
        "CLOUDFLARE_ACCOUNT_ID" => env(name).or_else(|| Some(UNUSED.into())),
        "CLOUDFLARE_API_TOKEN" if !has_token => Some(UNUSED.into()),
        _ => env(name),
    })
}

/// A variable's value, trimmed; `None` when unset or blank. Every command reads its environment
/// through this.
pub(crate) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn config_with(bucket: Option<&str>, lookup: impl Fn(&str) -> Option<String>) -> Result<Config, CliError> {
    if let Some(bucket) = bucket {
        vinofy_core::domain::object::check_bucket_name(bucket)
            .map_err(|e| CliError::Usage(format!("--bucket: {e}")))?;
    }
    if let (Some(bucket), Some(upload)) = (bucket, lookup("UPLOAD_BUCKET"))
        && bucket != upload.trim()
    {
        return Err(CliError::Usage(format!(
            "--bucket {bucket} is not the upload bucket (UPLOAD_BUCKET={upload}); the functions can read only that one"
        )));
    }
    Config::from_lookup(|name| match name {
        "UPLOAD_BUCKET" => lookup(name).or_else(|| Some(bucket.unwrap_or(UNUSED).to_owned())),
        _ => lookup(name),
    })
    .map_err(CliError::Config)
}

/// Whether the AWS credentials expire by themselves (a session token: SSO, an assumed role, STS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Temporary,
    LongTerm,
}

/// How long the CLI's presigned URLs may live, or why it refuses to presign at all. A presigned
/// URL is a credential that Cloudflare keeps (`meta.downloaded-from`): signed with long-term keys it
/// stays valid for its whole lifetime, so those are refused unless explicitly allowed.
pub fn presign_ttl(kind: CredentialKind, allow_long_term: bool, configured: Duration) -> Result<Duration, CliError> {
    match (kind, allow_long_term) {
        (CredentialKind::Temporary, _) => Ok(configured.min(CLI_MAX_PRESIGN_TTL)),
        (CredentialKind::LongTerm, true) => Ok(configured.min(LONG_TERM_PRESIGN_TTL)),
        (CredentialKind::LongTerm, false) => Err(CliError::Usage(format!(
            "refusing to presign with long-term AWS credentials (no session token): the URL handed to \
             Cloudflare would be signed by a permanent key. Use temporary credentials (aws sso login, an \
             assumed role, or aws sts get-session-token), or pass --allow-long-term-credentials \
             ({ALLOW_LONG_TERM_ENV}=1) to accept URLs that live {} minutes",
            LONG_TERM_PRESIGN_TTL.as_secs() / 60
        ))),
    }
}

async fn credential_kind(aws: &SdkConfig) -> Result<CredentialKind, CliError> {
    let provider = aws.credentials_provider().ok_or_else(|| CliError::Startup("no AWS credentials found".into()))?;
    let credentials = provider
        .provide_credentials()
        .await
        .map_err(|e| CliError::Startup(format!("cannot load AWS credentials: {e}")))?;
    Ok(if credentials.session_token().is_some() { CredentialKind::Temporary } else { CredentialKind::LongTerm })
}

/// VIDEOS_TABLE only, validated by the library (nothing else is read, so an unrelated bad variable
/// cannot stop a read-only command).
pub fn videos_table() -> Result<String, CliError> {
    videos_table_from(|name| std::env::var(name).ok()).map_err(CliError::Config)
}

fn videos_table_from(lookup: impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    Config::from_lookup(|name| match name {
        "VIDEOS_TABLE" => lookup(name),
        "CLOUDFLARE_ACCOUNT_ID" | "CLOUDFLARE_API_TOKEN" | "UPLOAD_BUCKET" => Some(UNUSED.into()),
        _ => None,
    })
    .map(|c| c.videos_table)
}

/// Whether S3 requests go to a custom endpoint (a local S3 peer), which wants path-style URLs
/// (as `vinofy_adapters::s3` decides for the presigner).
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

/// The secret an operator command stores into: `--secret-arn`, else `variable` (`hint` says more
/// about it); it must be a Secrets Manager ARN.
pub fn secret_arn(flag: Option<String>, variable: &str, what: &str, hint: &str) -> Result<String, CliError> {
    let arn = flag.or_else(|| env(variable)).ok_or_else(|| {
        CliError::Usage(format!("name the secret to store {what} in: --secret-arn ARN (or {variable}{hint})"))
    })?;
    if !arn.starts_with("arn:") {
        return Err(CliError::Usage(format!("--secret-arn {arn:?} is not a Secrets Manager ARN")));
    }
    Ok(arn)
}

/// The Cloudflare client of an operator command (`webhook register`, `signing-key create`), from
/// the variables `backfill` reads, paced by the call budget the functions share in VIDEOS_TABLE:
/// an operator's call lands on the same account limit as a burst's, and waits out its lock-outs.
pub async fn operator_cloudflare(aws: &SdkConfig) -> Result<(PacedCloudflare, CloudflareConfig), CliError> {
    let cf = CloudflareConfig::from_lookup(&env, true).map_err(CliError::Config)?.expect("required");
    let store = DynamoVideoStore::new(aws, &videos_table()?);
    let token = resolve_secret(&cf.token, aws).await.map_err(startup)?;
    Ok((paced_cloudflare(&cf, token, &store).map_err(startup)?, cf))
}

/// The Mux client of an operator command, paced by the Mux budgets the functions share.
pub async fn operator_mux(aws: &SdkConfig) -> Result<PacedMux, CliError> {
    let mux = MuxConfig::from_lookup(env).map_err(CliError::Config)?.ok_or_else(|| {
        CliError::Usage("Mux is not configured: set MUX_TOKEN_ID and MUX_TOKEN_SECRET (or MUX_TOKEN_SECRET_ARN)".into())
    })?;
    let store = DynamoVideoStore::new(aws, &videos_table()?);
    let credentials = vinofy_adapters::mux::config::resolve_token(&mux.token, aws).await.map_err(startup)?;
    paced_mux(&mux, credentials, &store).map_err(startup)
}

fn startup(e: StartupError) -> CliError {
    CliError::Startup(e.to_string())
}

/// The function's ingest use case, wired exactly as the function wires it, except that it does not
/// warm connections up (a short-lived CLI gains nothing, and it would cost a Cloudflare call per
/// run) and that its presigned URLs obey [`presign_ttl`].
pub async fn ingestor(mut config: Config, allow_long_term_credentials: bool) -> Result<LiveIngestor, CliError> {
    config.warm_up_connections = false;
    let allow = allow_long_term_credentials || env(ALLOW_LONG_TERM_ENV).is_some_and(|v| v == "1" || v == "true");
    let kind = credential_kind(&aws_config().await).await?;
    config.presign_ttl = presign_ttl(kind, allow, config.presign_ttl)?;
    if kind == CredentialKind::LongTerm {
        eprintln!(
            "WARNING: presigning with long-term AWS credentials (allowed explicitly); each URL given to \
             the video provider lives {} s",
            config.presign_ttl.as_secs()
        );
    }
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

    #[test]
    fn presigned_urls_are_short_and_long_term_keys_are_refused_unless_allowed() {
        let week = Duration::from_secs(604_800);
        assert_eq!(presign_ttl(CredentialKind::Temporary, false, week).unwrap(), CLI_MAX_PRESIGN_TTL);
        assert_eq!(presign_ttl(CredentialKind::Temporary, false, Duration::from_secs(60)).unwrap().as_secs(), 60);
        assert_eq!(presign_ttl(CredentialKind::LongTerm, true, week).unwrap(), LONG_TERM_PRESIGN_TTL);
        let refused = presign_ttl(CredentialKind::LongTerm, false, week).unwrap_err();
        assert_eq!(refused.exit_code(), std::process::ExitCode::from(2));
        assert!(refused.message().unwrap().contains("--allow-long-term-credentials"));
    }

    #[test]
    fn the_upload_bucket_comes_from_the_environment_or_the_listed_bucket() {
        let base = |extra: Option<&'static str>| {
            move |k: &str| match k {
                "VIDEOS_TABLE" => Some("videos".to_owned()),
                "CLOUDFLARE_ACCOUNT_ID" | "CLOUDFLARE_API_TOKEN" => Some("x".to_owned()),
                "UPLOAD_BUCKET" => extra.map(str::to_owned),
                _ => None,
            }
        };
        assert_eq!(config_with(Some("uploads"), base(None)).unwrap().upload_bucket, "uploads");
        assert_eq!(config_with(None, base(Some("uploads"))).unwrap().upload_bucket, "uploads");
        assert_eq!(config_with(Some("uploads"), base(Some("uploads"))).unwrap().upload_bucket, "uploads");
        let other = config_with(Some("other"), base(Some("uploads"))).unwrap_err();
        assert!(other.message().unwrap().contains("UPLOAD_BUCKET=uploads"), "{other:?}");
        let invalid = config_with(Some("Not_A_Bucket"), base(None)).unwrap_err();
        assert!(invalid.message().unwrap().starts_with("--bucket"), "{invalid:?}");
        let invalid_env = config_with(None, base(Some("Not_A_Bucket"))).unwrap_err();
        assert!(invalid_env.message().unwrap().contains("UPLOAD_BUCKET"), "{invalid_env:?}");
    }
}
