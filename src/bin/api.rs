//! The `api` Lambda function (behind a Function URL): signed-in app users' uploads and playback.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use vinofy_adapters::api::{ApiConfig, build_api};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    vinofy_ingest::logging::init();
    let handler = match ApiConfig::from_env() {
        Ok(config) => build_api(config).await,
        Err(e) => Err(e.into()),
    }
    .inspect_err(|e| tracing::error!("cannot start: {e}"))?;
    let handler = &handler;
    let name = &vinofy_ingest::metrics::function_name("api", |k| std::env::var(k).ok());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        Ok::<_, std::convert::Infallible>(vinofy_ingest::metrics::flushed(name, handler.handle(&event.payload)).await)
    }))
    .await
}
