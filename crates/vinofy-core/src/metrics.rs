//! The functions' metrics, in CloudWatch's embedded metric format (EMF): what one invocation did,
//! collected while it runs and written by the edge once, when it ends (never per call).
//!
//! - [`Metrics`]: the collector of one invocation (counters and lists of values, by dimension
//!   values), and its EMF documents ([`Metrics::to_emf_lines`]).
//! - [`collect`] runs an invocation with a collector of its own (a tokio task-local), and [`record`]
//!   adds to the current one: the use cases, [`crate::paced::Paced`] and the adapters report without
//!   being handed anything, and outside [`collect`] (the CLI, the tests of the use cases) recording
//!   does nothing. No I/O here: the edge writes the lines.
//!
//! One EMF document carries one value per dimension key, so the invocation's metrics are written as
//! one document per distinct set of dimension values (one per `Outcome`, `Provider`, `ErrorClass`,
//! `Result`, `Route`/`Status` met), all in one write at the end of the invocation. A list of more
//! than [`MAX_VALUES`] values (the spec's limit) continues in further documents of the same
//! dimensions, so no sample is lost and the statistics stay exact.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::domain::provider::Provider;
use crate::error::ProviderError;

/// Every metric's namespace.
pub const NAMESPACE: &str = "Vinofy";
/// The most values one metric may carry in one document, and the most metrics in one directive.
pub const MAX_VALUES: usize = 100;
pub const MAX_METRICS: usize = 100;

/// The metrics' names (what alarms and dashboards refer to).
pub mod name {
    pub const RECORD_OUTCOME: &str = "RecordOutcome";
    pub const PROVIDER_CALL_LATENCY: &str = "ProviderCallLatency";
    pub const PROVIDER_CALL_ERRORS: &str = "ProviderCallErrors";
    pub const BUDGET_WAIT_TIME: &str = "BudgetWaitTime";
    pub const LOCKOUTS_SEEN: &str = "LockoutsSeen";
    pub const WEBHOOK_DELIVERIES: &str = "WebhookDeliveries";
    pub const API_REQUESTS: &str = "ApiRequests";
}

/// The dimensions' names.
pub mod dimension {
    pub const FUNCTION: &str = "Function";
    pub const PROVIDER: &str = "Provider";
    pub const OUTCOME: &str = "Outcome";
    pub const ERROR_CLASS: &str = "ErrorClass";
    pub const RESULT: &str = "Result";
    pub const ROUTE: &str = "Route";
    pub const STATUS: &str = "Status";
}

use dimension::{ERROR_CLASS, FUNCTION, OUTCOME, PROVIDER, RESULT, ROUTE, STATUS};

/// The units used (EMF's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

