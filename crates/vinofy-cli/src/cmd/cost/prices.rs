//! The prices `vinofy cost` uses: `prices.toml` (embedded), with an operator's file merged over it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The built-in prices (versioned with the code; every figure with its source and date).
pub const DEFAULT_PRICES: &str = include_str!("../../../prices.toml");

/// Where the figures of a [`Prices`] came from.
pub const BUILT_IN: &str = "built-in prices.toml";

/// One figure: a price, a free allowance or an assumption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    pub value: f64,
    pub unit: String,
    pub source: String,
    pub as_of: String,
    pub confirmed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prices {
    /// `meta.version` (a date).
    pub version: String,
    pub currency: String,
    /// `built-in prices.toml`, or `FILE over built-in prices.toml`.
    pub origin: String,
    /// By `section.name` (`stream.storage_per_1000_minutes`).
    pub figures: BTreeMap<String, Figure>,
}

/// A prices file that cannot be used: which file, which key, why.
#[derive(Debug, Clone, PartialEq)]
pub struct PricesError {
    pub file: String,
    pub key: Option<String>,
    pub message: String,
}

impl std::fmt::Display for PricesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key {
            Some(key) => write!(f, "prices file {}: {key}: {}", self.file, self.message),
            None => write!(f, "prices file {}: {}", self.file, self.message),
        }
    }
}

/// Every figure the estimate reads; the built-in file must have each, and an override may not add others.
pub const KEYS: &[&str] = &[
    "stream.storage_per_1000_minutes",
    "stream.delivery_per_1000_minutes",
    "stream.billing_increment_minutes",
    "stream.encoding_per_minute",
    "mux.storage_per_minute",
    "mux.delivery_per_minute",
    "mux.free_delivery_minutes",
    "mux.encoding_per_minute",
    "aws.mediaconvert_hd_per_output_minute",
    "aws.mediaconvert_sd_per_output_minute",
    "aws.cloudfront_per_gb",
    "aws.cloudfront_free_gb",
    "aws.cloudfront_per_10k_requests",
    "aws.cloudfront_free_requests",
    "pipeline.s3_storage_per_gb_month",
    "pipeline.s3_egress_per_gb",
    "pipeline.s3_egress_free_gb",
    "pipeline.lambda_per_million_requests",
    "pipeline.lambda_per_gb_second",
    "pipeline.dynamodb_per_million_writes",
    "pipeline.dynamodb_per_million_reads",
    "pipeline.dynamodb_storage_per_gb_month",
    "assumptions.aws_hd_renditions",
    "assumptions.aws_sd_renditions",
    "assumptions.aws_rendition_gb_per_minute",
    "assumptions.aws_delivered_gb_per_minute",
    "assumptions.aws_segment_seconds",
    "assumptions.lambda_invocations_per_video",
    "assumptions.lambda_seconds_per_invocation",
    "assumptions.lambda_memory_gb",
    "assumptions.dynamodb_writes_per_video",
    "assumptions.dynamodb_reads_per_video",
    "assumptions.dynamodb_item_kb",
];

/// Figures that divide: zero makes no sense.
const POSITIVE: &[&str] = &["stream.billing_increment_minutes", "assumptions.aws_segment_seconds"];

const FIGURE_FIELDS: &[&str] = &["value", "unit", "source", "as_of", "confirmed"];
const META_FIELDS: &[&str] = &["version", "currency"];

impl Prices {
    /// The built-in prices.
    pub fn built_in() -> Self {
        load(None).expect("the built-in prices.toml is valid (unit-tested)")
    }

    pub fn figure(&self, key: &str) -> &Figure {
        self.figures.get(key).unwrap_or_else(|| panic!("no price {key} (KEYS and prices.toml agree: unit-tested)"))
    }

    pub fn value(&self, key: &str) -> f64 {
        self.figure(key).value
    }

    pub fn confirmed(&self, key: &str) -> bool {
        self.figure(key).confirmed
    }

    pub fn unconfirmed_count(&self) -> usize {
        self.figures.values().filter(|f| !f.confirmed).count()
    }
}

/// The built-in prices, with `override_file` (its name and its text) merged over them: a file may
/// set only some figures, and only some fields of a figure. A bare number (`key = 0.003`) sets the
/// value. A figure whose value an override sets without a `source` gets the file as its source, an
/// `as_of` of `unknown` and `confirmed = false` unless the override says otherwise.
pub fn load(override_file: Option<(&str, &str)>) -> Result<Prices, PricesError> {
    let built_in = parse(BUILT_IN, DEFAULT_PRICES)?;
    let merged = match override_file {
        None => built_in,
        Some((file, text)) => merge(built_in, parse(file, text)?, file)?,
    };
    let file = override_file.map_or(BUILT_IN, |(file, _)| file);
    into_prices(merged, file, override_file.map(|(f, _)| format!("{f} over {BUILT_IN}")))
}

