//! Errors that end a command, and the exit status each one means.

use std::process::ExitCode;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use vinofy_adapters::config::ConfigError;

#[derive(Debug)]
pub enum CliError {
    /// A missing or bad variable (the message names it).
    Config(ConfigError),
    /// The clients could not be built (e.g. the token secret could not be read).
    Startup(String),
    /// Bad arguments that clap cannot check alone.
    Usage(String),
    /// A call failed in a way that stops the whole command (listing the bucket, scanning the table).
    Fatal(String),
    /// Nothing found (status).
    NotFound(String),
    /// stdout was closed (e.g. `vinofy export | head`): stop quietly.
    BrokenPipe,
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Config(_) | Self::Startup(_) | Self::Usage(_) => ExitCode::from(2),
            Self::Fatal(_) | Self::NotFound(_) => ExitCode::from(1),
            Self::BrokenPipe => ExitCode::SUCCESS,
        }
    }

    /// The message for stderr (`None`: say nothing).
    pub fn message(&self) -> Option<String> {
        match self {
            Self::Config(e) => Some(e.to_string()),
            Self::Startup(m) => Some(format!("cannot start: {m}")),
            Self::Usage(m) | Self::Fatal(m) | Self::NotFound(m) => Some(m.clone()),
            Self::BrokenPipe => None,
        }
    }
}

impl From<vinofy_core::error::StoreError> for CliError {
    fn from(e: vinofy_core::error::StoreError) -> Self {
        Self::Fatal(e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Self::BrokenPipe
        } else {
            Self::Fatal(format!("cannot write the output: {e}"))
        }
    }
}

/// An AWS SDK error, briefly: the service's code and message when it answered (`NoSuchBucket: The
/// specified bucket does not exist`), else the whole cause chain (connection refused, timeout...).
pub fn describe_aws<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let status = service.raw().status().as_u16();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message} (HTTP {status})"),
                (Some(code), None) => format!("{code} (HTTP {status})"),
                _ => format!("HTTP {status}: {}", DisplayErrorContext(e)),
            }
        }
        other => DisplayErrorContext(other).to_string(),
    }
}
