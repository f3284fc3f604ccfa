//! What `vinofy doctor` checks: the stack's outputs, from `--outputs FILE` (the JSON of `aws
//! cloudformation describe-stacks --query 'Stacks[0].Outputs'`) and/or the environment. Each output
//! has environment names: its key in SCREAMING_SNAKE case (`FailedEventsQueueUrl` →
//! `FAILED_EVENTS_QUEUE_URL`) and, where the functions have one, the functions' own variable
//! (`VIDEOS_TABLE`, `UPLOAD_BUCKET`, `CLOUDFLARE_WEBHOOK_SECRET_ARN`, ...). A value given twice
//! differently is a finding (the environment points at another stack than the outputs).

use std::collections::BTreeMap;

/// The outputs `doctor` reads (template.yaml's `Outputs`), each with its environment names.
pub const OUTPUTS: &[(&str, &[&str])] = &[
    ("VideosTableName", &["VIDEOS_TABLE", "VIDEOS_TABLE_NAME"]),
    ("UploadBucketName", &["UPLOAD_BUCKET", "UPLOAD_BUCKET_NAME"]),
    ("IngestFunctionArn", &["INGEST_FUNCTION_ARN"]),
    ("WebhookUrl", &["WEBHOOK_URL"]),
    ("IngestQueueUrl", &["INGEST_QUEUE_URL"]),
    ("FailedEventsQueueUrl", &["FAILED_EVENTS_QUEUE_URL"]),
    ("CloudflareApiTokenSecretArn", &["CLOUDFLARE_API_TOKEN_SECRET_ARN"]),
    ("CloudflareWebhookSecretArn", &["CLOUDFLARE_WEBHOOK_SECRET_ARN"]),
    ("MuxTokenSecretArn", &["MUX_TOKEN_SECRET_ARN"]),
    ("MuxWebhookSecretArn", &["MUX_WEBHOOK_SECRET_ARN"]),
    ("StreamSigningKeySecretArn", &["STREAM_SIGNING_KEY_SECRET_ARN"]),
    ("MuxSigningKeySecretArn", &["MUX_SIGNING_KEY_SECRET_ARN"]),
    ("ApiUrl", &["API_URL"]),
];

/// The secrets the stack creates (with placeholders), by output.
pub const SECRET_OUTPUTS: &[&str] = &[
    "CloudflareApiTokenSecretArn",
    "CloudflareWebhookSecretArn",
    "MuxTokenSecretArn",
    "MuxWebhookSecretArn",
    "StreamSigningKeySecretArn",
    "MuxSigningKeySecretArn",
];

/// One output's value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub value: String,
    /// `--outputs` or the variable's name.
    pub from: String,
}

#[derive(Debug, Default)]
pub struct Inputs {
    values: BTreeMap<&'static str, Value>,
    /// Outputs given twice with different values: `(output, [(source, value)...])`.
    pub conflicts: Vec<(&'static str, Vec<Value>)>,
    /// Outputs the file holds that doctor does not use (kept for the report).
    pub unknown: Vec<String>,
}

impl Inputs {
    pub fn get(&self, output: &str) -> Option<&str> {
        self.values.get(output).map(|v| v.value.as_str())
    }

