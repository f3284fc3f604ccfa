//! The Mux Video emulator (`mux-emulator`, src/bin/mux-emulator.rs). See MUX.md.
//!
//! Mux-specific: the API ([`api`], [`assets`]: HTTP Basic auth, the `{"data": ...}` envelope,
//! `{"error": {"type", "messages"}}`), the [`model`] of an Asset, its [`processing`] states,
//! the webhook envelope and `mux-signature` ([`webhook`]), token-bucket rate limits
//! ([`ratelimit`]), the playback URL shapes and signed playback ([`delivery`]), URL signing keys
//! ([`signing_keys`]), and the fault wire form ([`faults`]).
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
pub mod signing_keys;
pub mod webhook;

use std::process::ExitCode;

use axum::Router;
use axum::routing::any;

use crate::boot;
use crate::envelope::Reply;
use crate::media::Tools;

/// Serves the emulator described by `config` until SIGTERM or Ctrl-C.
pub async fn run(config: cli::Config, tools: Option<Tools>) -> ExitCode {
    let router = Router::new()
        .route("/video/v1/{*rest}", any(api::handle))
        .route("/system/v1/{*rest}", any(api::handle))
        .merge(control::routes())
        .merge(delivery::routes());
    let build = |public_base_url, media, player_dir| app::MuxApp::new(&config, public_base_url, media, player_dir);
    boot::launch(&config.serving, "assets", tools, build, router, || Reply::from(api::MuxError::not_found())).await
}
