//! Typed access to JSON request bodies, with Cloudflare-style 400s on invalid fields.

use serde_json::{Map, Number, Value};

use crate::envelope::ApiError;
use crate::model::Timestamp;

/// `creator` maxLength (doc §2.1).
const CREATOR_MAX_CHARS: usize = 64;

/// A JSON object request body. Error messages name the field but never echo its value:
/// values may be presigned URLs.
pub struct Fields(Map<String, Value>);

/// A field as sent: missing, explicitly `null`, or a valid value.
pub enum Field<T> {
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    pub fn value(self) -> Option<T> {
        match self {
            Self::Set(value) => Some(value),
            Self::Absent | Self::Null => None,
        }
    }

    /// Non-nullable target: only a value changes it.
    pub fn apply(self, target: &mut T) {
        if let Self::Set(value) = self {
            *target = value;
        }
    }

    /// Nullable target: `null` clears it, absence keeps it.
    pub fn apply_nullable(self, target: &mut Option<T>) {
        match self {
            Self::Absent => {}
            Self::Null => *target = None,
            Self::Set(value) => *target = Some(value),
        }
    }
}

impl Fields {
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        match serde_json::from_slice(body) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::bad_request("Request body must be a JSON object")),
            // serde_json syntax errors carry only a position, not the input.
            Err(error) => Err(ApiError::bad_request(format!("Malformed JSON in request body: {error}"))),
        }
    }

    pub fn get<T>(
        &self,
        key: &str,
        expected: &str,
        convert: impl FnOnce(&Value) -> Option<T>,
    ) -> Result<Field<T>, ApiError> {
        match self.0.get(key) {
            None => Ok(Field::Absent),
            Some(Value::Null) => Ok(Field::Null),
            Some(value) => {
                convert(value).map(Field::Set).ok_or_else(|| ApiError::bad_request(format!("{key} must be {expected}")))
            }
        }
    }
}

pub const CREATOR_EXPECTED: &str = "a string of at most 64 characters";
pub const FRACTION_EXPECTED: &str = "a number between 0 and 1";
pub const TIMESTAMP_EXPECTED: &str = "an RFC 3339 date-time";
pub const URL_EXPECTED: &str = "a valid http(s) URL";

pub fn string(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

pub fn creator(value: &Value) -> Option<String> {
    string(value).filter(|s| s.chars().count() <= CREATOR_MAX_CHARS)
}

pub fn object(value: &Value) -> Option<Map<String, Value>> {
    value.as_object().cloned()
}

pub fn object_value(value: &Value) -> Option<Value> {
    value.is_object().then(|| value.clone())
}

pub fn string_array(value: &Value) -> Option<Vec<String>> {
    value.as_array()?.iter().map(string).collect()
}

pub fn fraction(value: &Value) -> Option<Number> {
    match value {
        Value::Number(n) if n.as_f64().is_some_and(|f| (0.0..=1.0).contains(&f)) => Some(n.clone()),
        _ => None,
    }
}

pub fn timestamp(value: &Value) -> Option<Timestamp> {
    value.as_str().and_then(Timestamp::parse)
}

/// Cloudflare also wants the host publicly routable; the emulator accepts local origins.
/// The string is kept exactly as sent: the fetch uses it verbatim.
pub fn http_url(value: &Value) -> Option<String> {
    let text = value.as_str()?;
    let parsed = reqwest::Url::parse(text).ok()?;
    (matches!(parsed.scheme(), "http" | "https") && parsed.has_host()).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Fields {
        Fields::parse(value.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn validation_messages_do_not_echo_values() {
        let body = json!({"url": "https://secret.test/?X-Amz-Signature=abc", "creator": 5});
        let error = fields(body).get("creator", CREATOR_EXPECTED, creator).err().unwrap();
        assert_eq!(error.message, "creator must be a string of at most 64 characters");
        let error = Fields::parse(b"{\"url\": \"https://secret.test/").err().unwrap();
        assert!(error.message.starts_with("Malformed JSON"));
        assert!(!error.message.contains("secret"));
    }

    #[test]
    fn null_and_absent_are_distinct() {
        let body = fields(json!({"creator": null}));
        assert!(matches!(body.get("creator", "", creator), Ok(Field::Null)));
        assert!(matches!(body.get("meta", "", object), Ok(Field::Absent)));
        let mut target = Some("x".to_owned());
        Field::Null.apply_nullable(&mut target);
        assert_eq!(target, None);
    }

    #[test]
    fn converters() {
        assert!(fraction(&json!(0)).is_some());
        assert!(fraction(&json!(1.0)).is_some());
        assert!(fraction(&json!(1.5)).is_none());
        assert!(fraction(&json!(-0.1)).is_none());
        assert!(fraction(&json!("0.5")).is_none());
        assert!(creator(&json!("é".repeat(64))).is_some());
        assert!(creator(&json!("a".repeat(65))).is_none());
        assert!(http_url(&json!("https://h/a%20b?x=1")).is_some());
        assert!(http_url(&json!("ftp://h/x")).is_none());
        assert!(http_url(&json!("http://")).is_none());
        assert!(string_array(&json!(["a", 1])).is_none());
    }
}