    /// How many outputs are known, and from where (`--outputs`: n; environment: m).
    pub fn summary(&self) -> String {
        let from_file = self.values.values().filter(|v| v.from == "--outputs").count();
        let from_env = self.values.len() - from_file;
        format!("{} outputs known ({from_file} from --outputs, {from_env} from the environment)", self.values.len())
    }
}

/// Parses the outputs JSON: a list of `{OutputKey, OutputValue}` (the `describe-stacks` query), or
/// the whole `describe-stacks` answer (`{"Stacks": [{"Outputs": [...]}]}`).
pub fn parse_outputs(text: &str) -> Result<Vec<(String, String)>, String> {
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = match &json {
        serde_json::Value::Array(list) => list,
        other => other.pointer("/Stacks/0/Outputs").and_then(serde_json::Value::as_array).ok_or(
            "expected a list of {\"OutputKey\", \"OutputValue\"} (aws cloudformation describe-stacks --query \
             'Stacks[0].Outputs')",
        )?,
    };
    list.iter()
        .map(|o| match (o["OutputKey"].as_str(), o["OutputValue"].as_str()) {
            (Some(k), Some(v)) => Ok((k.to_owned(), v.trim().to_owned())),
            _ => Err(format!("an entry without OutputKey and OutputValue strings: {o}")),
        })
        .collect()
}

/// Merges the file's outputs and the environment (`lookup`).
pub fn resolve(file: Option<Vec<(String, String)>>, lookup: impl Fn(&str) -> Option<String>) -> Inputs {
    let mut inputs = Inputs::default();
    let file: BTreeMap<String, String> = file.unwrap_or_default().into_iter().collect();
    inputs.unknown = file.keys().filter(|k| !OUTPUTS.iter().any(|(o, _)| o == k)).cloned().collect();
    for &(output, vars) in OUTPUTS {
        let mut seen: Vec<Value> = Vec::new();
        if let Some(v) = file.get(output).filter(|v| !v.is_empty()) {
            seen.push(Value { value: v.clone(), from: "--outputs".into() });
        }
        for var in vars {
            if let Some(v) = lookup(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
                seen.push(Value { value: v, from: (*var).to_owned() });
            }
        }
        let Some(first) = seen.first().cloned() else { continue };
        if seen.iter().any(|v| v.value != first.value) {
            inputs.conflicts.push((output, seen));
        }
        inputs.values.insert(output, first);
    }
    inputs
}

/// A secret's value is set: not empty and not (containing) one of the stack's `REPLACE_WITH_…`
/// placeholders. `Err` says what is wrong, never the value.
pub fn secret_is_set(value: &str) -> Result<(), &'static str> {
    if value.trim().is_empty() {
        return Err("is empty");
    }
    if vinofy_adapters::config::holds_placeholder(value) {
        return Err("still holds the stack's placeholder (REPLACE_WITH_…)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_come_from_the_file_or_the_stack_answer() {
        let list = r#"[{"OutputKey": "VideosTableName", "OutputValue": "videos", "Description": "x"}]"#;
        assert_eq!(parse_outputs(list).unwrap(), vec![("VideosTableName".to_owned(), "videos".to_owned())]);
        let stacks = r#"{"Stacks": [{"Outputs": [{"OutputKey": "WebhookUrl", "OutputValue": "https://h/"}]}]}"#;
        assert_eq!(parse_outputs(stacks).unwrap()[0].1, "https://h/");
        assert!(parse_outputs("{}").is_err());
        assert!(parse_outputs("[{\"OutputKey\": 1}]").is_err());
        assert!(parse_outputs("nope").is_err());
    }

    #[test]
    fn the_environment_fills_in_and_disagreements_are_kept() {
        let file = vec![("VideosTableName".to_owned(), "videos".to_owned()), ("Other".to_owned(), "x".to_owned())];
        let env = |k: &str| match k {
            "VIDEOS_TABLE" => Some("videos".to_owned()),
            "UPLOAD_BUCKET" => Some("uploads".to_owned()),
            "UPLOAD_BUCKET_NAME" => Some("other-uploads".to_owned()),
            "WEBHOOK_URL" => Some("  ".to_owned()),
            _ => None,
        };
        let inputs = resolve(Some(file), env);
        assert_eq!(inputs.get("VideosTableName"), Some("videos"));
        assert_eq!(inputs.values["VideosTableName"].from, "--outputs");
        assert_eq!(inputs.get("UploadBucketName"), Some("uploads"));
        assert_eq!(inputs.get("WebhookUrl"), None);
        assert_eq!(inputs.conflicts.len(), 1);
        assert_eq!(inputs.conflicts[0].0, "UploadBucketName");
        assert_eq!(inputs.unknown, vec!["Other".to_owned()]);
    }

    #[test]
    fn placeholders_and_empty_secrets_are_not_set() {
        assert!(secret_is_set("REPLACE_WITH_CLOUDFLARE_API_TOKEN").is_err());
        assert!(secret_is_set(r#"{"id": "REPLACE_WITH_KEY_ID", "pem": "x"}"#).is_err());
        assert!(secret_is_set(" ").is_err());
        assert!(secret_is_set("a-real-token").is_ok());
    }
}
