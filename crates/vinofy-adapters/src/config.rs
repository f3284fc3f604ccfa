//! All configuration is read and validated once, at start-up. A missing or bad variable stops the
//! function with a message that names it, instead of failing on the first event.

use std::time::Duration;

use vinofy_core::domain::budget::CallBudget;
use vinofy_core::domain::provider::Provider;

use crate::mux::config::MuxConfig;
use vinofy_core::secret::SecretString;

/// Presigned URLs cannot outlive 7 days (SigV4), and in Lambda they die with the role's session anyway.
pub const MAX_PRESIGN_TTL_SECONDS: u64 = 7 * 24 * 3600;
pub const DEFAULT_CLOUDFLARE_API_URL: &str = "https://api.cloudflare.com/client/v4";
/// Leaves 200 of Cloudflare's 1,200 calls per 5 minutes to the dashboard and other tools.
pub const DEFAULT_CLOUDFLARE_CALL_BUDGET: &str = "1000/300";
/// Containers Cloudflare Stream accepts (its docs: MP4, MKV, MOV, AVI, FLV, MPEG-2 TS/PS, MXF, LXF,
/// GXF, 3GP, WebM, MPG, QuickTime) plus their common extensions.
pub const DEFAULT_VIDEO_EXTENSIONS: &str =
    "mp4,m4v,mov,qt,mkv,webm,avi,flv,mpg,mpeg,m2v,ts,m2ts,mts,mxf,lxf,gxf,3gp,3g2,wmv,ogv,vob";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("configuration error: {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

pub(crate) fn bad(name: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { name, problem: problem.into() }
}

/// Where a secret (the API token, the webhook secret) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// The variable itself (`CLOUDFLARE_API_TOKEN`): local development and tests.
    Inline(SecretString),
    /// A Secrets Manager ARN (`..._SECRET_ARN`): the deployed stack reads it at start-up.
    SecretsManager { arn: String, variable: &'static str },
}

pub use vinofy_core::ingest::ReplacedVideoPolicy;

/// Options sent with every copy.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudflareVideoOptions {
    pub require_signed_urls: bool,
    pub allowed_origins: Vec<String>,
    pub thumbnail_timestamp_pct: f64,
}

/// Cloudflare Stream's client: required when it takes new uploads (`VIDEO_PROVIDER=cloudflare`),
/// optional otherwise (then only for the records still on Cloudflare, and `vinofy migrate`).
#[derive(Debug, Clone, PartialEq)]
pub struct CloudflareConfig {
    pub api_url: String,
    pub account_id: String,
    pub token: SecretSource,
    pub options: CloudflareVideoOptions,
    /// The most Cloudflare API calls every process of ours makes together (`CLOUDFLARE_CALL_BUDGET`).
    pub call_budget: CallBudget,
}

/// The variables that configure Cloudflare's client: any of them set means "Cloudflare is configured".
const CLOUDFLARE_VARIABLES: [&str; 5] = [
    "CLOUDFLARE_ACCOUNT_ID",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_API_TOKEN_SECRET_ARN",
    "CLOUDFLARE_API_URL",
    "CLOUDFLARE_CALL_BUDGET",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub videos_table: String,
    /// The one bucket whose notifications are ingested (`UPLOAD_BUCKET`; the stack sets it). An
    /// event naming any other bucket is refused: the function's role can read only this one.
    pub upload_bucket: String,
    /// Who takes new uploads (`VIDEO_PROVIDER`); its configuration is required, the other's optional.
    pub video_provider: Provider,
    pub cloudflare: Option<CloudflareConfig>,
    pub mux: Option<MuxConfig>,
    /// Every provider request's timeout (`PROVIDER_REQUEST_TIMEOUT_SECONDS`).
    pub provider_request_timeout: Duration,
    pub presign_ttl: Duration,
    /// Lower-case, without the dot.
    pub video_extensions: Vec<String>,
    /// Only keys under this prefix are ingested ("" = all).
    pub source_prefix: String,
    /// `UPLOAD_PREFIX`: the app users' upload space (the API's; the ingest reads owners from it).
    pub upload_prefix: String,
    pub replaced_video_policy: ReplacedVideoPolicy,
    /// Open the DynamoDB and Cloudflare connections during init (`WARM_UP_CONNECTIONS`, default true).
    pub warm_up_connections: bool,
    /// The SQS queue whose messages the function may hand back with a visibility delay
    /// (`INGEST_QUEUE_ARN`, sqs mode); messages from any other queue keep its visibility timeout.
    pub ingest_queue_arn: Option<String>,
}

