//! `vinofy signing-key create`: a playback signing key, created at the provider and stored in the
//! secret the `api` function reads (`STREAM_SIGNING_KEY_SECRET_ARN`, `MUX_SIGNING_KEY_SECRET_ARN`).
//! The private key goes from the provider's answer straight into Secrets Manager: it is never
//! printed, and a key that would not sign is never stored.

use std::process::ExitCode;
use std::time::Duration;

use vinofy_adapters::aws_config;
use vinofy_core::domain::provider::Provider;
use vinofy_core::paced::CallKind;

use crate::cli::SigningKeyArgs;
use crate::error::CliError;
use crate::output::Output;

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(args: SigningKeyArgs, out: &Output) -> Result<ExitCode, CliError> {
    let variable = match args.provider {
        Provider::Cloudflare => "STREAM_SIGNING_KEY_SECRET_ARN",
        Provider::Mux => "MUX_SIGNING_KEY_SECRET_ARN",
    };
    let arn = crate::settings::secret_arn(args.secret_arn, variable, "the key", "")?;
    let aws = aws_config().await;
    // A POST: Mux counts it with the creates.
    let created = match args.provider {
        Provider::Cloudflare => {
            let (stream, _) = crate::settings::operator_cloudflare(&aws).await?;
            stream.operator_call(CallKind::Create, CALL_TIMEOUT, |stream, left| stream.create_signing_key(left)).await
        }
        Provider::Mux => {
            let mux = crate::settings::operator_mux(&aws).await?;
            mux.operator_call(CallKind::Create, CALL_TIMEOUT, |mux, left| mux.create_signing_key(left)).await
        }
    }
    .map_err(|e| CliError::Fatal(format!("the provider did not create a signing key: {e}")))?;
    created.check(variable).map_err(|e| CliError::Fatal(format!("the provider's key is not usable: {e}")))?;
    vinofy_adapters::secrets::write_secret_string(&aws, &arn, "--secret-arn", &created.secret_json)
        .await
        .map_err(|e| CliError::Fatal(e.to_string()))?;
    if out.json {
        out.json_line(
            &serde_json::json!({"provider": args.provider.as_str(), "key_id": created.id, "secret_arn": arn}),
        )?;
    } else {
        out.line(&format!(
            "created {} signing key {} and stored it in {arn}; restart the api function to use it \
             (a new deploy, or its next cold start)",
            args.provider, created.id
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
