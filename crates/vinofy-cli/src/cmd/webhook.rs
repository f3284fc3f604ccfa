//! `vinofy webhook register`: subscribes the webhook function's URL as the account's Stream webhook
//! (`PUT /accounts/{id}/stream/webhook`) and stores the signing secret Cloudflare returns in the
//! secret the `webhook` function reads (`CLOUDFLARE_WEBHOOK_SECRET_ARN`). The secret goes from the
//! answer straight into Secrets Manager: it is never printed.

use std::process::ExitCode;
use std::time::Duration;

use vinofy_adapters::aws_config;
use vinofy_core::paced::CallKind;

use crate::cli::WebhookRegisterArgs;
use crate::error::CliError;
use crate::output::Output;
use crate::settings::env;

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub const HELP: &str = "\
Sets the account's one Stream webhook to --url (PUT /accounts/{id}/stream/webhook with
{\"notificationUrl\": URL}, with CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN[_SECRET_ARN]; CLOUDFLARE_API_URL
for another API base) and stores the signing secret of the answer (result.secret) in --secret-arn with
PutSecretValue. The call takes its slot from the call budget every process shares in VIDEOS_TABLE. The secret is never printed.

Every PUT rotates the secret, even for the same URL: the old one stops verifying at once. The webhook
function reads its secret at start-up, so new instances pick up the new one; running instances answer
401 to deliveries signed with it (Cloudflare delivers again) until they are replaced: update the
function's configuration or redeploy to switch them now. If storing fails, run the command again.

Examples:
  URL=$(aws cloudformation describe-stacks --stack-name vinofy-ingest \\
    --query \"Stacks[0].Outputs[?OutputKey=='WebhookUrl'].OutputValue\" --output text)
  vinofy webhook register --url \"$URL\" --secret-arn <CloudflareWebhookSecretArn output>
  WEBHOOK_URL=$URL CLOUDFLARE_WEBHOOK_SECRET_ARN=arn:... vinofy --json webhook register

Exit status: 0 registered and stored; 1 Cloudflare or Secrets Manager refused; 2 bad usage or configuration.";

/// Stream accepts only public http(s) URLs; a Function URL is https. Plain http is accepted for a
/// loopback host (the local world's Function URL and emulator).
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://").filter(|r| is_loopback(r)))
        .ok_or_else(|| format!("{url:?} is not an https:// URL (the stack output WebhookUrl)"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(format!("{url:?} is not a URL with a host"));
    }
    Ok(())
}

fn is_loopback(rest: &str) -> bool {
    ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|h| rest.strip_prefix(h).is_some_and(|after| after.is_empty() || after.starts_with([':', '/'])))
}

pub async fn run(args: WebhookRegisterArgs, out: &Output) -> Result<ExitCode, CliError> {
    let url = args.url.or_else(|| env("WEBHOOK_URL")).ok_or_else(|| {
        CliError::Usage(
            "name the webhook function's URL: --url URL (or WEBHOOK_URL, the stack output WebhookUrl)".into(),
        )
    })?;
    check_webhook_url(&url).map_err(|e| CliError::Usage(format!("--url: {e}")))?;
    let arn = crate::settings::secret_arn(
        args.secret_arn,
        "CLOUDFLARE_WEBHOOK_SECRET_ARN",
        "the signing secret",
        ", the stack output CloudflareWebhookSecretArn",
    )?;
    let aws = aws_config().await;
    let (stream, cf) = crate::settings::operator_cloudflare(&aws).await?;
    let subscription = stream
        .operator_call(CallKind::Other, CALL_TIMEOUT, |stream, left| stream.register_webhook(&url, left))
        .await
        .map_err(|e| CliError::Fatal(format!("Cloudflare did not register the webhook: {e}")))?;
    let secret = subscription.secret.as_ref().ok_or_else(|| {
        CliError::Fatal(
            "Cloudflare registered the webhook but its answer carries no secret: run the command again".into(),
        )
    })?;
    vinofy_adapters::secrets::write_secret_string(&aws, &arn, "--secret-arn", secret).await.map_err(|e| {
        CliError::Fatal(format!(
            "the webhook is registered and its secret rotated, but the new secret was not stored ({e}); every \
             delivery is refused (401) until it is: run the command again"
        ))
    })?;
    if subscription.notification_url != url {
        out.note(&format!("note: Cloudflare recorded the URL as {} (asked for {url})", subscription.notification_url));
    }
    if out.json {
        out.json_line(&serde_json::json!({
            "account_id": cf.account_id,
            "notification_url": subscription.notification_url,
            "modified": subscription.modified,
            "secret_arn": arn,
            "restart_needed": "the webhook function reads the secret at start-up: new instances use the new one",
        }))?;
    } else {
        out.line(&format!(
            "registered {} as the Stream webhook of account {} and stored its new signing secret in {arn}",
            subscription.notification_url, cf.account_id
        ))?;
        out.line(
            "the webhook function reads the secret at start-up: new instances pick it up; until the running ones \
             are replaced (update the function's configuration, or redeploy) they answer 401 and Cloudflare \
             delivers again",
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_urls_are_https_or_loopback_http() {
        assert!(check_webhook_url("https://abc.lambda-url.eu-west-1.on.aws/").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:4000/").is_ok());
        assert!(check_webhook_url("http://localhost/").is_ok());
        for bad in ["http://example.com/", "ftp://x/", "https://", "https:// x", "abc", "http://127.0.0.1.evil.com/"] {
            assert!(check_webhook_url(bad).is_err(), "{bad}");
        }
    }
}
