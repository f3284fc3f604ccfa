//! Every branch of the `api` use case (`vinofy_core::api`) against in-memory ports: routing and
//! authentication, upload admission and planning, multipart completion, playback access and signing.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::{Value, json};
use vinofy_core::api::{ApiHandler, ApiResponse, ApiSettings, PlaybackAccess};
use vinofy_core::domain::ids::VideoUid;
use vinofy_core::domain::provider::Provider;
use vinofy_core::domain::record::{Status, VideoRecord};
use vinofy_core::domain::upload::{MultipartHandle, UploadLimits, space_of};
use vinofy_core::ports::{PlaybackSignError, UploadStoreError};
use vinofy_test_support::memory::{MemoryPlaybackSigner, MemoryRecords, MemoryTokens, MemoryUploads, TokioClock};

const MIB: u64 = 1024 * 1024;
/// 2026-12-01T00:00:00Z
const NOW_MS: i64 = 1_796_083_200_000;
const UID: &str = "0123456789abcdef0123456789abcdef";

type Handler = ApiHandler<MemoryTokens, MemoryUploads, MemoryRecords, MemoryPlaybackSigner>;

fn settings(access: PlaybackAccess) -> ApiSettings {
    ApiSettings {
        upload_bucket: "uploads".into(),
        upload_prefix: "uploads/".into(),
        limits: UploadLimits {
            extensions: vec!["mp4".into(), "mov".into()],
            max_bytes: 100 * MIB,
            multipart_threshold: 10 * MIB,
            part_bytes: 5 * MIB,
        },
        upload_url_ttl: Duration::from_secs(900),
        playback_access: access,
        playback_token_ttl: Duration::from_secs(3600),
    }
}

fn handler(access: PlaybackAccess) -> Handler {
    ApiHandler::new(
        MemoryTokens::default(),
        MemoryUploads::default(),
        MemoryRecords::default(),
        MemoryPlaybackSigner::default(),
        settings(access),
    )
    .with_clock(Arc::new(TokioClock::starting_at(NOW_MS)))
}

