//! The `api` function (behind a Function URL, payload format 2.0): signed-in app users upload
//! straight to S3 into their own space, and get playback URLs of the videos they may watch,
//! signed when the video is private. Every request is authenticated first, whatever its route, so
//! an unauthenticated caller learns nothing (not even which routes exist).
//!
//! - `POST /uploads` → 201 with a presigned PUT (or, above the multipart threshold, part URLs);
//! - `POST /uploads/{id}/parts` → 200 with fresh URLs of the parts not uploaded yet;
//! - `POST /uploads/{id}/complete` → 200 once every part is there (and again on a retry);
//! - `GET /videos/{video_uid}/playback` → 200 with URLs (signed for private videos).

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlRequest;
use base64::Engine;
use serde_json::{Map, Value, json};
use tracing::{info, warn};

use crate::domain::ids::VideoUid;
use crate::domain::object::source_uri;
use crate::domain::record::{Status, VideoRecord};
use crate::domain::upload::{
    MultipartHandle, UploadLimits, UploadPlan, UploadRefusal, UploadRequest, UploadedPart, admit, metadata_label,
    object_name, parts_to_complete, space_of, upload_key,
};
use crate::ports::{
    AuthRejection, Caller, Clock, ObjectUpload, PlaybackSignError, PlaybackSigner, SignedRequest, SystemClock,
    TokenVerifier, UploadSigner, UploadStoreError, VideoRecords,
};

/// Who may watch a video (`PLAYBACK_ACCESS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlaybackAccess {
    /// Only its owner (the uploader's `sub`).
    #[default]
    Owner,
    /// Anyone signed in.
    AnyAuthenticated,
}

impl PlaybackAccess {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "owner" => Some(Self::Owner),
            "any-authenticated" => Some(Self::AnyAuthenticated),
            _ => None,
        }
    }
}

/// The API's configuration, as the use case needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// The bucket the uploads go to (what the logs' `source` names).
    pub upload_bucket: String,
    /// `UPLOAD_PREFIX`: uploads go to `{prefix}{space of sub}/{server-chosen name}`.
    pub upload_prefix: String,
    pub limits: UploadLimits,
    /// `UPLOAD_URL_TTL_SECONDS`.
    pub upload_url_ttl: Duration,
    pub playback_access: PlaybackAccess,
    /// `PLAYBACK_TOKEN_TTL_SECONDS`.
    pub playback_token_ttl: Duration,
}

/// The largest request body read (a JSON object of three fields needs far less).
const MAX_BODY_BYTES: usize = 16 * 1024;

