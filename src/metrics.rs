//! The functions' metrics on stdout: each invocation runs with a collector of its own
//! ([`vinofy_core::metrics::collect`]) and its EMF documents are written in one write when it ends,
//! as raw JSON lines beside the tracing subscriber's (whose format stays as documented). CloudWatch
//! Logs extracts the metrics from those lines; nothing calls CloudWatch.

use std::future::Future;
use std::io::Write;

use vinofy_core::metrics::{Metrics, NAMESPACE, collect};

/// The `Function` dimension: `AWS_LAMBDA_FUNCTION_NAME`, else the binary's name.
pub fn function_name(binary: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    lookup("AWS_LAMBDA_FUNCTION_NAME")
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| binary.to_owned())
}

/// Runs one invocation, then writes its metrics (one flush per invocation, never per call).
pub async fn flushed<F: Future>(function: &str, invocation: F) -> F::Output {
    let (output, metrics) = collect(invocation).await;
    write(&metrics, function, &mut std::io::stdout().lock());
    output
}

/// Writes the documents, one a line, in one write (so no log line comes between them). A failed
/// write is ignored: metrics never fail an invocation.
pub fn write(metrics: &Metrics, function: &str, out: &mut impl Write) {
    let lines = metrics.to_emf_lines(NAMESPACE, vinofy_core::ingest::now_ms(), function);
    if lines.is_empty() {
        return;
    }
    let mut text = lines.join("\n");
    text.push('\n');
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_function_is_lambdas_name_else_the_binarys() {
        assert_eq!(function_name("api", |_| Some("vinofy-prod-api".into())), "vinofy-prod-api");
        assert_eq!(function_name("api", |_| Some(" ".into())), "api");
        assert_eq!(function_name("webhook", |_| None), "webhook");
    }

    #[test]
    fn an_invocation_that_recorded_nothing_writes_nothing() {
        let mut out = Vec::new();
        write(&Metrics::default(), "ingest", &mut out);
        assert!(out.is_empty());
        let mut metrics = Metrics::default();
        metrics.record_outcome("skipped", None);
        metrics.api_request("playback", 200);
        write(&metrics, "ingest", &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            let doc: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(doc["Function"], "ingest");
            assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Vinofy");
        }
    }
}