fn parse(file: &str, text: &str) -> Result<toml::Table, PricesError> {
    text.parse::<toml::Table>().map_err(|e| PricesError {
        file: file.to_owned(),
        key: None,
        message: format!("not valid TOML: {}", e.to_string().trim_end()),
    })
}

fn err(file: &str, key: impl Into<String>, message: impl Into<String>) -> PricesError {
    PricesError { file: file.to_owned(), key: Some(key.into()), message: message.into() }
}

fn type_name(v: &toml::Value) -> &'static str {
    v.type_str()
}

fn merge(mut base: toml::Table, over: toml::Table, file: &str) -> Result<toml::Table, PricesError> {
    for (section, value) in over {
        let Some(base_section) = base.get_mut(&section).and_then(toml::Value::as_table_mut) else {
            return Err(err(
                file,
                &section,
                "unknown section (expected meta, stream, mux, aws, pipeline or assumptions)",
            ));
        };
        let toml::Value::Table(entries) = value else {
            return Err(err(file, &section, format!("must be a table, not a {}", type_name(&value))));
        };
        for (name, value) in entries {
            let key = format!("{section}.{name}");
            if section == "meta" {
                if !META_FIELDS.contains(&name.as_str()) {
                    return Err(err(file, key, format!("unknown key (expected one of {})", META_FIELDS.join(", "))));
                }
                if !value.is_str() {
                    return Err(err(file, key, format!("must be a string, not a {}", type_name(&value))));
                }
                base_section.insert(name, value);
                continue;
            }
            let Some(base_figure) = base_section.get_mut(&name).and_then(toml::Value::as_table_mut) else {
                return Err(err(file, key, "unknown figure (see the built-in prices.toml for the names)"));
            };
            let fields = match value {
                toml::Value::Integer(_) | toml::Value::Float(_) => {
                    toml::Table::from_iter([("value".to_owned(), value)])
                }
                toml::Value::Table(fields) => fields,
                other => {
                    return Err(err(
                        file,
                        key,
                        format!(
                            "must be a number or a table of {}, not a {}",
                            FIGURE_FIELDS.join(", "),
                            type_name(&other)
                        ),
                    ));
                }
            };
            let sets_value = fields.contains_key("value");
            for (field, v) in &fields {
                let field_key = format!("{key}.{field}");
                let ok = match field.as_str() {
                    "value" => matches!(v, toml::Value::Integer(_) | toml::Value::Float(_)),
                    "confirmed" => v.is_bool(),
                    "unit" | "source" | "as_of" => v.is_str(),
                    _ => {
                        return Err(err(
                            file,
                            field_key,
                            format!("unknown field (expected one of {})", FIGURE_FIELDS.join(", ")),
                        ));
                    }
                };
                if !ok {
                    let want = match field.as_str() {
                        "value" => "a number",
                        "confirmed" => "true or false",
                        _ => "a string",
                    };
                    return Err(err(file, field_key, format!("must be {want}, not a {}", type_name(v))));
                }
            }
            if sets_value {
                if !fields.contains_key("source") {
                    base_figure.insert("source".into(), toml::Value::String(format!("{file} (override)")));
                }
                if !fields.contains_key("as_of") {
                    base_figure.insert("as_of".into(), toml::Value::String("unknown".into()));
                }
                if !fields.contains_key("confirmed") {
                    base_figure.insert("confirmed".into(), toml::Value::Boolean(false));
                }
            }
            base_figure.extend(fields);
        }
    }
    Ok(base)
}