/// One HTTP answer (a Function URL response).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Value,
    /// Extra headers (`WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiResponse {
    fn json(status: u16, body: Value) -> Self {
        Self { status, body, headers: Vec::new() }
    }

    fn error(status: u16, message: impl Into<String>) -> Self {
        Self::json(status, json!({ "error": message.into() }))
    }

    /// RFC 6750 §3: a missing or bad token is `invalid_token`, whatever the check that failed.
    fn unauthorized(reason: &str) -> Self {
        let mut response = Self::error(401, reason);
        response.headers.push(("www-authenticate", r#"Bearer error="invalid_token""#.to_owned()));
        response
    }

    /// The Function URL response (payload format 2.0). Never cached: the bodies carry credentials.
    pub fn into_function_url(self) -> Value {
        let mut headers = Map::new();
        headers.insert("content-type".into(), "application/json".into());
        headers.insert("cache-control".into(), "no-store".into());
        for (name, value) in self.headers {
            headers.insert(name.into(), value.into());
        }
        json!({
            "statusCode": self.status,
            "headers": headers,
            "body": self.body.to_string(),
            "isBase64Encoded": false,
        })
    }
}

pub struct ApiHandler<A, U, R, P> {
    auth: A,
    uploads: U,
    records: R,
    playback: P,
    settings: ApiSettings,
    clock: Arc<dyn Clock>,
}

impl<A: TokenVerifier, U: UploadSigner, R: VideoRecords, P: PlaybackSigner> ApiHandler<A, U, R, P> {
    pub fn new(auth: A, uploads: U, records: R, playback: P, settings: ApiSettings) -> Self {
        Self { auth, uploads, records, playback, settings, clock: Arc::new(SystemClock) }
    }

    /// The same handler on another clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The ports, for tests to look at what was asked of them.
    pub fn auth(&self) -> &A {
        &self.auth
    }

    pub fn uploads(&self) -> &U {
        &self.uploads
    }

    pub fn records(&self) -> &R {
        &self.records
    }

    pub fn playback_signer(&self) -> &P {
        &self.playback
    }

    /// Handles one Function URL request. Always an HTTP answer: a function error would reach the
    /// client as an opaque 502.
    pub async fn handle(&self, request: &Value) -> Value {
        self.respond(request).await.into_function_url()
    }

    /// The answer to one request; its route and status go to the invocation's metrics
    /// (`ApiRequests`), whatever the answer (an unauthenticated request's too).
    pub async fn respond(&self, request: &Value) -> ApiResponse {
        // Read from the payload in place (no copy of its body).
        let (route, response) = match <LambdaFunctionUrlRequest as serde::Deserialize>::deserialize(request) {
            Ok(request) => {
                let path = path_of(&request);
                let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
                (route_name(&segments), self.answer(&request, &segments).await)
            }
            Err(_) => ("unknown", ApiResponse::error(400, "not a Function URL request")),
        };
        crate::metrics::record(|m| m.api_request(route, response.status));
        response
    }

    async fn answer(&self, request: &LambdaFunctionUrlRequest, segments: &[&str]) -> ApiResponse {
        let token = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            warn!("API request without a bearer token");
            return ApiResponse::unauthorized("an Authorization: Bearer <token> header is required");
        };
        let caller = match self.auth.verify(token).await {
            Ok(caller) => caller,
            Err(AuthRejection::InvalidToken(reason)) => {
                // The reason names the failed check; the token itself is never logged.
                warn!(reason = %reason, "API request with an invalid token");
                return ApiResponse::unauthorized("the bearer token is not valid");
            }
            Err(AuthRejection::Unavailable(reason)) => {
                warn!(reason = %reason, "cannot verify tokens now");
                return ApiResponse::error(503, "cannot verify the token right now; retry");
            }
        };
        let method = request.request_context.http.method.clone().unwrap_or_default().to_ascii_uppercase();
        let span = tracing::info_span!("api", method = %method, route = route_name(segments), owner = %caller.subject);
        let _guard = span.enter();
        let response = match (method.as_str(), segments) {
            ("POST", ["uploads"]) => match body_of(request) {
                Ok(body) => self.create_upload(&caller, &body).await,
                Err(response) => response,
            },
            ("POST", ["uploads", id, "complete"]) => self.complete_upload(&caller, id).await,
            ("POST", ["uploads", id, "parts"]) => self.renew_parts(&caller, id).await,
            ("GET", ["videos", uid, "playback"]) => self.playback(&caller, uid).await,
            (_, ["uploads"] | ["uploads", _, "complete" | "parts"] | ["videos", _, "playback"]) => {
                ApiResponse::error(405, format!("{method} is not allowed here"))
            }
            _ => ApiResponse::error(404, "no such route"),
        };
        info!(status = response.status, "API request answered");
        response
    }

    async fn create_upload(&self, caller: &Caller, body: &[u8]) -> ApiResponse {
        let request: UploadRequest = match serde_json::from_slice(body) {
            Ok(request) => request,
            Err(e) => {
                return ApiResponse::error(
                    400,
                    format!(
                        "the body must be a JSON object {{\"filename\", \"size\", \"content_type\"}}: {}",
                        crate::domain::object::truncate_for_message(&e.to_string())
                    ),
                );
            }
        };
        let admitted = match admit(&request, &self.settings.limits) {
            Ok(admitted) => admitted,
            Err(UploadRefusal::Invalid(m)) => return ApiResponse::error(400, m),
            Err(UploadRefusal::TooLarge(m)) => return ApiResponse::error(413, m),
        };
        let now_ms = self.clock.now_ms();
        let name = object_name(now_ms, fastrand::u64(..), &admitted.extension);
        let key = upload_key(&self.settings.upload_prefix, &caller.subject, &name);
        let label = metadata_label(&admitted.label);
        let upload =
            ObjectUpload { key: &key, content_type: &admitted.content_type, size: admitted.size, label: &label };
        let ttl = self.settings.upload_url_ttl;
        let expires_at = rfc3339(now_ms + ttl.as_millis() as i64);
        let upload_body = match admitted.plan {
            UploadPlan::Single => match self.uploads.presign_put(&upload, ttl).await {
                Ok(signed) => signed_json(&signed),
                Err(e) => return store_failure(&e),
            },
            UploadPlan::Multipart { part_bytes, .. } => {
                match self.multipart(&upload, &space_of(&caller.subject), &name, part_bytes).await {
                    Ok(body) => body,
                    Err(e) => return store_failure(&e),
                }
            }
        };
        info!(source = %source_uri(&self.settings.upload_bucket, &key), size = admitted.size, multipart = matches!(admitted.plan, UploadPlan::Multipart { .. }), "upload URL issued");
        ApiResponse::json(201, json!({ "key": key, "upload": upload_body, "expires_at": expires_at }))
    }

    async fn multipart(
        &self,
        upload: &ObjectUpload<'_>,
        space: &str,
        name: &str,
        part_bytes: u64,
    ) -> Result<Value, UploadStoreError> {
        let upload_id = self.uploads.start_multipart(upload).await?;
        let handle = MultipartHandle {
            space: space.to_owned(),
            name: name.to_owned(),
            size: upload.size,
            part_bytes,
            upload_id,
        };
        let urls = self.part_urls(upload.key, &handle, 1..=handle.parts()).await?;
        let id = handle.encode();
        Ok(json!({
            "method": "MULTIPART",
            "upload_id": id,
            "part_size": part_bytes,
            "parts": urls,
            "complete": { "method": "POST", "path": format!("/uploads/{id}/complete") },
            "renew": { "method": "POST", "path": format!("/uploads/{id}/parts") },
        }))
    }

    /// A presigned PUT for each of `numbers`, each admitting exactly its planned length.
    async fn part_urls(
        &self,
        key: &str,
        handle: &MultipartHandle,
        numbers: impl IntoIterator<Item = u64>,
    ) -> Result<Vec<Value>, UploadStoreError> {
        let ttl = self.settings.upload_url_ttl;
        let mut urls = Vec::new();
        for number in numbers {
            let size = handle.part_size(number);
            let signed = self.uploads.presign_part(key, &handle.upload_id, number, size, ttl).await?;
            let mut part = signed_json(&signed);
            part["part_number"] = json!(number);
            part["size"] = json!(size);
            urls.push(part);
        }
        Ok(urls)
    }

    /// The caller's own open upload of handle `id`, and its key; `None`: "no such upload".
    fn own_upload(&self, caller: &Caller, id: &str) -> Option<(MultipartHandle, String)> {
        // Only its uploader uses a handle; the key is rebuilt in the caller's own space, so another
        // user's handle names a key S3 has no upload for.
        let handle = MultipartHandle::decode(id).filter(|h| h.space == space_of(&caller.subject))?;
        let key = upload_key(&self.settings.upload_prefix, &caller.subject, &handle.name);
        Some((handle, key))
    }

    /// Where an upload stands: open with the parts S3 lists, or completed before. S3 forgets a
    /// completed upload id (NoSuchUpload; some S3 peers list it as open with no parts), and its
    /// object, of the declared size, is then at the key, which is the server's and unique to the
    /// upload. `Err`: the answer to give (404 for an upload S3 never had or aborted, 503 …).
    async fn upload_state(&self, key: &str, handle: &MultipartHandle) -> Result<UploadState, ApiResponse> {
        match self.uploads.uploaded_parts(key, &handle.upload_id).await {
            // Most often an upload whose first part has not arrived yet: if the object cannot be
            // looked for, it is treated as that (open), not failed.
            Ok(parts) if parts.is_empty() => match self.completed_before(key, handle).await {
                Ok(true) => Ok(UploadState::Completed),
                Ok(false) => Ok(UploadState::Open(parts)),
                Err(_) => {
                    warn!(
                        source = %source_uri(&self.settings.upload_bucket, key),
                        "cannot tell whether an upload listed without parts was completed: taken as open"
                    );
                    Ok(UploadState::Open(parts))
                }
            },
            Ok(parts) => Ok(UploadState::Open(parts)),
            Err(UploadStoreError::NoSuchUpload) => match self.completed_before(key, handle).await {
                Ok(true) => Ok(UploadState::Completed),
                Ok(false) => Err(ApiResponse::error(404, "no such upload")),
                Err(answer) => Err(answer),
            },
            Err(e) => Err(store_failure(&e)),
        }
    }

    async fn completed_before(&self, key: &str, handle: &MultipartHandle) -> Result<bool, ApiResponse> {
        match self.uploads.object_size(key).await {
            Ok(size) => Ok(size == Some(handle.size)),
            Err(e) => Err(store_failure(&e)),
        }
    }

    /// `POST /uploads/{id}/parts`: fresh URLs for the parts not uploaded yet, for an upload that
    /// outlasts `UPLOAD_URL_TTL_SECONDS` (S3 refuses a part whose URL expired before it started).
    async fn renew_parts(&self, caller: &Caller, id: &str) -> ApiResponse {
        let Some((handle, key)) = self.own_upload(caller, id) else {
            return ApiResponse::error(404, "no such upload");
        };
        let uploaded = match self.upload_state(&key, &handle).await {
            Ok(UploadState::Open(parts)) => parts,
            Ok(UploadState::Completed) => return ApiResponse::error(409, "the upload is already complete"),
            Err(answer) => return answer,
        };
        let missing = match parts_to_complete(handle.parts(), &uploaded) {
            Ok(_) => Vec::new(),
            Err(missing) => missing,
        };
        let urls = match self.part_urls(&key, &handle, missing).await {
            Ok(urls) => urls,
            Err(e) => return store_failure(&e),
        };
        let expires_at = rfc3339(self.clock.now_ms() + self.settings.upload_url_ttl.as_millis() as i64);
        info!(source = %source_uri(&self.settings.upload_bucket, &key), parts = urls.len(), "part URLs renewed");
        ApiResponse::json(200, json!({ "key": key, "parts": urls, "expires_at": expires_at }))
    }

    /// `POST /uploads/{id}/complete`. Idempotent: a retry after a 200 that never reached the client
    /// gets the same 200, instead of a 404 that would have it upload gigabytes again.
    async fn complete_upload(&self, caller: &Caller, id: &str) -> ApiResponse {
        let Some((handle, key)) = self.own_upload(caller, id) else {
            return ApiResponse::error(404, "no such upload");
        };
        let completed = || ApiResponse::json(200, json!({ "key": key, "parts": handle.parts() }));
        let uploaded = match self.upload_state(&key, &handle).await {
            Ok(UploadState::Open(parts)) => parts,
            Ok(UploadState::Completed) => {
                info!(source = %source_uri(&self.settings.upload_bucket, &key), "multipart upload completed before");
                return completed();
            }
            Err(answer) => return answer,
        };
        let parts = match parts_to_complete(handle.parts(), &uploaded) {
            Ok(parts) => parts,
            Err(missing) => {
                return ApiResponse::json(
                    409,
                    json!({ "error": format!("{} of {} parts are not uploaded yet", missing.len(), handle.parts()), "missing_parts": missing }),
                );
            }
        };
        match self.uploads.complete_multipart(&key, &handle.upload_id, &parts).await {
            Ok(()) => {}
            // A concurrent complete won the race: the same answer once its object is there.
            Err(UploadStoreError::NoSuchUpload) => {
                return match self.completed_before(&key, &handle).await {
                    Ok(true) => completed(),
                    Ok(false) => ApiResponse::error(404, "no such upload"),
                    Err(answer) => answer,
                };
            }
            Err(e) => return store_failure(&e),
        }
        info!(source = %source_uri(&self.settings.upload_bucket, &key), parts = parts.len(), "multipart upload completed");
        completed()
    }

    async fn playback(&self, caller: &Caller, uid: &str) -> ApiResponse {
        let Ok(uid) = VideoUid::parse(uid) else {
            return ApiResponse::error(404, "no such video");
        };
        let records = match self.records.records_of_video(&uid).await {
            Ok(records) => records,
            Err(e) => {
                warn!(error = %e, "cannot read the video's record");
                return ApiResponse::error(503, "cannot read the video right now; retry");
            }
        };
        // The record that holds the video now (a replaced version's record no longer does).
        let Some(record) =
            records.into_iter().find(|r| r.status != Status::Deleted && r.video_uid.as_ref() == Some(&uid))
        else {
            return ApiResponse::error(404, "no such video");
        };
        let span = tracing::info_span!("video", source = %record.source, video_uid = %uid);
        let _guard = span.enter();
        if !may_watch(self.settings.playback_access, caller, &record) {
            warn!("playback refused: not the owner");
            return ApiResponse::error(403, "this video is not yours to watch");
        }
        if !matches!(record.status, Status::Submitted | Status::Ready) || record.hls_url.is_none() {
            return ApiResponse::json(
                409,
                json!({ "error": "the video cannot be played", "status": record.status.as_str() }),
            );
        }
        let (urls, expires_at) = if record.signed_playback {
            let expires_at_s = self.clock.now_ms() / 1000 + self.settings.playback_token_ttl.as_secs() as i64;
            match self.playback.signed_urls(&record, expires_at_s) {
                Ok(urls) => (urls, Some(rfc3339(expires_at_s * 1000))),
                Err(e @ PlaybackSignError::Unconfigured(_)) => {
                    warn!(error = %e, "cannot sign playback");
                    return ApiResponse::error(503, "private playback is not set up for this video's provider");
                }
                Err(e @ PlaybackSignError::Unsignable(_)) => {
                    warn!(error = %e, "cannot sign playback");
                    return ApiResponse::error(500, "cannot sign this video's playback URLs");
                }
            }
        } else {
            let urls = crate::ports::PlaybackUrls {
                hls_url: record.hls_url.clone(),
                dash_url: record.dash_url.clone(),
                thumbnail_url: record.thumbnail_url.clone(),
            };
            (urls, None)
        };
        info!(signed = record.signed_playback, "playback URLs issued");
        ApiResponse::json(
            200,
            json!({
                "video_uid": uid.as_str(),
                "provider": record.provider.as_str(),
                "status": record.status.as_str(),
                "hls_url": urls.hls_url,
                "dash_url": urls.dash_url,
                "thumbnail_url": urls.thumbnail_url,
                "expires_at": expires_at,
            }),
        )
    }
}

