//! How a failed invocation is reported to Lambda.

use lambda_runtime::Diagnostic;
use vinofy_core::error::IngestError;

/// An ingest error as Lambda sees it: `errorType` is `Retryable.<Kind>` or `NonRetryable.<Kind>`,
/// so the logs, the failure destination and alarms can tell the classes apart.
#[derive(Debug)]
pub struct FunctionError(pub IngestError);

impl From<IngestError> for FunctionError {
    fn from(e: IngestError) -> Self {
        Self(e)
    }
}

impl From<FunctionError> for Diagnostic {
    fn from(FunctionError(e): FunctionError) -> Self {
        Diagnostic { error_type: e.error_type(), error_message: e.to_string() }
    }
}

/// A function behind a Function URL: one HTTP answer per request, never a function error (which
/// a Function URL would turn into an opaque 502).
pub trait FunctionUrlHandler {
    fn handle(&self, request: &serde_json::Value) -> impl std::future::Future<Output = serde_json::Value>;
}

impl<S: vinofy_core::ports::VideoStateStore, W: vinofy_core::ports::WebhookVerifier> FunctionUrlHandler
    for vinofy_core::webhook::WebhookHandler<S, W>
{
    fn handle(&self, request: &serde_json::Value) -> impl std::future::Future<Output = serde_json::Value> {
        vinofy_core::webhook::WebhookHandler::handle(self, request)
    }
}

impl<A, U, R, P> FunctionUrlHandler for vinofy_core::api::ApiHandler<A, U, R, P>
where
    A: vinofy_core::ports::TokenVerifier,
    U: vinofy_core::ports::UploadSigner,
    R: vinofy_core::ports::VideoRecords,
    P: vinofy_core::ports::PlaybackSigner,
{
    fn handle(&self, request: &serde_json::Value) -> impl std::future::Future<Output = serde_json::Value> {
        vinofy_core::api::ApiHandler::handle(self, request)
    }
}

/// The `main` of a Function URL function (`webhook`, `api`): logging, the handler built once (a
/// start-up failure is logged, naming the variable, and stops init before any request), then each
/// request answered with its metrics flushed.
pub async fn run_function_url<H: FunctionUrlHandler>(
    binary: &str,
    build: impl std::future::Future<Output = Result<H, vinofy_adapters::StartupError>>,
) -> Result<(), lambda_runtime::Error> {
    use lambda_runtime::{LambdaEvent, service_fn};
    crate::logging::init();
    let handler = build.await.inspect_err(|e| tracing::error!("cannot start: {e}"))?;
    let handler = &handler;
    let name = &crate::metrics::function_name(binary, |k| std::env::var(k).ok());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        Ok::<_, std::convert::Infallible>(crate::metrics::flushed(name, handler.handle(&event.payload)).await)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use vinofy_core::domain::event::EventError;
    use vinofy_core::error::StoreError;

    #[test]
    fn diagnostics_name_class_and_kind() {
        let d: Diagnostic =
            FunctionError(IngestError::CopyRejected { source_uri: "s3://b/k".into(), reason: "HTTP 400".into() })
                .into();
        assert_eq!(d.error_type, "NonRetryable.CopyRejected");
        assert!(d.error_message.contains("s3://b/k"));
        let d: Diagnostic = FunctionError(IngestError::Store(StoreError::transient("x"))).into();
        assert_eq!(d.error_type, "Retryable.VideoStore");
        let d: Diagnostic = FunctionError(IngestError::InvalidEvent(EventError("no Records".into()))).into();
        assert_eq!(d.error_type, "NonRetryable.InvalidEvent");
    }
}
