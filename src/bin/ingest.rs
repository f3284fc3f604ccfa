//! The `ingest` Lambda function: S3 `ObjectCreated` / `ObjectRemoved` → video provider → DynamoDB record.

use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use vinofy_adapters::build_ingest_function;
use vinofy_adapters::config::Config;
use vinofy_core::ingest::Deadline;
use vinofy_ingest::lambda::FunctionError;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    vinofy_ingest::logging::init();
    let function = match Config::from_env() {
        Ok(config) => build_ingest_function(config).await,
        Err(e) => Err(e.into()),
    }
    .inspect_err(|e| tracing::error!("cannot start: {e}"))?;
    let function = &function;
    let name = &vinofy_ingest::metrics::function_name("ingest", |k| std::env::var(k).ok());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = Deadline::from_epoch_ms(event.context.deadline);
        vinofy_ingest::metrics::flushed(name, function.handle(&event.payload, deadline)).await.map_err(FunctionError)
    }))
    .await
}
