//! The Mux adapter's configuration, read and validated once at start-up like [`crate::config`]:
//! every error names its variable and never quotes a secret's value.
//!
//! | Variable | Meaning |
//! |---|---|
//! | `MUX_TOKEN_ID` + `MUX_TOKEN_SECRET` | an access token, inline (local development, tests) |
//! | `MUX_TOKEN_SECRET_ARN` | or a Secrets Manager secret holding `{"id": "...", "secret": "..."}` |
//! | `MUX_API_URL` | default `https://api.mux.com`; `https://` required except on loopback hosts |
//! | `MUX_PLAYBACK_POLICY` | `public` (default) or `signed` |
//! | `MUX_VIDEO_QUALITY` | `basic` (default), `plus` or `premium` |
//! | `MUX_STREAM_URL`, `MUX_IMAGE_URL` | playback bases, default `https://stream.mux.com`, `https://image.mux.com` |
//! | `MUX_WEBHOOK_SECRET` / `MUX_WEBHOOK_SECRET_ARN` | the webhook endpoint's signing secret (optional here) |
//! | `MUX_CREATE_BUDGET` | asset creates (POSTs) all our processes make together, `N/W`; default `50/60` |
//! | `MUX_CALL_BUDGET` | every other Mux call, together, `N/W`; default `240/60` |

use aws_config::SdkConfig;
use vinofy_core::domain::budget::CallBudget;
use vinofy_core::secret::SecretString;

use crate::StartupError;
use crate::config::{ConfigError, SecretSource, validate_token};

pub const DEFAULT_MUX_API_URL: &str = "https://api.mux.com";
pub const DEFAULT_MUX_STREAM_URL: &str = "https://stream.mux.com";
pub const DEFAULT_MUX_IMAGE_URL: &str = "https://image.mux.com";
/// Mux sustains 1 POST per second per environment; this leaves a sixth of it to the dashboard and
/// other tools.
pub const DEFAULT_MUX_CREATE_BUDGET: &str = "50/60";
/// Mux sustains 5 requests per second of every other method; this leaves a fifth of them.
pub const DEFAULT_MUX_CALL_BUDGET: &str = "240/60";

const TOKEN_ID: &str = "MUX_TOKEN_ID";
const TOKEN_SECRET: &str = "MUX_TOKEN_SECRET";
const TOKEN_SECRET_ARN: &str = "MUX_TOKEN_SECRET_ARN";
const WEBHOOK_SECRET: &str = "MUX_WEBHOOK_SECRET";
const WEBHOOK_SECRET_ARN: &str = "MUX_WEBHOOK_SECRET_ARN";

/// The variables that configure the API client: any of them set means "Mux is configured".
const API_VARIABLES: [&str; 10] = [
    TOKEN_ID,
    TOKEN_SECRET,
    TOKEN_SECRET_ARN,
    "MUX_API_URL",
    "MUX_PLAYBACK_POLICY",
    "MUX_VIDEO_QUALITY",
    "MUX_STREAM_URL",
    "MUX_IMAGE_URL",
    "MUX_CREATE_BUDGET",
    "MUX_CALL_BUDGET",
];

fn bad(name: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { name, problem: problem.into() }
}

/// `playback_policies` of every asset we create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlaybackPolicy {
    #[default]
    Public,
    /// Playback URLs need a JWT (`?token=`) that the apps sign; the record keeps the bare URL.
    Signed,
}

impl PlaybackPolicy {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Signed => "signed",
        }
    }
}

/// `video_quality` of every asset we create (Mux's price and feature tier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VideoQuality {
    #[default]
    Basic,
    Plus,
    Premium,
}

impl VideoQuality {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Basic => "basic",
            Self::Plus => "plus",
            Self::Premium => "premium",
        }
    }
}

/// How assets are created and presented (no secrets): what both the API client and the webhook
/// verifier need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuxOptions {
    pub playback_policy: PlaybackPolicy,
    pub video_quality: VideoQuality,
    /// `{stream_url}/{playback id}.m3u8`; without a trailing slash.
    pub stream_url: String,
    /// `{image_url}/{playback id}/thumbnail.jpg`; without a trailing slash.
    pub image_url: String,
}

