//! Reads secrets (the Cloudflare token, the webhook secret) from Secrets Manager at start-up.

use aws_config::SdkConfig;

use crate::StartupError;
use crate::config::validate_token;
use vinofy_core::secret::SecretString;

/// Reads a secret named by the ARN in `variable`: either the value as a plain string, or JSON with
/// a `token` (or `secret`, or `CLOUDFLARE_API_TOKEN`) field, as the console's key/value editor
/// stores it. Errors name the variable, never the value.
pub async fn read_secret(aws: &SdkConfig, arn: &str, variable: &'static str) -> Result<SecretString, StartupError> {
    let raw = read_secret_string(aws, arn, variable).await?;
    Ok(secret_value(variable, &raw)?)
}

/// The value the functions use of a secret stored as `raw` (plain, or JSON with a `token` /
/// `secret` / `CLOUDFLARE_API_TOKEN` field), validated like a token.
pub fn secret_value(variable: &'static str, raw: &str) -> Result<SecretString, crate::config::ConfigError> {
    validate_token(variable, &token_from_secret_string(raw))
}

/// The string value of the secret named by the ARN in `variable`, as stored. Errors name the
/// variable, never the value.
pub async fn read_secret_string(aws: &SdkConfig, arn: &str, variable: &'static str) -> Result<String, StartupError> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let output = client.get_secret_value().secret_id(arn).send().await.map_err(|e| {
        StartupError::Init(format!(
            "{variable}: cannot read the secret: {}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
        ))
    })?;
    output.secret_string.ok_or_else(|| StartupError::Init(format!("{variable}: the secret has no string value")))
}

/// Stores `value` as the secret's new current version (`PutSecretValue`). Errors name the
/// variable or flag, never the value.
pub async fn write_secret_string(
    aws: &SdkConfig,
    arn: &str,
    what: &str,
    value: &SecretString,
) -> Result<(), StartupError> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    client.put_secret_value().secret_id(arn).secret_string(value.expose()).send().await.map_err(|e| {
        StartupError::Init(format!(
            "{what}: cannot store the secret: {}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
        ))
    })?;
    Ok(())
}

fn token_from_secret_string(raw: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(map)) => ["token", "secret", "CLOUDFLARE_API_TOKEN"]
            .iter()
            .find_map(|k| map.get(*k).and_then(|v| v.as_str()))
            .unwrap_or_default()
            .to_owned(),
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_and_json_secrets() {
        assert_eq!(token_from_secret_string("abc123"), "abc123");
        assert_eq!(token_from_secret_string(r#"{"token":"abc"}"#), "abc");
        assert_eq!(token_from_secret_string(r#"{"CLOUDFLARE_API_TOKEN":"xyz"}"#), "xyz");
        assert_eq!(token_from_secret_string(r#"{"other":"xyz"}"#), "");
    }
}
