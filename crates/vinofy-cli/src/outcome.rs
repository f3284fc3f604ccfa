//! What happened to one object (backfill), and the counts for the summary.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use vinofy_core::ingest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Copied into Stream and recorded.
    Submitted,
    /// An earlier attempt's video was found by its creator and recorded (no second copy).
    Adopted,
    /// Already recorded with this eTag: nothing done.
    Duplicate,
    /// Not a video to ingest.
    Skipped,
    /// Another invocation holds a live claim on this version.
    InProgress,
    /// The object changed or went away since it was listed, or a newer version is recorded.
    Outdated,
    /// A newer version took the record while copying; the video was deleted again.
    Superseded,
    /// Dry run: would be ingested.
    WouldIngest,
    /// Handed back (no Cloudflare call fitted, e.g. a lock-out) and not tried again (Ctrl-C).
    Deferred,
    Failed,
    /// Removal outcomes of the library (not produced by backfill, kept for completeness).
    Ignored,
    Deleted,
}

impl Outcome {
    /// Always shown in summaries, even at zero.
    pub const MAIN: [Outcome; 5] = [Self::Submitted, Self::Adopted, Self::Duplicate, Self::Skipped, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Adopted => "adopted",
            Self::Duplicate => "duplicate",
            Self::Skipped => "skipped",
            Self::InProgress => "in_progress",
            Self::Outdated => "outdated",
            Self::Superseded => "superseded",
            Self::WouldIngest => "would_ingest",
            Self::Deferred => "deferred",
            Self::Failed => "failed",
            Self::Ignored => "ignored",
            Self::Deleted => "deleted",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ingest::Outcome> for Outcome {
    fn from(o: ingest::Outcome) -> Self {
        match o {
            ingest::Outcome::Submitted => Self::Submitted,
            ingest::Outcome::Adopted => Self::Adopted,
            ingest::Outcome::Skipped => Self::Skipped,
            ingest::Outcome::Duplicate => Self::Duplicate,
            ingest::Outcome::InProgress => Self::InProgress,
            ingest::Outcome::Outdated => Self::Outdated,
            ingest::Outcome::Superseded => Self::Superseded,
            ingest::Outcome::Ignored => Self::Ignored,
            ingest::Outcome::Deleted => Self::Deleted,
            ingest::Outcome::Deferred => Self::Deferred,
            ingest::Outcome::Failed => Self::Failed,
        }
    }
}

/// Counts per outcome.
#[derive(Debug, Default)]
pub struct Tally(BTreeMap<Outcome, u64>);

impl Tally {
    pub fn add(&mut self, outcome: Outcome) {
        *self.0.entry(outcome).or_default() += 1;
    }

    pub fn get(&self, outcome: Outcome) -> u64 {
        self.0.get(&outcome).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// The main outcomes (also at zero), then any other that occurred, in a stable order.
    pub fn rows(&self) -> Vec<(Outcome, u64)> {
        let mut rows: Vec<(Outcome, u64)> = Outcome::MAIN.iter().map(|o| (*o, self.get(*o))).collect();
        rows.extend(self.0.iter().filter(|(o, _)| !Outcome::MAIN.contains(o)).map(|(o, n)| (*o, *n)));
        rows.sort_by_key(|(o, _)| *o);
        rows
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (o, n) in self.rows() {
            map.insert(o.as_str().to_owned(), n.into());
        }
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_library_outcomes_keep_their_names() {
        for o in [ingest::Outcome::Submitted, ingest::Outcome::InProgress, ingest::Outcome::Superseded] {
            assert_eq!(serde_json::to_value(o).unwrap(), serde_json::to_value(Outcome::from(o)).unwrap());
            assert_eq!(serde_json::to_value(Outcome::from(o)).unwrap(), Outcome::from(o).as_str());
        }
    }

    #[test]
    fn summaries_always_show_the_main_outcomes() {
        let mut t = Tally::default();
        t.add(Outcome::Submitted);
        t.add(Outcome::Submitted);
        t.add(Outcome::Outdated);
        assert_eq!(t.total(), 3);
        let json = t.to_json();
        assert_eq!(json["submitted"], 2);
        assert_eq!(json["failed"], 0);
        assert_eq!(json["outdated"], 1);
        assert!(json.get("superseded").is_none());
    }
}
