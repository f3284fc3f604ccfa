//! What Mux does after accepting an asset, asynchronously: download the main input, then
//! process it: `preparing` -> `ready` or `errored`, announced by webhook.
//!
//! Shares the Cloudflare emulator's pipeline: [`fetch`] (a plain GET, hashed as it streams) and,
//! with `--transcode`, [`Media`] (ffprobe, one HLS rendition, a thumbnail). With transcoding off
//! the media is never decoded: every fetched input becomes `ready` without `duration`, tracks or
//! resolution fields.

use serde_json::{Value, json};

use crate::elog;
use crate::media::{Failure, Media, Outputs, Probe, rendition_size};
use crate::mux::app::SharedMux;
use crate::mux::model::{
    Asset, Errors, Progress, Status, aspect_ratio, max_stored_resolution, mux_id, resolution_tier,
};
use crate::mux::webhook;
use crate::processing::{FetchFailure, Source, fetch};

/// `errors.type` for every failure; Mux's texts are UNCONFIRMED.
const ERROR_TYPE: &str = "invalid_input";

/// Starts the background job for a freshly created asset.
pub fn spawn(app: SharedMux, id: String, url: String) {
    tokio::spawn(async move {
        let destination = app.media.as_ref().map(|media| media.source_path(&id));
        let finished = match fetch(&app.http, &url, destination.as_deref()).await {
            Ok(source) => match &app.media {
                Some(media) => transcode(&app, media, &id, source).await,
                None => accept_unseen(&app, &id, source).await,
            },
            Err(failure) => fetch_failed(&app, &id, failure),
        };
        // `None`: deleted or wiped by a reset meanwhile (a deleted asset sends only `deleted`).
        match finished {
            Some(asset) => {
                let kind = if asset.status == Status::Ready { "ready" } else { "errored" };
                // Under the asset's lock: a concurrent delete either comes first (no `ready`
                // then, only `deleted`) or queues its `deleted` after this event.
                app.with_live_record(&id, |_| webhook::announce(&app, kind, &asset));
            }
            None => {
                if let Some(media) = &app.media {
                    media.remove_later(vec![id]);
                }
            }
        }
    });
}

fn fetched(app: &SharedMux, id: &str, source: Source) -> Option<()> {
    elog!("asset {id}: fetched {} bytes", source.size);
    app.with_live_record(id, |record| {
        record.fetch_status = Some(source.status);
        record.source_size = Some(source.size);
        record.source_sha256 = Some(source.sha256);
    })
}

/// Transcoding off: any bytes become `ready`, `--processing-delay-ms` later.
async fn accept_unseen(app: &SharedMux, id: &str, source: Source) -> Option<Asset> {
    fetched(app, id, source)?;
    tokio::time::sleep(app.processing_delay).await;
    app.with_live_record(id, |record| {
        record.asset.status = Status::Ready;
        record.asset.progress = Progress::COMPLETED;
        record.asset.clone()
    })
}

async fn transcode(app: &SharedMux, media: &Media, id: &str, source: Source) -> Option<Asset> {
    fetched(app, id, source)?;
    tokio::time::sleep(app.processing_delay).await;
    let _slot = media.slot().await;
    app.with_live_record(id, |record| record.asset.progress = Progress::transcoding(0))?;
    let started = std::time::Instant::now();
    let outcome = async {
        let probe = media.probe(id).await?;
        let duration = media
            .transcode(id, probe.duration, Outputs::HLS_ONLY, |done| {
                let Some(total) = probe.duration.filter(|t| *t > 0.0) else { return };
                let pct = (done / total * 100.0).floor() as i64;
                app.with_live_record(id, |record| record.asset.progress = Progress::transcoding(pct));
            })
            .await?;
        let duration = probe.duration.unwrap_or(duration);
        // Mux's default thumbnail time is the middle of the video.
        media.thumbnail(id, duration / 2.0).await?;
        Ok::<(Probe, f64), Failure>((probe, duration))
    }
    .await;
    match outcome {
        Ok((probe, duration)) => {
            elog!("asset {id}: transcoded {duration:.3} s in {} ms", started.elapsed().as_millis());
            app.with_live_record(id, |record| {
                ready(&mut record.asset, &probe, duration);
                record.rendition = Some(rendition_size(probe.width, probe.height));
                record.asset.clone()
            })
        }
        Err(failure) => {
            elog!("asset {id}: {}: {}", failure.code(), failure.detail());
            app.with_live_record(id, |record| {
                record.media_error = Some(failure.detail().to_owned());
                errored(&mut record.asset, media_message(&failure));
                record.asset.clone()
            })
        }
    }
}

/// The facts Mux reports at `ready`, from ffprobe (the stored input, capped by
/// `max_resolution_tier`), not from the emulator's smaller rendition.
fn ready(asset: &mut Asset, probe: &Probe, duration: f64) {
    let duration = (duration * 1e6).round() / 1e6;
    let frame_rate = probe.frame_rate.map_or(-1.0, |r| (r * 1000.0).round() / 1000.0);
    let mut tracks: Vec<Value> = vec![json!({
        "type": "video",
        "id": mux_id(),
        "duration": duration,
        "max_width": probe.width,
        "max_height": probe.height,
        "max_frame_rate": frame_rate,
    })];
    if let Some(channels) = probe.audio_channels {
        tracks.push(json!({
            "type": "audio",
            "id": mux_id(),
            "duration": duration,
            "max_channels": channels,
            "primary": true,
        }));
    }
    let max_tier = asset.max_resolution_tier;
    asset.status = Status::Ready;
    asset.progress = Progress::COMPLETED;
    asset.duration = Some(duration);
    asset.aspect_ratio = aspect_ratio(probe.width, probe.height);
    asset.resolution_tier = Some(resolution_tier(probe.width, probe.height, max_tier));
    asset.max_stored_resolution = Some(max_stored_resolution(probe.width, probe.height, max_tier));
    asset.max_stored_frame_rate = Some(frame_rate);
    asset.tracks = tracks;
}

fn errored(asset: &mut Asset, message: String) {
    asset.status = Status::Errored;
    asset.progress = Progress::ERRORED;
    asset.errors = Some(Errors { kind: ERROR_TYPE.to_owned(), messages: vec![message] });
}

/// Texts in Mux's style; what Mux really says for each case is UNCONFIRMED.
fn media_message(failure: &Failure) -> String {
    match failure {
        Failure::NonVideo(_) => "The input file does not contain a video track.".to_owned(),
        Failure::TooShort(_) => "The input file's duration is too short.".to_owned(),
        Failure::Malformed(_) => "The input file could not be processed: it may be corrupt or not a video.".to_owned(),
        Failure::Internal(_) => "The input file could not be processed.".to_owned(),
    }
}

fn fetch_failed(app: &SharedMux, id: &str, failure: FetchFailure) -> Option<Asset> {
    elog!("asset {id}: fetch failed: {}", failure.error);
    let message = match failure.status {
        Some(status) if !(200..300).contains(&status) => {
            format!("The input file could not be downloaded: the server answered HTTP {status}.")
        }
        Some(_) => "The input file could not be stored.".to_owned(),
        None => "The input file could not be downloaded: the server could not be reached.".to_owned(),
    };
    app.with_live_record(id, |record| {
        record.fetch_status = failure.status;
        record.fetch_error = Some(failure.error);
        errored(&mut record.asset, message);
        record.asset.clone()
    })
}
