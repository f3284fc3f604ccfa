//! The `api` Lambda function (behind a Function URL): signed-in app users' uploads and playback.

use vinofy_adapters::api::{ApiConfig, build_api};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    vinofy_ingest::lambda::run_function_url("api", async { build_api(ApiConfig::from_env()?).await }).await
}