type DimensionSets = &'static [&'static [&'static str]];

const BY_OUTCOME: DimensionSets = &[&[FUNCTION, OUTCOME]];
const BY_OUTCOME_AND_PROVIDER: DimensionSets = &[&[FUNCTION, OUTCOME], &[FUNCTION, PROVIDER, OUTCOME]];
const BY_PROVIDER: DimensionSets = &[&[FUNCTION, PROVIDER]];
const BY_ERROR_CLASS: DimensionSets = &[&[FUNCTION, PROVIDER, ERROR_CLASS]];
const BY_RESULT: DimensionSets = &[&[FUNCTION, RESULT]];
const BY_ROUTE_AND_STATUS: DimensionSets = &[&[FUNCTION, ROUTE, STATUS]];

/// Why a provider call failed, or was not made: a small fixed set, from [`ProviderError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// HTTP 429 with `retry-after`: the provider's rate limit (Cloudflare's lock-out).
    RateLimited,
    /// HTTP 429 without `retry-after`: Stream's limit on videos in flight.
    InFlightLimit,
    /// The request timed out (a transport timeout, or HTTP 408).
    Timeout,
    /// Connection refused or reset, TLS, a body cut short.
    Transport,
    /// HTTP 5xx.
    ServerError,
    /// HTTP 4xx other than 408 and 429 (a bad token, an invalid request, a quota).
    ClientError,
    /// A 2xx that is no success (`success: false`, malformed JSON, no `uid`), or a status outside 4xx/5xx.
    InvalidResponse,
    /// Nothing sent: the shared call budget had no slot within the time the call could wait.
    OverBudget,
    /// Nothing sent: the call budget could not be read or written, or no time was left.
    NotSent,
    /// Nothing sent: the video is on a provider this process has no configuration for.
    Unconfigured,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 10] = [
        Self::RateLimited,
        Self::InFlightLimit,
        Self::Timeout,
        Self::Transport,
        Self::ServerError,
        Self::ClientError,
        Self::InvalidResponse,
        Self::OverBudget,
        Self::NotSent,
        Self::Unconfigured,
    ];

    pub fn of(error: &ProviderError) -> Self {
        match error {
            ProviderError::Transport(message) => {
                let message = message.to_ascii_lowercase();
                if message.contains("timed out") || message.contains("timeout") {
                    Self::Timeout
                } else {
                    Self::Transport
                }
            }
            ProviderError::Http { status: 429, retry_after: Some(_), .. } => Self::RateLimited,
            ProviderError::Http { status: 429, retry_after: None, .. } => Self::InFlightLimit,
            ProviderError::Http { status: 408, .. } => Self::Timeout,
            ProviderError::Http { status: 500..=599, .. } => Self::ServerError,
            ProviderError::Http { status: 400..=499, .. } => Self::ClientError,
            ProviderError::Http { .. } | ProviderError::InvalidResponse(_) => Self::InvalidResponse,
            ProviderError::OverBudget { .. } => Self::OverBudget,
            ProviderError::NotSent(_) => Self::NotSent,
            ProviderError::Unconfigured(_) => Self::Unconfigured,
        }
    }

    /// Refused before anything was sent to the provider (no call, so no latency).
    pub fn nothing_sent(self) -> bool {
        matches!(self, Self::OverBudget | Self::NotSent | Self::Unconfigured)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::InFlightLimit => "in_flight_limit",
            Self::Timeout => "timeout",
            Self::Transport => "transport",
            Self::ServerError => "server_error",
            Self::ClientError => "client_error",
            Self::InvalidResponse => "invalid_response",
            Self::OverBudget => "over_budget",
            Self::NotSent => "not_sent",
            Self::Unconfigured => "unconfigured",
        }
    }
}

/// What became of a webhook delivery (`WebhookDeliveries`' `Result`). A verified delivery also
/// counts once as `verified`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookResult {
    /// Not authenticated (unsigned, forged, outside the tolerance, no secret for its provider), or
    /// not a POST: 401/405.
    Rejected,
    /// A body that is not base64 as declared (400), or a signed body that is not a video (400).
    Malformed,
    /// Signed, of a kind the records keep nothing of (a Mux `video.asset.created`): 200.
    Ignored,
    /// The record updated: 200.
    Applied,
    /// Older than the record, or for a video the record no longer holds: 200, nothing changed.
    Stale,
    /// No record references the video: 200.
    UnknownVideo,
    /// The record is still being completed: 503, the provider delivers again.
    NotRecordedYet,
    /// The record could not be read or written: 500, the provider delivers again.
    Error,
}

impl WebhookResult {
    pub const VERIFIED: &str = "verified";

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rejected => "rejected",
            Self::Malformed => "malformed",
            Self::Ignored => "ignored",
            Self::Applied => "applied",
            Self::Stale => "stale",
            Self::UnknownVideo => "unknown_video",
            Self::NotRecordedYet => "not_recorded_yet",
            Self::Error => "error",
        }
    }
}

/// The dimension values of one document besides `Function`, sorted by key.
type DimensionValues = Vec<(&'static str, String)>;

#[derive(Debug, Clone, PartialEq)]
enum Sample {
    Sum(f64),
    Values(Vec<f64>),
}

#[derive(Debug, Clone, PartialEq)]
struct Series {
    unit: Unit,
    sets: DimensionSets,
    sample: Sample,
}

/// One invocation's metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    groups: BTreeMap<DimensionValues, BTreeMap<&'static str, Series>>,
}

fn dims(mut values: DimensionValues) -> DimensionValues {
    values.sort_by_key(|(k, _)| *k);
    values
}

/// Milliseconds, to the microsecond.
fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

