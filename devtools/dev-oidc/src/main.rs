//! `dev-oidc`: a dev-only OpenID Connect issuer (never deployed): `init`, `serve`, `mint`,
//! `rotate`. See README.md.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use dev_oidc::{Alg, MintOptions, State};
use serde_json::Value;

#[derive(Debug, Parser)]
#[command(
    name = "dev-oidc",
    version,
    about = "A dev-only OpenID Connect issuer: a JWKS endpoint and a token minting command (never deployed)",
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const EXAMPLES: &str = concat!(
    "Examples:\n",
    "  dev-oidc init --state-dir .local/oidc --issuer http://127.0.0.1:8089\n",
    "  dev-oidc serve --state-dir .local/oidc --listen 127.0.0.1:8089 &\n",
    "  TOKEN=$(dev-oidc mint --state-dir .local/oidc --sub 'auth0|alice' --aud vinofy-api)\n",
    "  dev-oidc rotate --state-dir .local/oidc --alg ES256"
);

#[derive(Debug, Args)]
struct StateDir {
    /// The directory of the state file (issuer URL and keys)
    #[arg(long, value_name = "DIR")]
    state_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the state: the issuer URL and one signing key
    Init {
        #[command(flatten)]
        dir: StateDir,
        /// The `iss` of the tokens (no trailing slash), e.g. http://127.0.0.1:8089
        #[arg(long)]
        issuer: String,
        /// The algorithm of the key
        #[arg(long, default_value = "RS256")]
        alg: Alg,
        /// Replace an existing state (its keys are lost)
        #[arg(long)]
        force: bool,
    },
    /// Serve the discovery document and the JWKS until killed
    Serve {
        #[command(flatten)]
        dir: StateDir,
        /// The address to listen on (port 0: any free port; the line printed tells which)
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Set the state's issuer URL first (written to the state file)
        #[arg(long)]
        issuer: Option<String>,
    },
    /// Print a signed token (and only the token)
    Mint {
        #[command(flatten)]
        dir: StateDir,
        /// The `sub` claim
        #[arg(long)]
        sub: String,
        /// The `aud` claim
        #[arg(long)]
        aud: String,
        /// The `iss` claim (default: the state's issuer)
        #[arg(long)]
        iss: Option<String>,
        /// Seconds until `exp`
        #[arg(long, default_value_t = 3600, allow_negative_numbers = true)]
        ttl: i64,
        /// The signing key (default: the newest)
        #[arg(long)]
        kid: Option<String>,
        /// One more claim, NAME=VALUE; VALUE is taken as JSON if it parses (true, 42, ["a"]),
        /// else as a string (repeatable)
        #[arg(long = "claim", value_name = "NAME=VALUE", value_parser = parse_claim)]
        claims: Vec<(String, Value)>,
    },
    /// Add a key that becomes the signing key; print its kid
    Rotate {
        #[command(flatten)]
        dir: StateDir,
        /// The algorithm of the new key
        #[arg(long, default_value = "RS256")]
        alg: Alg,
        /// Remove every other key (from the JWKS too)
        #[arg(long)]
        drop_old: bool,
    },
}

fn parse_claim(arg: &str) -> Result<(String, Value), String> {
    let (name, value) = arg.split_once('=').ok_or_else(|| format!("{arg:?} is not NAME=VALUE"))?;
    if name.is_empty() {
        return Err(format!("{arg:?}: empty claim name"));
    }
    let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
    Ok((name.to_owned(), value))
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dev-oidc: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<(), String> {
    let err = |e: dev_oidc::Error| e.to_string();
    match command {
        Command::Init { dir, issuer, alg, force } => {
            let state = State::init_with(&dir.state_dir, &issuer, alg, force).map_err(err)?;
            println!("{}", state.newest_kid());
        }
        Command::Serve { dir, listen, issuer } => {
            let mut state = State::load(&dir.state_dir).map_err(err)?;
            if let Some(issuer) = issuer {
                state.set_issuer(&issuer).map_err(err)?;
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("tokio runtime: {e}"))?;
            runtime.block_on(async {
                let listener =
                    tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("listen on {listen}: {e}"))?;
                let addr = listener.local_addr().map_err(|e| e.to_string())?;
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "dev-oidc listening on http://{addr}").and_then(|()| stdout.flush()).ok();
                drop(stdout);
                eprintln!("dev-oidc: issuer {} (jwks_uri {})", state.issuer(), state.jwks_uri());
                dev_oidc::serve(listener, dir.state_dir).await.map_err(|e| format!("serve: {e}"))
            })?;
        }
        Command::Mint { dir, sub, aud, iss, ttl, kid, claims } => {
            let state = State::load(&dir.state_dir).map_err(err)?;
            let options =
                MintOptions { iss, kid, claims: claims.into_iter().collect(), ..MintOptions::new(sub, aud) }.ttl(ttl);
            println!("{}", state.mint(&options).map_err(err)?);
        }
        Command::Rotate { dir, alg, drop_old } => {
            let mut state = State::load(&dir.state_dir).map_err(err)?;
            println!("{}", state.rotate(alg, drop_old).map_err(err)?);
        }
    }
    Ok(())
}
