//! What Cloudflare does after accepting a `/copy`, asynchronously: download the source URL,
//! then encode it: `downloading` -> `queued` -> `inprogress` -> `ready`, or `error`.
//!
//! The download is hashed as it streams so that tests can prove the right object reached
//! "Cloudflare". With transcoding on (`--transcode`, see `media.rs`) it is also kept on disk and
//! really encoded to HLS: `duration` and `input` come from ffprobe, `pctComplete` follows
//! ffmpeg's progress, and sources ffmpeg cannot handle end in `error`. With transcoding off the
//! media is never decoded and every fetched source becomes `ready`.

use std::path::Path;

use serde_json::Number;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::app::SharedApp;
use crate::media::{Failure, Media, Outputs};
use crate::model::{Dimensions, State, Status, Video};
use crate::webhook;

const FETCH_ERROR_CODE: &str = "ERR_FETCH_ORIGIN_ERROR";
const FETCH_ERROR_TEXT: &str = "The video failed to download from the URL";
/// `pctComplete` while ffmpeg runs stays below this; 100 is reserved for `ready`.
const MAX_ENCODING_PCT: f64 = 99.0;

/// Starts the background job for a freshly created video.
pub fn spawn(app: SharedApp, uid: String, url: String) {
    tokio::spawn(async move {
        let destination = app.media.as_ref().map(|media| media.source_path(&uid));
        let fetched = match app.require_head {
            true => match head(&app.http, &url).await {
                Ok(()) => fetch(&app.http, &url, destination.as_deref()).await,
                Err(failure) => Err(failure),
            },
            false => fetch(&app.http, &url, destination.as_deref()).await,
        };
        let finished = match fetched {
            Ok(source) => match &app.media {
                Some(media) => transcode(&app, media, &uid, source).await,
                None => encode(&app, &uid, source).await,
            },
            Err(failure) => fail(&app, &uid, failure),
        };
        // `None`: deleted or wiped by a reset meanwhile; Cloudflare would not notify either.
        match finished {
            Some(video) => webhook::notify(&app, &video).await,
            None => {
                if let Some(media) = &app.media {
                    media.remove_later(vec![uid]);
                }
            }
        }
    });
}

