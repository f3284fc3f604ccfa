//! Signed playback, shared by both emulators: RS256 signing keys (generated here, the private
//! half handed out once, only the public half kept) and the verification of the JWTs players put
//! in playback URLs (Cloudflare: in place of the video uid; Mux: `?token=`).
//!
//! What each provider requires of the claims (`sub`, `aud`, access rules) is checked by its
//! delivery module; this one checks what both share: `alg` RS256 only, a `kid` naming a live key,
//! the signature, `exp` required and in the future, `nbf` (if any) not in the future.
//!
//! Refusal reasons are fixed texts: a token is a bearer credential and is never echoed.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rsa::PrivateKey;
use rsa::pkcs1::{EncodeRsaPrivateKey, LineEnding};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use serde_json::{Map, Value, json};

/// RSA modulus size of generated keys (what Cloudflare and Mux hand out).
pub const KEY_BITS: usize = 2048;

/// A freshly generated key: what the create endpoints return once, and the public half to keep.
pub struct GeneratedKey {
    /// PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), LF line endings.
    pub private_pem: String,
    /// The private key as a JWK (`kty`, `n`, `e`, `d`, `p`, `q`, `dp`, `dq`, `qi`, `alg`, `kid`).
    pub private_jwk: Value,
    pub public: DecodingKey,
}

impl GeneratedKey {
    /// `base64(PEM)`: how both providers hand the private key out (Cloudflare `pem`, Mux
    /// `private_key`).
    pub fn pem_base64(&self) -> String {
        STANDARD.encode(self.private_pem.as_bytes())
    }

    /// `base64(JWK JSON)` (Cloudflare `jwk`).
    pub fn jwk_base64(&self) -> String {
        STANDARD.encode(self.private_jwk.to_string().as_bytes())
    }
}

/// Generates a 2048-bit RSA key with the operating system's RNG. CPU-bound (tens to hundreds of
/// milliseconds): call it from `spawn_blocking`, see [`generate_key_async`].
pub fn generate_key(kid: &str) -> Result<GeneratedKey, String> {
    let key = PrivateKey::new(&mut getrandom::SysRng, KEY_BITS).map_err(|e| format!("RSA key generation: {e}"))?;
    let private_pem =
        key.to_pkcs1_pem(LineEnding::LF).map_err(|e| format!("PKCS#1 encoding: {e}"))?.as_str().to_owned();
    let n = key.n().as_ref().to_be_bytes_trimmed_vartime();
    let e = key.e().to_be_bytes_trimmed_vartime();
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let mut jwk = Map::new();
    jwk.insert("kty".into(), json!("RSA"));
    jwk.insert("kid".into(), json!(kid));
    jwk.insert("alg".into(), json!("RS256"));
    jwk.insert("use".into(), json!("sig"));
    jwk.insert("n".into(), json!(b64(&n)));
    jwk.insert("e".into(), json!(b64(&e)));
    jwk.insert("d".into(), json!(b64(&key.d().to_be_bytes_trimmed_vartime())));
    if let [p, q] = key.primes() {
        jwk.insert("p".into(), json!(b64(&p.as_ref().to_be_bytes_trimmed_vartime())));
        jwk.insert("q".into(), json!(b64(&q.as_ref().to_be_bytes_trimmed_vartime())));
    }
    if let (Some(dp), Some(dq), Some(qi)) = (key.dp(), key.dq(), key.crt_coefficient()) {
        jwk.insert("dp".into(), json!(b64(&dp.to_be_bytes_trimmed_vartime())));
        jwk.insert("dq".into(), json!(b64(&dq.to_be_bytes_trimmed_vartime())));
        jwk.insert("qi".into(), json!(b64(&qi.to_be_bytes_trimmed_vartime())));
    }
    let public = DecodingKey::from_rsa_raw_components(&n, &e);
    Ok(GeneratedKey { private_pem, private_jwk: Value::Object(jwk), public })
}

