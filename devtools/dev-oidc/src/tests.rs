use std::path::PathBuf;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, TokenData, Validation, decode, decode_header};
use serde_json::{Map, Value};

use super::*;

const ISSUER: &str = "http://127.0.0.1:4444";
const AUD: &str = "vinofy-api";

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("dev-oidc-test-{}-{:016x}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Verifies `token` as the api does: the key from the JWKS by kid, iss/aud/exp/nbf checked.
fn verify(jwks: &Value, token: &str, issuer: &str) -> jsonwebtoken::errors::Result<TokenData<Map<String, Value>>> {
    let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
    let header = decode_header(token)?;
    let kid = header.kid.expect("a kid");
    let jwk = set.find(&kid).unwrap_or_else(|| panic!("kid {kid} not in the JWKS"));
    let key = DecodingKey::from_jwk(jwk)?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[AUD]);
    validation.validate_nbf = true;
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
    decode(token, &key, &validation)
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[test]
fn minted_rs256_token_verifies_against_the_jwks() {
    let dir = TempDir::new();
    let state = State::init(&dir.0, ISSUER, Alg::Rs256).unwrap();
    let token = state.mint(&MintOptions::new("auth0|alice", AUD).claim("email", "alice@example.com")).unwrap();
    let header = decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some(state.newest_kid()));
    let jwks = state.jwks().unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(
        (jwk["kty"].as_str(), jwk["alg"].as_str(), jwk["use"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert_eq!(jwk["e"], "AQAB");
    assert!(jwk.get("d").is_none(), "public parts only: {jwk}");
    let claims = verify(&jwks, &token, ISSUER).unwrap().claims;
    assert_eq!(claims["sub"], "auth0|alice");
    assert_eq!(claims["aud"], AUD);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["email"], "alice@example.com");
    let iat = claims["iat"].as_i64().unwrap();
    assert!((iat - now()).abs() < 5);
    assert_eq!(claims["exp"].as_i64(), Some(iat + 3600));
    assert_eq!(claims["nbf"].as_i64(), Some(iat));
}

#[test]
fn minted_es256_token_verifies_against_the_jwks() {
    let dir = TempDir::new();
    let state = State::init(&dir.0, ISSUER, Alg::Es256).unwrap();
    let token = state.mint(&MintOptions::new("auth0|bob", AUD).ttl(60)).unwrap();
    assert_eq!(decode_header(&token).unwrap().alg, jsonwebtoken::Algorithm::ES256);
    let jwks = state.jwks().unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str(), jwk["alg"].as_str()),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert_eq!(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap().len(), 32);
    assert_eq!(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap().len(), 32);
    let claims = verify(&jwks, &token, ISSUER).unwrap().claims;
    assert_eq!(claims["sub"], "auth0|bob");
    assert_eq!(claims["exp"].as_i64(), Some(claims["iat"].as_i64().unwrap() + 60));
}

#[test]
fn rotation_keeps_both_keys_until_drop_old() {
    let dir = TempDir::new();
    let mut state = State::init(&dir.0, ISSUER, Alg::Rs256).unwrap();
    let first = state.newest_kid().to_owned();
    let old_token = state.mint(&MintOptions::new("auth0|alice", AUD)).unwrap();
    let second = state.rotate(Alg::Es256, false).unwrap();
    assert_ne!(first, second);
    assert_eq!(state.newest_kid(), second);
    // Another process (the server) sees the rotation in the file.
    let jwks = State::load(&dir.0).unwrap().jwks().unwrap();
    assert_eq!(kids(&jwks), [first.clone(), second.clone()]);
    let new_token = state.mint(&MintOptions::new("auth0|alice", AUD)).unwrap();
    assert_eq!(decode_header(&new_token).unwrap().kid.as_deref(), Some(second.as_str()));
    assert!(verify(&jwks, &old_token, ISSUER).is_ok());
    assert!(verify(&jwks, &new_token, ISSUER).is_ok());
    // The old key still signs on request.
    let by_old = state.mint(&MintOptions::new("auth0|alice", AUD).kid(&first)).unwrap();
    assert_eq!(decode_header(&by_old).unwrap().kid.as_deref(), Some(first.as_str()));

    let third = state.rotate(Alg::Rs256, true).unwrap();
    let jwks = State::load(&dir.0).unwrap().jwks().unwrap();
    assert_eq!(kids(&jwks), [third]);
    assert!(
        verify(
            &State::load(&dir.0).unwrap().jwks().unwrap(),
            &state.mint(&MintOptions::new("s", AUD)).unwrap(),
            ISSUER
        )
        .is_ok()
    );
    assert!(matches!(state.mint(&MintOptions::new("s", AUD).kid(&first)), Err(Error::UnknownKid(_))));
}

#[test]
fn expired_and_not_yet_valid_tokens_fail_validation() {
    let dir = TempDir::new();
    let state = State::init(&dir.0, ISSUER, Alg::Es256).unwrap();
    let jwks = state.jwks().unwrap();
    let expired = state.mint(&MintOptions::new("auth0|alice", AUD).iat(now() - 7200).exp(now() - 3600)).unwrap();
    let err = verify(&jwks, &expired, ISSUER).unwrap_err();
    assert_eq!(*err.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature);
    let early = state.mint(&MintOptions::new("auth0|alice", AUD).nbf(now() + 3600)).unwrap();
    let err = verify(&jwks, &early, ISSUER).unwrap_err();
    assert_eq!(*err.kind(), jsonwebtoken::errors::ErrorKind::ImmatureSignature);
    let negative_ttl = state.mint(&MintOptions::new("auth0|alice", AUD).ttl(-60)).unwrap();
    assert!(verify(&jwks, &negative_ttl, ISSUER).is_err());
}

#[test]
fn wrong_issuer_audience_and_missing_claims_fail_validation() {
    let dir = TempDir::new();
    let state = State::init(&dir.0, ISSUER, Alg::Rs256).unwrap();
    let jwks = state.jwks().unwrap();
    let other_iss = state.mint(&MintOptions::new("auth0|alice", AUD).iss("https://evil.example")).unwrap();
    assert_eq!(*verify(&jwks, &other_iss, ISSUER).unwrap_err().kind(), jsonwebtoken::errors::ErrorKind::InvalidIssuer);
    let other_aud = state.mint(&MintOptions::new("auth0|alice", "someone-else")).unwrap();
    assert_eq!(
        *verify(&jwks, &other_aud, ISSUER).unwrap_err().kind(),
        jsonwebtoken::errors::ErrorKind::InvalidAudience
    );
    let no_exp = state.mint(&MintOptions::new("auth0|alice", AUD).omit("exp")).unwrap();
    assert!(verify(&jwks, &no_exp, ISSUER).is_err());
    let array_aud =
        state.mint(&MintOptions::new("auth0|alice", AUD).claim("aud", serde_json::json!([AUD, "x"]))).unwrap();
    assert!(verify(&jwks, &array_aud, ISSUER).is_ok());
}

#[test]
fn unknown_key_and_public_key_pem() {
    let dir = TempDir::new();
    let state = State::init(&dir.0, ISSUER, Alg::Rs256).unwrap();
    let jwks = state.jwks().unwrap();
    let stranger = state.sign_with_unknown_key(&MintOptions::new("auth0|mallory", AUD)).unwrap();
    let header = decode_header(&stranger).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert!(!kids(&jwks).contains(&header.kid.unwrap()));

    let pem = state.public_key_pem(state.newest_kid()).unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    // The SPKI PEM is the very key of the JWKS: a genuine token verifies with it.
    let token = state.mint(&MintOptions::new("auth0|alice", AUD)).unwrap();
    let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[AUD]);
    assert!(decode::<Value>(&token, &DecodingKey::from_rsa_pem(pem.as_bytes()).unwrap(), &validation).is_ok());
    // The confusion attack's token: HS256 keyed with the public key PEM; rejected by the JWKS key.
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(state.newest_kid().to_owned());
    let claims = MintOptions::new("auth0|mallory", AUD).claims_at(ISSUER, now());
    let forged = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(pem.as_bytes()).unwrap()).unwrap();
    assert!(verify(&jwks, &forged, ISSUER).is_err());

    let ec = State::init(&TempDir::new().0.join("ec"), ISSUER, Alg::Es256).unwrap();
    assert!(ec.public_key_pem(ec.newest_kid()).unwrap().starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert!(matches!(ec.public_key_pem("nope"), Err(Error::UnknownKid(_))));
}