/// `--require-head on`: Stream documents that the source "must support `HTTP HEAD` requests" (doc
/// §2.1, §10.2); a refused HEAD fails the fetch before any GET. An S3 URL presigned for GET answers
/// HEAD with 403 (SigV4 signs the method), so this is what such a URL meets if Stream insists.
pub async fn head(http: &reqwest::Client, url: &str) -> Result<(), FetchFailure> {
    let response = http.head(url).send().await.map_err(|e| FetchFailure {
        status: None,
        error: format!("HEAD failed: {}", describe_error(e)),
        head: true,
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    Err(FetchFailure {
        status: Some(status.as_u16()),
        error: format!("origin answered HEAD with HTTP {}", status.as_u16()),
        head: true,
    })
}

/// A fetched source: the origin's status, the byte count and their SHA-256 (hex).
pub struct Source {
    pub status: u16,
    pub size: u64,
    pub sha256: String,
}

/// Why a fetch failed: the origin's status when it answered, and a description without the URL.
pub struct FetchFailure {
    pub status: Option<u16>,
    pub error: String,
    /// The HEAD that `--require-head` sends failed (the GET was never sent).
    pub head: bool,
}

/// A plain GET of the URL exactly as the client sent it, streamed through SHA-256 (and into
/// `destination` when given) so that large sources are never held in memory. No HEAD, no Range;
/// redirects are not followed and proxies are ignored (see the client in `App::new`).
pub async fn fetch(http: &reqwest::Client, url: &str, destination: Option<&Path>) -> Result<Source, FetchFailure> {
    let failure = |status: Option<u16>, error: String| FetchFailure { status, error, head: false };
    let mut response = http.get(url).send().await.map_err(|e| failure(None, describe_error(e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(failure(Some(status.as_u16()), format!("origin answered HTTP {}", status.as_u16())));
    }
    let status = status.as_u16();
    let local = |what: &str, error: std::io::Error| failure(Some(status), format!("cannot {what} the source: {error}"));
    let mut file = match destination {
        Some(path) => {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await.map_err(|e| local("store", e))?;
            }
            Some(tokio::fs::File::create(path).await.map_err(|e| local("store", e))?)
        }
        None => None,
    };
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(|e| failure(Some(status), describe_error(e)))? {
        hasher.update(&chunk);
        size += chunk.len() as u64;
        if let Some(file) = &mut file {
            file.write_all(&chunk).await.map_err(|e| local("store", e))?;
        }
    }
    if let Some(file) = &mut file {
        file.flush().await.map_err(|e| local("store", e))?;
    }
    Ok(Source { status, size, sha256: hex::encode(hasher.finalize()) })
}

/// Records the download and moves to `queued`.
fn fetched(app: &SharedApp, uid: &str, source: Source) -> Option<()> {
    crate::elog!("video {uid}: fetched {} bytes", source.size);
    app.with_live_record(uid, |record| {
        record.fetch_status = Some(source.status);
        record.source_size = Some(source.size);
        record.source_sha256 = Some(source.sha256);
        record.video.size = source.size;
        set_status(&mut record.video, Status::new(State::Queued, 0.0));
    })
}

/// Transcoding off: the media is never decoded; `queued` -> `inprogress` (50%) -> `ready`.
async fn encode(app: &SharedApp, uid: &str, source: Source) -> Option<Video> {
    fetched(app, uid, source)?;
    tokio::time::sleep(app.processing_delay).await;
    app.with_live_record(uid, |record| {
        let status = Status { step: Some("encoding"), ..Status::new(State::InProgress, 50.0) };
        set_status(&mut record.video, status);
    })?;
    tokio::time::sleep(app.processing_delay).await;
    ready(app, uid)
}

/// Transcoding on: `queued` until a slot is free, `inprogress` while ffprobe and ffmpeg run.
async fn transcode(app: &SharedApp, media: &Media, uid: &str, source: Source) -> Option<Video> {
    fetched(app, uid, source)?;
    tokio::time::sleep(app.processing_delay).await;
    let _slot = media.slot().await;
    let thumbnail_pct = app.with_live_record(uid, |record| {
        let status = Status { step: Some("encoding"), ..Status::new(State::InProgress, 0.0) };
        set_status(&mut record.video, status);
        record.video.thumbnail_timestamp_pct.as_f64().unwrap_or(0.0)
    })?;
    let started = std::time::Instant::now();
    let outcome = async {
        let probe = media.probe(uid).await?;
        app.with_live_record(uid, |record| {
            if let Some(duration) = probe.duration {
                record.video.duration = seconds(duration);
            }
            record.video.input = Dimensions { width: probe.width, height: probe.height };
        });
        let duration = media
            .transcode(uid, probe.duration, Outputs::HLS_AND_DASH, |done| {
                let Some(total) = probe.duration else { return };
                let pct = (done / total * 100.0).clamp(0.0, MAX_ENCODING_PCT);
                app.with_live_record(uid, |record| {
                    let status = Status { step: Some("encoding"), ..Status::new(State::InProgress, pct) };
                    if status.pct_complete != record.video.status.pct_complete {
                        set_status(&mut record.video, status);
                    }
                });
            })
            .await?;
        let duration = probe.duration.unwrap_or(duration);
        // Like Cloudflare: the frame at thumbnailTimestampPct of the duration, clear of the end.
        let at = (thumbnail_pct * duration).min(duration - 0.1).max(0.0);
        media.thumbnail(uid, at).await?;
        Ok::<f64, Failure>(duration)
    }
    .await;
    match outcome {
        Ok(duration) => {
            crate::elog!("video {uid}: transcoded {duration:.3} s in {} ms", started.elapsed().as_millis());
            app.with_live_record(uid, |record| record.video.duration = seconds(duration))?;
            ready(app, uid)
        }
        Err(failure) => {
            crate::elog!("video {uid}: {}: {}", failure.code(), failure.detail());
            app.with_live_record(uid, |record| {
                let pct = record.video.status.pct_complete.clone();
                let status = Status {
                    step: Some("encoding"),
                    pct_complete: pct,
                    ..Status::failed(failure.code(), failure.text())
                };
                record.media_error = Some(failure.detail().to_owned());
                set_status(&mut record.video, status);
                record.video.clone()
            })
        }
    }
}

fn ready(app: &SharedApp, uid: &str) -> Option<Video> {
    app.with_live_record(uid, |record| {
        let video = &mut record.video;
        set_status(video, Status::new(State::Ready, 100.0));
        video.ready_to_stream = true;
        video.ready_to_stream_at = Some(video.modified);
        video.clone()
    })
}

/// Seconds as the JSON number Cloudflare sends (`5.5`), to the millisecond.
fn seconds(value: f64) -> Number {
    Number::from_f64((value * 1000.0).round() / 1000.0).unwrap_or_else(|| Number::from(-1))
}

fn fail(app: &SharedApp, uid: &str, failure: FetchFailure) -> Option<Video> {
    crate::elog!("video {uid}: fetch failed: {}", failure.error);
    app.with_live_record(uid, |record| {
        record.fetch_status = failure.status;
        record.fetch_error = Some(failure.error);
        let text = match (failure.head, failure.status) {
            (true, Some(status)) => format!("{FETCH_ERROR_TEXT}: the origin answered HEAD with HTTP {status}"),
            (true, None) => format!("{FETCH_ERROR_TEXT}: the origin did not answer HEAD"),
            (false, _) => FETCH_ERROR_TEXT.to_owned(),
        };
        set_status(&mut record.video, Status::failed(FETCH_ERROR_CODE, &text));
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