impl Config {
    /// What counts as a video to ingest.
    pub fn video_filter(&self) -> vinofy_core::domain::object::VideoFilter<'_> {
        vinofy_core::domain::object::VideoFilter {
            extensions: &self.video_extensions,
            source_prefix: &self.source_prefix,
        }
    }

    /// The ingest use case's part of the configuration.
    pub fn ingest_settings(&self) -> vinofy_core::ingest::IngestSettings {
        vinofy_core::ingest::IngestSettings {
            upload_bucket: self.upload_bucket.clone(),
            video_extensions: self.video_extensions.clone(),
            source_prefix: self.source_prefix.clone(),
            presign_ttl: self.presign_ttl,
            provider_request_timeout: self.provider_request_timeout,
            replaced_video_policy: self.replaced_video_policy,
            ingest_queue_arn: self.ingest_queue_arn.clone(),
            upload_prefix: self.upload_prefix.clone(),
        }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment in production, a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let required = |name: &'static str| get(name).ok_or_else(|| bad(name, "is required but not set"));

        let videos_table = table_name(get("VIDEOS_TABLE"))?;
        let upload_bucket = required("UPLOAD_BUCKET")?;
        if let Err(problem) = vinofy_core::domain::object::check_bucket_name(&upload_bucket) {
            return Err(bad("UPLOAD_BUCKET", problem));
        }

        let video_provider = match get("VIDEO_PROVIDER") {
            None => Provider::Cloudflare,
            Some(name) => Provider::parse(&name)
                .ok_or_else(|| bad("VIDEO_PROVIDER", format!("must be cloudflare or mux, got {name:?}")))?,
        };
        let cloudflare = CloudflareConfig::from_lookup(&get, video_provider == Provider::Cloudflare)?;
        let mux = MuxConfig::from_lookup(&lookup)?;
        if video_provider == Provider::Mux && mux.is_none() {
            return Err(bad(
                "MUX_TOKEN_ID",
                "is required with VIDEO_PROVIDER=mux (with MUX_TOKEN_SECRET, or MUX_TOKEN_SECRET_ARN instead)",
            ));
        }

        let presign_ttl_seconds = parse_number("PRESIGN_TTL_SECONDS", get("PRESIGN_TTL_SECONDS"), 3600)?;
        if !(1..=MAX_PRESIGN_TTL_SECONDS).contains(&presign_ttl_seconds) {
            return Err(bad(
                "PRESIGN_TTL_SECONDS",
                format!("must be between 1 and {MAX_PRESIGN_TTL_SECONDS} (7 days), got {presign_ttl_seconds}"),
            ));
        }

        let provider_request_timeout = request_timeout(&get)?;

        let video_extensions = video_extensions(get("VIDEO_EXTENSIONS"))?;

        let replaced_video_policy = match get("REPLACED_VIDEO_POLICY").as_deref() {
            None | Some("delete") => ReplacedVideoPolicy::Delete,
            Some("keep") => ReplacedVideoPolicy::Keep,
            Some(other) => return Err(bad("REPLACED_VIDEO_POLICY", format!("must be delete or keep, got {other:?}"))),
        };

        let ingest_queue_arn = get("INGEST_QUEUE_ARN");
        if let Some(arn) = &ingest_queue_arn
            && !vinofy_core::domain::event::is_sqs_arn(arn)
        {
            return Err(bad("INGEST_QUEUE_ARN", "must be an SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME)"));
        }

        Ok(Self {
            ingest_queue_arn,
            videos_table,
            upload_bucket,
            video_provider,
            cloudflare,
            mux,
            provider_request_timeout,
            presign_ttl: Duration::from_secs(presign_ttl_seconds),
            video_extensions,
            source_prefix: get("SOURCE_PREFIX").unwrap_or_default(),
            upload_prefix: upload_prefix(get("UPLOAD_PREFIX"))?,
            replaced_video_policy,
            warm_up_connections: !matches!(
                get("WARM_UP_CONNECTIONS").map(|v| v.to_ascii_lowercase()).as_deref(),
                Some("false" | "0" | "no")
            ),
        })
    }
}