impl Default for MuxOptions {
    fn default() -> Self {
        Self {
            playback_policy: PlaybackPolicy::default(),
            video_quality: VideoQuality::default(),
            stream_url: DEFAULT_MUX_STREAM_URL.into(),
            image_url: DEFAULT_MUX_IMAGE_URL.into(),
        }
    }
}

impl MuxOptions {
    /// `MUX_PLAYBACK_POLICY`, `MUX_VIDEO_QUALITY`, `MUX_STREAM_URL`, `MUX_IMAGE_URL` (all optional),
    /// for a function that needs no token (the webhook).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let playback_policy = match get("MUX_PLAYBACK_POLICY").as_deref() {
            None | Some("public") => PlaybackPolicy::Public,
            Some("signed") => PlaybackPolicy::Signed,
            Some(other) => {
                return Err(bad("MUX_PLAYBACK_POLICY", format!("must be public or signed, got {other:?}")));
            }
        };
        let video_quality = match get("MUX_VIDEO_QUALITY").as_deref() {
            None | Some("basic") => VideoQuality::Basic,
            Some("plus") => VideoQuality::Plus,
            Some("premium") => VideoQuality::Premium,
            Some(other) => {
                return Err(bad("MUX_VIDEO_QUALITY", format!("must be basic, plus or premium, got {other:?}")));
            }
        };
        Ok(Self {
            playback_policy,
            video_quality,
            stream_url: base_url("MUX_STREAM_URL", get("MUX_STREAM_URL"), DEFAULT_MUX_STREAM_URL)?,
            image_url: base_url("MUX_IMAGE_URL", get("MUX_IMAGE_URL"), DEFAULT_MUX_IMAGE_URL)?,
        })
    }
}

/// An access token: HTTP Basic username (the token id) and password (the token secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuxCredentials {
    pub token_id: SecretString,
    pub token_secret: SecretString,
}

/// Where the access token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MuxTokenSource {
    /// `MUX_TOKEN_ID` and `MUX_TOKEN_SECRET`.
    Inline(MuxCredentials),
    /// `MUX_TOKEN_SECRET_ARN`: read at start-up with [`read_token_secret`].
    SecretsManager { arn: String, variable: &'static str },
}

/// Everything the Mux API client needs, and the webhook's signing secret when one is set.
#[derive(Debug, Clone, PartialEq)]
pub struct MuxConfig {
    /// Without a trailing slash.
    pub api_url: String,
    pub token: MuxTokenSource,
    pub options: MuxOptions,
    /// `MUX_WEBHOOK_SECRET` or `MUX_WEBHOOK_SECRET_ARN`, if either is set ([`webhook_secret_from_lookup`]).
    pub webhook_secret: Option<SecretSource>,
    /// Shared by every process of ours: creates (`MUX_CREATE_BUDGET`), every other call (`MUX_CALL_BUDGET`).
    pub create_budget: CallBudget,
    pub call_budget: CallBudget,
}

