//! S3: [`ObjectPresigner`] (the ingest's GET URLs) and [`UploadSigner`] (the API's uploads).

use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_s3::presigning::PresigningConfig;

use vinofy_core::domain::object::ObjectVersion;
use vinofy_core::domain::upload::UploadedPart;
use vinofy_core::error::PresignError;
use vinofy_core::ports::{ObjectPresigner, ObjectUpload, SignedRequest, UploadSigner, UploadStoreError};
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

/// The metadata key of an upload's original file name (`x-amz-meta-original-filename`).
pub const LABEL_METADATA: &str = "original-filename";

/// [`UploadSigner`] for S3: presigned PUTs and multipart uploads into the upload bucket.
///
/// What the signature binds, so that S3 itself refuses anything else: the method, the bucket and
/// key, the expiry, and the `Content-Type`, `Content-Length` and metadata headers (SigV4 signs
/// every header the presigned request carries; the client must send them as given).
#[derive(Clone, Debug)]
pub struct S3Uploads {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Uploads {
    pub fn new(aws: &SdkConfig, bucket: impl Into<String>) -> Self {
        let config = aws_sdk_s3::config::Builder::from(aws).force_path_style(custom_s3_endpoint()).build();
        Self { client: aws_sdk_s3::Client::from_conf(config), bucket: bucket.into() }
    }
}

fn presigning(ttl: Duration) -> Result<PresigningConfig, UploadStoreError> {
    PresigningConfig::expires_in(ttl).map_err(|e| UploadStoreError::Refused(format!("bad upload URL TTL: {e}")))
}

fn signed(method: &'static str, request: aws_sdk_s3::presigning::PresignedRequest) -> SignedRequest {
    let headers = request
        .headers()
        .filter(|(name, _)| !name.eq_ignore_ascii_case("host"))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect();
    SignedRequest { method, url: PresignedUrl::new(request.uri()), headers }
}

/// S3's refusals as the client should see them; transport failures and throttling as transient.
fn upload_error<E, R>(operation: &str, e: aws_sdk_s3::error::SdkError<E, R>) -> UploadStoreError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_s3::error::SdkError;
    let code = match &e {
        SdkError::ServiceError(service) => service.err().code().map(str::to_owned),
        _ => None,
    };
    let text = aws_sdk_s3::error::DisplayErrorContext(&e).to_string();
    match code.as_deref() {
        Some("NoSuchUpload") => UploadStoreError::NoSuchUpload,
        // What the client's own parts caused: a conflict it can resolve (409).
        Some(code @ ("InvalidPart" | "InvalidPartOrder" | "EntityTooSmall" | "EntityTooLarge")) => {
            UploadStoreError::Refused(format!("{operation}: S3 refused it ({code})"))
        }
        // Throttling, an outage, or our own misconfiguration (AccessDenied, NoSuchBucket, KMS): not
        // the client's doing (503; the log says which).
        _ => UploadStoreError::Unavailable(format!("{operation}: {text}")),
    }
}

impl UploadSigner for S3Uploads {
    async fn presign_put(&self, upload: &ObjectUpload<'_>, ttl: Duration) -> Result<SignedRequest, UploadStoreError> {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(upload.key)
            .content_type(upload.content_type)
            .content_length(upload.size as i64)
            .metadata(LABEL_METADATA, upload.label)
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| upload_error("presign PutObject", e))?;
        Ok(signed("PUT", request))
    }

    async fn start_multipart(&self, upload: &ObjectUpload<'_>) -> Result<String, UploadStoreError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(upload.key)
            .content_type(upload.content_type)
            .metadata(LABEL_METADATA, upload.label)
            .send()
            .await
            .map_err(|e| upload_error("CreateMultipartUpload", e))?;
        out.upload_id.ok_or_else(|| UploadStoreError::Unavailable("CreateMultipartUpload returned no upload id".into()))
    }

    async fn presign_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u64,
        size: u64,
        ttl: Duration,
    ) -> Result<SignedRequest, UploadStoreError> {
        let request = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(number as i32)
            .content_length(size as i64)
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| upload_error("presign UploadPart", e))?;
        Ok(signed("PUT", request))
    }

    async fn uploaded_parts(&self, key: &str, upload_id: &str) -> Result<Vec<UploadedPart>, UploadStoreError> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.take())
                .send()
                .await
                .map_err(|e| upload_error("ListParts", e))?;
            for part in out.parts() {
                // S3 lists every part's ETag; s3s-fs lists none (and ignores them at completion).
                if let Some(number) = part.part_number.filter(|n| *n > 0) {
                    let size = part.size.unwrap_or(0).max(0) as u64;
                    let etag = part.e_tag.clone().unwrap_or_default();
                    parts.push(UploadedPart { number: number as u64, size, etag });
                }
            }
            match (out.is_truncated, out.next_part_number_marker) {
                (Some(true), Some(next)) => marker = Some(next),
                _ => return Ok(parts),
            }
        }
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> Result<(), UploadStoreError> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        let etag = Some(p.etag.clone()).filter(|e| !e.is_empty());
                        CompletedPart::builder().part_number(p.number as i32).set_e_tag(etag).build()
                    })
                    .collect(),
            ))
            .build();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(completed)
            .send()
            .await
            .map_err(|e| upload_error("CompleteMultipartUpload", e))?;
        Ok(())
    }

    /// A listing of the key as a prefix, not a HeadObject: HeadObject needs s3:GetObject (a read
    /// of users' videos the API has no use for), and without s3:ListBucket S3 answers 403, not 404,
    /// for a key that is not there. The listing needs only s3:ListBucket, granted for the users'
    /// folder as a prefix.
    async fn object_size(&self, key: &str) -> Result<Option<u64>, UploadStoreError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(key)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| upload_error("ListObjectsV2", e))?;
        // The first key at or after the prefix: the key itself when it is there.
        Ok(out.contents().first().filter(|o| o.key() == Some(key)).map(|o| o.size.unwrap_or(0).max(0) as u64))
    }
}