fn into_prices(table: toml::Table, file: &str, origin: Option<String>) -> Result<Prices, PricesError> {
    let meta = table.get("meta").and_then(toml::Value::as_table);
    let meta_str = |name: &str| -> Result<String, PricesError> {
        meta.and_then(|m| m.get(name))
            .and_then(toml::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| err(file, format!("meta.{name}"), "is required (a string)"))
    };
    let (version, currency) = (meta_str("version")?, meta_str("currency")?);
    let mut figures = BTreeMap::new();
    for (section, value) in &table {
        if section == "meta" {
            continue;
        }
        let Some(entries) = value.as_table() else {
            return Err(err(file, section, "must be a table of figures"));
        };
        for (name, value) in entries {
            let key = format!("{section}.{name}");
            let figure: Figure =
                value.clone().try_into().map_err(|e: toml::de::Error| err(file, &key, e.message().to_owned()))?;
            if !figure.value.is_finite() || figure.value < 0.0 {
                return Err(err(file, format!("{key}.value"), "must be a finite number, not negative"));
            }
            if POSITIVE.contains(&key.as_str()) && figure.value <= 0.0 {
                return Err(err(file, format!("{key}.value"), "must be above zero"));
            }
            figures.insert(key, figure);
        }
    }
    if let Some(missing) = KEYS.iter().find(|k| !figures.contains_key(**k)) {
        return Err(err(file, *missing, "is missing"));
    }
    Ok(Prices { version, currency, origin: origin.unwrap_or_else(|| BUILT_IN.to_owned()), figures })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_prices_have_every_figure_with_a_source_and_a_date() {
        let prices = Prices::built_in();
        assert_eq!(prices.origin, BUILT_IN);
        assert_eq!(prices.currency, "USD");
        for key in KEYS {
            let figure = prices.figure(key);
            assert!(!figure.unit.is_empty() && !figure.source.is_empty() && !figure.as_of.is_empty(), "{key}");
        }
        // Nothing in the file that the estimate does not read.
        assert_eq!(prices.figures.len(), KEYS.len());
        assert_eq!(prices.value("stream.storage_per_1000_minutes"), 5.0);
        assert_eq!(prices.value("stream.billing_increment_minutes"), 1000.0);
        assert!(prices.confirmed("stream.delivery_per_1000_minutes"));
        // The design's notes mark the Mux figures UNCONFIRMED.
        assert!(!prices.confirmed("mux.storage_per_minute") && !prices.confirmed("mux.delivery_per_minute"));
    }

    #[test]
    fn an_override_sets_only_what_it_names() {
        let text = "[meta]\nversion = \"2027-01-01\"\n\n[mux]\ndelivery_per_minute = 0.0014\n\n[mux.storage_per_minute]\nvalue = 0.003\nsource = \"mux.com/pricing\"\nconfirmed = true\n\n[stream.storage_per_1000_minutes]\nconfirmed = false\n";
        let prices = load(Some(("mine.toml", text))).unwrap();
        assert_eq!(prices.version, "2027-01-01");
        assert_eq!(prices.origin, "mine.toml over built-in prices.toml");
        let delivery = prices.figure("mux.delivery_per_minute");
        assert_eq!(delivery.value, 0.0014);
        assert_eq!(delivery.source, "mine.toml (override)");
        assert_eq!(delivery.as_of, "unknown");
        assert!(!delivery.confirmed);
        assert_eq!(delivery.unit, Prices::built_in().figure("mux.delivery_per_minute").unit);
        let storage = prices.figure("mux.storage_per_minute");
        assert_eq!((storage.value, storage.source.as_str(), storage.confirmed), (0.003, "mux.com/pricing", true));
        let stream = prices.figure("stream.storage_per_1000_minutes");
        assert_eq!((stream.value, stream.confirmed), (5.0, false));
        assert_eq!(prices.figure("aws.cloudfront_per_gb"), Prices::built_in().figure("aws.cloudfront_per_gb"));
    }

    #[test]
    fn a_bad_override_names_the_file_and_the_key() {
        let cases = [
            ("[mux]\nstorage_per_minit = 1\n", Some("mux.storage_per_minit")),
            ("[muxx]\nstorage_per_minute = 1\n", Some("muxx")),
            ("[mux]\nstorage_per_minute = \"cheap\"\n", Some("mux.storage_per_minute")),
            ("[mux.storage_per_minute]\nvalue = true\n", Some("mux.storage_per_minute.value")),
            ("[mux.storage_per_minute]\nprice = 1\n", Some("mux.storage_per_minute.price")),
            ("[mux.storage_per_minute]\nconfirmed = \"yes\"\n", Some("mux.storage_per_minute.confirmed")),
            ("[mux]\nstorage_per_minute = -1\n", Some("mux.storage_per_minute.value")),
            ("[stream]\nbilling_increment_minutes = 0\n", Some("stream.billing_increment_minutes.value")),
            ("[meta]\nversion = 3\n", Some("meta.version")),
            ("[mux\nstorage", None),
        ];
        for (text, key) in cases {
            let e = load(Some(("p.toml", text))).unwrap_err();
            assert_eq!(e.file, "p.toml", "{text}");
            assert_eq!(e.key.as_deref(), key, "{text}: {e}");
            assert!(e.to_string().starts_with("prices file p.toml: "), "{e}");
        }
    }
}
