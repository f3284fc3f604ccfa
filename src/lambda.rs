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
