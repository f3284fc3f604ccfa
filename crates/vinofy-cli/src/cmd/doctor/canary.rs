//! `vinofy doctor --canary`: a tiny real video through the live pipeline. It is uploaded under
//! `SOURCE_PREFIX` + `doctor-canary/<time>.mp4`; its record must become `submitted` (the bucket
//! notification reached the ingest function, which presigned a GET and called `/copy`), then
//! `ready` (Cloudflare fetched the presigned URL, encoded it, and its signed webhook reached the
//! webhook function); then the object is deleted and the record must become `deleted` (the deletion
//! sync deleted the video). Each stage is timed. When the fetch fails, the record's error and
//! Cloudflare's own `status.errorReasonCode` / `errorReasonText` are quoted: that answers whether
//! Stream can fetch our GET-presigned URLs (it documents HEAD and ranged GETs, and a URL presigned
//! for GET answers HEAD with 403).
//!
//! `canary.mp4` (1.8 KB, 1 s of 64x64 H.264) was made with
//! `ffmpeg -f lavfi -i "color=c=0x7b1e3a:s=64x64:r=10:d=1" -c:v libx264 -preset veryslow -crf 40
//! -pix_fmt yuv420p -movflags +faststart -an canary.mp4`.

use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};
use vinofy_core::domain::record::{Status, VideoRecord};
use vinofy_core::domain::scrub::scrub_provider_text;
use vinofy_core::paced::CallKind;
use vinofy_core::ports::VideoRecords;

use super::{CALL_TIMEOUT, Check, Live, env};
use crate::settings;

pub const CANARY_MP4: &[u8] = include_bytes!("canary.mp4");
const POLL: Duration = Duration::from_millis(250);

struct Stages {
    started: Instant,
    list: Vec<Value>,
    text: Vec<String>,
}

impl Stages {
    fn done(&mut self, stage: &str, note: impl Into<String>) {
        let ms = self.started.elapsed().as_millis() as u64;
        let note = note.into();
        self.text.push(format!("{stage} +{:.1} s", ms as f64 / 1000.0));
        self.list.push(json!({"stage": stage, "at_ms": ms, "note": note}));
    }
}

