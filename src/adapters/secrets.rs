//! Reads the Cloudflare token from Secrets Manager at start-up.

use aws_config::SdkConfig;

use super::StartupError;
use crate::config::validate_token;
use crate::secret::SecretString;

/// Reads the secret: either the token as a plain string, or JSON with a `token` (or
/// `CLOUDFLARE_API_TOKEN`) field, as the console's key/value editor stores it.
pub async fn read_token(aws: &SdkConfig, secret_arn: &str) -> Result<SecretString, StartupError> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let output = client.get_secret_value().secret_id(secret_arn).send().await.map_err(|e| {
        StartupError::Init(format!(
            "CLOUDFLARE_API_TOKEN_SECRET_ARN: cannot read the secret: {}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
        ))
    })?;
    let raw = output
        .secret_string()
        .ok_or_else(|| StartupError::Init("CLOUDFLARE_API_TOKEN_SECRET_ARN: the secret has no string value".into()))?;
    let token = token_from_secret_string(raw);
    Ok(validate_token("CLOUDFLARE_API_TOKEN_SECRET_ARN", &token)?)
}

fn token_from_secret_string(raw: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Object(map)) => ["token", "CLOUDFLARE_API_TOKEN"]
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
