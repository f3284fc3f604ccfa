pub mod backfill;
pub mod export;
pub mod list;
pub mod migrate;
pub mod reconcile;
pub mod status;
