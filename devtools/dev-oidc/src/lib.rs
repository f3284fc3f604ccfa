//! `dev-oidc`: a dev-only OpenID Connect issuer (never deployed). See README.md.
//!
//! It keeps its signing keys in a state directory ([`State`]), mints tokens with them
//! ([`State::mint`]) and serves their public halves as a JWKS ([`serve`]), so the `api` function
//! can verify `Authorization: Bearer <JWT>` against `AUTH_ISSUER` / `AUTH_AUDIENCE` /
//! `AUTH_JWKS_URL` locally and in the integration tests, exactly as it does against the real
//! identity provider.
//!
//! ```no_run
//! use dev_oidc::{Alg, MintOptions, State};
//!
//! let mut state = State::init("/tmp/oidc".as_ref(), "http://127.0.0.1:8089", Alg::Rs256)?;
//! let token = state.mint(&MintOptions::new("auth0|alice", "vinofy-api"))?;
//! let expired = state.mint(&MintOptions::new("auth0|alice", "vinofy-api").exp(1_000))?;
//! let next_kid = state.rotate(Alg::Es256, false)?; // both keys stay in the JWKS
//! # let _ = (token, expired, next_kid);
//! # Ok::<(), dev_oidc::Error>(())
//! ```

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use p256::elliptic_curve::sec1::ToSec1Point;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The name of the state file inside the state directory.
pub const STATE_FILE: &str = "dev-oidc.json";

/// The RSA modulus size of generated keys.
pub const RSA_BITS: usize = 2048;

/// What can go wrong. Every variant names what it was doing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The state file is not what this version writes.
    #[error("{path}: not a dev-oidc state file: {source}")]
    BadState {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// `init` found a state file and was not told to overwrite it.
    #[error("{0} already exists (use --force to replace it)")]
    Exists(PathBuf),
    /// No key with this kid in the state.
    #[error("no key with kid {0:?} in the state")]
    UnknownKid(String),
    /// The state holds no key at all.
    #[error("the state holds no key")]
    NoKeys,
    /// Generating, encoding or decoding a key.
    #[error("key {kid}: {message}")]
    Key {
        /// The key.
        kid: String,
        /// What failed.
        message: String,
    },
    /// Signing a token.
    #[error("signing: {0}")]
    Jwt(#[from] jsonwebtoken::errors::Error),
}

/// The result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A signing algorithm of the issuer's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, clap::ValueEnum)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, a 2048-bit key.
    #[serde(rename = "RS256")]
    #[value(name = "RS256", alias = "rs256")]
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    #[serde(rename = "ES256")]
    #[value(name = "ES256", alias = "es256")]
    Es256,
}

impl Alg {
    /// The JOSE name (`RS256`, `ES256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    /// The matching [`jsonwebtoken::Algorithm`].
    pub fn algorithm(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
            Alg::Es256 => jsonwebtoken::Algorithm::ES256,
        }
    }
}

impl std::fmt::Display for Alg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One signing key as stored in the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key id, in the JWKS and in the tokens' `kid` header.
    pub kid: String,
    /// Its algorithm.
    pub alg: Alg,
    /// The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub private_key_pem: String,
    /// When it was generated (RFC 3339).
    pub created: String,
}

impl KeyRecord {
    /// A fresh key of `alg` with a random kid.
    pub fn generate(alg: Alg) -> Result<Self> {
        let kid = format!("dev-{}-{:016x}", alg.as_str().to_ascii_lowercase(), fastrand::u64(..));
        let fail = |message: String| Error::Key { kid: kid.clone(), message };
        let private_key_pem = match alg {
            Alg::Rs256 => {
                let key = rsa::PrivateKey::new(&mut getrandom::SysRng, RSA_BITS)
                    .map_err(|e| fail(format!("RSA key generation: {e}")))?;
                key.to_pkcs8_pem(LineEnding::LF).map_err(|e| fail(format!("PKCS#8 encoding: {e}")))?.to_string()
            }
            Alg::Es256 => {
                let key: p256::SecretKey = rsa::Generate::try_generate_from_rng(&mut getrandom::SysRng)
                    .map_err(|e| fail(format!("P-256 key generation: {e}")))?;
                key.to_pkcs8_pem(LineEnding::LF).map_err(|e| fail(format!("PKCS#8 encoding: {e}")))?.to_string()
            }
        };
        let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Ok(Self { kid, alg, private_key_pem, created })
    }