impl CloudflareConfig {
    /// `Ok(None)` when no Cloudflare variable is set and it is not `required` (it does not take new
    /// uploads); once any is set, or when required, all of it is checked.
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>, required: bool) -> Result<Option<Self>, ConfigError> {
        if !required && CLOUDFLARE_VARIABLES.iter().all(|name| get(name).is_none()) {
            return Ok(None);
        }
        let required = |name: &'static str| get(name).ok_or_else(|| bad(name, "is required but not set"));
        let cloudflare_account_id = required("CLOUDFLARE_ACCOUNT_ID")?;
        if cloudflare_account_id.len() > 32 || !cloudflare_account_id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(bad("CLOUDFLARE_ACCOUNT_ID", "must be the account id: at most 32 letters and digits"));
        }

        let cloudflare_api_url = get("CLOUDFLARE_API_URL")
            .unwrap_or_else(|| DEFAULT_CLOUDFLARE_API_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        if !(cloudflare_api_url.starts_with("https://") || cloudflare_api_url.starts_with("http://")) {
            return Err(bad("CLOUDFLARE_API_URL", "must start with https:// (or http:// for a local emulator)"));
        }

        let cloudflare_token = secret_source(get, "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_API_TOKEN_SECRET_ARN")?;

        let require_signed_urls = parse_bool("STREAM_REQUIRE_SIGNED_URLS", get("STREAM_REQUIRE_SIGNED_URLS"))?;
        let allowed_origins = get("STREAM_ALLOWED_ORIGINS")
            .map(|v| v.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
            .unwrap_or_default();
        let thumbnail_timestamp_pct = match get("STREAM_THUMBNAIL_TIMESTAMP_PCT") {
            None => 0.0,
            Some(v) => v.parse::<f64>().ok().filter(|p| (0.0..=1.0).contains(p)).ok_or_else(|| {
                bad("STREAM_THUMBNAIL_TIMESTAMP_PCT", format!("must be a number from 0 to 1, got {v:?}"))
            })?,
        };

        let cloudflare_call_budget = CallBudget::parse(
            &get("CLOUDFLARE_CALL_BUDGET").unwrap_or_else(|| DEFAULT_CLOUDFLARE_CALL_BUDGET.to_owned()),
        )
        .map_err(|e| bad("CLOUDFLARE_CALL_BUDGET", e))?;
        // Cloudflare's own limit binds only Cloudflare's API (a local emulator may allow more).
        let above_cloudflares_limit =
            cloudflare_call_budget.calls as f64 / cloudflare_call_budget.window.as_secs_f64() > 1200.0 / 300.0;
        if above_cloudflares_limit && cloudflare_api_url == DEFAULT_CLOUDFLARE_API_URL {
            return Err(bad(
                "CLOUDFLARE_CALL_BUDGET",
                "exceeds Cloudflare's own limit of 1200 calls per 300 s (past it the user is locked out)",
            ));
        }

        Ok(Some(Self {
            api_url: cloudflare_api_url,
            account_id: cloudflare_account_id,
            token: cloudflare_token,
            options: CloudflareVideoOptions { require_signed_urls, allowed_origins, thumbnail_timestamp_pct },
            call_budget: cloudflare_call_budget,
        }))
    }
}

/// `PROVIDER_REQUEST_TIMEOUT_SECONDS` (1 to 120, default 10), or its first name,
/// `CLOUDFLARE_REQUEST_TIMEOUT_SECONDS`, from before there was a second provider; not both.
fn request_timeout(get: &impl Fn(&str) -> Option<String>) -> Result<Duration, ConfigError> {
    const NAME: &str = "PROVIDER_REQUEST_TIMEOUT_SECONDS";
    const OLD_NAME: &str = "CLOUDFLARE_REQUEST_TIMEOUT_SECONDS";
    let (name, value) = match (get(NAME), get(OLD_NAME)) {
        (Some(_), Some(_)) => return Err(bad(NAME, format!("set either {NAME} or {OLD_NAME}, not both"))),
        (None, Some(old)) => (OLD_NAME, Some(old)),
        (value, None) => (NAME, value),
    };
    let seconds = parse_number(name, value, 10)?;
    if !(1..=120).contains(&seconds) {
        return Err(bad(name, "must be between 1 and 120"));
    }
    Ok(Duration::from_secs(seconds))
}

