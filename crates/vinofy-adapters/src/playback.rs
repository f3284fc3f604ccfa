//! [`PlaybackSigner`]: signed playback URLs of private videos, in each provider's format.
//!
//! - **Cloudflare Stream** (self-signed token, `cloudflare-stream-api.md` §6.2): an RS256 JWT
//!   with header `kid`, claims `sub` = the video uid, `kid`, `exp`, `downloadable: false` and the
//!   configured `accessRules`; it replaces the uid in every URL.
//! - **Mux** (`mux-node-sdk` `jwt.ts`): an RS256 JWT with header `kid`, claims `sub` = the playback
//!   id, `aud` `v` (video) or `t` (thumbnail), `exp`, `kid`; appended as `?token=`.
//!
//! The signing keys come from Secrets Manager as the providers return them (`{"id", "pem"}`,
//! `{"id", "private_key"}`, the PEM base64-encoded); they and the tokens are credentials.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use vinofy_core::domain::provider::Provider;
use vinofy_core::domain::record::VideoRecord;
use vinofy_core::ports::{PlaybackSignError, PlaybackSigner, PlaybackUrls};

use crate::config::{ConfigError, bad};

/// A signing key just created at a provider: the id, and the secret to store, as JSON
/// (`{"id", "pem"}` for Stream, `{"id", "private_key"}` for Mux). The JSON is a credential.
pub struct NewSigningKey {
    pub id: String,
    pub secret_json: vinofy_core::secret::SecretString,
    pem_field: &'static str,
}

impl NewSigningKey {
    pub fn new(id: String, pem_field: &'static str, pem: String) -> Self {
        let secret_json = vinofy_core::secret::SecretString::new(json!({ "id": id, pem_field: pem }).to_string());
        Self { id, secret_json, pem_field }
    }

    /// The key as the API will read it: a key the provider returned unusable is never stored.
    pub fn check(&self, variable: &'static str) -> Result<SigningKey, ConfigError> {
        SigningKey::from_secret(variable, self.secret_json.expose(), self.pem_field)
    }
}

/// A provider's signing key: its id (the JWT's `kid`) and the private key. Never printed.
#[derive(Clone)]
pub struct SigningKey {
    pub id: String,
    key: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("id", &self.id).field("key", &"<redacted>").finish()
    }
}

impl SigningKey {
    /// Reads a key as stored in the secret: JSON with the id and the PEM (`pem_field`), the PEM
    /// base64-encoded as the provider returns it, or plain. Errors name `variable`, never a value.
    pub fn from_secret(variable: &'static str, raw: &str, pem_field: &str) -> Result<Self, ConfigError> {
        if crate::config::holds_placeholder(raw) {
            return Err(bad(
                variable,
                "still holds the stack's placeholder: run `vinofy signing-key create` (README, \"Private playback\")",
            ));
        }
        let stored: Value = serde_json::from_str(raw)
            .map_err(|_| bad(variable, format!("must hold JSON {{\"id\", \"{pem_field}\"}}")))?;
        let id = stored.get("id").and_then(Value::as_str).filter(|id| is_key_id(id));
        let pem = stored.get(pem_field).and_then(Value::as_str);
        let (Some(id), Some(pem)) = (id, pem) else {
            return Err(bad(variable, format!("must hold JSON {{\"id\", \"{pem_field}\"}} with a key id and a PEM")));
        };
        let pem = pem.trim();
        let pem = if pem.starts_with("-----BEGIN") {
            pem.as_bytes().to_vec()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(pem)
                .map_err(|_| bad(variable, format!("{pem_field} is neither a PEM nor a base64-encoded PEM")))?
        };
        let key = EncodingKey::from_rsa_pem(&pem)
            .map_err(|_| bad(variable, format!("{pem_field} is not an RSA private key in PEM")))?;
        Ok(Self { id: id.to_owned(), key })
    }

    fn sign(&self, claims: &Value) -> Result<String, PlaybackSignError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.id.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|e| PlaybackSignError::Unsignable(format!("cannot sign a playback token: {e}")))
    }
}

fn is_key_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `STREAM_ACCESS_RULES`: Cloudflare's `accessRules`, at most 5, each `{type, action, country?,
/// ip?}` with `type` `any`, `ip.src` or `ip.geoip.country` and `action` `allow` or `block`.
pub fn parse_access_rules(variable: &'static str, raw: &str) -> Result<Value, ConfigError> {
    let rules: Value = serde_json::from_str(raw).map_err(|_| bad(variable, "must be a JSON array of access rules"))?;
    let list = rules.as_array().ok_or_else(|| bad(variable, "must be a JSON array of access rules"))?;
    if list.len() > 5 {
        return Err(bad(variable, "Cloudflare takes at most 5 access rules"));
    }
    for rule in list {
        let kind = rule.get("type").and_then(Value::as_str);
        let action = rule.get("action").and_then(Value::as_str);
        let strings = |field: &str| {
            rule.get(field).and_then(Value::as_array).is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string))
        };
        let ok = matches!(action, Some("allow" | "block"))
            && match kind {
                Some("any") => true,
                Some("ip.src") => strings("ip"),
                Some("ip.geoip.country") => strings("country"),
                _ => false,
            };
        if !ok {
            return Err(bad(
                variable,
                format!(
                    "{rule} is not an access rule ({{\"type\": any|ip.src|ip.geoip.country, \"action\": allow|block, \"ip\"|\"country\": [...]}})"
                ),
            ));
        }
    }
    Ok(rules)
}

