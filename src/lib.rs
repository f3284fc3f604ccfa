//! The Lambda edge of Vinofy video ingest: what the `ingest` and `webhook` binaries share (their
//! logging, and how a failed invocation is reported to Lambda). The logic is in `vinofy-core`; the
//! clients are built by `vinofy-adapters`; each `main` only wires them.

pub mod lambda;
pub mod logging;
