//! A dev OpenID Connect issuer (devtools/dev-oidc) for the tests of the `api` function: the real
//! `dev-oidc serve` binary on a free loopback port, and its state in-process for minting tokens.
//!
//! ```ignore
//! let issuer = DevIssuer::start_temp();
//! let env = issuer.env("vinofy-api"); // AUTH_ISSUER, AUTH_AUDIENCE, AUTH_JWKS_URL
//! let token = issuer.token("auth0|alice", "vinofy-api");
//! let expired = issuer.state().mint(&MintOptions::new("auth0|alice", "vinofy-api").exp(1)).unwrap();
//! assert_eq!(issuer.jwks_fetches().await, 1);
//! ```
//!
//! The issuer URL is `http://127.0.0.1:<port>` of the running server, found without a race: the
//! state is created with a placeholder issuer, the server binds port 0 and prints its address, and
//! the harness then writes the real issuer into the state file (the server re-reads the file on
//! every request, so its discovery document names it from the first request on).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub use dev_oidc::{Alg, MintOptions, State};

use super::peers;

/// One `dev-oidc serve` process and its state. Killed (and its temp dir, if the harness made it,
/// removed) on drop.
pub struct DevIssuer {
    state: State,
    base_url: String,
    child: Child,
    /// The directory [`DevIssuer::start_temp`] created.
    owned_dir: Option<PathBuf>,
    http: reqwest::Client,
}

impl DevIssuer {
    /// An issuer with one RS256 key, its state in `dir` (created if missing; a state already
    /// there is replaced).
    pub fn start(dir: &Path) -> Self {
        Self::start_with_alg(dir, Alg::Rs256)
    }

    /// [`DevIssuer::start`] with a first key of `alg`.
    pub fn start_with_alg(dir: &Path, alg: Alg) -> Self {
        // The port is not known yet: the real issuer is written once the server is listening.
        let mut state = dev_oidc::State::init_with(dir, "http://127.0.0.1", alg, true)
            .unwrap_or_else(|e| panic!("dev-oidc state in {}: {e}", dir.display()));
        let state_dir = dir.to_path_buf();
        let (base_url, child) = peers::on_keeper_thread(move || {
            let binary = peers::target_bin("dev-oidc");
            let mut child = peers::spawn_tied(
                Command::new(binary)
                    .arg("serve")
                    .arg("--state-dir")
                    .arg(&state_dir)
                    .args(["--listen", "127.0.0.1:0"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null()),
            );
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
            let base_url = line
                .trim()
                .strip_prefix("dev-oidc listening on ")
                .filter(|u| u.starts_with("http://"))
                .unwrap_or_else(|| panic!("dev-oidc address line: {line:?}"))
                .to_owned();
            (base_url, child)
        });
        state.set_issuer(&base_url).expect("write the issuer to the dev-oidc state");
        Self { state, base_url, child, owned_dir: None, http: reqwest::Client::new() }
    }

    /// [`DevIssuer::start`] in a fresh directory under the system temp dir, removed on drop.
    pub fn start_temp() -> Self {
        let dir = std::env::temp_dir().join(format!("vinofy-oidc-{}-{:016x}", std::process::id(), fastrand::u64(..)));
        let mut issuer = Self::start(&dir);
        issuer.owned_dir = Some(dir);
        issuer
    }

    /// `AUTH_ISSUER`: `http://127.0.0.1:<port>`, the `iss` of the tokens it mints.
    pub fn issuer(&self) -> &str {
        self.state.issuer()
    }

    /// `AUTH_JWKS_URL`: `<issuer>/.well-known/jwks.json`.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.base_url)
    }

    /// The api function's variables for this issuer and `audience`.
    pub fn env(&self, audience: &str) -> Vec<(String, String)> {
        vec![
            ("AUTH_ISSUER".into(), self.issuer().to_owned()),
            ("AUTH_AUDIENCE".into(), audience.to_owned()),
            ("AUTH_JWKS_URL".into(), self.jwks_url()),
        ]
    }

    /// The state, to mint tokens ([`State::mint`], [`State::sign_with_unknown_key`]) and read keys.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The state, to rotate keys ([`State::rotate`]): the server serves the new JWKS at once.
    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// A valid token (an hour, the newest key) for `sub` and `aud`.
    pub fn token(&self, sub: &str, aud: &str) -> String {
        self.state.mint(&MintOptions::new(sub, aud)).expect("mint a dev-oidc token")
    }

    /// How many times the JWKS was fetched since the server started.
    pub async fn jwks_fetches(&self) -> u64 {
        let url = format!("{}/__dev/jwks-fetches", self.base_url);
        let body: serde_json::Value =
            self.http.get(url).send().await.expect("dev-oidc jwks-fetches").json().await.expect("a JSON count");
        body["count"].as_u64().unwrap_or_else(|| panic!("dev-oidc jwks-fetches: {body}"))
    }

    /// Stops the server (the JWKS becomes unreachable).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for DevIssuer {
    fn drop(&mut self) {
        self.kill();
        if let Some(dir) = &self.owned_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