impl Metrics {
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    fn series(&mut self, values: DimensionValues, name: &'static str, unit: Unit, sets: DimensionSets) -> &mut Series {
        let sample = if unit == Unit::Milliseconds && name == name::PROVIDER_CALL_LATENCY {
            Sample::Values(Vec::new())
        } else {
            Sample::Sum(0.0)
        };
        self.groups.entry(dims(values)).or_default().entry(name).or_insert(Series { unit, sets, sample })
    }

    fn add(&mut self, values: DimensionValues, name: &'static str, unit: Unit, sets: DimensionSets, amount: f64) {
        if let Sample::Sum(sum) = &mut self.series(values, name, unit, sets).sample {
            *sum += amount;
        }
    }

    /// A provider this invocation called (or tried to): its `BudgetWaitTime` and `LockoutsSeen`
    /// are written even when 0, so that alarms see data.
    fn provider_seen(&mut self, provider: Provider) {
        let values = vec![(PROVIDER, provider.as_str().to_owned())];
        self.add(values.clone(), name::BUDGET_WAIT_TIME, Unit::Milliseconds, BY_PROVIDER, 0.0);
        self.add(values, name::LOCKOUTS_SEEN, Unit::Count, BY_PROVIDER, 0.0);
    }

    /// One record's outcome (the ingest response's `outcome`), with the provider its video is at
    /// when one applies.
    pub fn record_outcome(&mut self, outcome: &str, provider: Option<Provider>) {
        let mut values = vec![(OUTCOME, outcome.to_owned())];
        let sets = match provider {
            Some(p) => {
                values.push((PROVIDER, p.as_str().to_owned()));
                BY_OUTCOME_AND_PROVIDER
            }
            None => BY_OUTCOME,
        };
        self.add(values, name::RECORD_OUTCOME, Unit::Count, sets, 1.0);
    }

    /// One call to `provider` that took `latency`, and its error if it failed. An error that sent
    /// nothing ([`ErrorClass::nothing_sent`]) counts as an error, without a latency.
    pub fn provider_call(&mut self, provider: Provider, latency: Duration, error: Option<&ProviderError>) {
        self.provider_seen(provider);
        let class = error.map(ErrorClass::of);
        if let Some(class) = class {
            self.call_error(provider, class);
        }
        if !class.is_some_and(ErrorClass::nothing_sent) {
            let values = vec![(PROVIDER, provider.as_str().to_owned())];
            let series = self.series(values, name::PROVIDER_CALL_LATENCY, Unit::Milliseconds, BY_PROVIDER);
            if let Sample::Values(list) = &mut series.sample {
                list.push(millis(latency));
            }
        }
    }

    /// A call to `provider` that failed in `class`.
    pub fn call_error(&mut self, provider: Provider, class: ErrorClass) {
        self.provider_seen(provider);
        let values = vec![(PROVIDER, provider.as_str().to_owned()), (ERROR_CLASS, class.as_str().to_owned())];
        self.add(values, name::PROVIDER_CALL_ERRORS, Unit::Count, BY_ERROR_CLASS, 1.0);
    }

    /// Time spent waiting for a slot of `provider`'s call budget.
    pub fn budget_wait(&mut self, provider: Provider, waited: Duration) {
        self.provider_seen(provider);
        let values = vec![(PROVIDER, provider.as_str().to_owned())];
        self.add(values, name::BUDGET_WAIT_TIME, Unit::Milliseconds, BY_PROVIDER, millis(waited));
    }

    /// A lock-out met: a 429 with `retry-after` answered to one of our calls, or a slot held by a
    /// lock-out stored in the budget.
    pub fn lockout_seen(&mut self, provider: Provider) {
        self.provider_seen(provider);
        let values = vec![(PROVIDER, provider.as_str().to_owned())];
        self.add(values, name::LOCKOUTS_SEEN, Unit::Count, BY_PROVIDER, 1.0);
    }

    /// One webhook delivery: `verified` when its signature held, and what became of it.
    pub fn webhook_delivery(&mut self, verified: bool, result: WebhookResult) {
        let mut add = |result: &str| {
            self.add(vec![(RESULT, result.to_owned())], name::WEBHOOK_DELIVERIES, Unit::Count, BY_RESULT, 1.0)
        };
        if verified {
            add(WebhookResult::VERIFIED);
        }
        add(result.as_str());
    }

