//! `stream-emulator`: a local, dev-only emulator of the Cloudflare Stream API, for integration
//! tests and demos of the S3 -> Lambda -> Stream `/copy` -> DynamoDB pipeline. See README.md.

mod api;
mod app;
mod cli;
mod control;
mod envelope;
mod faults;
mod fields;
mod model;
mod processing;
mod ratelimit;
mod server;
mod videos;
mod webhook;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use tokio::net::TcpListener;

use crate::app::App;
use crate::cli::{CliError, Config};
use crate::envelope::{ApiError, Reply};

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
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("stream-emulator: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

async fn run(config: Config) -> ExitCode {
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
    let app = match App::new(&config, public_base_url) {
        Ok(app) => Arc::new(app),
        Err(error) => {
            eprintln!("stream-emulator: cannot build the HTTP client: {error}");
            return ExitCode::FAILURE;
        }
    };
    let router = Router::new()
        .route("/client/v4/{*rest}", any(api::handle))
        .merge(control::routes())
        .fallback(no_route)
        .with_state(app);

    // Tests and scripts parse this exact line to learn the port.
    println!("stream-emulator listening on {bound_url}");
    if let Err(error) = std::io::stdout().flush() {
        eprintln!("stream-emulator: cannot write to stdout: {error}");
        return ExitCode::FAILURE;
    }
    server::serve(listener, router, shutdown_signal()).await;
    eprintln!("stream-emulator: shutting down");
    ExitCode::SUCCESS
}

async fn no_route(request: axum::extract::Request) -> Response {
    eprintln!("stream-emulator: {} {} -> 404", request.method(), request.uri().path());
    Reply::from(ApiError::no_route()).into_response()
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
