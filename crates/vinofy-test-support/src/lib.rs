//! What the tests share, never shipped:
//! - [`memory`]: in-memory implementations of every port, for the use-case tests (no peer);
//! - [`harness`]: the local world (s3s-fs, moto, the Cloudflare Stream emulator, the Lambda Runtime
//!   API and Function URL bridges) and the real binaries driven through it, for the integration
//!   tests of every workspace member.

pub mod harness;
pub mod memory;

pub use memory::*;