    fn key_error(&self, message: impl std::fmt::Display) -> Error {
        Error::Key { kid: self.kid.clone(), message: message.to_string() }
    }

    fn encoding_key(&self) -> Result<EncodingKey> {
        let pem = self.private_key_pem.as_bytes();
        match self.alg {
            Alg::Rs256 => EncodingKey::from_rsa_pem(pem),
            Alg::Es256 => EncodingKey::from_ec_pem(pem),
        }
        .map_err(|e| self.key_error(format!("not a usable private key: {e}")))
    }

    /// The public key, SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn public_key_pem(&self) -> Result<String> {
        match self.alg {
            Alg::Rs256 => self.rsa()?.to_public_key().to_public_key_pem(LineEnding::LF),
            Alg::Es256 => self.ec()?.public_key().to_public_key_pem(LineEnding::LF),
        }
        .map_err(|e| self.key_error(format!("SPKI encoding: {e}")))
    }

    /// The public JWK (`kty`, `kid`, `alg`, `use`, and `n`/`e` or `crv`/`x`/`y`).
    pub fn jwk(&self) -> Result<Value> {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        Ok(match self.alg {
            Alg::Rs256 => {
                let public = self.rsa()?.to_public_key();
                json!({
                    "kty": "RSA", "kid": self.kid, "alg": self.alg, "use": "sig",
                    "n": b64(&public.n_bytes()), "e": b64(&public.e_bytes()),
                })
            }
            Alg::Es256 => {
                let point = self.ec()?.public_key().to_sec1_point(false);
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    return Err(self.key_error("the public point has no coordinates"));
                };
                json!({
                    "kty": "EC", "crv": "P-256", "kid": self.kid, "alg": self.alg, "use": "sig",
                    "x": b64(x), "y": b64(y),
                })
            }
        })
    }

    fn rsa(&self) -> Result<rsa::PrivateKey> {
        rsa::PrivateKey::from_pkcs8_pem(&self.private_key_pem).map_err(|e| self.key_error(format!("RSA PEM: {e}")))
    }

    fn ec(&self) -> Result<p256::SecretKey> {
        p256::SecretKey::from_pkcs8_pem(&self.private_key_pem).map_err(|e| self.key_error(format!("P-256 PEM: {e}")))
    }

    fn sign(&self, claims: &Map<String, Value>) -> Result<String> {
        let mut header = Header::new(self.alg.algorithm());
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding_key()?)?)
    }
}

/// The contents of the state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    /// The `iss` of minted tokens and of the discovery document.
    pub issuer: String,
    /// The keys, oldest first: the last one signs by default.
    pub keys: Vec<KeyRecord>,
}

/// The issuer's state: a directory holding [`STATE_FILE`] (the issuer URL and the keys).
///
/// A `State` is a snapshot of the file: its mutating methods write the file (atomically), and
/// [`State::reload`] picks up what another process (`dev-oidc rotate`) wrote. The server re-reads
/// the file on every request.
#[derive(Debug, Clone)]
pub struct State {
    dir: PathBuf,
    file: StateFile,
}

