//! The `api` function's configuration and wiring: the OpenID Connect verifier, the upload bucket,
//! the video table (read only) and the playback signing keys, built once at start-up.

use std::net::IpAddr;
use std::time::Duration;

use vinofy_core::api::{ApiHandler, ApiSettings, PlaybackAccess};
use vinofy_core::domain::upload::{MAX_SINGLE_PUT_BYTES, MIN_PART_BYTES, UploadLimits};

use crate::config::{ConfigError, bad, parse_number, table_name, upload_prefix, video_extensions};
use crate::oidc::{JwksVerifier, OidcSettings};
use crate::playback::{ProviderPlaybackSigner, SigningKey, parse_access_rules};
use crate::s3::S3Uploads;
use crate::{DynamoVideoStore, StartupError};

const GIB: u64 = 1024 * 1024 * 1024;
/// Cloudflare Stream's largest upload (30 GB), the default `MAX_UPLOAD_BYTES`.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 30 * GIB;
pub const DEFAULT_PART_BYTES: u64 = 100 * 1024 * 1024;

/// Where a signing key comes from: inline JSON (local development) or a Secrets Manager ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Inline { variable: &'static str, json: vinofy_core::secret::SecretString },
    SecretsManager { variable: &'static str, arn: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    pub videos_table: String,
    pub settings: ApiSettings,
    pub oidc: OidcSettings,
    /// `STREAM_SIGNING_KEY_SECRET_ARN` (or `STREAM_SIGNING_KEY` inline): `{"id","pem"}`.
    pub stream_signing_key: Option<KeySource>,
    /// `STREAM_ACCESS_RULES`: Cloudflare `accessRules` put in every token.
    pub stream_access_rules: Option<serde_json::Value>,
    /// `MUX_SIGNING_KEY_SECRET_ARN` (or `MUX_SIGNING_KEY` inline): `{"id","private_key"}`.
    pub mux_signing_key: Option<KeySource>,
}

/// `AUTH_JWKS_URL` must be https: the keys decide who is who. Plain http only on loopback (the
/// local world's dev issuer).
fn jwks_url(value: Option<String>) -> Result<String, ConfigError> {
    const NAME: &str = "AUTH_JWKS_URL";
    let text = value.ok_or_else(|| {
        bad(NAME, "is required (the identity provider's JWKS, e.g. https://<issuer>/.well-known/jwks.json)")
    })?;
    let url = reqwest::Url::parse(&text).map_err(|_| bad(NAME, format!("is not a URL: {text:?}")))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(text),
        "http" if loopback => Ok(text),
        _ => Err(bad(NAME, "must be an https URL (plain http only on a loopback address)")),
    }
}

fn key_source(
    get: &impl Fn(&str) -> Option<String>,
    inline: &'static str,
    arn: &'static str,
) -> Result<Option<KeySource>, ConfigError> {
    match (get(inline), get(arn)) {
        (Some(_), Some(_)) => Err(bad(inline, format!("set either {inline} or {arn}, not both"))),
        (Some(json), None) => {
            Ok(Some(KeySource::Inline { variable: inline, json: vinofy_core::secret::SecretString::new(json) }))
        }
        (None, Some(value)) if value.starts_with("arn:") => {
            Ok(Some(KeySource::SecretsManager { variable: arn, arn: value }))
        }
        (None, Some(_)) => Err(bad(arn, "must be a Secrets Manager secret ARN")),
        (None, None) => Ok(None),
    }
}

fn bounded(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let value = parse_number(name, get(name), default)?;
    if !range.contains(&value) {
        return Err(bad(name, format!("must be between {} and {}, got {value}", range.start(), range.end())));
    }
    Ok(value)
}

