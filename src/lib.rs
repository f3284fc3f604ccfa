//! Vinofy video ingest: S3 upload → Cloudflare Stream copy → DynamoDB record.
//!
//! A pure core ([`domain`]) decides what to do with each S3 notification; it talks to the world only
//! through the small traits in [`ports`], which [`adapters`] implement for S3, Cloudflare Stream and
//! DynamoDB. [`ingest`] is the use case that ties them together; `src/bin/ingest.rs` only wires it.

pub mod adapters;
pub mod config;
pub mod domain;
pub mod error;
pub mod ingest;
pub mod logging;
pub mod ports;
pub mod secret;
pub mod video_state;
pub mod webhook;