/// What to put in a token ([`State::mint`]). `MintOptions::new(sub, aud)` gives a token valid
/// for an hour from now, signed by the newest key; the builder methods change the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct MintOptions {
    /// `sub`.
    pub sub: String,
    /// `aud`.
    pub aud: String,
    /// `iss`; `None`: the state's issuer.
    pub iss: Option<String>,
    /// Lifetime in seconds: `exp = iat + ttl` unless `exp` is given.
    pub ttl: i64,
    /// Explicit `iat` (epoch seconds); `None`: now.
    pub iat: Option<i64>,
    /// Explicit `exp` (epoch seconds), e.g. in the past for an expired token.
    pub exp: Option<i64>,
    /// Explicit `nbf` (epoch seconds), e.g. in the future for a not-yet-valid token; `None`: `iat`.
    pub nbf: Option<i64>,
    /// The signing key; `None`: the newest.
    pub kid: Option<String>,
    /// More claims; they are applied last, so they may also replace a standard one (an array
    /// `aud`, a numeric `sub`, ...).
    pub claims: Map<String, Value>,
    /// Standard claims to leave out (`"exp"`, `"iss"`, ...), for tokens missing one.
    pub omit: Vec<String>,
}

impl Default for MintOptions {
    fn default() -> Self {
        Self {
            sub: String::new(),
            aud: String::new(),
            iss: None,
            ttl: 3600,
            iat: None,
            exp: None,
            nbf: None,
            kid: None,
            claims: Map::new(),
            omit: Vec::new(),
        }
    }
}

impl MintOptions {
    /// A token for `sub` and `aud`, valid for an hour from now.
    pub fn new(sub: impl Into<String>, aud: impl Into<String>) -> Self {
        Self { sub: sub.into(), aud: aud.into(), ..Self::default() }
    }

    /// Another `iss` than the state's.
    #[must_use]
    pub fn iss(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }

    /// Lifetime in seconds (`exp = iat + ttl`).
    #[must_use]
    pub fn ttl(mut self, seconds: i64) -> Self {
        self.ttl = seconds;
        self
    }

    /// Explicit `iat`, epoch seconds.
    #[must_use]
    pub fn iat(mut self, epoch_seconds: i64) -> Self {
        self.iat = Some(epoch_seconds);
        self
    }

    /// Explicit `exp`, epoch seconds.
    #[must_use]
    pub fn exp(mut self, epoch_seconds: i64) -> Self {
        self.exp = Some(epoch_seconds);
        self
    }

    /// Explicit `nbf`, epoch seconds.
    #[must_use]
    pub fn nbf(mut self, epoch_seconds: i64) -> Self {
        self.nbf = Some(epoch_seconds);
        self
    }

    /// Sign with this key rather than the newest.
    #[must_use]
    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// One more claim (or a replacement of a standard one).
    #[must_use]
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Leave a standard claim out.
    #[must_use]
    pub fn omit(mut self, name: impl Into<String>) -> Self {
        self.omit.push(name.into());
        self
    }

    /// The claims of the token, `now` being the current epoch second.
    pub fn claims_at(&self, issuer: &str, now: i64) -> Map<String, Value> {
        let iat = self.iat.unwrap_or(now);
        let mut claims = Map::new();
        claims.insert("iss".into(), self.iss.as_deref().unwrap_or(issuer).into());
        claims.insert("sub".into(), self.sub.clone().into());
        claims.insert("aud".into(), self.aud.clone().into());
        claims.insert("iat".into(), iat.into());
        claims.insert("nbf".into(), self.nbf.unwrap_or(iat).into());
        claims.insert("exp".into(), self.exp.unwrap_or(iat + self.ttl).into());
        for name in &self.omit {
            claims.remove(name);
        }
        claims.extend(self.claims.clone());
        claims
    }
}

impl State {
    /// Creates the state in `dir` (created if missing) with one fresh key of `alg`. Refuses to
    /// replace an existing state file: see [`State::init_with`].
    pub fn init(dir: &Path, issuer: &str, alg: Alg) -> Result<Self> {
        Self::init_with(dir, issuer, alg, false)
    }