impl ApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let videos_table = table_name(get("VIDEOS_TABLE"))?;
        let upload_bucket = get("UPLOAD_BUCKET").ok_or_else(|| bad("UPLOAD_BUCKET", "is required but not set"))?;
        vinofy_core::domain::object::check_bucket_name(&upload_bucket).map_err(|e| bad("UPLOAD_BUCKET", e))?;

        let issuer = get("AUTH_ISSUER")
            .ok_or_else(|| bad("AUTH_ISSUER", "is required (the identity provider's issuer URL, the tokens' iss)"))?;
        let audiences: Vec<String> = get("AUTH_AUDIENCE")
            .ok_or_else(|| {
                bad("AUTH_AUDIENCE", "is required (the tokens' aud: your app's client id or API identifier)")
            })?
            .split(',')
            .map(|a| a.trim().to_owned())
            .filter(|a| !a.is_empty())
            .collect();
        if audiences.is_empty() {
            return Err(bad("AUTH_AUDIENCE", "lists no audience"));
        }
        let oidc = OidcSettings {
            issuer,
            audiences,
            jwks_url: jwks_url(get("AUTH_JWKS_URL"))?,
            leeway_seconds: bounded(&get, "AUTH_LEEWAY_SECONDS", 60, 0..=60)?,
            min_refetch: Duration::from_secs(bounded(&get, "AUTH_JWKS_MIN_REFETCH_SECONDS", 30, 1..=60)?),
            max_age: Duration::from_secs(bounded(&get, "AUTH_JWKS_MAX_AGE_SECONDS", 3600, 60..=86_400)?),
        };

        let max_bytes = bounded(&get, "MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES, 1..=5 * 1024 * GIB)?;
        let multipart_threshold =
            bounded(&get, "MULTIPART_THRESHOLD_BYTES", MAX_SINGLE_PUT_BYTES, MIN_PART_BYTES..=MAX_SINGLE_PUT_BYTES)?;
        let part_bytes =
            bounded(&get, "MULTIPART_PART_BYTES", DEFAULT_PART_BYTES, MIN_PART_BYTES..=MAX_SINGLE_PUT_BYTES)?;
        let playback_access = match get("PLAYBACK_ACCESS") {
            None => PlaybackAccess::Owner,
            Some(v) => PlaybackAccess::parse(&v)
                .ok_or_else(|| bad("PLAYBACK_ACCESS", format!("must be owner or any-authenticated, got {v:?}")))?,
        };
        let settings = ApiSettings {
            upload_bucket,
            upload_prefix: upload_prefix(get("UPLOAD_PREFIX"))?,
            limits: UploadLimits {
                extensions: video_extensions(get("VIDEO_EXTENSIONS"))?,
                max_bytes,
                multipart_threshold,
                part_bytes,
            },
            upload_url_ttl: Duration::from_secs(bounded(&get, "UPLOAD_URL_TTL_SECONDS", 900, 1..=3600)?),
            playback_access,
            // Cloudflare takes tokens up to 24 h ahead.
            playback_token_ttl: Duration::from_secs(bounded(&get, "PLAYBACK_TOKEN_TTL_SECONDS", 3600, 1..=86_400)?),
        };
        let stream_access_rules =
            get("STREAM_ACCESS_RULES").map(|raw| parse_access_rules("STREAM_ACCESS_RULES", &raw)).transpose()?;
        Ok(Self {
            videos_table,
            settings,
            oidc,
            stream_signing_key: key_source(&get, "STREAM_SIGNING_KEY", "STREAM_SIGNING_KEY_SECRET_ARN")?,
            stream_access_rules,
            mux_signing_key: key_source(&get, "MUX_SIGNING_KEY", "MUX_SIGNING_KEY_SECRET_ARN")?,
        })
    }
}

pub type LiveApi = ApiHandler<JwksVerifier, S3Uploads, DynamoVideoStore, ProviderPlaybackSigner>;

async fn signing_key(
    source: &Option<KeySource>,
    pem_field: &str,
    aws: &aws_config::SdkConfig,
) -> Result<Option<SigningKey>, StartupError> {
    let (variable, raw) = match source {
        None => return Ok(None),
        Some(KeySource::Inline { variable, json }) => (*variable, json.expose().to_owned()),
        Some(KeySource::SecretsManager { variable, arn }) => {
            (*variable, crate::secrets::read_secret_string(aws, arn, variable).await?)
        }
    };
    Ok(Some(SigningKey::from_secret(variable, &raw, pem_field)?))
}

