//! The `webhook` Lambda function (behind a Function URL): Cloudflare Stream's readiness webhook.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use vinofy_adapters::build_webhook;
use vinofy_adapters::config::WebhookConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    vinofy_ingest::logging::init();
    let handler = match WebhookConfig::from_env() {
        Ok(config) => build_webhook(config).await,
        Err(e) => Err(e.into()),
    }
    .inspect_err(|e| tracing::error!("cannot start: {e}"))?;
    let handler = &handler;
    let name = &vinofy_ingest::metrics::function_name("webhook", |k| std::env::var(k).ok());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, std::convert::Infallible>(vinofy_ingest::metrics::flushed(name, handler.handle(&event.payload)).await)
    }))
    .await
}