    /// [`State::init`], replacing an existing state file if `overwrite`.
    pub fn init_with(dir: &Path, issuer: &str, alg: Alg, overwrite: bool) -> Result<Self> {
        let path = dir.join(STATE_FILE);
        if !overwrite && path.exists() {
            return Err(Error::Exists(path));
        }
        std::fs::create_dir_all(dir).map_err(|source| Error::Io { path: dir.to_path_buf(), source })?;
        let file = StateFile { issuer: issuer.trim_end_matches('/').to_owned(), keys: vec![KeyRecord::generate(alg)?] };
        let state = Self { dir: dir.to_path_buf(), file };
        state.save()?;
        Ok(state)
    }

    /// Reads the state of `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        Ok(Self { dir: dir.to_path_buf(), file: read_file(&dir.join(STATE_FILE))? })
    }

    /// Re-reads the file (after another process changed it).
    pub fn reload(&mut self) -> Result<()> {
        self.file = read_file(&self.path())?;
        Ok(())
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// The issuer URL (no trailing slash).
    pub fn issuer(&self) -> &str {
        &self.file.issuer
    }

    /// The JWKS URL the server offers for this issuer: `<issuer>/.well-known/jwks.json`.
    pub fn jwks_uri(&self) -> String {
        format!("{}/.well-known/jwks.json", self.file.issuer)
    }

    /// Changes the issuer URL (and writes the file).
    pub fn set_issuer(&mut self, issuer: &str) -> Result<()> {
        self.file.issuer = issuer.trim_end_matches('/').to_owned();
        self.save()
    }

    /// The keys, oldest first.
    pub fn keys(&self) -> &[KeyRecord] {
        &self.file.keys
    }

    /// The kid of the newest key (the one that signs by default).
    pub fn newest_kid(&self) -> &str {
        self.file.keys.last().map_or("", |k| k.kid.as_str())
    }

    /// The key `kid`.
    pub fn key(&self, kid: &str) -> Result<&KeyRecord> {
        self.file.keys.iter().find(|k| k.kid == kid).ok_or_else(|| Error::UnknownKid(kid.to_owned()))
    }

    fn signing_key(&self, kid: Option<&str>) -> Result<&KeyRecord> {
        match kid {
            Some(kid) => self.key(kid),
            None => self.file.keys.last().ok_or(Error::NoKeys),
        }
    }

    /// Adds a fresh key of `alg`, which becomes the newest (signing) key; with `drop_old`, removes
    /// every other key (from the JWKS too). Writes the file and returns the new kid.
    pub fn rotate(&mut self, alg: Alg, drop_old: bool) -> Result<String> {
        let key = KeyRecord::generate(alg)?;
        let kid = key.kid.clone();
        if drop_old {
            self.file.keys.clear();
        }
        self.file.keys.push(key);
        self.save()?;
        Ok(kid)
    }

    /// The public JWKS of every key: `{"keys": [...]}`.
    pub fn jwks(&self) -> Result<Value> {
        let keys = self.file.keys.iter().map(KeyRecord::jwk).collect::<Result<Vec<_>>>()?;
        Ok(json!({ "keys": keys }))
    }

    /// The discovery document (`/.well-known/openid-configuration`).
    pub fn openid_configuration(&self) -> Value {
        let algs: BTreeSet<&str> = self.file.keys.iter().map(|k| k.alg.as_str()).collect();
        json!({
            "issuer": self.file.issuer,
            "jwks_uri": self.jwks_uri(),
            "id_token_signing_alg_values_supported": algs,
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
        })
    }

    /// A signed token (compact JWS): `iss`, `sub`, `aud`, `iat`, `nbf`, `exp` and the extra
    /// claims, with `kid` and the key's `alg` in the header.
    pub fn mint(&self, options: &MintOptions) -> Result<String> {
        let key = self.signing_key(options.kid.as_deref())?;
        key.sign(&options.claims_at(&self.file.issuer, chrono::Utc::now().timestamp()))
    }

    /// The public key `kid` as SubjectPublicKeyInfo PEM (e.g. to forge an HS256 token keyed with
    /// it, the classic algorithm-confusion attack).
    pub fn public_key_pem(&self, kid: &str) -> Result<String> {
        self.key(kid)?.public_key_pem()
    }

    /// A token like [`State::mint`]'s, but signed by a throwaway key (of the alg of the key
    /// `options.kid` or of the newest) whose kid is in no JWKS.
    pub fn sign_with_unknown_key(&self, options: &MintOptions) -> Result<String> {
        let alg = self.signing_key(options.kid.as_deref())?.alg;
        let mut stranger = throwaway_key(alg)?;
        stranger.kid = format!("unknown-{:016x}", fastrand::u64(..));
        stranger.sign(&options.claims_at(&self.file.issuer, chrono::Utc::now().timestamp()))
    }

    fn save(&self) -> Result<()> {
        write_atomically(&self.path(), &self.file)
    }
}