/// Signs for each provider whose key is configured.
#[derive(Debug, Clone, Default)]
pub struct ProviderPlaybackSigner {
    pub cloudflare: Option<SigningKey>,
    /// Cloudflare's `accessRules` for every token (absent: none).
    pub access_rules: Option<Value>,
    pub mux: Option<SigningKey>,
}

/// `url` with the path segment `id` replaced by `token` (Stream's URLs name the video by its uid).
fn with_token_for(url: &str, id: &str, token: &str) -> Result<String, PlaybackSignError> {
    let (scheme_host, path) = match url.find("://").and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j)) {
        Some(at) => url.split_at(at),
        None => return Err(PlaybackSignError::Unsignable("a playback URL has no path".into())),
    };
    let mut replaced = false;
    let path: Vec<&str> = path
        .split('/')
        .map(|segment| {
            if !replaced && segment == id {
                replaced = true;
                token
            } else {
                segment
            }
        })
        .collect();
    if !replaced {
        return Err(PlaybackSignError::Unsignable("a playback URL does not name its video".into()));
    }
    Ok(format!("{scheme_host}{}", path.join("/")))
}

fn with_query_token(url: &str, token: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}token={token}")
}

impl PlaybackSigner for ProviderPlaybackSigner {
    fn signed_urls(&self, record: &VideoRecord, expires_at_s: i64) -> Result<PlaybackUrls, PlaybackSignError> {
        let uid = record
            .video_uid
            .as_ref()
            .ok_or_else(|| PlaybackSignError::Unsignable("the record names no video".into()))?;
        match record.provider {
            Provider::Cloudflare => {
                let key = self.cloudflare.as_ref().ok_or(PlaybackSignError::Unconfigured(Provider::Cloudflare))?;
                let mut claims = json!({
                    "sub": uid.as_str(),
                    "kid": key.id,
                    "exp": expires_at_s,
                    "downloadable": false,
                });
                if let Some(rules) = &self.access_rules {
                    claims["accessRules"] = rules.clone();
                }
                let token = key.sign(&claims)?;
                let sign =
                    |url: &Option<String>| url.as_deref().map(|u| with_token_for(u, uid.as_str(), &token)).transpose();
                Ok(PlaybackUrls {
                    hls_url: sign(&record.hls_url)?,
                    dash_url: sign(&record.dash_url)?,
                    thumbnail_url: sign(&record.thumbnail_url)?,
                })
            }
            Provider::Mux => {
                let key = self.mux.as_ref().ok_or(PlaybackSignError::Unconfigured(Provider::Mux))?;
                let playback_id = record
                    .playback_id
                    .as_deref()
                    .ok_or_else(|| PlaybackSignError::Unsignable("the Mux record has no playback id".into()))?;
                let token = |audience: &str| {
                    key.sign(&json!({"sub": playback_id, "aud": audience, "exp": expires_at_s, "kid": key.id}))
                };
                let video = token("v")?;
                let thumbnail = token("t")?;
                Ok(PlaybackUrls {
                    hls_url: record.hls_url.as_deref().map(|u| with_query_token(u, &video)),
                    dash_url: None,
                    thumbnail_url: record.thumbnail_url.as_deref().map(|u| with_query_token(u, &thumbnail)),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uid_segment_is_replaced_and_nothing_else() {
        let uid = "ea95132c15732412d22c1476fa83f27a";
        let url = format!("https://customer-x.cloudflarestream.com/{uid}/manifest/video.m3u8");
        assert_eq!(
            with_token_for(&url, uid, "TOKEN").unwrap(),
            "https://customer-x.cloudflarestream.com/TOKEN/manifest/video.m3u8"
        );
        assert!(with_token_for("https://host/other/manifest/video.m3u8", uid, "T").is_err());
        assert!(with_token_for("no-scheme", uid, "T").is_err());
        assert_eq!(with_query_token("https://stream.mux.com/p.m3u8", "T"), "https://stream.mux.com/p.m3u8?token=T");
        assert_eq!(
            with_query_token("https://image.mux.com/p/t.jpg?time=1", "T"),
            "https://image.mux.com/p/t.jpg?time=1&token=T"
        );
    }

    #[test]
    fn access_rules_are_checked() {
        assert!(
            parse_access_rules(
                "R",
                r#"[{"type":"ip.geoip.country","action":"allow","country":["FR"]},{"type":"any","action":"block"}]"#
            )
            .is_ok()
        );
        for bad in
            [r#"{}"#, r#"[{"type":"ip.src","action":"allow"}]"#, r#"[{"type":"any","action":"deny"}]"#, "not json"]
        {
            assert_eq!(parse_access_rules("R", bad).unwrap_err().name, "R", "{bad}");
        }
        let six = format!("[{}]", [r#"{"type":"any","action":"allow"}"#; 6].join(","));
        assert!(parse_access_rules("R", &six).is_err());
    }

    #[test]
    fn placeholders_and_garbage_are_refused_without_echoing_them() {
        for raw in [
            "REPLACE_WITH_STREAM_SIGNING_KEY",
            r#"{"id":"REPLACE_WITH_KEY_ID","pem":"REPLACE_WITH_PEM"}"#,
            r#"{"id":"abc","pem":"bm90IGEgcGVt"}"#,
            r#"{"id":"abc"}"#,
            "plain-secret-text",
        ] {
            let e = SigningKey::from_secret("STREAM_SIGNING_KEY_SECRET_ARN", raw, "pem").unwrap_err();
            assert_eq!(e.name, "STREAM_SIGNING_KEY_SECRET_ARN");
            assert!(!e.to_string().contains("bm90IGEgcGVt") && !e.to_string().contains("plain-secret"), "{e}");
        }
    }
}