/// [`generate_key`] on the blocking pool, so the server keeps answering meanwhile.
pub async fn generate_key_async(kid: String) -> Result<GeneratedKey, String> {
    tokio::task::spawn_blocking(move || generate_key(&kid)).await.map_err(|e| format!("key generation task: {e}"))?
}

/// A live signing key: only its public half is kept.
#[derive(Clone)]
pub struct StoredKey {
    pub id: String,
    pub created: DateTime<Utc>,
    pub public: DecodingKey,
}

/// An account's (environment's) signing keys, oldest first. Revoking removes a key, so every
/// token signed with it stops verifying.
pub struct KeyStore {
    keys: Vec<StoredKey>,
    max: usize,
}

/// [`KeyStore::insert`] refused: the store already holds `max` keys.
#[derive(Debug, PartialEq, Eq)]
pub struct StoreFull {
    pub max: usize,
}

impl KeyStore {
    pub fn new(max: usize) -> Self {
        Self { keys: Vec::new(), max }
    }

    pub fn is_full(&self) -> bool {
        self.keys.len() >= self.max
    }

    pub fn insert(&mut self, key: StoredKey) -> Result<(), StoreFull> {
        if self.is_full() {
            return Err(StoreFull { max: self.max });
        }
        self.keys.push(key);
        Ok(())
    }

    pub fn list(&self) -> &[StoredKey] {
        &self.keys
    }

    pub fn get(&self, id: &str) -> Option<&StoredKey> {
        self.keys.iter().find(|key| key.id == id)
    }

    /// Removes the key; `false` if there was none with that id.
    pub fn revoke(&mut self, id: &str) -> bool {
        let before = self.keys.len();
        self.keys.retain(|key| key.id != id);
        self.keys.len() != before
    }
}

/// Why a playback token was refused (the text goes into the plain-text error body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal(pub &'static str);

