//! [`TokenVerifier`] for OpenID Connect: the identity provider's JWTs (Cognito, Auth0, Firebase
//! Auth, any other), checked against its JWKS with `jsonwebtoken`.
//!
//! The rules: only RS256 and ES256 (so never `none`, and never an HMAC algorithm, which would let
//! a token signed with the public key as an HMAC secret through); the key is the JWKS key named by
//! the header's `kid`, and its type must be the algorithm's; `iss`, `aud`, `exp`, `nbf` checked
//! with the configured leeway (at most 60 s); `sub` required.
//!
//! Keys are cached. An unknown `kid` refetches the JWKS, at most once per `min_refetch` (so a
//! stream of forged `kid`s cannot make us hammer the identity provider), and a rotated key is
//! accepted within `min_refetch` of its first use. The cache is also refreshed after `max_age`.

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tokio::sync::Mutex;

use vinofy_core::ports::{AuthRejection, Caller, Clock, SystemClock, TokenVerifier};

use crate::StartupError;

/// How the identity provider is trusted (`AUTH_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcSettings {
    pub issuer: String,
    /// Accepted audiences (`AUTH_AUDIENCE`, comma-separated): the token's `aud` must hold one.
    pub audiences: Vec<String>,
    pub jwks_url: String,
    pub leeway_seconds: u64,
    /// The shortest time between two JWKS fetches caused by unknown `kid`s.
    pub min_refetch: Duration,
    /// How long fetched keys are used before the JWKS is fetched again.
    pub max_age: Duration,
}

struct CachedKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, CachedKey>,
    /// When the JWKS was last fetched successfully / last asked for (epoch ms).
    fetched_at_ms: Option<i64>,
    attempted_at_ms: Option<i64>,
}

pub struct JwksVerifier {
    settings: OidcSettings,
    http: reqwest::Client,
    cache: Mutex<KeyCache>,
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
}

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

impl JwksVerifier {
    pub fn new(settings: OidcSettings) -> Result<Self, StartupError> {
        Ok(Self { settings, http: crate::http::client()?, cache: Mutex::default() })
    }

