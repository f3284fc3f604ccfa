//! What Cloudflare does after accepting a `/copy`, asynchronously: download the source URL,
//! then "encode" it: `downloading` -> `queued` -> `inprogress` -> `ready`, or `error`.
//! The media is never decoded; the emulator only hashes what it downloaded so that tests can
//! prove the right object reached "Cloudflare".

use sha2::{Digest, Sha256};

use crate::app::SharedApp;
use crate::model::{State, Status, Video};
use crate::webhook;

const FETCH_ERROR_CODE: &str = "ERR_FETCH_ORIGIN_ERROR";
const FETCH_ERROR_TEXT: &str = "The video failed to download from the URL";

/// Starts the background job for a freshly created video.
pub fn spawn(app: SharedApp, uid: String, url: String) {
    tokio::spawn(async move {
        let finished = match fetch(&app.http, &url).await {
            Ok(source) => encode(&app, &uid, source).await,
            Err(failure) => fail(&app, &uid, failure),
        };
        // `None`: deleted or wiped by a reset meanwhile; Cloudflare would not notify either.
        if let Some(video) = finished {
            webhook::notify(&app, &video).await;
        }
    });
}

struct Source {
    status: u16,
    size: u64,
    sha256: String,
}

struct FetchFailure {
    status: Option<u16>,
    error: String,
}

/// A plain GET of the URL exactly as the client sent it, streamed through SHA-256 so that
/// large sources are never held in memory.
async fn fetch(http: &reqwest::Client, url: &str) -> Result<Source, FetchFailure> {
    let failure = |status: Option<u16>, error: String| FetchFailure { status, error };
    let mut response = http.get(url).send().await.map_err(|e| failure(None, describe_error(e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(failure(Some(status.as_u16()), format!("origin answered HTTP {}", status.as_u16())));
    }
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| failure(Some(status.as_u16()), describe_error(e)))? {
        hasher.update(&chunk);
        size += chunk.len() as u64;
    }
    Ok(Source { status: status.as_u16(), size, sha256: hex::encode(hasher.finalize()) })
}

async fn encode(app: &SharedApp, uid: &str, source: Source) -> Option<Video> {
    eprintln!("stream-emulator: video {uid}: fetched {} bytes", source.size);
    app.with_live_record(uid, |record| {
        record.fetch_status = Some(source.status);
        record.source_size = Some(source.size);
        record.source_sha256 = Some(source.sha256);
        record.video.size = source.size;
        set_status(&mut record.video, Status::new(State::Queued, 0.0));
    })?;
    tokio::time::sleep(app.processing_delay).await;
    app.with_live_record(uid, |record| {
        let status = Status { step: Some("encoding"), ..Status::new(State::InProgress, 50.0) };
        set_status(&mut record.video, status);
    })?;
    tokio::time::sleep(app.processing_delay).await;
    app.with_live_record(uid, |record| {
        let video = &mut record.video;
        set_status(video, Status::new(State::Ready, 100.0));
        video.ready_to_stream = true;
        video.ready_to_stream_at = Some(video.modified);
        video.clone()
    })
}

fn fail(app: &SharedApp, uid: &str, failure: FetchFailure) -> Option<Video> {
    eprintln!("stream-emulator: video {uid}: fetch failed: {}", failure.error);
    app.with_live_record(uid, |record| {
        record.fetch_status = failure.status;
        record.fetch_error = Some(failure.error);
        set_status(&mut record.video, Status::failed(FETCH_ERROR_CODE, FETCH_ERROR_TEXT));
        record.video.clone()
    })
}

fn set_status(video: &mut Video, status: Status) {
    video.status = status;
    video.touch();
}

/// An error with its causes, minus the URL: reqwest puts the full URL in `Display`, and a
/// presigned URL is a credential that must not reach logs.
pub fn describe_error(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(&error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}
