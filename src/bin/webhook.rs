//! The `webhook` Lambda function (behind a Function URL): Cloudflare Stream's and Mux's readiness webhooks.

use vinofy_adapters::build_webhook;
use vinofy_adapters::config::WebhookConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    vinofy_ingest::lambda::run_function_url("webhook", async { build_webhook(WebhookConfig::from_env()?).await }).await
}
