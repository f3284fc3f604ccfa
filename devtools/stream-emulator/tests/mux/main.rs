//! End-to-end tests of `mux-emulator`: each test starts the real binary on port 0 and talks to it
//! over HTTP, with a local origin (the "S3" the emulator downloads from) and a local webhook
//! receiver where needed.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod assets;
mod auth;
mod cli;
mod faults;
mod media;
mod rate_limit;
mod signed;
mod webhook;