/// Builds the API, once: a signing key that is set must be usable (a placeholder stops start-up).
pub async fn build_api(config: ApiConfig) -> Result<LiveApi, StartupError> {
    let aws = crate::aws_config().await;
    let playback = ProviderPlaybackSigner {
        cloudflare: signing_key(&config.stream_signing_key, "pem", &aws).await?,
        access_rules: config.stream_access_rules.clone(),
        mux: signing_key(&config.mux_signing_key, "private_key", &aws).await?,
    };
    if playback.cloudflare.is_none() && playback.mux.is_none() {
        tracing::warn!(
            "no playback signing key (STREAM_SIGNING_KEY_SECRET_ARN, MUX_SIGNING_KEY_SECRET_ARN): private videos get 503"
        );
    }
    let verifier = JwksVerifier::new(config.oidc.clone())?;
    let uploads = S3Uploads::new(&aws, &config.settings.upload_bucket);
    let records = DynamoVideoStore::new(&aws, &config.videos_table);
    Ok(ApiHandler::new(verifier, uploads, records, playback, config.settings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<ApiConfig, ConfigError> {
        let mut env: HashMap<&str, &str> = [
            ("VIDEOS_TABLE", "videos"),
            ("UPLOAD_BUCKET", "uploads"),
            ("AUTH_ISSUER", "https://vinofy.eu.auth0.com/"),
            ("AUTH_AUDIENCE", "vinofy-api"),
            ("AUTH_JWKS_URL", "https://vinofy.eu.auth0.com/.well-known/jwks.json"),
        ]
        .into_iter()
        .collect();
        env.extend(vars.iter().copied());
        ApiConfig::from_lookup(|k| env.get(k).map(|v| v.to_string()))
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.settings.upload_prefix, "uploads/");
        assert_eq!(c.settings.upload_url_ttl, Duration::from_secs(900));
        assert_eq!(c.settings.playback_token_ttl, Duration::from_secs(3600));
        assert_eq!(c.settings.playback_access, PlaybackAccess::Owner);
        assert_eq!(c.settings.limits.max_bytes, DEFAULT_MAX_UPLOAD_BYTES);
        assert_eq!(c.settings.limits.multipart_threshold, MAX_SINGLE_PUT_BYTES);
        assert_eq!(c.oidc.leeway_seconds, 60);
        assert_eq!(c.stream_signing_key, None);
    }

    #[test]
    fn every_bad_value_names_its_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("AUTH_ISSUER", "")], "AUTH_ISSUER"),
            (&[("AUTH_AUDIENCE", " , ")], "AUTH_AUDIENCE"),
            (&[("AUTH_JWKS_URL", "http://idp.example.com/jwks.json")], "AUTH_JWKS_URL"),
            (&[("AUTH_JWKS_URL", "ftp://127.0.0.1/jwks")], "AUTH_JWKS_URL"),
            (&[("AUTH_JWKS_URL", "not a url")], "AUTH_JWKS_URL"),
            (&[("AUTH_LEEWAY_SECONDS", "61")], "AUTH_LEEWAY_SECONDS"),
            (&[("UPLOAD_URL_TTL_SECONDS", "0")], "UPLOAD_URL_TTL_SECONDS"),
            (&[("UPLOAD_URL_TTL_SECONDS", "3601")], "UPLOAD_URL_TTL_SECONDS"),
            (&[("MAX_UPLOAD_BYTES", "0")], "MAX_UPLOAD_BYTES"),
            (&[("MULTIPART_THRESHOLD_BYTES", "6000000000")], "MULTIPART_THRESHOLD_BYTES"),
            (&[("MULTIPART_PART_BYTES", "1024")], "MULTIPART_PART_BYTES"),
            (&[("PLAYBACK_ACCESS", "everyone")], "PLAYBACK_ACCESS"),
            (&[("PLAYBACK_TOKEN_TTL_SECONDS", "90000")], "PLAYBACK_TOKEN_TTL_SECONDS"),
            (&[("UPLOAD_PREFIX", "../x/")], "UPLOAD_PREFIX"),
            (&[("UPLOAD_PREFIX", "uploads")], "UPLOAD_PREFIX"),
            (&[("STREAM_ACCESS_RULES", "[{}]")], "STREAM_ACCESS_RULES"),
            (&[("STREAM_SIGNING_KEY_SECRET_ARN", "my-secret")], "STREAM_SIGNING_KEY_SECRET_ARN"),
            (&[("STREAM_SIGNING_KEY", "{}"), ("STREAM_SIGNING_KEY_SECRET_ARN", "arn:x")], "STREAM_SIGNING_KEY"),
            (&[("VIDEOS_TABLE", "")], "VIDEOS_TABLE"),
            (&[("UPLOAD_BUCKET", "")], "UPLOAD_BUCKET"),
        ];
        for (vars, name) in cases {
            assert_eq!(config(vars).unwrap_err().name, *name, "{vars:?}");
        }
    }

    #[test]
    fn loopback_jwks_may_be_plain_http() {
        for url in ["http://127.0.0.1:9000/jwks.json", "http://localhost:1/x", "http://[::1]:2/x"] {
            assert!(config(&[("AUTH_JWKS_URL", url)]).is_ok(), "{url}");
        }
        let c = config(&[("AUTH_AUDIENCE", "a, b"), ("PLAYBACK_ACCESS", "any-authenticated")]).unwrap();
        assert_eq!(c.oidc.audiences, ["a", "b"]);
        assert_eq!(c.settings.playback_access, PlaybackAccess::AnyAuthenticated);
    }
}
