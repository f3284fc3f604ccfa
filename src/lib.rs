//! The Lambda edge of Vinofy video ingest: what the `ingest`, `webhook` and `api` binaries share
//! (their logging, their metrics, the Function URL main, and how a failed invocation is reported
//! to Lambda). The logic is in `vinofy-core`; the clients are built by `vinofy-adapters`; each
//! `main` only wires them.

pub mod lambda;
pub mod logging;
pub mod metrics;