/// Reads a secret given either inline (`inline`) or as a Secrets Manager ARN (`arn`), not both.
fn secret_source(
    get: &impl Fn(&str) -> Option<String>,
    inline: &'static str,
    arn: &'static str,
) -> Result<SecretSource, ConfigError> {
    match (get(inline), get(arn)) {
        (Some(_), Some(_)) => Err(bad(inline, format!("set either {inline} or {arn}, not both"))),
        (Some(value), None) => Ok(SecretSource::Inline(validate_token(inline, &value)?)),
        (None, Some(value)) if value.starts_with("arn:") => {
            Ok(SecretSource::SecretsManager { arn: value, variable: arn })
        }
        (None, Some(_)) => Err(bad(arn, "must be a Secrets Manager secret ARN")),
        (None, None) => Err(bad(inline, format!("is required (or {arn} naming a Secrets Manager secret)"))),
    }
}

/// Configuration of the `webhook` function.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    pub videos_table: String,
    /// Cloudflare's signing secret (`CLOUDFLARE_WEBHOOK_SECRET[_ARN]`), Mux's
    /// (`MUX_WEBHOOK_SECRET[_ARN]`): at least one; a provider without one gets 401 for everything.
    pub cloudflare_secret: Option<SecretSource>,
    pub mux_secret: Option<SecretSource>,
    /// How Mux assets' URLs are built (`MUX_PLAYBACK_POLICY`, `MUX_STREAM_URL`, `MUX_IMAGE_URL`).
    pub mux_options: crate::mux::config::MuxOptions,
    /// How far the signature time may be from now, either way (replays of old deliveries fail).
    pub tolerance_seconds: i64,
}

impl WebhookConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let videos_table = table_name(get("VIDEOS_TABLE"))?;
        let cloudflare_secret = match (get("CLOUDFLARE_WEBHOOK_SECRET"), get("CLOUDFLARE_WEBHOOK_SECRET_ARN")) {
            (None, None) => None,
            _ => Some(secret_source(&get, "CLOUDFLARE_WEBHOOK_SECRET", "CLOUDFLARE_WEBHOOK_SECRET_ARN")?),
        };
        let mux_secret = crate::mux::config::webhook_secret_from_lookup(&lookup)?;
        if cloudflare_secret.is_none() && mux_secret.is_none() {
            return Err(bad(
                "CLOUDFLARE_WEBHOOK_SECRET",
                "is required (or CLOUDFLARE_WEBHOOK_SECRET_ARN; or MUX_WEBHOOK_SECRET[_ARN] for Mux's webhooks)",
            ));
        }
        let mux_options = crate::mux::config::MuxOptions::from_lookup(&lookup)?;
        let tolerance = parse_number("WEBHOOK_TOLERANCE_SECONDS", get("WEBHOOK_TOLERANCE_SECONDS"), 300)?;
        if !(1..=3600).contains(&tolerance) {
            return Err(bad("WEBHOOK_TOLERANCE_SECONDS", "must be between 1 and 3600"));
        }
        Ok(Self { videos_table, cloudflare_secret, mux_secret, mux_options, tolerance_seconds: tolerance as i64 })
    }
}

pub(crate) fn table_name(value: Option<String>) -> Result<String, ConfigError> {
    let table = value.ok_or_else(|| bad("VIDEOS_TABLE", "is required but not set"))?;
    if !(3..=255).contains(&table.len()) || !table.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) {
        return Err(bad("VIDEOS_TABLE", "is not a valid DynamoDB table name"));
    }
    Ok(table)
}