    /// The key for `kid` with `algorithm`, fetching the JWKS when the rules allow.
    async fn key(&self, kid: &str) -> Result<(Algorithm, DecodingKey), AuthRejection> {
        let mut cache = self.cache.lock().await;
        // When to fetch is `should_fetch`'s rule, tested on its own; the verifier runs on real time.
        let now = SystemClock.now_ms();
        if should_fetch(&self.settings, cache.fetched_at_ms, cache.attempted_at_ms, cache.keys.contains_key(kid), now) {
            cache.attempted_at_ms = Some(now);
            match self.fetch().await {
                Ok(keys) => {
                    cache.keys = keys;
                    cache.fetched_at_ms = Some(now);
                }
                // Keys we have keep working through an outage of the identity provider.
                Err(reason) if cache.keys.contains_key(kid) => {
                    tracing::warn!(reason = %reason, "could not refresh the JWKS; using the cached keys");
                }
                Err(reason) => return Err(AuthRejection::Unavailable(reason)),
            }
        }
        match cache.keys.get(kid) {
            Some(cached) => Ok((cached.algorithm, cached.key.clone())),
            None => {
                Err(AuthRejection::InvalidToken("the token's key id is not in the identity provider's JWKS".into()))
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, CachedKey>, String> {
        let url = &self.settings.jwks_url;
        let response = self
            .http
            .get(url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("cannot fetch the JWKS ({url}): {}", crate::http::describe(e)))?;
        if !response.status().is_success() {
            return Err(format!("the JWKS ({url}) answered HTTP {}", response.status().as_u16()));
        }
        let set: serde_json::Value = response.json().await.map_err(|e| format!("the JWKS ({url}) is not JSON: {e}"))?;
        let listed =
            set.get("keys").and_then(|k| k.as_array()).ok_or_else(|| format!("the JWKS ({url}) has no keys"))?;
        // One key at a time: a key of a type jsonwebtoken does not know must not hide the others.
        let keys: Vec<Jwk> = listed.iter().filter_map(|k| serde_json::from_value(k.clone()).ok()).collect();
        Ok(usable_keys(&keys))
    }
}

/// Whether to fetch the JWKS now: when the keys are stale or lack `kid`, and the last attempt was
/// at least `min_refetch` ago (so unknown `kid`s cannot make us hammer the identity provider).
fn should_fetch(
    settings: &OidcSettings,
    fetched_at_ms: Option<i64>,
    attempted_at_ms: Option<i64>,
    knows_kid: bool,
    now_ms: i64,
) -> bool {
    let stale = fetched_at_ms.is_none_or(|at| now_ms - at >= settings.max_age.as_millis() as i64);
    let may_fetch = attempted_at_ms.is_none_or(|at| now_ms - at >= settings.min_refetch.as_millis() as i64);
    (stale || !knows_kid) && may_fetch
}

/// The JWKS keys we accept tokens from: RSA keys for RS256, P-256 keys for ES256, each with a
/// `kid`. Anything else is skipped (an `oct` key above all: never an HMAC secret).
fn usable_keys(set: &[Jwk]) -> HashMap<String, CachedKey> {
    let mut keys = HashMap::new();
    for jwk in set {
        let Some(kid) = jwk.common.key_id.clone() else { continue };
        let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
            (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
            (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
                if ec.curve == EllipticCurve::P256 =>
            {
                Algorithm::ES256
            }
            _ => continue,
        };
        if let Ok(key) = DecodingKey::from_jwk(jwk) {
            keys.insert(kid, CachedKey { algorithm, key });
        }
    }
    keys
}

impl TokenVerifier for JwksVerifier {
    async fn verify(&self, token: &str) -> Result<Caller, AuthRejection> {
        let invalid = |m: &str| AuthRejection::InvalidToken(m.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("the token is not a well-formed JWT"))?;
        if !matches!(header.alg, Algorithm::RS256 | Algorithm::ES256) {
            return Err(AuthRejection::InvalidToken(format!(
                "algorithm {:?} is not accepted (RS256 and ES256 only)",
                header.alg
            )));
        }
        let kid = header.kid.as_deref().ok_or_else(|| invalid("the token names no key (kid)"))?;
        let (algorithm, key) = self.key(kid).await?;
        if algorithm != header.alg {
            return Err(invalid("the token's algorithm is not its key's"));
        }
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.settings.issuer]);
        validation.set_audience(&self.settings.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.settings.leeway_seconds;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            AuthRejection::InvalidToken(
                match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)",
                    ErrorKind::InvalidIssuer => "the token is from another issuer",
                    ErrorKind::InvalidAudience => "the token is for another audience",
                    ErrorKind::InvalidSignature => "the token's signature does not verify",
                    ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim (exp, iss, aud, sub)",
                    _ => "the token is not valid",
                }
                .to_owned(),
            )
        })?;
        if data.claims.sub.trim().is_empty() {
            return Err(invalid("the token's sub is empty"));
        }
        Ok(Caller { subject: data.claims.sub })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_jwks_is_fetched_when_needed_and_at_most_once_per_interval() {
        let settings = OidcSettings {
            issuer: "i".into(),
            audiences: vec!["a".into()],
            jwks_url: "https://i/jwks".into(),
            leeway_seconds: 60,
            min_refetch: Duration::from_secs(30),
            max_age: Duration::from_secs(3600),
        };
        let fetch = |fetched, attempted, knows, now| should_fetch(&settings, fetched, attempted, knows, now);
        assert!(fetch(None, None, false, 0), "the first request fetches");
        assert!(!fetch(Some(0), Some(0), true, 10_000), "a known kid with fresh keys does not");
        assert!(!fetch(Some(0), Some(0), false, 29_999), "an unknown kid within 30 s of the last fetch does not");
        assert!(fetch(Some(0), Some(0), false, 30_000), "an unknown kid 30 s later does: a rotated key is picked up");
        assert!(!fetch(Some(0), Some(3_599_990), true, 3_600_000), "stale keys wait for the interval too");
        assert!(fetch(Some(0), Some(0), true, 3_600_000), "keys older than max_age are refreshed");
        assert!(fetch(None, Some(0), true, 30_000), "after a failed fetch, retried once the interval passed");
        assert!(!fetch(None, Some(0), false, 1_000), "but not before");
    }

    #[test]
    fn only_rsa_and_p256_keys_with_a_kid_are_used() {
        let rsa = json!({"kty": "RSA", "kid": "r", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB"});
        let ec = json!({"kty": "EC", "kid": "e", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        let p384 = json!({"kty": "EC", "kid": "p", "crv": "P-384", "x": "iA7lWQLzVrKGEFjfGMfMHfTEZ2KnLiKU7JuNT3E7ygsfE7ygsfE7ygsfE7ygsfE7", "y": "iA7lWQLzVrKGEFjfGMfMHfTEZ2KnLiKU7JuNT3E7ygsfE7ygsfE7ygsfE7ygsfE7"});
        let oct = json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"});
        let no_kid = json!({"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        let rsa_for_ps = json!({"kty": "RSA", "kid": "ps", "alg": "PS256", "n": rsa["n"], "e": "AQAB"});
        let keys: Vec<Jwk> = [rsa, ec, p384, oct, no_kid, rsa_for_ps]
            .into_iter()
            .filter_map(|k| serde_json::from_value(k).ok())
            .collect();
        let usable = usable_keys(&keys);
        let mut kids: Vec<(&str, Algorithm)> = usable.iter().map(|(k, v)| (k.as_str(), v.algorithm)).collect();
        kids.sort_by_key(|(k, _)| *k);
        assert_eq!(kids, [("e", Algorithm::ES256), ("r", Algorithm::RS256)]);
    }
}