#[test]
fn state_file_round_trips() {
    let dir = TempDir::new();
    let mut state = State::init(&dir.0, "http://127.0.0.1:4444/", Alg::Rs256).unwrap();
    assert_eq!(state.issuer(), ISSUER, "no trailing slash");
    state.rotate(Alg::Es256, false).unwrap();
    state.set_issuer("http://127.0.0.1:5555").unwrap();
    let loaded = State::load(&dir.0).unwrap();
    assert_eq!(loaded.keys(), state.keys());
    assert_eq!(loaded.issuer(), "http://127.0.0.1:5555");
    assert_eq!(loaded.newest_kid(), state.newest_kid());
    assert_eq!(loaded.jwks().unwrap(), state.jwks().unwrap());
    let raw: Value = serde_json::from_str(&std::fs::read_to_string(dir.0.join(STATE_FILE)).unwrap()).unwrap();
    assert_eq!(raw["keys"][0]["alg"], "RS256");
    assert_eq!(raw["keys"][1]["alg"], "ES256");
    assert!(raw["keys"][1]["private_key_pem"].as_str().unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(raw["keys"][0]["created"].as_str().unwrap().ends_with('Z'));
    // No temporary files left behind.
    let files: Vec<_> = std::fs::read_dir(&dir.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files, [std::ffi::OsString::from(STATE_FILE)]);
    // init refuses to replace it, unless told to.
    assert!(matches!(State::init(&dir.0, ISSUER, Alg::Rs256), Err(Error::Exists(_))));
    let replaced = State::init_with(&dir.0, ISSUER, Alg::Rs256, true).unwrap();
    assert_eq!(State::load(&dir.0).unwrap().keys(), replaced.keys());
    assert!(matches!(State::load(&dir.0.join("missing")), Err(Error::Io { .. })));
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn server_serves_discovery_and_a_fresh_jwks_and_counts_fetches() {
    let dir = TempDir::new();
    let mut state = State::init(&dir.0, ISSUER, Alg::Rs256).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, dir.0.clone()));

    let (status, discovery) = http_get(addr, "/.well-known/openid-configuration").await;
    assert_eq!(status, 200);
    assert_eq!(discovery["issuer"], ISSUER);
    assert_eq!(discovery["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(discovery["id_token_signing_alg_values_supported"], serde_json::json!(["RS256"]));
    assert_eq!(http_get(addr, "/__dev/jwks-fetches").await.1, serde_json::json!({"count": 0}));

    let (status, jwks) = http_get(addr, "/.well-known/jwks.json").await;
    assert_eq!(status, 200);
    assert_eq!(kids(&jwks), [state.newest_kid()]);
    // A rotation (by another process: the file) shows up at once, on both paths.
    let second = state.rotate(Alg::Es256, false).unwrap();
    let (_, jwks) = http_get(addr, "/jwks.json").await;
    assert_eq!(kids(&jwks)[1], second);
    assert!(verify(&jwks, &state.mint(&MintOptions::new("auth0|alice", AUD)).unwrap(), ISSUER).is_ok());
    assert_eq!(http_get(addr, "/__dev/jwks-fetches").await.1, serde_json::json!({"count": 2}));
    let (_, discovery) = http_get(addr, "/.well-known/openid-configuration").await;
    assert_eq!(discovery["id_token_signing_alg_values_supported"], serde_json::json!(["ES256", "RS256"]));
    assert_eq!(http_get(addr, "/nope").await.0, 404);
}
