//! End-to-end tests: each test starts the real `stream-emulator` binary on port 0 and talks
//! to it over HTTP, with a local origin (the "S3" the emulator downloads from) and a local
//! webhook receiver where needed.

#[path = "../common/mod.rs"]
mod common;
mod support;

mod auth;
mod cli;
mod copy;
mod faults;
mod media;
mod operator;
mod rate_limit;
mod signed;
mod videos;
mod webhook;