impl MuxConfig {
    pub fn from_env() -> Result<Option<Self>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// `Ok(None)` when no API variable is set (Mux is not in use: the webhook secret alone does not
    /// configure the client; the webhook reads it with [`webhook_secret_from_lookup`]). Once any is
    /// set, the token is required. Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if API_VARIABLES.iter().all(|name| get(name).is_none()) {
            return Ok(None);
        }
        let token = match (get(TOKEN_ID), get(TOKEN_SECRET), get(TOKEN_SECRET_ARN)) {
            (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(bad(
                    TOKEN_SECRET_ARN,
                    format!("set either {TOKEN_ID} and {TOKEN_SECRET}, or {TOKEN_SECRET_ARN}, not both"),
                ));
            }
            (Some(id), Some(secret), None) => MuxTokenSource::Inline(MuxCredentials {
                token_id: check_token(TOKEN_ID, &id)?,
                token_secret: check_token(TOKEN_SECRET, &secret)?,
            }),
            (Some(_), None, None) => return Err(bad(TOKEN_SECRET, format!("is required with {TOKEN_ID}"))),
            (None, Some(_), None) => return Err(bad(TOKEN_ID, format!("is required with {TOKEN_SECRET}"))),
            (None, None, Some(arn)) if arn.starts_with("arn:") => {
                MuxTokenSource::SecretsManager { arn, variable: TOKEN_SECRET_ARN }
            }
            (None, None, Some(_)) => return Err(bad(TOKEN_SECRET_ARN, "must be a Secrets Manager secret ARN")),
            (None, None, None) => {
                return Err(bad(
                    TOKEN_ID,
                    format!(
                        "is required (with {TOKEN_SECRET}, or {TOKEN_SECRET_ARN} naming a Secrets Manager \
                         secret) once any MUX_ variable is set"
                    ),
                ));
            }
        };
        let api_url = base_url("MUX_API_URL", get("MUX_API_URL"), DEFAULT_MUX_API_URL)?;
        let create_budget = budget(&get, "MUX_CREATE_BUDGET", DEFAULT_MUX_CREATE_BUDGET)?;
        let call_budget = budget(&get, "MUX_CALL_BUDGET", DEFAULT_MUX_CALL_BUDGET)?;
        // Mux's own limits bind only Mux's API (a local emulator may allow more).
        if api_url == DEFAULT_MUX_API_URL {
            for (name, b, per_second) in
                [("MUX_CREATE_BUDGET", create_budget, 1.0), ("MUX_CALL_BUDGET", call_budget, 5.0)]
            {
                if b.calls as f64 / b.window.as_secs_f64() > per_second {
                    return Err(bad(name, format!("exceeds Mux's sustained limit of {per_second} per second")));
                }
            }
        }
        Ok(Some(Self {
            api_url,
            token,
            options: MuxOptions::from_lookup(&lookup)?,
            webhook_secret: webhook_secret_from_lookup(&lookup)?,
            create_budget,
            call_budget,
        }))
    }
}

fn budget(get: &impl Fn(&str) -> Option<String>, name: &'static str, default: &str) -> Result<CallBudget, ConfigError> {
    CallBudget::parse(&get(name).unwrap_or_else(|| default.to_owned())).map_err(|e| bad(name, e))
}

/// `MUX_WEBHOOK_SECRET` or `MUX_WEBHOOK_SECRET_ARN` (not both); `None` when neither is set. The
/// value resolves like any other secret ([`crate::resolve_secret`]: a plain string, or JSON with a
/// `secret` or `token` field).
pub fn webhook_secret_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<SecretSource>, ConfigError> {
    let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    match (get(WEBHOOK_SECRET), get(WEBHOOK_SECRET_ARN)) {
        (Some(_), Some(_)) => {
            Err(bad(WEBHOOK_SECRET, format!("set either {WEBHOOK_SECRET} or {WEBHOOK_SECRET_ARN}, not both")))
        }
        (Some(value), None) => Ok(Some(SecretSource::Inline(check_token(WEBHOOK_SECRET, &value)?))),
        (None, Some(arn)) if arn.starts_with("arn:") => {
            Ok(Some(SecretSource::SecretsManager { arn, variable: WEBHOOK_SECRET_ARN }))
        }
        (None, Some(_)) => Err(bad(WEBHOOK_SECRET_ARN, "must be a Secrets Manager secret ARN")),
        (None, None) => Ok(None),
    }
}

/// A token id, token secret or signing secret: printable ASCII, and not the stack's placeholder
/// ([`validate_token`], whose own wording is Cloudflare's, so the shape is checked here first).
fn check_token(name: &'static str, value: &str) -> Result<SecretString, ConfigError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(bad(name, "is empty"));
    }
    if !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(bad(name, "contains whitespace or non-ASCII characters; it cannot be a Mux credential"));
    }
    validate_token(name, value)
}

