//! The core of Vinofy video ingest: what happens to an upload, decided in pure code.
//!
//! - [`domain`]: the rules (event decoding and its bounds, object versions, the claim rule, the
//!   record, retries, scrubbing of provider text), pure and unit-tested;
//! - [`ports`]: the small, provider-neutral traits the use cases need from the world;
//! - the use cases: [`ingest`] (claim → create → complete, deletion sync), [`webhook`] (a provider's
//!   verified delivery), [`video_state`] (the provider's view applied to a record) and
//!   [`reconcile`] (records that stopped moving) and [`migrate`] (a record moved to another
//!   provider, or re-created with new options), shared by the functions and the CLI.
//!
//! No AWS SDK and no HTTP client here: `vinofy-adapters` implements the ports, and the compiler
//! keeps it that way (this crate does not depend on them).

pub mod api;
pub mod domain;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod migrate;
pub mod paced;
pub mod ports;
pub mod reconcile;
pub mod secret;
pub mod video_state;
pub mod webhook;