/// `VIDEO_EXTENSIONS`: what the ingest function ingests, and the API admits (one list).
pub(crate) fn video_extensions(value: Option<String>) -> Result<Vec<String>, ConfigError> {
    let extensions: Vec<String> = value
        .unwrap_or_else(|| DEFAULT_VIDEO_EXTENSIONS.to_owned())
        .split(',')
        .map(|e| e.trim().trim_start_matches('.').to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .collect();
    if extensions.is_empty() {
        return Err(bad("VIDEO_EXTENSIONS", "lists no extension"));
    }
    if let Some(e) = extensions.iter().find(|e| !e.chars().all(|c| c.is_ascii_alphanumeric())) {
        return Err(bad("VIDEO_EXTENSIONS", format!("{e:?} is not a file extension")));
    }
    Ok(extensions)
}

/// `UPLOAD_PREFIX` (default `uploads/`): the app users' upload space. A folder: it ends with `/`,
/// and names no `..` or empty segment (the keys under it are built from it).
pub(crate) fn upload_prefix(value: Option<String>) -> Result<String, ConfigError> {
    let prefix = value.unwrap_or_else(|| "uploads/".to_owned());
    let segments: Vec<&str> = prefix.trim_end_matches('/').split('/').collect();
    if !prefix.ends_with('/')
        || prefix.starts_with('/')
        || segments.iter().any(|s| s.is_empty() || *s == "." || *s == "..")
        || prefix.len() > 512
        || prefix.chars().any(char::is_control)
    {
        return Err(bad("UPLOAD_PREFIX", format!("must be a folder such as \"uploads/\", got {prefix:?}")));
    }
    Ok(prefix)
}

/// How template.yaml's secrets start out (`REPLACE_WITH_CLOUDFLARE_API_TOKEN`, ...): a public string,
/// so a function that accepted it would trust anyone (webhook) or fail every upload (token).
pub const SECRET_PLACEHOLDER_PREFIX: &str = "REPLACE_WITH_";

/// Whether a stored secret value, plain or JSON (`{"id": "REPLACE_WITH_KEY_ID", ...}`), still holds
/// a placeholder: it starts with one (any case), or one stands anywhere in it.
pub fn holds_placeholder(raw: &str) -> bool {
    let raw = raw.trim();
    raw.get(..SECRET_PLACEHOLDER_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(SECRET_PLACEHOLDER_PREFIX))
        || raw.contains(SECRET_PLACEHOLDER_PREFIX)
}

/// Rejects values that cannot be a bearer token or signing secret (they would fail at the first call
/// instead), and the stack's placeholders: the function refuses to start until the real value is stored.
pub fn validate_token(name: &'static str, token: &str) -> Result<SecretString, ConfigError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(bad(name, "is empty"));
    }
    if token.len() >= SECRET_PLACEHOLDER_PREFIX.len()
        && token[..SECRET_PLACEHOLDER_PREFIX.len()].eq_ignore_ascii_case(SECRET_PLACEHOLDER_PREFIX)
    {
        return Err(bad(
            name,
            "still holds the stack's placeholder: store the real value (README, \"Deploy\"); \
             the function does not start until then",
        ));
    }
    if !token.chars().all(|c| c.is_ascii_graphic()) {
        return Err(bad(name, "contains whitespace or non-ASCII characters; it cannot be a Cloudflare API token"));
    }
    Ok(SecretString::new(token))
}

pub(crate) fn parse_number(name: &'static str, value: Option<String>, default: u64) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| bad(name, format!("must be a whole number, got {v:?}"))),
    }
}