/// The access rule: the owner, or anyone signed in when so configured. A video without an owner
/// (a staff upload) is nobody's under `owner`.
pub fn may_watch(access: PlaybackAccess, caller: &Caller, record: &VideoRecord) -> bool {
    match access {
        PlaybackAccess::AnyAuthenticated => true,
        PlaybackAccess::Owner => record.owner.as_deref() == Some(caller.subject.as_str()),
    }
}

/// The request's path.
fn path_of(request: &LambdaFunctionUrlRequest) -> String {
    request.raw_path.clone().or_else(|| request.request_context.http.path.clone()).unwrap_or_default()
}

/// A route's name for the logs and the metrics: never the path itself (a multipart handle is in it).
fn route_name(segments: &[&str]) -> &'static str {
    match segments {
        ["uploads"] => "create-upload",
        ["uploads", _, "complete"] => "complete-upload",
        ["uploads", _, "parts"] => "renew-parts",
        ["videos", _, "playback"] => "playback",
        _ => "unknown",
    }
}

fn body_of(request: &LambdaFunctionUrlRequest) -> Result<Vec<u8>, ApiResponse> {
    let text = request.body.as_deref().unwrap_or_default();
    let bytes = if request.is_base64_encoded {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| ApiResponse::error(400, "the body is not valid base64"))?
    } else {
        text.as_bytes().to_vec()
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiResponse::error(413, format!("the body is larger than {MAX_BODY_BYTES} bytes")));
    }
    Ok(bytes)
}

fn signed_json(signed: &SignedRequest) -> Value {
    let headers: Map<String, Value> =
        signed.headers.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
    json!({ "method": signed.method, "url": signed.url.expose(), "headers": headers })
}

/// A multipart upload as S3 has it.
enum UploadState {
    /// Open, with the parts uploaded so far.
    Open(Vec<UploadedPart>),
    /// Completed by an earlier call.
    Completed,
}

fn store_failure(e: &UploadStoreError) -> ApiResponse {
    warn!(error = %e, "the upload bucket refused or failed");
    match e {
        UploadStoreError::Unavailable(_) => ApiResponse::error(503, "the upload store is unavailable; retry"),
        UploadStoreError::NoSuchUpload => ApiResponse::error(404, "no such upload"),
        UploadStoreError::Refused(reason) => ApiResponse::error(409, reason.clone()),
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
