//! Human output by default, JSON lines with `--json`; an optional progress bar on stderr.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::error::CliError;

pub struct Output {
    pub json: bool,
    progress: Mutex<Option<ProgressBar>>,
}

impl Output {
    pub fn new(json: bool) -> Self {
        Self { json, progress: Mutex::new(None) }
    }

    fn bar(&self) -> Option<ProgressBar> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Shows a progress bar on stderr when stderr is a terminal (never in pipes, logs or tests).
    pub fn start_progress(&self, message: &str) {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}] {wide_bar} {pos}/{len} {per_sec}")
                .expect("a valid template"),
        );
        bar.set_message(message.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
    }

    pub fn add_to_total(&self, n: u64) {
        if let Some(bar) = self.bar() {
            bar.inc_length(n);
        }
    }

    pub fn advance(&self) {
        if let Some(bar) = self.bar() {
            bar.inc(1);
        }
    }

    pub fn finish_progress(&self) {
        if let Some(bar) = self.progress.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }

    /// A line on stdout (above the progress bar, if any).
    pub fn line(&self, text: &str) -> Result<(), CliError> {
        let write = || -> std::io::Result<()> {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{text}")?;
            out.flush()
        };
        match self.bar() {
            Some(bar) => bar.suspend(write)?,
            None => write()?,
        }
        Ok(())
    }

    /// One JSON value on one line of stdout.
    pub fn json_line(&self, value: &impl Serialize) -> Result<(), CliError> {
        let text = serde_json::to_string(value).map_err(|e| CliError::Fatal(format!("cannot encode JSON: {e}")))?;
        self.line(&text)
    }

    /// A note on stderr (not part of the output proper).
    pub fn note(&self, text: &str) {
        match self.bar() {
            Some(bar) => bar.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }
}

/// `1 object`, `3 objects`.
pub fn plural(n: u64, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// `1.2 s`, `3 min 4 s`.
pub fn elapsed(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 { format!("{secs:.1} s") } else { format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60) }
}

/// A record as one plain JSON object with its attributes sorted by name (the claim token is never
/// part of a record's serialisation).
pub fn record_json(record: &vinofy_core::domain::record::VideoRecord) -> serde_json::Value {
    let value = serde_json::to_value(record).unwrap_or_default();
    let sorted: std::collections::BTreeMap<String, serde_json::Value> = match value {
        serde_json::Value::Object(map) => map.into_iter().collect(),
        _ => Default::default(),
    };
    // Rebuilt from a BTreeMap so the order holds even if serde_json's `preserve_order` is on.
    serde_json::Value::Object(sorted.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_time_reads_naturally() {
        assert_eq!(elapsed(Duration::from_millis(1234)), "1.2 s");
        assert_eq!(elapsed(Duration::from_secs(184)), "3 min 4 s");
    }
}