pub(crate) fn parse_bool(name: &'static str, value: Option<String>) -> Result<bool, ConfigError> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") | Some("0") | Some("no") => Ok(false),
        Some("true") | Some("1") | Some("yes") => Ok(true),
        Some(other) => Err(bad(name, format!("must be true or false, got {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let base = [
            ("VIDEOS_TABLE", "videos"),
            ("UPLOAD_BUCKET", "uploads"),
            ("CLOUDFLARE_ACCOUNT_ID", "0123456789abcdef0123456789abcdef"),
            ("CLOUDFLARE_API_TOKEN", "tok"),
        ];
        let map: HashMap<String, String> =
            base.iter().chain(vars).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_sane() {
        let c = config(&[]).unwrap();
        assert_eq!(c.presign_ttl, Duration::from_secs(3600));
        assert_eq!(c.cloudflare.as_ref().unwrap().api_url, DEFAULT_CLOUDFLARE_API_URL);
        assert!(c.video_extensions.contains(&"mov".to_owned()));
        assert_eq!(c.replaced_video_policy, ReplacedVideoPolicy::Delete);
        assert_eq!(c.cloudflare.as_ref().unwrap().options.thumbnail_timestamp_pct, 0.0);
        assert!(!c.cloudflare.as_ref().unwrap().options.require_signed_urls);
    }

    #[test]
    fn every_error_names_its_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("VIDEOS_TABLE", "")], "VIDEOS_TABLE"),
            (&[("VIDEOS_TABLE", "bad name!")], "VIDEOS_TABLE"),
            (&[("CLOUDFLARE_ACCOUNT_ID", " ")], "CLOUDFLARE_ACCOUNT_ID"),
            (&[("CLOUDFLARE_API_TOKEN", "")], "CLOUDFLARE_API_TOKEN"),
            (&[("CLOUDFLARE_API_TOKEN", "has space")], "CLOUDFLARE_API_TOKEN"),
            (&[("CLOUDFLARE_API_TOKEN", "REPLACE_WITH_CLOUDFLARE_API_TOKEN")], "CLOUDFLARE_API_TOKEN"),
            (&[("CLOUDFLARE_API_TOKEN", "replace_with_anything")], "CLOUDFLARE_API_TOKEN"),
            (&[("UPLOAD_BUCKET", "")], "UPLOAD_BUCKET"),
            (&[("UPLOAD_BUCKET", "Uploads")], "UPLOAD_BUCKET"),
            (&[("UPLOAD_BUCKET", "uploads/videos")], "UPLOAD_BUCKET"),
            (&[("CLOUDFLARE_API_TOKEN_SECRET_ARN", "arn:aws:secretsmanager:x")], "CLOUDFLARE_API_TOKEN"),
            (&[("PRESIGN_TTL_SECONDS", "604801")], "PRESIGN_TTL_SECONDS"),
            (&[("PRESIGN_TTL_SECONDS", "0")], "PRESIGN_TTL_SECONDS"),
            (&[("PRESIGN_TTL_SECONDS", "1h")], "PRESIGN_TTL_SECONDS"),
            (&[("CLOUDFLARE_API_URL", "ftp://x")], "CLOUDFLARE_API_URL"),
            (&[("VIDEO_EXTENSIONS", ",,")], "VIDEO_EXTENSIONS"),
            (&[("VIDEO_EXTENSIONS", "mp4,.m p4")], "VIDEO_EXTENSIONS"),
            (&[("STREAM_REQUIRE_SIGNED_URLS", "maybe")], "STREAM_REQUIRE_SIGNED_URLS"),
            (&[("STREAM_THUMBNAIL_TIMESTAMP_PCT", "1.5")], "STREAM_THUMBNAIL_TIMESTAMP_PCT"),
            (&[("REPLACED_VIDEO_POLICY", "archive")], "REPLACED_VIDEO_POLICY"),
            (&[("CLOUDFLARE_CALL_BUDGET", "1000")], "CLOUDFLARE_CALL_BUDGET"),
            (&[("INGEST_QUEUE_ARN", "https://sqs.us-east-1.amazonaws.com/123456789012/q")], "INGEST_QUEUE_ARN"),
            (&[("CLOUDFLARE_CALL_BUDGET", "0/300")], "CLOUDFLARE_CALL_BUDGET"),
            (&[("CLOUDFLARE_CALL_BUDGET", "1300/300")], "CLOUDFLARE_CALL_BUDGET"),
            (&[("CLOUDFLARE_CALL_BUDGET", "100/1")], "CLOUDFLARE_CALL_BUDGET"),
            (&[("VIDEO_PROVIDER", "youtube")], "VIDEO_PROVIDER"),
            (&[("VIDEO_PROVIDER", "mux")], "MUX_TOKEN_ID"),
            (&[("PROVIDER_REQUEST_TIMEOUT_SECONDS", "0")], "PROVIDER_REQUEST_TIMEOUT_SECONDS"),
            (&[("CLOUDFLARE_REQUEST_TIMEOUT_SECONDS", "121")], "CLOUDFLARE_REQUEST_TIMEOUT_SECONDS"),
            (
                &[("PROVIDER_REQUEST_TIMEOUT_SECONDS", "5"), ("CLOUDFLARE_REQUEST_TIMEOUT_SECONDS", "5")],
                "PROVIDER_REQUEST_TIMEOUT_SECONDS",
            ),
            (
                &[("MUX_TOKEN_ID", "id"), ("MUX_TOKEN_SECRET", "secret"), ("MUX_CREATE_BUDGET", "1/1")],
                "MUX_CREATE_BUDGET",
            ),
            (&[("MUX_TOKEN_ID", "id"), ("MUX_TOKEN_SECRET", "secret"), ("MUX_CALL_BUDGET", "x")], "MUX_CALL_BUDGET"),
            (
                &[("MUX_TOKEN_ID", "id"), ("MUX_TOKEN_SECRET", "secret"), ("MUX_CREATE_BUDGET", "120/60")],
                "MUX_CREATE_BUDGET",
            ),
            (
                &[("MUX_TOKEN_ID", "id"), ("MUX_TOKEN_SECRET", "secret"), ("MUX_CALL_BUDGET", "600/60")],
                "MUX_CALL_BUDGET",
            ),
            (&[("MUX_CALL_BUDGET", "240/60")], "MUX_TOKEN_ID"),
        ];
        for (vars, name) in cases {
            let err = config(vars).unwrap_err();
            assert_eq!(err.name, *name, "{vars:?}");
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn secret_arn_replaces_the_inline_token() {
        let map: HashMap<&str, &str> = [
            ("VIDEOS_TABLE", "videos"),
            ("UPLOAD_BUCKET", "uploads"),
            ("CLOUDFLARE_ACCOUNT_ID", "acct"),
            ("CLOUDFLARE_API_TOKEN_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:cf"),
        ]
        .into();
        let c = Config::from_lookup(|k| map.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(
            c.cloudflare.unwrap().token,
            SecretSource::SecretsManager {
                arn: "arn:aws:secretsmanager:us-east-1:1:secret:cf".into(),
                variable: "CLOUDFLARE_API_TOKEN_SECRET_ARN"
            }
        );
    }

    #[test]
    fn webhook_config_names_its_variables() {
        let ok = WebhookConfig::from_lookup(|k| match k {
            "VIDEOS_TABLE" => Some("videos".into()),
            "CLOUDFLARE_WEBHOOK_SECRET" => Some("s3cr3t".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(ok.tolerance_seconds, 300);
        let missing = WebhookConfig::from_lookup(|k| (k == "VIDEOS_TABLE").then(|| "videos".into())).unwrap_err();
        assert_eq!(missing.name, "CLOUDFLARE_WEBHOOK_SECRET");
        let mux_only = WebhookConfig::from_lookup(|k| match k {
            "VIDEOS_TABLE" => Some("videos".into()),
            "MUX_WEBHOOK_SECRET" => Some("mux-s3cr3t".into()),
            _ => None,
        })
        .unwrap();
        assert!(mux_only.cloudflare_secret.is_none() && mux_only.mux_secret.is_some());
        let placeholder = WebhookConfig::from_lookup(|k| match k {
            "VIDEOS_TABLE" => Some("videos".into()),
            "CLOUDFLARE_WEBHOOK_SECRET" => Some("REPLACE_WITH_CLOUDFLARE_WEBHOOK_SECRET".into()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(placeholder.name, "CLOUDFLARE_WEBHOOK_SECRET");
        assert!(placeholder.to_string().contains("placeholder"), "{placeholder}");
        assert!(!placeholder.to_string().contains("REPLACE_WITH"), "the value is never quoted: {placeholder}");
        let bad_tolerance = WebhookConfig::from_lookup(|k| match k {
            "VIDEOS_TABLE" => Some("videos".into()),
            "CLOUDFLARE_WEBHOOK_SECRET" => Some("s".into()),
            "WEBHOOK_TOLERANCE_SECONDS" => Some("0".into()),
            _ => None,
        })
        .unwrap_err();
        assert_eq!(bad_tolerance.name, "WEBHOOK_TOLERANCE_SECONDS");
    }

    /// The one copy of the placeholder rule covers every placeholder the stack creates.
    #[test]
    fn every_placeholder_in_the_template_is_refused() {
        let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).unwrap();
        let placeholders: Vec<&str> =
            template.lines().filter_map(|l| l.trim().strip_prefix("SecretString:")).map(str::trim).collect();
        assert!(placeholders.len() >= 2, "the template's secrets: {placeholders:?}");
        assert!(placeholders.len() >= 6, "Cloudflare's, Mux's and the signing keys: {placeholders:?}");
        for p in placeholders {
            let p = p.trim_matches('\'');
            // The signing keys are JSON ({"id", "pem"} / {"id", "private_key"}), read as the api
            // function reads them; Mux's token secret is JSON ({"id", "secret"}).
            let err = if let Some(field) = ["pem", "private_key"].into_iter().find(|f| p.contains(&format!("\"{f}\"")))
            {
                crate::playback::SigningKey::from_secret("STREAM_SIGNING_KEY_SECRET_ARN", p, field).unwrap_err()
            } else if p.starts_with('{') {
                crate::mux::config::parse_token_secret("MUX_TOKEN_SECRET_ARN", p).unwrap_err()
            } else {
                validate_token("CLOUDFLARE_API_TOKEN_SECRET_ARN", p).unwrap_err()
            };
            assert!(err.problem.contains("placeholder"), "{p}: {err}");
        }
        assert!(validate_token("X", "REPLACEMENT-token-is-fine").is_ok());
    }

    #[test]
    fn the_provider_for_new_uploads_needs_its_configuration_and_the_other_is_optional() {
        let cloudflare_only = config(&[]).unwrap();
        assert_eq!((cloudflare_only.video_provider, cloudflare_only.mux.is_none()), (Provider::Cloudflare, true));
        let mux = [("VIDEO_PROVIDER", "mux"), ("MUX_TOKEN_ID", "id"), ("MUX_TOKEN_SECRET", "secret")];
        let both = config(&mux).unwrap();
        assert_eq!(both.video_provider, Provider::Mux);
        let m = both.mux.unwrap();
        assert_eq!((m.create_budget.calls, m.call_budget.calls), (50, 240), "Mux's defaults");
        assert!(both.cloudflare.is_some(), "still configured for the records on Cloudflare");
        // Mux alone: no Cloudflare variable at all.
        let map: HashMap<&str, &str> =
            [("VIDEOS_TABLE", "videos"), ("UPLOAD_BUCKET", "uploads")].into_iter().chain(mux).collect();
        let mux_only = Config::from_lookup(|k| map.get(k).map(|v| v.to_string())).unwrap();
        assert!(mux_only.cloudflare.is_none());
        // Any Cloudflare variable set means all of Cloudflare's are checked.
        let half: HashMap<&str, &str> = map.into_iter().chain([("CLOUDFLARE_API_TOKEN", "tok")]).collect();
        let err = Config::from_lookup(|k| half.get(k).map(|v| v.to_string())).unwrap_err();
        assert_eq!(err.name, "CLOUDFLARE_ACCOUNT_ID");
        assert_eq!(
            config(&[("CLOUDFLARE_REQUEST_TIMEOUT_SECONDS", "7")]).unwrap().provider_request_timeout.as_secs(),
            7
        );
    }

    #[test]
    fn a_local_emulator_may_get_a_budget_above_cloudflares_limit() {
        let c =
            config(&[("CLOUDFLARE_API_URL", "http://127.0.0.1:9/client/v4"), ("CLOUDFLARE_CALL_BUDGET", "100000/1")]);
        assert_eq!(c.unwrap().cloudflare.unwrap().call_budget.calls, 100_000);
    }

    #[test]
    fn lists_are_normalised() {
        let c = config(&[
            ("VIDEO_EXTENSIONS", " .MP4, mov ,"),
            ("STREAM_ALLOWED_ORIGINS", "vinofy.com, *.vinofy.com"),
            ("STREAM_REQUIRE_SIGNED_URLS", "TRUE"),
            ("PRESIGN_TTL_SECONDS", "604800"),
            ("CLOUDFLARE_API_URL", "http://127.0.0.1:9/client/v4/"),
        ])
        .unwrap();
        assert_eq!(c.video_extensions, ["mp4", "mov"]);
        assert_eq!(c.cloudflare.as_ref().unwrap().options.allowed_origins, ["vinofy.com", "*.vinofy.com"]);
        assert!(c.cloudflare.as_ref().unwrap().options.require_signed_urls);
        assert_eq!(c.presign_ttl.as_secs(), MAX_PRESIGN_TTL_SECONDS);
        assert_eq!(c.cloudflare.as_ref().unwrap().api_url, "http://127.0.0.1:9/client/v4");
    }
}
