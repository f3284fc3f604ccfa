//! [`ObjectPresigner`] for S3.

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::presigning::PresigningConfig;

use vinofy_core::domain::object::ObjectVersion;
use vinofy_core::error::PresignError;
use vinofy_core::ports::ObjectPresigner;
use vinofy_core::secret::PresignedUrl;

#[derive(Clone, Debug)]
pub struct S3Presigner {
    client: aws_sdk_s3::Client,
}

/// Whether S3 requests go to a custom endpoint (a local S3 peer), which wants path-style URLs.
fn custom_s3_endpoint() -> bool {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"].iter().any(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()))
}

impl S3Presigner {
    pub fn new(aws: &SdkConfig) -> Self {
        let config = aws_sdk_s3::config::Builder::from(aws).force_path_style(custom_s3_endpoint()).build();
        Self { client: aws_sdk_s3::Client::from_conf(config) }
    }

    pub fn from_client(client: aws_sdk_s3::Client) -> Self {
        Self { client }
    }
}

impl ObjectPresigner for S3Presigner {
    async fn presign_get(&self, object: &ObjectVersion, ttl: Duration) -> Result<PresignedUrl, PresignError> {
        let presigning =
            PresigningConfig::expires_in(ttl).map_err(|e| PresignError(format!("bad presign TTL: {e}")))?;
        // The decoded key goes to the SDK, which encodes it exactly once. The versionId pins the URL
        // to the version we claimed, even if the key is overwritten before Cloudflare fetches it.
        let request = self
            .client
            .get_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone())
            .presigned(presigning)
            .await
            .map_err(|e| PresignError(aws_sdk_s3::error::DisplayErrorContext(e).to_string()))?;
        Ok(PresignedUrl::new(request.uri()))
    }
}