fn request(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Value {
    let mut headers = serde_json::Map::new();
    if let Some(token) = token {
        headers.insert("authorization".into(), json!(format!("Bearer {token}")));
    }
    json!({
        "version": "2.0", "rawPath": path, "headers": headers,
        "body": body.map(|b| b.to_string()), "isBase64Encoded": false,
        "requestContext": {"http": {"method": method, "path": path, "sourceIp": "127.0.0.1"}, "timeEpoch": NOW_MS},
    })
}

async fn call(h: &Handler, method: &str, path: &str, as_user: Option<&str>, body: Option<Value>) -> ApiResponse {
    let token = as_user.map(|user| h.auth().token_for(user));
    h.respond(&request(method, path, token.as_deref(), body)).await
}

fn upload_body(filename: &str, size: u64) -> Value {
    json!({"filename": filename, "size": size, "content_type": "video/mp4"})
}

fn record(owner: Option<&str>, status: Status, signed: bool) -> VideoRecord {
    VideoRecord {
        source: "s3://uploads/uploads/x/a.mp4".into(),
        status,
        owner: owner.map(str::to_owned),
        provider: Provider::Cloudflare,
        signed_playback: signed,
        video_uid: Some(VideoUid::parse(UID).unwrap()),
        hls_url: Some(format!("https://videos.test/{UID}/manifest/video.m3u8")),
        dash_url: Some(format!("https://videos.test/{UID}/manifest/video.mpd")),
        thumbnail_url: Some(format!("https://videos.test/{UID}/thumbnails/thumbnail.jpg")),
        ..Default::default()
    }
}

fn playback_path() -> String {
    format!("/videos/{UID}/playback")
}

#[tokio::test(start_paused = true)]
async fn every_route_needs_a_valid_token_first() {
    let h = handler(PlaybackAccess::Owner);
    for (method, path) in
        [("POST", "/uploads"), ("GET", "/videos/x/playback"), ("GET", "/nowhere"), ("DELETE", "/uploads")]
    {
        let r = call(&h, method, path, None, None).await;
        assert_eq!(r.status, 401, "{method} {path}");
        assert_eq!(r.headers, vec![("www-authenticate", r#"Bearer error="invalid_token""#.to_owned())]);
        let r = h.respond(&request(method, path, Some("forged"), None)).await;
        assert_eq!(r.status, 401, "{method} {path} forged");
    }
    // A JWKS outage is not the caller's fault: 503, not 401.
    h.auth().unavailable.store(true, Ordering::SeqCst);
    assert_eq!(call(&h, "POST", "/uploads", Some("alice"), None).await.status, 503);
    h.auth().unavailable.store(false, Ordering::SeqCst);
    assert!(h.uploads().calls.lock().unwrap().is_empty(), "nothing presigned");
    // Authenticated: unknown routes 404, wrong methods 405; not a Function URL request 400.
    assert_eq!(call(&h, "GET", "/nowhere", Some("alice"), None).await.status, 404);
    assert_eq!(call(&h, "DELETE", "/uploads", Some("alice"), None).await.status, 405);
    assert_eq!(call(&h, "POST", &playback_path(), Some("alice"), None).await.status, 405);
    assert_eq!(h.respond(&json!("not an event")).await.status, 400);
}

#[tokio::test(start_paused = true)]
async fn an_upload_is_one_presigned_put_in_the_callers_space() {
    let h = handler(PlaybackAccess::Owner);
    let r = call(&h, "POST", "/uploads", Some("auth0|alice"), Some(upload_body("Notes.MP4", 1234))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.body["key"].as_str().unwrap();
    assert_eq!(
        key,
        format!("uploads/{}/20261201T000000Z-{}.mp4", space_of("auth0|alice"), &key[key.len() - 20..key.len() - 4])
    );
    assert_eq!(r.body["upload"]["method"], "PUT");
    assert_eq!(r.body["upload"]["headers"]["content-length"], "1234");
    assert_eq!(r.body["expires_at"], "2026-12-01T00:15:00Z");
    // Two uploads never share a key.
    let again = call(&h, "POST", "/uploads", Some("auth0|alice"), Some(upload_body("Notes.MP4", 1234))).await;
    assert_ne!(again.body["key"], r.body["key"]);
    // The Function URL answer is never cached (it carries a credential).
    let answer = r.clone().into_function_url();
    assert_eq!(answer["headers"]["cache-control"], "no-store");
    assert_eq!(answer["statusCode"], 201);
}

#[tokio::test(start_paused = true)]
async fn bad_uploads_are_refused_before_anything_is_presigned() {
    let h = handler(PlaybackAccess::Owner);
    for (body, status) in [
        (upload_body("a.txt", 10), 400),
        (upload_body("a.mp4", 0), 400),
        (json!({"filename": "a.mp4"}), 400),
        (upload_body("a.mp4", 100 * MIB + 1), 413),
    ] {
        assert_eq!(call(&h, "POST", "/uploads", Some("alice"), Some(body.clone())).await.status, status, "{body}");
    }
    // A body is bounded, and may come base64-encoded (Function URLs do that for binary bodies).
    let mut big = request("POST", "/uploads", Some(&h.auth().token_for("alice")), None);
    big["body"] = json!("x".repeat(17 * 1024));
    assert_eq!(h.respond(&big).await.status, 413);
    let mut encoded = request("POST", "/uploads", Some(&h.auth().token_for("alice")), None);
    encoded["isBase64Encoded"] = json!(true);
    encoded["body"] = json!("not base64!");
    assert_eq!(h.respond(&encoded).await.status, 400);
    encoded["body"] =
        json!(base64::Engine::encode(&base64::engine::general_purpose::STANDARD, upload_body("a.mp4", 5).to_string()));
    assert_eq!(h.respond(&encoded).await.status, 201);
    assert_eq!(h.uploads().calls.lock().unwrap().len(), 1, "only the valid one was presigned");
}

#[tokio::test(start_paused = true)]
async fn the_upload_stores_failures_are_503_or_409() {
    let h = handler(PlaybackAccess::Owner);
    h.uploads().fail_on.lock().unwrap().insert("presign_put", UploadStoreError::Unavailable("slow down".into()));
    assert_eq!(call(&h, "POST", "/uploads", Some("alice"), Some(upload_body("a.mp4", 5))).await.status, 503);
    let refused = UploadStoreError::Refused("S3 refused it (InvalidRequest)".into());
    h.uploads().fail_on.lock().unwrap().insert("start_multipart", refused);
    let r = call(&h, "POST", "/uploads", Some("alice"), Some(upload_body("a.mp4", 20 * MIB))).await;
    assert_eq!((r.status, r.body["error"].as_str()), (409, Some("S3 refused it (InvalidRequest)")));
}

#[tokio::test(start_paused = true)]
async fn a_multipart_upload_completes_once_every_part_is_there() {
    let h = handler(PlaybackAccess::Owner);
    let r = call(&h, "POST", "/uploads", Some("alice"), Some(upload_body("big.mov", 12 * MIB))).await;
    assert_eq!(r.status, 201);
    let upload = &r.body["upload"];
    assert_eq!(upload["method"], "MULTIPART");
    let sizes: Vec<u64> = upload["parts"].as_array().unwrap().iter().map(|p| p["size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [5 * MIB, 5 * MIB, 2 * MIB]);
    let complete = upload["complete"]["path"].as_str().unwrap().to_owned();
    let handle = MultipartHandle::decode(upload["upload_id"].as_str().unwrap()).unwrap();
    assert_eq!((handle.parts(), handle.space.as_str()), (3, space_of("alice").as_str()));

    let none = call(&h, "POST", &complete, Some("alice"), None).await;
    assert_eq!((none.status, none.body["missing_parts"].clone()), (409, json!([1, 2, 3])), "no part, no object");
    // No part yet, and the object cannot be looked for: taken as open (not a 503).
    h.uploads().fail_on.lock().unwrap().insert("object_size", UploadStoreError::Unavailable("throttled".into()));
    let unsure = call(&h, "POST", &complete, Some("alice"), None).await;
    assert_eq!((unsure.status, unsure.body["missing_parts"].clone()), (409, json!([1, 2, 3])));
    h.uploads().upload_part(&handle.upload_id, 1, 5 * MIB);
    h.uploads().upload_part(&handle.upload_id, 3, 2 * MIB);
    let early = call(&h, "POST", &complete, Some("alice"), None).await;
    assert_eq!((early.status, early.body["missing_parts"].clone()), (409, json!([2])));
    // Fresh URLs for what is missing only (an upload that outlasts its URLs), for its uploader only.
    let renew = upload["renew"]["path"].as_str().unwrap().to_owned();
    let renewed = call(&h, "POST", &renew, Some("alice"), None).await;
    assert_eq!(renewed.status, 200, "{}", renewed.body);
    let numbers: Vec<u64> =
        renewed.body["parts"].as_array().unwrap().iter().map(|p| p["part_number"].as_u64().unwrap()).collect();
    assert_eq!((numbers, renewed.body["parts"][0]["size"].as_u64()), (vec![2], Some(5 * MIB)));
    assert_eq!(call(&h, "POST", &renew, Some("bob"), None).await.status, 404);
    assert_eq!(call(&h, "GET", &renew, Some("alice"), None).await.status, 405);
    // Another user's token, a garbled handle, a handle naming another space: no such upload.
    assert_eq!(call(&h, "POST", &complete, Some("bob"), None).await.status, 404);
    assert_eq!(call(&h, "POST", "/uploads/garbage/complete", Some("alice"), None).await.status, 404);
    let forged = MultipartHandle { space: space_of("alice"), ..handle.clone() }.encode();
    let bobs = MultipartHandle { space: space_of("bob"), ..handle.clone() }.encode();
    assert_eq!(call(&h, "POST", &format!("/uploads/{bobs}/complete"), Some("alice"), None).await.status, 404);
    assert_eq!(forged, upload["upload_id"].as_str().unwrap());

    h.uploads().upload_part(&handle.upload_id, 2, 5 * MIB);
    let done = call(&h, "POST", &complete, Some("alice"), None).await;
    assert_eq!((done.status, done.body["parts"].clone()), (200, json!(3)));
    assert_eq!(h.uploads().completed.lock().unwrap().len(), 1);
    // A retry (the 200 was lost on its way): S3 has forgotten the upload, but its object is there,
    // whole: the same 200, and nothing completed twice.
    let again = call(&h, "POST", &complete, Some("alice"), None).await;
    assert_eq!((again.status, again.body["parts"].clone(), &again.body["key"]), (200, json!(3), &done.body["key"]));
    assert_eq!(h.uploads().completed.lock().unwrap().len(), 1);
    // The object's look-up failing: 503, to retry. An object of another size, or none: no such upload.
    let key = done.body["key"].as_str().unwrap().to_owned();
    h.uploads().fail_on.lock().unwrap().insert("object_size", UploadStoreError::Unavailable("throttled".into()));
    assert_eq!(call(&h, "POST", &complete, Some("alice"), None).await.status, 503);
    h.uploads().objects.lock().unwrap().insert(key.clone(), 12 * MIB - 1);
    assert_eq!(call(&h, "POST", &complete, Some("alice"), None).await.status, 404);
    h.uploads().objects.lock().unwrap().remove(&key);
    assert_eq!(call(&h, "POST", &complete, Some("alice"), None).await.status, 404);
    // Fresh part URLs for a completed upload: 409, nothing signed.
    h.uploads().objects.lock().unwrap().insert(key.clone(), 12 * MIB);
    let signed = h.uploads().calls.lock().unwrap().iter().filter(|c| c.starts_with("presign_part")).count();
    let renewed = call(&h, "POST", &renew, Some("alice"), None).await;
    assert_eq!((renewed.status, renewed.body["error"].as_str()), (409, Some("the upload is already complete")));
    let after = h.uploads().calls.lock().unwrap().iter().filter(|c| c.starts_with("presign_part")).count();
    assert_eq!(after, signed);
}

/// Two completes at once: the one S3 answers "no such upload" (the other completed it) gets the
/// same 200 once the object is there.
#[tokio::test(start_paused = true)]
async fn a_complete_that_loses_the_race_to_another_gets_the_same_answer() {
    let h = handler(PlaybackAccess::Owner);
    let r = call(&h, "POST", "/uploads", Some("alice"), Some(upload_body("big.mov", 12 * MIB))).await;
    let upload = &r.body["upload"];
    let complete = upload["complete"]["path"].as_str().unwrap().to_owned();
    let handle = MultipartHandle::decode(upload["upload_id"].as_str().unwrap()).unwrap();
    for (number, size) in [(1, 5 * MIB), (2, 5 * MIB), (3, 2 * MIB)] {
        h.uploads().upload_part(&handle.upload_id, number, size);
    }
    let key = r.body["key"].as_str().unwrap().to_owned();
    h.uploads().fail_on.lock().unwrap().insert("complete", UploadStoreError::NoSuchUpload);
    h.uploads().objects.lock().unwrap().insert(key.clone(), 12 * MIB);
    let lost = call(&h, "POST", &complete, Some("alice"), None).await;
    assert_eq!((lost.status, lost.body["parts"].clone()), (200, json!(3)), "{}", lost.body);
    assert_eq!(h.uploads().calls.lock().unwrap().last().unwrap(), &format!("object_size {key}"));

    // An S3 peer that lists a completed upload as open with no parts (s3s-fs): the object decides.
    let r = call(&h, "POST", "/uploads", Some("alice"), Some(upload_body("other.mov", 12 * MIB))).await;
    let complete = r.body["upload"]["complete"]["path"].as_str().unwrap().to_owned();
    h.uploads().objects.lock().unwrap().insert(r.body["key"].as_str().unwrap().to_owned(), 12 * MIB);
    let listed_empty = call(&h, "POST", &complete, Some("alice"), None).await;
    assert_eq!((listed_empty.status, listed_empty.body["parts"].clone()), (200, json!(3)));
    assert_eq!(h.uploads().completed.lock().unwrap().len(), 0, "nothing completed again");
}

#[tokio::test(start_paused = true)]
async fn playback_is_for_the_owner_and_signed_when_private() {
    let h = handler(PlaybackAccess::Owner);
    h.records().records.lock().unwrap().push(record(Some("alice"), Status::Ready, true));
    let r = call(&h, "GET", &playback_path(), Some("alice"), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let exp = NOW_MS / 1000 + 3600;
    assert_eq!(r.body["hls_url"], format!("https://videos.test/{UID}/manifest/video.m3u8?token=signed-until-{exp}"));
    assert_eq!(r.body["expires_at"], "2026-12-01T01:00:00Z");
    assert_eq!(r.body["provider"], "cloudflare");
    assert_eq!(call(&h, "GET", &playback_path(), Some("bob"), None).await.status, 403);
    // Unknown and malformed uids: 404.
    assert_eq!(
        call(&h, "GET", "/videos/ffffffffffffffffffffffffffffffff/playback", Some("alice"), None).await.status,
        404
    );
    assert_eq!(call(&h, "GET", "/videos/not-a-uid!/playback", Some("alice"), None).await.status, 404);
}

#[tokio::test(start_paused = true)]
async fn public_videos_get_their_recorded_urls_and_anyone_signed_in_may_watch_when_configured() {
    let h = handler(PlaybackAccess::AnyAuthenticated);
    h.records().records.lock().unwrap().push(record(None, Status::Submitted, false));
    let r = call(&h, "GET", &playback_path(), Some("bob"), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["hls_url"], format!("https://videos.test/{UID}/manifest/video.m3u8"));
    assert_eq!(r.body["expires_at"], Value::Null);
    // Under `owner`, a video without an owner (a staff upload) is nobody's.
    let owner_only = handler(PlaybackAccess::Owner);
    owner_only.records().records.lock().unwrap().push(record(None, Status::Ready, false));
    assert_eq!(call(&owner_only, "GET", &playback_path(), Some("bob"), None).await.status, 403);
}

#[tokio::test(start_paused = true)]
async fn videos_that_cannot_play_or_be_signed_say_why() {
    let h = handler(PlaybackAccess::Owner);
    for status in [Status::Pending, Status::Failed, Status::Error] {
        *h.records().records.lock().unwrap() = vec![record(Some("alice"), status, false)];
        let r = call(&h, "GET", &playback_path(), Some("alice"), None).await;
        assert_eq!((r.status, r.body["status"].as_str()), (409, Some(status.as_str())));
    }
    *h.records().records.lock().unwrap() = vec![record(Some("alice"), Status::Deleted, false)];
    assert_eq!(call(&h, "GET", &playback_path(), Some("alice"), None).await.status, 404);
    *h.records().records.lock().unwrap() = vec![record(Some("alice"), Status::Ready, true)];
    *h.playback_signer().fail_with.lock().unwrap() = Some(PlaybackSignError::Unconfigured(Provider::Mux));
    assert_eq!(call(&h, "GET", &playback_path(), Some("alice"), None).await.status, 503);
    *h.playback_signer().fail_with.lock().unwrap() = Some(PlaybackSignError::Unsignable("no uid in the URL".into()));
    assert_eq!(call(&h, "GET", &playback_path(), Some("alice"), None).await.status, 500);
    h.records().fail_next.store(true, Ordering::SeqCst);
    assert_eq!(call(&h, "GET", &playback_path(), Some("alice"), None).await.status, 503);
}