/// Reads the Secrets Manager secret's string: a JSON object `{"id": "...", "secret": "..."}` (the
/// console's key/value editor stores exactly that). `variable` is named in every error; neither
/// the value nor a parser message (which could quote it) ever is.
pub fn parse_token_secret(variable: &'static str, secret_string: &str) -> Result<MuxCredentials, ConfigError> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(secret_string) else {
        return Err(bad(
            variable,
            "the secret is not a JSON object with \"id\" and \"secret\" (the Mux token's id and secret)",
        ));
    };
    let field = |key: &str| -> Result<SecretString, ConfigError> {
        match map.get(key) {
            None | Some(serde_json::Value::Null) => Err(bad(variable, format!("the secret has no \"{key}\" field"))),
            Some(serde_json::Value::String(value)) => check_token(variable, value)
                .map_err(|e| ConfigError { name: variable, problem: format!("the secret's \"{key}\": {}", e.problem) }),
            Some(_) => Err(bad(variable, format!("the secret's \"{key}\" is not a string"))),
        }
    };
    Ok(MuxCredentials { token_id: field("id")?, token_secret: field("secret")? })
}

/// Reads the token's secret from Secrets Manager at start-up ([`parse_token_secret`]). Not
/// [`crate::secrets::read_secret`]: that one keeps a single field of a JSON secret; both read it
/// with [`crate::secrets::read_secret_string`].
pub async fn read_token_secret(
    aws: &SdkConfig,
    arn: &str,
    variable: &'static str,
) -> Result<MuxCredentials, StartupError> {
    let raw = crate::secrets::read_secret_string(aws, arn, variable).await?;
    Ok(parse_token_secret(variable, &raw)?)
}

/// The credentials, wherever they are.
pub async fn resolve_token(source: &MuxTokenSource, aws: &SdkConfig) -> Result<MuxCredentials, StartupError> {
    match source {
        MuxTokenSource::Inline(credentials) => Ok(credentials.clone()),
        MuxTokenSource::SecretsManager { arn, variable } => read_token_secret(aws, arn, variable).await,
    }
}

