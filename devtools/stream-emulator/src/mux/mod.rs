//! The Mux Video emulator (`mux-emulator`, src/bin/mux-emulator.rs). See MUX.md.
//!
//! Mux-specific: the API ([`api`], [`assets`]: HTTP Basic auth, the `{"data": ...}` envelope,
//! `{"error": {"type", "messages"}}`), the [`model`] of an Asset, its [`processing`] states,
//! the webhook envelope and `mux-signature` ([`webhook`]), token-bucket rate limits
//! ([`ratelimit`]), the playback URL shapes ([`delivery`]), and the fault wire form ([`faults`]).
//! Everything else is the Cloudflare emulator's: fetch, ffprobe/ffmpeg, files on disk, the
//! watch page, the fault queue, the request log, the webhook retry loop and the accept loop.

pub mod api;
pub mod app;
pub mod assets;
pub mod cli;
pub mod control;
pub mod delivery;
pub mod faults;
pub mod model;
pub mod processing;
pub mod ratelimit;
pub mod webhook;

use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use crate::envelope::Reply;
use crate::media::Tools;
use crate::{boot, elog};

/// Serves the emulator described by `config` until SIGTERM or Ctrl-C.
pub async fn run(config: cli::Config, tools: Option<Tools>) -> ExitCode {
    let started =
        match boot::start(&config.listen, tools, config.data_dir.as_deref(), config.player_dir.as_deref(), "assets")
            .await
        {
            Ok(started) => started,
            Err(code) => return code,
        };
    let public_base_url = config.public_base_url.clone().unwrap_or_else(|| started.bound_url.clone());
    let app = match app::MuxApp::new(&config, public_base_url, started.media, started.player_dir) {
        Ok(app) => Arc::new(app),
        Err(error) => {
            elog!("cannot build the HTTP client: {error}");
            return ExitCode::FAILURE;
        }
    };
    let router = Router::new()
        .route("/video/v1/{*rest}", any(api::handle))
        .merge(control::routes())
        .merge(delivery::routes())
        .fallback(no_route)
        .with_state(app);
    boot::serve(started.listener, router, &started.bound_url).await
}

async fn no_route(request: axum::extract::Request) -> Response {
    elog!("{} {} -> 404", request.method(), request.uri().path());
    Reply::from(api::MuxError::not_found()).into_response()
}
