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
//! Signed playback ids (policy `signed`) are served only with `?token=<JWT>`: RS256, header `kid`
//! a live signing key (`POST /system/v1/signing-keys`), `sub` the playback id, `aud` `v` for the
//! playlists and segments and `t` for the thumbnail, `exp` required and in the future (`nbf`, if
//! any, not). Without a token or with a bad one: 403 (`text/plain`, never echoing the token). The
//! playlists of a signed playback id carry the token on every URL they name, so a player plays it
//! as is. The watch page takes `?playback-token=` (or `?token=`) and `?thumbnail-token=`, like
//! `player.mux.com`. Public playback ids need no token.

use std::collections::HashMap;
use std::path::Path;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::control::log_line;
use crate::delivery::{
    WatchPage, allow_any_origin, is_plain_file_name, not_found, player_file, refused, send_file, watch_response,
};
use crate::media::{Media, PLAYLIST};
use crate::mux::app::{MuxApp, Playable, SharedMux};
use crate::signing::{self, Refusal};

/// `aud` of tokens for the video (playlists, segments, watch page) and for thumbnails.
const AUDIENCE_VIDEO: &str = "v";
const AUDIENCE_THUMBNAIL: &str = "t";

type Params = Query<HashMap<String, String>>;

/// For a signed playback id, the verified token to pass on in the URLs a playlist names; `None`
/// for public (and unknown, left to [`playable`]'s 404) playback ids. 403 when a signed one has
/// no valid token for `audience` (`Err` is its text).
fn authorize(
    app: &SharedMux,
    playback_id: &str,
    token: Option<&str>,
    audience: &str,
) -> Result<Option<String>, String> {
    if app.playback_policy(playback_id).as_deref() != Some("signed") {
        return Ok(None);
    }
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err("this playback id is signed: add ?token=<signed JWT>".to_owned());
    };
    verify_token(app, playback_id, token, audience, chrono::Utc::now().timestamp())
        .map(|()| Some(token.to_owned()))
        .map_err(|Refusal(why)| format!("invalid playback token: {why}"))
}

/// A Mux playback token: the shared checks ([`signing::verify`]), then `sub` and `aud`.
fn verify_token(app: &SharedMux, playback_id: &str, token: &str, audience: &str, now: i64) -> Result<(), Refusal> {
    if !signing::looks_like_jwt(token) {
        return Err(Refusal("the token is not a JWT"));
    }
    let key = |kid: &str| app.signing_keys().get(kid).map(|key| key.public.clone());
    let claims = signing::verify(token, key, now)?;
    if claims.get("sub").and_then(|v| v.as_str()) != Some(playback_id) {
        return Err(Refusal("the token's sub is not this playback id"));
    }
    let aud_matches = match claims.get("aud") {
        Some(serde_json::Value::String(aud)) => aud == audience,
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    };
    if !aud_matches {
        return Err(Refusal(if audience == AUDIENCE_THUMBNAIL {
            "the token's aud must be t for thumbnails"
        } else {
            "the token's aud must be v for video"
        }));
    }
    Ok(())
}

/// `url` with `?token=` appended when there is a token (a checked JWT: URL-safe as is).
fn with_token(url: &str, token: Option<&str>) -> String {
    match token {
        Some(token) => format!("{url}?token={token}"),
        None => url.to_owned(),
    }
}

/// A media playlist with `?token=` on every URI line.
fn playlist_with_token(playlist: &str, token: &str) -> String {
    playlist
        .lines()
        .map(
            |line| {
                if line.is_empty() || line.starts_with('#') { line.to_owned() } else { with_token(line, Some(token)) }
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

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
async fn multivariant(State(app): State<SharedMux>, UrlPath(file): UrlPath<String>, Query(params): Params) -> Response {
    let Some(playback_id) = file.strip_suffix(".m3u8").filter(|id| is_plain_file_name(id)) else {
        return not_found("no such file: playlists are /{PLAYBACK_ID}.m3u8");
    };
    let token = match authorize(&app, playback_id, params.get("token").map(String::as_str), AUDIENCE_VIDEO) {
        Ok(token) => token,
        Err(why) => return refused(StatusCode::FORBIDDEN, &why),
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
    let rendition_url = with_token(&format!("{playback_id}/{RENDITION}"), token.as_deref());
    let body = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average}{resolution}\n{rendition_url}\n"
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
    Query(params): Params,
) -> Response {
    let param = |name: &str| params.get(name).map(String::as_str);
    let (audience, token) = match file.as_str() {
        "thumbnail.jpg" => (AUDIENCE_THUMBNAIL, param("token")),
        "watch" => (AUDIENCE_VIDEO, param("playback-token").or(param("token"))),
        _ => (AUDIENCE_VIDEO, param("token")),
    };
    let token = match authorize(&app, &playback_id, token, audience) {
        Ok(token) => token,
        Err(why) => return refused(StatusCode::FORBIDDEN, &why),
    };
    let (media, Playable { asset_id, .. }) = match playable(&app, &playback_id) {
        Ok(found) => found,
        Err(why) => return not_found(why),
    };
    match file.as_str() {
        RENDITION => {
            let path = media.manifest_dir(&asset_id).join(PLAYLIST);
            let Some(token) = token else {
                return send_file(path).await;
            };
            match tokio::fs::read_to_string(&path).await {
                Ok(playlist) => (
                    [(header::CONTENT_TYPE, "application/vnd.apple.mpegurl"), (header::CACHE_CONTROL, "no-cache")],
                    playlist_with_token(&playlist, &token),
                )
                    .into_response(),
                Err(_) => not_found("no such file"),
            }
        }
        "thumbnail.jpg" => send_file(media.thumbnail_path(&asset_id)).await,
        "watch" => {
            let source = with_token(&format!("../{playback_id}.m3u8"), token.as_deref());
            let thumbnail_token = param("thumbnail-token").filter(|t| signing::looks_like_jwt(t));
            let poster = with_token("thumbnail.jpg", token.as_deref().and(thumbnail_token));
            let page = WatchPage {
                title: &playback_id,
                source: &source,
                poster: &poster,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_go_on_every_uri_line() {
        let playlist =
            "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nseg_000.ts\n#EXTINF:0.5,\nseg_001.ts\n#EXT-X-ENDLIST\n";
        let signed = playlist_with_token(playlist, "eyJ.a.b");
        assert!(signed.contains("\nseg_000.ts?token=eyJ.a.b\n") && signed.contains("\nseg_001.ts?token=eyJ.a.b\n"));
        assert!(signed.contains("#EXTINF:2.0,\n") && signed.ends_with("#EXT-X-ENDLIST\n"), "{signed}");
        assert_eq!(with_token("x/rendition.m3u8", None), "x/rendition.m3u8");
    }
}
