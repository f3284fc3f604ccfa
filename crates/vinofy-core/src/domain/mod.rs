//! Pure logic: no I/O, no clocks read here (time is passed in), so all of it is unit-tested.

pub mod budget;
pub mod event;
pub mod failed_event;
pub mod ids;
pub mod object;
pub mod provider;
pub mod record;
pub mod retry;
pub mod s3_key;
pub mod scrub;
pub mod upload;
