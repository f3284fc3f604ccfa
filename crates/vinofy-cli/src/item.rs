//! Records as the table stores them (DynamoDB's typed attribute values) and as the CLI shows them
//! (plain JSON). The claim token is a live invocation's credential on the record: never shown.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde_json::{Number, Value};
use vinofy_ingest::adapters::dynamodb::attr;

pub type Item = HashMap<String, AttributeValue>;

/// Attributes never printed or exported.
pub const HIDDEN: &[&str] = &[attr::CLAIM_TOKEN];

pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> Option<T> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}

/// The record as one plain JSON object, attributes sorted by name, without [`HIDDEN`] ones.
pub fn to_json(item: &Item) -> Value {
    let sorted: BTreeMap<&str, Value> =
        item.iter().filter(|(k, _)| !HIDDEN.contains(&k.as_str())).map(|(k, v)| (k.as_str(), plain(v))).collect();
    // Built from a BTreeMap so the order holds even if serde_json's `preserve_order` is on.
    let mut map = serde_json::Map::new();
    for (k, v) in sorted {
        map.insert(k.to_owned(), v);
    }
    Value::Object(map)
}

/// One DynamoDB value as plain JSON: numbers as numbers (a string only if JSON cannot hold them),
/// binary as base64, sets as arrays.
pub fn plain(value: &AttributeValue) -> Value {
    let b64 = |b: &aws_sdk_dynamodb::primitives::Blob| {
        Value::String(base64::engine::general_purpose::STANDARD.encode(b.as_ref()))
    };
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::B(b) => b64(b),
        AttributeValue::Ss(v) => Value::Array(v.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(v) => Value::Array(v.iter().map(|n| number(n)).collect()),
        AttributeValue::Bs(v) => Value::Array(v.iter().map(b64).collect()),
        AttributeValue::L(v) => Value::Array(v.iter().map(plain).collect()),
        AttributeValue::M(m) => {
            let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, plain(v))).collect();
            let mut map = serde_json::Map::new();
            for (k, v) in sorted {
                map.insert(k.clone(), v);
            }
            Value::Object(map)
        }
        // A type newer than this SDK: keep it visible rather than dropping it.
        _ => Value::String(format!("{value:?}")),
    }
}

fn number(n: &str) -> Value {
    if let Ok(i) = n.parse::<i64>() {
        return Value::Number(i.into());
    }
    if let Ok(u) = n.parse::<u64>() {
        return Value::Number(u.into());
    }
    // DynamoDB numbers have up to 38 significant digits, an f64 about 15: beyond that, keep the text.
    let mantissa = n.split(['e', 'E']).next().unwrap_or_default();
    if mantissa.chars().filter(char::is_ascii_digit).count() <= 15
        && let Some(f) = n.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(f);
    }
    Value::String(n.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::primitives::Blob;

    #[test]
    fn typed_values_become_plain_json() {
        let item: Item = HashMap::from([
            ("source".into(), AttributeValue::S("s3://b/k.mp4".into())),
            ("size".into(), AttributeValue::N("51285".into())),
            ("duration".into(), AttributeValue::N("5.5".into())),
            ("huge".into(), AttributeValue::N("123456789012345678901234567890".into())),
            ("flag".into(), AttributeValue::Bool(true)),
            ("nothing".into(), AttributeValue::Null(true)),
            ("blob".into(), AttributeValue::B(Blob::new(b"hi".to_vec()))),
            ("tags".into(), AttributeValue::Ss(vec!["a".into(), "b".into()])),
            ("list".into(), AttributeValue::L(vec![AttributeValue::N("1".into()), AttributeValue::S("x".into())])),
            ("map".into(), AttributeValue::M(HashMap::from([("k".into(), AttributeValue::N("-2".into()))]))),
            ("claim_token".into(), AttributeValue::S("secret-ish".into())),
        ]);
        let json = to_json(&item);
        assert_eq!(
            json,
            serde_json::json!({
                "source": "s3://b/k.mp4", "size": 51285, "duration": 5.5,
                "huge": "123456789012345678901234567890", "flag": true, "nothing": null, "blob": "aGk=",
                "tags": ["a", "b"], "list": [1, "x"], "map": {"k": -2}
            })
        );
        let text = json.to_string();
        assert!(!text.contains("claim_token") && !text.contains("secret-ish"), "{text}");
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "attributes come out sorted");
    }
}