/// One throwaway key per algorithm and process (RSA key generation is not free).
fn throwaway_key(alg: Alg) -> Result<KeyRecord> {
    static KEYS: std::sync::Mutex<Vec<KeyRecord>> = std::sync::Mutex::new(Vec::new());
    let mut keys = KEYS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(key) = keys.iter().find(|k| k.alg == alg) {
        return Ok(key.clone());
    }
    let key = KeyRecord::generate(alg)?;
    keys.push(key.clone());
    Ok(key)
}

fn read_file(path: &Path) -> Result<StateFile> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| Error::BadState { path: path.to_path_buf(), source })
}

/// Writes a temporary file next to `path`, syncs it and renames it over `path`: readers see the
/// old file or the new one, never a part.
fn write_atomically(path: &Path, file: &StateFile) -> Result<()> {
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    let mut text = serde_json::to_string_pretty(file).map_err(|e| io(std::io::Error::other(e)))?;
    text.push('\n');
    let tmp = path.with_extension(format!("json.tmp-{}-{:08x}", std::process::id(), fastrand::u32(..)));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[derive(Clone)]
struct Server {
    dir: Arc<PathBuf>,
    jwks_fetches: Arc<AtomicU64>,
}

/// A failure to read the state while answering: a 500 with `{"error": ...}`.
struct ServerError(Error);

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": self.0.to_string()}))).into_response()
    }
}

impl From<Error> for ServerError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

/// The server's routes over the state of `dir` (re-read on every request):
/// `GET /.well-known/openid-configuration`, `GET /.well-known/jwks.json` (also `/jwks.json`), and
/// `GET /__dev/jwks-fetches` (`{"count": N}`, the JWKS requests so far).
pub fn router(dir: PathBuf) -> Router {
    let server = Server { dir: Arc::new(dir), jwks_fetches: Arc::new(AtomicU64::new(0)) };
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/jwks.json", get(jwks))
        .route("/__dev/jwks-fetches", get(jwks_fetches))
        .with_state(server)
}

/// Serves [`router`] on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, dir: PathBuf) -> std::io::Result<()> {
    axum::serve(listener, router(dir)).await
}

async fn discovery(AxumState(server): AxumState<Server>) -> Result<Json<Value>, ServerError> {
    Ok(Json(State::load(&server.dir)?.openid_configuration()))
}

async fn jwks(AxumState(server): AxumState<Server>) -> Result<Json<Value>, ServerError> {
    server.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    // No Cache-Control: the api's own cache policy is what the tests exercise.
    Ok(Json(State::load(&server.dir)?.jwks()?))
}

async fn jwks_fetches(AxumState(server): AxumState<Server>) -> Json<Value> {
    Json(json!({ "count": server.jwks_fetches.load(Ordering::SeqCst) }))
}

#[cfg(test)]
mod tests;