    /// One API request to `route`, answered with `status`.
    pub fn api_request(&mut self, route: &'static str, status: u16) {
        let values = vec![(ROUTE, route.to_owned()), (STATUS, status.to_string())];
        self.add(values, name::API_REQUESTS, Unit::Count, BY_ROUTE_AND_STATUS, 1.0);
    }

    /// The EMF documents, one JSON text per line to write: one per distinct set of dimension values,
    /// and further ones where a list holds more than [`MAX_VALUES`] values. Empty when nothing was
    /// recorded.
    pub fn to_emf_lines(&self, namespace: &str, timestamp_ms: i64, function: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for (values, series) in &self.groups {
            let first: Vec<(&str, &Series, Value)> = series
                .iter()
                .map(|(name, s)| {
                    let value = match &s.sample {
                        Sample::Sum(sum) => number(*sum),
                        Sample::Values(list) => list.iter().take(MAX_VALUES).map(|v| number(*v)).collect(),
                    };
                    (*name, s, value)
                })
                .collect();
            lines.push(document(namespace, timestamp_ms, function, values, &first));
            for (name, s) in series {
                if let Sample::Values(list) = &s.sample {
                    for chunk in list.chunks(MAX_VALUES).skip(1) {
                        let value = chunk.iter().map(|v| number(*v)).collect();
                        lines.push(document(namespace, timestamp_ms, function, values, &[(*name, s, value)]));
                    }
                }
            }
        }
        lines
    }
}

/// A whole number as an integer (a count reads `1`, not `1.0`).
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 { json!(v as i64) } else { json!(v) }
}

/// One EMF document: a directive per distinct dimension sets, the dimensions and the values as
/// top-level members.
fn document(
    namespace: &str,
    timestamp_ms: i64,
    function: &str,
    values: &DimensionValues,
    series: &[(&str, &Series, Value)],
) -> String {
    let mut by_sets: Vec<(DimensionSets, Vec<Value>)> = Vec::new();
    for (name, s, _) in series {
        let metric = json!({ "Name": name, "Unit": s.unit.as_str() });
        match by_sets.iter_mut().find(|(sets, _)| *sets == s.sets) {
            Some((_, metrics)) => metrics.push(metric),
            None => by_sets.push((s.sets, vec![metric])),
        }
    }
    let directives: Vec<Value> = by_sets
        .iter()
        .flat_map(|(sets, metrics)| {
            metrics
                .chunks(MAX_METRICS)
                .map(move |metrics| json!({ "Namespace": namespace, "Dimensions": sets, "Metrics": metrics }))
        })
        .collect();
    let mut root = Map::new();
    root.insert("_aws".into(), json!({ "Timestamp": timestamp_ms, "CloudWatchMetrics": directives }));
    root.insert(FUNCTION.into(), Value::from(function));
    for (key, value) in values {
        root.insert((*key).into(), Value::from(value.as_str()));
    }
    for (name, _, value) in series {
        root.insert((*name).into(), value.clone());
    }
    Value::Object(root).to_string()
}

tokio::task_local! {
    static CURRENT: RefCell<Metrics>;
}

/// Runs `work` (one invocation) with a collector of its own; its output and what it recorded.
pub async fn collect<F: Future>(work: F) -> (F::Output, Metrics) {
    CURRENT
        .scope(RefCell::new(Metrics::default()), async move {
            let output = work.await;
            (output, CURRENT.with(RefCell::take))
        })
        .await
}