/// Verifies `token` (RS256 only, `kid` looked up with `key`, signature, `exp`, `nbf`) and returns
/// its claims for the provider-specific checks. `now` is Unix seconds.
pub fn verify(
    token: &str,
    key: impl FnOnce(&str) -> Option<DecodingKey>,
    now: i64,
) -> Result<Map<String, Value>, Refusal> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| Refusal("the token is not a JWT"))?;
    if header.alg != Algorithm::RS256 {
        return Err(Refusal("the token must be signed with RS256"));
    }
    let kid = header.kid.ok_or(Refusal("the token header has no kid"))?;
    let public = key(&kid).ok_or(Refusal("the token's kid names no signing key (unknown or revoked)"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    // exp/nbf are checked below, accepting the string-valued form Cloudflare's own tokens carry.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Value>(token, &public, &validation)
        .map_err(|_| Refusal("the token's signature does not verify"))?;
    let Value::Object(claims) = data.claims else {
        return Err(Refusal("the token's payload is not a JSON object"));
    };
    let exp = match claims.get("exp") {
        None => return Err(Refusal("the token has no exp")),
        Some(value) => seconds(value).ok_or(Refusal("the token's exp is not a number of seconds"))?,
    };
    if exp <= now {
        return Err(Refusal("the token has expired"));
    }
    if let Some(value) = claims.get("nbf") {
        let nbf = seconds(value).ok_or(Refusal("the token's nbf is not a number of seconds"))?;
        if nbf > now {
            return Err(Refusal("the token is not valid yet (nbf)"));
        }
    }
    Ok(claims)
}

/// Unix seconds from a JSON number or a string of digits (`"1621889657"`).
fn seconds(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Whether `text` could be a JWT at all: three dot-separated base64url parts, the first a JSON
/// object (`eyJ` is base64url for `{"`). Used to tell a token from a uid in a path, and to make
/// sure a token can be copied into a URL as is.
pub fn looks_like_jwt(text: &str) -> bool {
    let parts: Vec<&str> = text.split('.').collect();
    parts.len() == 3
        && parts[0].starts_with("eyJ")
        && !parts[1].is_empty()
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    fn sign(pem: &str, kid: Option<&str>, claims: &Value) -> String {
        let header = Header { kid: kid.map(str::to_owned), ..Header::new(Algorithm::RS256) };
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn generated_keys_sign_tokens_that_verify() {
        let key = generate_key("k1").unwrap();
        assert!(key.private_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"), "{}", key.private_pem);
        let decoded = String::from_utf8(STANDARD.decode(key.pem_base64()).unwrap()).unwrap();
        assert_eq!(decoded, key.private_pem);
        let jwk: Value = serde_json::from_slice(&STANDARD.decode(key.jwk_base64()).unwrap()).unwrap();
        for field in ["n", "e", "d", "p", "q", "dp", "dq", "qi"] {
            assert!(jwk[field].as_str().is_some_and(|s| !s.is_empty()), "{field}: {jwk}");
        }
        assert_eq!(jwk["e"], "AQAB");

        let now = 1_700_000_000;
        let lookup = |public: DecodingKey| move |kid: &str| (kid == "k1").then_some(public);
        let token = sign(&key.private_pem, Some("k1"), &json!({"sub": "v", "exp": now + 60}));
        assert!(looks_like_jwt(&token));
        let claims = verify(&token, lookup(key.public.clone()), now).unwrap();
        assert_eq!(claims["sub"], "v");

        let refused = |token: &str| verify(token, lookup(key.public.clone()), now).unwrap_err().0;
        assert!(refused(&sign(&key.private_pem, Some("k1"), &json!({"exp": now}))).contains("expired"));
        assert!(refused(&sign(&key.private_pem, Some("k1"), &json!({"sub": "v"}))).contains("no exp"));
        assert!(refused(&sign(&key.private_pem, Some("k2"), &json!({"exp": now + 9}))).contains("kid"));
        assert!(refused(&sign(&key.private_pem, None, &json!({"exp": now + 9}))).contains("kid"));
        let early = sign(&key.private_pem, Some("k1"), &json!({"exp": now + 9, "nbf": now + 5}));
        assert!(refused(&early).contains("nbf"));
        let strings = sign(&key.private_pem, Some("k1"), &json!({"exp": (now + 9).to_string(), "nbf": "1"}));
        assert!(verify(&strings, lookup(key.public.clone()), now).is_ok());
        let hs256 = jsonwebtoken::encode(
            &Header { kid: Some("k1".into()), ..Header::new(Algorithm::HS256) },
            &json!({"exp": now + 9}),
            &EncodingKey::from_secret(b"secret").unwrap(),
        )
        .unwrap();
        assert!(refused(&hs256).contains("RS256"));
        let mut tampered = token.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(refused(&tampered).contains("signature"));
        assert!(refused("not-a-token").contains("not a JWT"));
    }

    #[test]
    fn the_store_holds_at_most_max_keys() {
        let public = DecodingKey::from_rsa_raw_components(&[1, 2, 3], &[1, 0, 1]);
        let key = |id: &str| StoredKey { id: id.to_owned(), created: Utc::now(), public: public.clone() };
        let mut store = KeyStore::new(2);
        store.insert(key("a")).unwrap();
        store.insert(key("b")).unwrap();
        assert_eq!(store.insert(key("c")), Err(StoreFull { max: 2 }));
        assert!(store.revoke("a"));
        assert!(!store.revoke("a"));
        assert!(store.get("a").is_none() && store.get("b").is_some());
        store.insert(key("c")).unwrap();
        assert_eq!(store.list().iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["b", "c"]);
    }

    #[test]
    fn jwt_shapes() {
        assert!(looks_like_jwt("eyJh.eyJz.sig-_"));
        assert!(!looks_like_jwt("0123456789abcdef0123456789abcdef"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c d"));
        assert!(!looks_like_jwt("eyJa.b.c?x"));
        assert!(!looks_like_jwt("hls.min.js"));
    }
}