/// A base URL: `https://`, or `http://` to a loopback host (a local emulator); no query, fragment
/// or user info. Returned without a trailing slash.
fn base_url(name: &'static str, value: Option<String>, default: &str) -> Result<String, ConfigError> {
    let url = value.unwrap_or_else(|| default.to_owned()).trim_end_matches('/').to_owned();
    let (rest, secure) = if let Some(rest) = url.strip_prefix("https://") {
        (rest, true)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (rest, false)
    } else {
        return Err(bad(name, "must start with https:// (or http:// for a local emulator on a loopback host)"));
    };
    if url.contains(['?', '#', '@']) || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(name, "must be a plain base URL (no query, fragment, credentials or spaces)"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if host.is_empty() {
        return Err(bad(name, "has no host"));
    }
    if !secure && !is_loopback(host) {
        return Err(bad(name, "must use https:// (http:// only for a loopback host: localhost, 127.0.0.1, [::1])"));
    }
    Ok(url)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Option<MuxConfig>, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        MuxConfig::from_lookup(|k| map.get(k).cloned())
    }

    const TOKEN: [(&str, &str); 2] =
        [("MUX_TOKEN_ID", "44c819de-4add-4c9f-b2e9-384a0a71bede"), ("MUX_TOKEN_SECRET", "c0ffee/s3cr3t+value==")];

    fn with_token(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
        TOKEN.iter().copied().chain(extra.iter().copied()).collect()
    }

    #[test]
    fn nothing_set_means_no_mux_and_a_token_gives_the_defaults() {
        assert_eq!(config(&[]).unwrap(), None);
        assert_eq!(config(&[("MUX_TOKEN_ID", "  ")]).unwrap(), None, "empty counts as unset");
        assert_eq!(config(&[("MUX_WEBHOOK_SECRET", "whsec")]).unwrap(), None, "the webhook secret alone");
        let c = config(&TOKEN).unwrap().unwrap();
        assert_eq!(c.api_url, DEFAULT_MUX_API_URL);
        assert_eq!(c.options, MuxOptions::default());
        assert_eq!(c.webhook_secret, None);
        let MuxTokenSource::Inline(credentials) = &c.token else { panic!("inline") };
        assert_eq!(credentials.token_id.expose(), TOKEN[0].1);
        assert_eq!(credentials.token_secret.expose(), TOKEN[1].1);
        assert!(!format!("{c:?}").contains("s3cr3t"), "Debug never shows the secret");
    }

    #[test]
    fn every_setting_is_read() {
        let c = config(&with_token(&[
            ("MUX_API_URL", "http://127.0.0.1:8787/"),
            ("MUX_PLAYBACK_POLICY", "signed"),
            ("MUX_VIDEO_QUALITY", "premium"),
            ("MUX_STREAM_URL", "http://localhost:8787/stream/"),
            ("MUX_IMAGE_URL", "http://[::1]:8787/image"),
            ("MUX_WEBHOOK_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:mux-webhook"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.api_url, "http://127.0.0.1:8787");
        assert_eq!(
            c.options,
            MuxOptions {
                playback_policy: PlaybackPolicy::Signed,
                video_quality: VideoQuality::Premium,
                stream_url: "http://localhost:8787/stream".into(),
                image_url: "http://[::1]:8787/image".into(),
            }
        );
        assert_eq!(
            c.webhook_secret,
            Some(SecretSource::SecretsManager {
                arn: "arn:aws:secretsmanager:us-east-1:1:secret:mux-webhook".into(),
                variable: "MUX_WEBHOOK_SECRET_ARN"
            })
        );
        let arn =
            config(&[("MUX_TOKEN_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:1:secret:mux")]).unwrap().unwrap();
        assert_eq!(
            arn.token,
            MuxTokenSource::SecretsManager {
                arn: "arn:aws:secretsmanager:us-east-1:1:secret:mux".into(),
                variable: "MUX_TOKEN_SECRET_ARN"
            }
        );
    }

    #[test]
    fn every_error_names_its_variable_and_never_its_secret() {
        let secret = "REPLACE_WITH_MUX_TOKEN_SECRET";
        let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
            (vec![("MUX_TOKEN_ID", "id")], "MUX_TOKEN_SECRET"),
            (vec![("MUX_TOKEN_SECRET", "s")], "MUX_TOKEN_ID"),
            (vec![("MUX_API_URL", "https://api.mux.com")], "MUX_TOKEN_ID"),
            (vec![("MUX_TOKEN_ID", "id"), ("MUX_TOKEN_SECRET", secret)], "MUX_TOKEN_SECRET"),
            (vec![("MUX_TOKEN_ID", "has space"), ("MUX_TOKEN_SECRET", "s")], "MUX_TOKEN_ID"),
            (vec![("MUX_TOKEN_ID", "id"), ("MUX_TOKEN_SECRET", "sécret")], "MUX_TOKEN_SECRET"),
            (with_token(&[("MUX_TOKEN_SECRET_ARN", "arn:aws:secretsmanager:x")]), "MUX_TOKEN_SECRET_ARN"),
            (vec![("MUX_TOKEN_SECRET_ARN", "mux-token")], "MUX_TOKEN_SECRET_ARN"),
            (with_token(&[("MUX_API_URL", "http://api.mux.com")]), "MUX_API_URL"),
            (with_token(&[("MUX_API_URL", "ftp://x")]), "MUX_API_URL"),
            (with_token(&[("MUX_API_URL", "https://")]), "MUX_API_URL"),
            (with_token(&[("MUX_API_URL", "https://user:pw@api.mux.com")]), "MUX_API_URL"),
            (with_token(&[("MUX_API_URL", "http://127.0.0.1.example.com")]), "MUX_API_URL"),
            (with_token(&[("MUX_STREAM_URL", "http://cdn.example.com")]), "MUX_STREAM_URL"),
            (with_token(&[("MUX_IMAGE_URL", "https://image.mux.com/?w=1")]), "MUX_IMAGE_URL"),
            (with_token(&[("MUX_PLAYBACK_POLICY", "drm")]), "MUX_PLAYBACK_POLICY"),
            (with_token(&[("MUX_PLAYBACK_POLICY", "Public")]), "MUX_PLAYBACK_POLICY"),
            (with_token(&[("MUX_VIDEO_QUALITY", "smart")]), "MUX_VIDEO_QUALITY"),
            (with_token(&[("MUX_WEBHOOK_SECRET", "whsec"), ("MUX_WEBHOOK_SECRET_ARN", "arn:x")]), "MUX_WEBHOOK_SECRET"),
            (with_token(&[("MUX_WEBHOOK_SECRET", "REPLACE_WITH_MUX_WEBHOOK_SECRET")]), "MUX_WEBHOOK_SECRET"),
            (with_token(&[("MUX_WEBHOOK_SECRET_ARN", "secret-name")]), "MUX_WEBHOOK_SECRET_ARN"),
        ];
        for (vars, name) in cases {
            let err = config(&vars).unwrap_err();
            assert_eq!(err.name, name, "{vars:?}: {err}");
            let text = err.to_string();
            assert!(text.contains(name), "{text}");
            for (_, value) in &vars {
                if value.len() > 6 && !value.starts_with("http") && !value.starts_with("arn") {
                    assert!(!text.contains(value), "{text} quotes {value}");
                }
            }
        }
    }

    #[test]
    fn the_webhook_reads_its_secret_and_options_without_a_token() {
        let vars: HashMap<&str, &str> =
            [("MUX_WEBHOOK_SECRET", "whsec_abc"), ("MUX_STREAM_URL", "http://127.0.0.1:9/s")].into();
        let lookup = |k: &str| vars.get(k).map(|v| v.to_string());
        assert_eq!(
            webhook_secret_from_lookup(lookup).unwrap(),
            Some(SecretSource::Inline(SecretString::new("whsec_abc")))
        );
        assert_eq!(MuxOptions::from_lookup(lookup).unwrap().stream_url, "http://127.0.0.1:9/s");
        assert_eq!(webhook_secret_from_lookup(|_| None).unwrap(), None);
    }

    #[test]
    fn token_secrets_are_read_from_json_with_clear_errors() {
        const V: &str = "MUX_TOKEN_SECRET_ARN";
        let ok = parse_token_secret(V, r#"{"id": "44c819de", "secret": "abc/def+g=="}"#).unwrap();
        assert_eq!((ok.token_id.expose(), ok.token_secret.expose()), ("44c819de", "abc/def+g=="));
        let cases = [
            ("plain-secret-value", "not a JSON object"),
            (r#"["a","b"]"#, "not a JSON object"),
            (r#"{"secret": "hidden-value-1"}"#, "no \"id\""),
            (r#"{"id": "x", "secret": null}"#, "no \"secret\""),
            (r#"{"id": 5, "secret": "hidden-value-1"}"#, "\"id\" is not a string"),
            (r#"{"id": "x", "secret": "REPLACE_WITH_MUX_TOKEN"}"#, "placeholder"),
            (r#"{"id": "x", "secret": "hidden value 1"}"#, "whitespace"),
            (r#"{"id": "", "secret": "hidden-value-1"}"#, "\"id\": is empty"),
        ];
        for (raw, expected) in cases {
            let err = parse_token_secret(V, raw).unwrap_err();
            assert_eq!(err.name, V);
            let text = err.to_string();
            assert!(text.contains(expected), "{raw}: {text}");
            assert!(
                !text.contains("hidden") && !text.contains("REPLACE_WITH") && !text.contains("plain-secret"),
                "{text}"
            );
        }
    }

    #[test]
    fn loopback_hosts_are_recognised() {
        for host in ["localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "::1"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["example.com", "10.0.0.1", "localhost.example.com", "0.0.0.0"] {
            assert!(!is_loopback(host), "{host}");
        }
        assert_eq!(base_url("X", Some("http://localhost:9/a/".into()), "").unwrap(), "http://localhost:9/a");
    }
}
