//! Local, dev-only emulators of video providers, for integration tests and demos of the
//! S3 -> Lambda -> provider -> DynamoDB pipeline (never deployed):
//!
//! - `stream-emulator` (src/main.rs): the Cloudflare Stream API. See README.md.
//! - `mux-emulator` (src/bin/mux-emulator.rs, [`mux`]): the Mux Video API. See MUX.md.
//!
//! Both share the media pipeline ([`processing::fetch`], [`media`]: ffprobe/ffmpeg to HLS and a
//! thumbnail), the delivery helpers ([`delivery`]), signed playback's keys and token checks
//! ([`signing`]), the fault queue ([`faults`]), the request log ([`requests`]), the webhook
//! delivery loop ([`webhook::deliver`]) and the accept loop ([`server`]); the Cloudflare-specific
//! modules are the others at this level.

pub mod log;

pub mod api;
pub mod app;
pub mod boot;
pub mod cli;
pub mod control;
pub mod delivery;
pub mod envelope;
pub mod faults;
pub mod fields;
pub mod keys;
pub mod media;
pub mod model;
pub mod mux;
pub mod processing;
pub mod ratelimit;
pub mod requests;
pub mod server;
pub mod signing;
pub mod videos;
pub mod webhook;
