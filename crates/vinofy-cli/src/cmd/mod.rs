pub mod backfill;
pub mod export;
pub mod list;
pub mod migrate;
pub mod reconcile;
pub mod signing_key;
pub mod status;