/// Adds to the current invocation's metrics; nothing outside [`collect`].
pub fn record(f: impl FnOnce(&mut Metrics)) {
    let _ = CURRENT.try_with(|metrics| f(&mut metrics.borrow_mut()));
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNITS: [&str; 27] = [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];

    /// Parses a line back and checks it against the EMF specification; the document.
    fn parse_emf(line: &str) -> Value {
        assert!(!line.contains('\n'), "one line: {line}");
        let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let aws = doc["_aws"].as_object().expect("_aws");
        assert!(aws["Timestamp"].as_i64().is_some_and(|t| t > 0), "{line}");
        let directives = aws["CloudWatchMetrics"].as_array().expect("CloudWatchMetrics");
        assert!(!directives.is_empty(), "{line}");
        for directive in directives {
            assert_eq!(directive.as_object().unwrap().len(), 3, "no other members: {directive}");
            assert_eq!(directive["Namespace"], NAMESPACE);
            let sets = directive["Dimensions"].as_array().expect("Dimensions");
            assert!(!sets.is_empty());
            for set in sets {
                let set = set.as_array().unwrap();
                assert!(!set.is_empty() && set.len() <= 9, "{set:?}");
                for key in set {
                    let key = key.as_str().unwrap();
                    assert!(doc[key].is_string(), "dimension {key} is a top-level string: {line}");
                }
            }
            let metrics = directive["Metrics"].as_array().expect("Metrics");
            assert!(!metrics.is_empty() && metrics.len() <= MAX_METRICS);
            for metric in metrics {
                let name = metric["Name"].as_str().unwrap();
                assert!(!name.is_empty() && name.len() <= 1024);
                assert!(UNITS.contains(&metric["Unit"].as_str().unwrap()), "{metric}");
                match &doc[name] {
                    Value::Number(_) => {}
                    Value::Array(values) => {
                        assert!(!values.is_empty() && values.len() <= MAX_VALUES, "{name}: {} values", values.len());
                        assert!(values.iter().all(Value::is_number), "{name}");
                    }
                    other => panic!("{name} is {other}: {line}"),
                }
            }
        }
        assert!(line.len() < 256 * 1024);
        doc
    }

    fn lines(m: &Metrics) -> Vec<Value> {
        m.to_emf_lines(NAMESPACE, 1_700_000_000_000, "ingest").iter().map(|l| parse_emf(l)).collect()
    }

    fn find<'a>(docs: &'a [Value], pairs: &[(&str, &str)]) -> Vec<&'a Value> {
        docs.iter().filter(|d| pairs.iter().all(|(k, v)| d[*k] == *v)).collect()
    }

    #[test]
    fn nothing_recorded_writes_nothing() {
        assert!(Metrics::default().to_emf_lines(NAMESPACE, 1, "ingest").is_empty());
    }

    #[test]
    fn a_new_video_is_one_document_per_dimension_values() {
        let mut m = Metrics::default();
        m.budget_wait(Provider::Cloudflare, Duration::from_millis(12));
        m.provider_call(Provider::Cloudflare, Duration::from_micros(84_250), None);
        m.record_outcome("submitted", Some(Provider::Cloudflare));
        let docs = lines(&m);
        assert_eq!(docs.len(), 2, "{docs:?}");
        let calls = find(&docs, &[("Provider", "cloudflare")]).into_iter().find(|d| d.get("Outcome").is_none());
        let calls = calls.expect("the provider's document");
        assert_eq!(calls["Function"], "ingest");
        assert_eq!(calls["ProviderCallLatency"], json!([84.25]));
        assert_eq!(calls["BudgetWaitTime"], json!(12));
        assert_eq!(calls["LockoutsSeen"], json!(0), "written even when 0");
        let directive = &calls["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([["Function", "Provider"]]));

        let outcome = find(&docs, &[("Outcome", "submitted")]);
        assert_eq!(outcome.len(), 1);
        assert_eq!(outcome[0]["RecordOutcome"], json!(1));
        assert_eq!(outcome[0]["Provider"], "cloudflare");
        let directive = &outcome[0]["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([["Function", "Outcome"], ["Function", "Provider", "Outcome"]]));
        assert_eq!(directive["Metrics"], json!([{"Name": "RecordOutcome", "Unit": "Count"}]));
    }

    #[test]
    fn outcomes_errors_results_and_routes_are_dimension_values() {
        let mut m = Metrics::default();
        m.record_outcome("duplicate", None);
        m.record_outcome("duplicate", None);
        m.record_outcome("skipped", None);
        let lockout = ProviderError::Http { status: 429, message: "x".into(), retry_after: Some(Duration::ZERO) };
        m.provider_call(Provider::Mux, Duration::from_millis(3), Some(&lockout));
        m.lockout_seen(Provider::Mux);
        m.provider_call(Provider::Mux, Duration::ZERO, Some(&ProviderError::OverBudget { wait: Duration::ZERO }));
        m.webhook_delivery(true, WebhookResult::Applied);
        m.webhook_delivery(false, WebhookResult::Rejected);
        m.api_request("playback", 200);
        m.api_request("playback", 200);
        m.api_request("unknown", 401);
        let docs = lines(&m);
        let one = |pairs: &[(&str, &str)]| {
            let found = find(&docs, pairs);
            assert_eq!(found.len(), 1, "{pairs:?}: {docs:?}");
            found[0].clone()
        };
        assert_eq!(one(&[("Outcome", "duplicate")])["RecordOutcome"], 2);
        assert!(one(&[("Outcome", "duplicate")]).get("Provider").is_none(), "no provider applies");
        assert_eq!(
            one(&[("Outcome", "skipped")])["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Function", "Outcome"]])
        );
        assert_eq!(one(&[("ErrorClass", "rate_limited")])["ProviderCallErrors"], 1);
        assert_eq!(one(&[("ErrorClass", "over_budget")])["ProviderCallErrors"], 1);
        let mux: Vec<_> =
            find(&docs, &[("Provider", "mux")]).into_iter().filter(|d| d.get("ErrorClass").is_none()).collect();
        let mux = mux.first().expect("mux's document");
        assert_eq!(mux["ProviderCallLatency"], json!([3]), "the refused slot has no latency");
        assert_eq!(mux["LockoutsSeen"], 1);
        assert_eq!(one(&[("Result", "verified")])["WebhookDeliveries"], 1);
        assert_eq!(one(&[("Result", "applied")])["WebhookDeliveries"], 1);
        assert_eq!(one(&[("Result", "rejected")])["WebhookDeliveries"], 1);
        let playback = one(&[("Route", "playback"), ("Status", "200")]);
        assert_eq!(playback["ApiRequests"], 2);
        assert_eq!(playback["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Function", "Route", "Status"]]));
        assert_eq!(one(&[("Route", "unknown"), ("Status", "401")])["ApiRequests"], 1);
    }

    #[test]
    fn more_than_a_hundred_values_continue_in_further_documents() {
        let mut m = Metrics::default();
        for i in 0..250 {
            m.provider_call(Provider::Cloudflare, Duration::from_millis(i), None);
        }
        let docs = lines(&m);
        assert_eq!(docs.len(), 3);
        let sizes: Vec<usize> = docs.iter().map(|d| d["ProviderCallLatency"].as_array().unwrap().len()).collect();
        assert_eq!(sizes, [100, 100, 50]);
        let all: Vec<i64> = docs
            .iter()
            .flat_map(|d| d["ProviderCallLatency"].as_array().unwrap().clone())
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(all, (0..250).collect::<Vec<_>>(), "every value, once");
        assert_eq!(docs[0]["BudgetWaitTime"], 0);
        assert!(docs[1].get("BudgetWaitTime").is_none(), "the counters are written once");
        assert!(docs.iter().all(|d| d["Provider"] == "cloudflare"));
    }

    #[test]
    fn error_classes_cover_the_provider_errors() {
        let http = |status, retry_after| ProviderError::Http { status, message: "m".into(), retry_after };
        let cases = [
            (http(429, Some(Duration::from_secs(300))), "rate_limited"),
            (http(429, None), "in_flight_limit"),
            (http(408, None), "timeout"),
            (ProviderError::Transport("error sending request: operation timed out".into()), "timeout"),
            (ProviderError::Transport("connection reset".into()), "transport"),
            (http(503, None), "server_error"),
            (http(403, None), "client_error"),
            (http(409, None), "client_error"),
            (http(302, None), "invalid_response"),
            (ProviderError::InvalidResponse("no uid".into()), "invalid_response"),
            (ProviderError::OverBudget { wait: Duration::ZERO }, "over_budget"),
            (ProviderError::NotSent("x".into()), "not_sent"),
            (ProviderError::Unconfigured("x".into()), "unconfigured"),
        ];
        for (error, class) in cases {
            assert_eq!(ErrorClass::of(&error).as_str(), class, "{error}");
        }
        let names: std::collections::HashSet<_> = ErrorClass::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorClass::ALL.len());
    }

    #[tokio::test]
    async fn recording_goes_to_the_current_invocation_only() {
        record(|m| m.record_outcome("submitted", None));
        let ((), first) = collect(async {
            record(|m| m.record_outcome("submitted", None));
            tokio::task::yield_now().await;
            record(|m| m.api_request("playback", 200));
        })
        .await;
        let ((), second) = collect(async {}).await;
        assert_eq!(lines(&first).len(), 2);
        assert!(second.is_empty(), "a new invocation starts empty");
    }
}
