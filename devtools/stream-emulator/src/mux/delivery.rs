//! Playback delivery. Mux serves it from three hosts; the emulator serves all of them at its
//! public base URL (`--public-base-url`, default the emulator itself), without authentication,
//! with `Access-Control-Allow-Origin: *`, and 404 (`text/plain`) for unknown playback ids and for
//! assets that are not `ready` (or deleted):
//!
//! - `stream.mux.com/{PLAYBACK_ID}.m3u8` -> `GET /{PLAYBACK_ID}.m3u8`: a multivariant playlist
//!   naming the one rendition, `{PLAYBACK_ID}/rendition.m3u8` (relative), whose segments are
//!   relative to it: `GET /{PLAYBACK_ID}/seg_NNN.ts`.
//! - `image.mux.com/{PLAYBACK_ID}/thumbnail.jpg` -> `GET /{PLAYBACK_ID}/thumbnail.jpg` (the frame
//!   in the middle; `time`, `width`, `height`, ... are ignored; other formats 404).
//! - `player.mux.com/{PLAYBACK_ID}` -> `GET /{PLAYBACK_ID}/watch`: the Cloudflare emulator's watch
//!   page, playing `../{PLAYBACK_ID}.m3u8` with hls.js.
//!
//! Signed playback ids are served like public ones: `?token=` is neither required nor checked.

use std::path::Path;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::control::log_line;
use crate::delivery::{
    WatchPage, allow_any_origin, is_plain_file_name, not_found, player_file, send_file, watch_response,
};
use crate::media::{Media, PLAYLIST};
use crate::mux::app::{MuxApp, Playable, SharedMux};

/// The media playlist's name under `/{PLAYBACK_ID}/`.
const RENDITION: &str = "rendition.m3u8";

pub fn routes() -> Router<SharedMux> {
    Router::new()
        .route("/{file}", get(multivariant))
        .route("/{playback_id}/{file}", get(playback_file))
        .route("/_player/{file}", get(player_file::<MuxApp>))
        .layer(middleware::from_fn(allow_any_origin))
        .layer(middleware::from_fn(log_line))
}

/// The asset behind a playback id and the media, or why not (for the 404).
fn playable<'a>(app: &'a SharedMux, playback_id: &str) -> Result<(&'a Media, Playable), &'static str> {
    let playable = app.playable(playback_id)?;
    let media = app.media.as_ref().ok_or("no media: the emulator runs with --transcode off")?;
    Ok((media, playable))
}

/// `GET /{PLAYBACK_ID}.m3u8`.
async fn multivariant(State(app): State<SharedMux>, UrlPath(file): UrlPath<String>) -> Response {
    let Some(playback_id) = file.strip_suffix(".m3u8").filter(|id| is_plain_file_name(id)) else {
        return not_found("no such file: playlists are /{PLAYBACK_ID}.m3u8");
    };
    let (media, Playable { asset_id, rendition }) = match playable(&app, playback_id) {
        Ok(found) => found,
        Err(why) => return not_found(why),
    };
    let dir = media.manifest_dir(&asset_id);
    let Ok(playlist) = tokio::fs::read_to_string(dir.join(PLAYLIST)).await else {
        return not_found("no such file");
    };
    let (peak, average) = bandwidth(&playlist, &dir).await;
    let resolution = rendition.map_or_else(String::new, |(w, h)| format!(",RESOLUTION={w}x{h}"));
    let body = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average}{resolution}\n{playback_id}/{RENDITION}\n"
    );
    ([(header::CONTENT_TYPE, "application/vnd.apple.mpegurl"), (header::CACHE_CONTROL, "no-cache")], body)
        .into_response()
}

/// Peak and average bits per second of the rendition's segments (for `BANDWIDTH`).
async fn bandwidth(playlist: &str, dir: &Path) -> (u64, u64) {
    let mut peak = 0.0f64;
    let (mut bits, mut seconds) = (0.0f64, 0.0f64);
    let mut duration = None;
    for line in playlist.lines() {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            duration = rest.split(',').next().and_then(|d| d.trim().parse::<f64>().ok());
        } else if !line.is_empty() && !line.starts_with('#') {
            let size = tokio::fs::metadata(dir.join(line)).await.map_or(0, |m| m.len()) as f64 * 8.0;
            if let Some(d) = duration.take().filter(|d| *d > 0.0) {
                peak = peak.max(size / d);
                bits += size;
                seconds += d;
            }
        }
    }
    let average = if seconds > 0.0 { bits / seconds } else { 0.0 };
    (peak.ceil().max(1.0) as u64, average.ceil().max(1.0) as u64)
}

/// `GET /{PLAYBACK_ID}/rendition.m3u8`, `/seg_NNN.ts`, `/thumbnail.jpg` and `/watch`.
async fn playback_file(
    State(app): State<SharedMux>,
    UrlPath((playback_id, file)): UrlPath<(String, String)>,
) -> Response {
    let (media, Playable { asset_id, .. }) = match playable(&app, &playback_id) {
        Ok(found) => found,
        Err(why) => return not_found(why),
    };
    match file.as_str() {
        RENDITION => send_file(media.manifest_dir(&asset_id).join(PLAYLIST)).await,
        "thumbnail.jpg" => send_file(media.thumbnail_path(&asset_id)).await,
        "watch" => {
            let source = format!("../{playback_id}.m3u8");
            let page = WatchPage {
                title: &playback_id,
                source: &source,
                poster: "thumbnail.jpg",
                player_script: "../_player/hls.min.js",
                product: "Mux Video",
            };
            watch_response(&page, &app.player_dir).await
        }
        segment if segment.starts_with("seg_") && segment.ends_with(".ts") && is_plain_file_name(segment) => {
            send_file(media.manifest_dir(&asset_id).join(segment)).await
        }
        _ => not_found("no such file: rendition.m3u8, seg_NNN.ts, thumbnail.jpg or watch"),
    }
}