pub async fn run(live: &Live, timeout: Duration) -> Check {
    let (Some(bucket), Some(store)) = (live.inputs.get("UploadBucketName"), live.store.as_ref()) else {
        return Check::fail("canary", "not run: the bucket and the table must be known", "give --outputs FILE");
    };
    let prefix = env("SOURCE_PREFIX").unwrap_or_default();
    let key = format!("{prefix}doctor-canary/{}.mp4", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"));
    let source = vinofy_core::domain::object::source_uri(bucket, &key);
    let s3 = settings::s3_client(&live.aws);
    let mut stages = Stages { started: Instant::now(), list: Vec::new(), text: Vec::new() };

    if let Err(e) = s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("video/mp4")
        .body(ByteStream::from_static(CANARY_MP4))
        .send()
        .await
    {
        return finish(
            stages,
            Err((
                format!("PutObject s3://{bucket}/{key}: {}", crate::error::describe_aws(&e)),
                "grant the operator s3:PutObject on UploadBucket/${UploadPrefix}doctor-canary/*".into(),
            )),
            &key,
        );
    }
    stages.done("uploaded", format!("s3://{bucket}/{key}, {} bytes", CANARY_MP4.len()));

    let outcome = follow(live, store, &source, timeout, &mut stages).await;
    // Whatever happened, the object goes: the deletion sync removes the video and marks the record.
    let delete = s3.delete_object().bucket(bucket).key(&key).send().await;
    let outcome = match (outcome, delete) {
        (Ok(uid), Ok(_)) => deleted(live, store, &source, uid, timeout, &mut stages).await,
        (Ok(_), Err(e)) => Err((
            format!("DeleteObject: {}", crate::error::describe_aws(&e)),
            "grant the operator s3:DeleteObject on UploadBucket/${UploadPrefix}doctor-canary/*, then delete the \
             canary object by hand"
                .into(),
        )),
        (Err(failure), _) => Err(failure),
    };
    finish(stages, outcome, &key)
}

fn finish(stages: Stages, outcome: Result<(), (String, String)>, key: &str) -> Check {
    let summary = stages.text.join(", ");
    let extra = json!({"key": key, "stages": stages.list});
    let mut check = match outcome {
        Ok(()) => Check::pass("canary", format!("{key}: {summary}")),
        Err((detail, fix)) => {
            let detail = if summary.is_empty() { detail } else { format!("{detail} (after {summary})") };
            Check::fail("canary", detail, fix)
        }
    };
    check.extra = Some(extra);
    check
}

async fn record(store: &vinofy_adapters::DynamoVideoStore, source: &str) -> Option<VideoRecord> {
    store.record(source).await.ok().flatten()
}

/// Waits for `submitted` then `ready`; the video's uid on success.
async fn follow(
    live: &Live,
    store: &vinofy_adapters::DynamoVideoStore,
    source: &str,
    timeout: Duration,
    stages: &mut Stages,
) -> Result<Option<vinofy_core::domain::ids::VideoUid>, (String, String)> {
    let deadline = Instant::now() + timeout;
    let mut submitted = false;
    let mut last: Option<VideoRecord> = None;
    while Instant::now() < deadline {
        if let Some(r) = record(store, source).await {
            if !submitted && r.status != Status::Pending {
                submitted = true;
                let uid = r.video_uid.as_ref().map_or("no video".to_owned(), |u| u.to_string());
                stages.done("submitted", format!("video {uid}"));
            }
            match r.status {
                Status::Ready => {
                    stages.done("ready", r.hls_url.clone().unwrap_or_default());
                    return Ok(r.video_uid);
                }
                Status::Error => return Err(fetch_failed(live, &r).await),
                Status::Failed => {
                    return Err((
                        format!(
                            "the ingest function could not submit it: {}",
                            r.error.as_deref().or(r.last_error.as_deref()).unwrap_or("no reason recorded")
                        ),
                        "fix the cause (the token, the provider's limits), then `vinofy backfill --retry-failed`"
                            .into(),
                    ));
                }
                _ => {}
            }
            last = Some(r);
        }
        tokio::time::sleep(POLL).await;
    }
    Err(match last {
        None => (
            format!("no record after {} s: the upload never reached the ingest function", timeout.as_secs()),
            "check the bucket notification (sam deploy sets it), the ingest queue and FailedEventsQueue \
             (`vinofy redrive --dry-run`), and the ingest function's logs (a placeholder token stops it)"
                .into(),
        ),
        Some(r) => (
            format!(
                "still {} after {} s (stream state {}): no ready webhook came",
                r.status.as_str(),
                timeout.as_secs(),
                r.stream_state.as_deref().unwrap_or("unknown")
            ),
            "check the webhook (vinofy doctor's webhook checks) and the webhook function's logs; `vinofy reconcile` \
             catches records that missed it"
                .into(),
        ),
    })
}

/// A video in `error`: the record's reason and Cloudflare's own words.
async fn fetch_failed(live: &Live, r: &VideoRecord) -> (String, String) {
    let mut detail = format!(
        "the video failed: {} ({})",
        r.stream_error_code.as_deref().unwrap_or("no error code"),
        r.error.as_deref().unwrap_or("no error text")
    );
    if let (Ok((stream, _)), Some(uid)) = (&live.stream, &r.video_uid) {
        match stream.operator_call(CallKind::Other, CALL_TIMEOUT, |s, left| s.video_json(uid, left)).await {
            Ok(Some(video)) => {
                let status = &video["status"];
                let field = |a: &str, b: &str| {
                    status[a].as_str().or_else(|| status[b].as_str()).map(scrub_provider_text).unwrap_or_default()
                };
                detail.push_str(&format!(
                    "; Cloudflare GET /stream/{uid}: state {}, errorReasonCode {}, errorReasonText {:?}",
                    status["state"].as_str().unwrap_or("?"),
                    field("errorReasonCode", "errReasonCode"),
                    field("errorReasonText", "errReasonText")
                ));
            }
            Ok(None) => detail.push_str(&format!("; Cloudflare no longer has video {uid}")),
            Err(e) => detail.push_str(&format!("; GET /stream/{uid}: {e}")),
        }
    }
    let fix = if r.stream_error_code.as_deref() == Some("ERR_FETCH_ORIGIN_ERROR") {
        "Cloudflare could not fetch the presigned GET URL. If its reason names HEAD (or ranges), Stream refuses \
         URLs presigned for GET (they answer HEAD with 403): serve the sources through a CloudFront signed URL or \
         upload them with TUS from the function (the Stream API notes, §10.2); otherwise check the \
         bucket policy, SSE-KMS and PRESIGN_TTL_SECONDS"
    } else {
        "the source is not a video Cloudflare can encode: see errorReasonCode"
    };
    (detail, fix.into())
}

/// After the delete: the record must become `deleted`, and the video leave Stream.
async fn deleted(
    live: &Live,
    store: &vinofy_adapters::DynamoVideoStore,
    source: &str,
    uid: Option<vinofy_core::domain::ids::VideoUid>,
    timeout: Duration,
    stages: &mut Stages,
) -> Result<(), (String, String)> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if record(store, source).await.is_some_and(|r| r.status == Status::Deleted) {
            let gone = match (&live.stream, &uid) {
                (Ok((stream, _)), Some(uid)) => {
                    match stream.operator_call(CallKind::Other, CALL_TIMEOUT, |s, left| s.video_json(uid, left)).await {
                        Ok(None) => "record deleted, video gone from Stream".to_owned(),
                        Ok(Some(_)) => {
                            return Err((
                                format!("the record is deleted but Stream still has video {uid}"),
                                "run `vinofy reconcile` (it deletes replaced videos); check the ingest function's logs"
                                    .into(),
                            ));
                        }
                        Err(e) => format!("record deleted (GET /stream/{uid}: {e})"),
                    }
                }
                _ => "record deleted".to_owned(),
            };
            stages.done("deleted", gone);
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
    Err((
        format!("the object is deleted but its record is not `deleted` after {} s", timeout.as_secs()),
        "the bucket must notify s3:ObjectRemoved:* too (the deletion sync); check the ingest function's logs".into(),
    ))
}
