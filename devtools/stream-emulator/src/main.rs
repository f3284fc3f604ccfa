//! `stream-emulator`: a local, dev-only emulator of the Cloudflare Stream API, for integration
//! tests and demos of the S3 -> Lambda -> Stream `/copy` -> DynamoDB pipeline. See README.md.

mod api;
mod app;
mod cli;
mod control;
mod delivery;
mod envelope;
mod faults;
mod fields;
mod media;
mod model;
mod processing;
mod ratelimit;
mod server;
mod videos;
mod webhook;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use tokio::net::TcpListener;

use crate::app::App;
use crate::cli::{CliError, Config, DEFAULT_PLAYER_DIR, Transcode};
use crate::envelope::{ApiError, Reply};
use crate::media::{Media, Tools};

fn main() -> ExitCode {
    let config = match cli::parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(CliError::HelpRequested) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(CliError::Invalid(message)) => {
            eprintln!("stream-emulator: {message}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let tools = match (config.transcode, Tools::find(std::env::var_os("PATH").as_deref())) {
        (Transcode::Off, _) | (Transcode::Auto, None) => None,
        (_, Some(tools)) => Some(tools),
        (Transcode::On, None) => {
            eprintln!("stream-emulator: --transcode on needs ffmpeg and ffprobe on PATH (apt-get install ffmpeg)");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("stream-emulator: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config, tools))
}

async fn run(config: Config, tools: Option<Tools>) -> ExitCode {
    let listener = match TcpListener::bind(&config.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("stream-emulator: cannot listen on {}: {error}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    let bound_url = match listener.local_addr() {
        Ok(address) => format!("http://{address}"),
        Err(error) => {
            eprintln!("stream-emulator: cannot read the bound address: {error}");
            return ExitCode::FAILURE;
        }
    };
    let public_base_url = config.public_base_url.clone().unwrap_or_else(|| bound_url.clone());
    let media = match tools.map(|tools| Media::open(config.data_dir.as_deref(), tools)).transpose() {
        Ok(media) => media,
        Err(error) => {
            eprintln!("stream-emulator: cannot create the data directory: {error}");
            return ExitCode::FAILURE;
        }
    };
    let player_dir = config.player_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_PLAYER_DIR));
    let player_dir = std::path::absolute(&player_dir).unwrap_or(player_dir);
    match &media {
        Some(media) => eprintln!(
            "stream-emulator: transcoding with {} into {}",
            media.tools().ffmpeg.display(),
            media.root().display()
        ),
        None => eprintln!("stream-emulator: transcoding off: videos become ready without media"),
    }
    if media.is_some() && !player_dir.join("hls.min.js").is_file() {
        eprintln!(
            "stream-emulator: hls.js not found in {}: watch pages cannot play (npm ci --prefix devtools/player)",
            player_dir.display()
        );
    }
    let app = match App::new(&config, public_base_url, media, player_dir) {
        Ok(app) => Arc::new(app),
        Err(error) => {
            eprintln!("stream-emulator: cannot build the HTTP client: {error}");
            return ExitCode::FAILURE;
        }
    };
    let router = Router::new()
        .route("/client/v4/{*rest}", any(api::handle))
        .merge(control::routes())
        .merge(delivery::routes())
        .fallback(no_route)
        .with_state(app);

    let shutdown = shutdown_signal();
    // Tests and scripts parse this exact line to learn the port.
    println!("stream-emulator listening on {bound_url}");
    if let Err(error) = std::io::stdout().flush() {
        eprintln!("stream-emulator: cannot write to stdout: {error}");
        return ExitCode::FAILURE;
    }
    server::serve(listener, router, shutdown).await;
    eprintln!("stream-emulator: shutting down");
    ExitCode::SUCCESS
}

async fn no_route(request: axum::extract::Request) -> Response {
    eprintln!("stream-emulator: {} {} -> 404", request.method(), request.uri().path());
    Reply::from(ApiError::no_route()).into_response()
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the future is
/// first polled: a signal sent right after the listening line must shut down cleanly (removing
/// the temporary data directory), not kill the process.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn received(signal: Option<Signal>) {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        let interrupt = received(signal(SignalKind::interrupt()).ok());
        let terminate = received(signal(SignalKind::terminate()).ok());
        async move {
            tokio::select! {
                () = interrupt => {}
                () = terminate => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
