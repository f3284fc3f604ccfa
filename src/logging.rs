//! Log set-up for the functions: Lambda's advanced logging controls (`AWS_LAMBDA_LOG_FORMAT`,
//! `AWS_LAMBDA_LOG_LEVEL`) exactly as `lambda_runtime::tracing::init_default_subscriber` reads them,
//! with one difference: other crates never log below DEBUG. At TRACE the runtime logs every raw
//! event (a webhook body quotes our presigned URL in `meta.downloaded-from`) and the HTTP stacks
//! log what they send; so TRACE applies to our own crates only.

use std::str::FromStr;

use lambda_runtime::tracing::subscriber::filter::{EnvFilter, LevelFilter};

const DEFAULT_LEVEL: LevelFilter = LevelFilter::INFO;
/// The most any dependency may log.
const DEPENDENCY_CEILING: LevelFilter = LevelFilter::DEBUG;

/// The level Lambda asks for: `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO. Only a level is
/// read, never per-crate directives, so no setting can lift the ceiling.
pub fn requested_level(lookup: impl Fn(&str) -> Option<String>) -> LevelFilter {
    lookup("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| lookup("RUST_LOG"))
        .and_then(|v| LevelFilter::from_str(v.trim()).ok())
        .unwrap_or(DEFAULT_LEVEL)
}

/// Our crates: where the functions' own log lines come from.
const OUR_CRATES: [&str; 3] = [env!("CARGO_CRATE_NAME"), "vinofy_core", "vinofy_adapters"];

/// The filter: `level` for our crates, at most [`DEPENDENCY_CEILING`] for everything else.
pub fn filter_directives(level: LevelFilter) -> String {
    let ours: Vec<String> = OUR_CRATES.iter().map(|c| format!("{c}={level}")).collect();
    format!("{},{}", level.min(DEPENDENCY_CEILING), ours.join(","))
}

/// Installs the subscriber (stdout, no timestamps: CloudWatch adds them; JSON when Lambda asks).
pub fn init() {
    let lookup = |name: &str| std::env::var(name).ok();
    let filter = EnvFilter::new(filter_directives(requested_level(lookup)));
    let fmt = lambda_runtime::tracing::subscriber::fmt().with_target(false).without_time().with_env_filter(filter);
    if lookup("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")) {
        fmt.json().init();
    } else {
        fmt.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_is_for_this_crate_only() {
        let level =
            |v: Option<&str>| requested_level(|k| (k == "AWS_LAMBDA_LOG_LEVEL").then_some(v).flatten().map(Into::into));
        assert_eq!(level(Some("TRACE")), LevelFilter::TRACE);
        assert_eq!(level(Some("nonsense")), LevelFilter::INFO);
        assert_eq!(level(None), LevelFilter::INFO);
        // Per-crate directives are not levels: RUST_LOG cannot lift a dependency to TRACE.
        let rust_log = requested_level(|k| (k == "RUST_LOG").then(|| "lambda_runtime=trace".into()));
        assert_eq!(rust_log, LevelFilter::INFO);
        assert_eq!(
            filter_directives(LevelFilter::TRACE),
            "debug,vinofy_ingest=trace,vinofy_core=trace,vinofy_adapters=trace"
        );
        assert_eq!(
            filter_directives(LevelFilter::INFO),
            "info,vinofy_ingest=info,vinofy_core=info,vinofy_adapters=info"
        );
        assert_eq!(filter_directives(LevelFilter::ERROR).split(',').next(), Some("error"));
    }
}
