//! Playback delivery, as Cloudflare's customer subdomain serves it (doc §9): no authentication,
//! `Access-Control-Allow-Origin: *`, and 404 until the video is `ready` (and again once deleted).
//!
//! - `GET /{uid}/manifest/video.m3u8` and the segments it names (relative URLs, so they resolve
//!   under `/{uid}/manifest/`).
//! - `GET /{uid}/manifest/video.mpd` (DASH, the same rendition remuxed) and its `dash_*.m4s`.
//! - `GET /{uid}/thumbnails/thumbnail.jpg` (the `time`/`width`/`height` query is ignored).
//! - `GET /{uid}/watch`: a small page playing the HLS through hls.js, muted and autoplaying.
//! - `GET /_player/hls.min.js`: hls.js from `--player-dir`.
//!
//! The helpers (`send_file`, `not_found`, the watch page, hls.js) are shared with the Mux
//! emulator's delivery (`mux::delivery`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, Request, State as AppState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::SharedApp;
use crate::control::log_line;
use crate::media::{DASH_MANIFEST, DASH_SEGMENT_PREFIX, Media, PLAYLIST, THUMBNAIL};
use crate::model::State;

/// The files served from `--player-dir`.
const PLAYER_FILES: [&str; 2] = ["hls.min.js", "hls.min.js.map"];

/// Emulator state that knows where hls.js lives (`--player-dir`), for [`player_file`].
pub trait HasPlayerDir: Send + Sync + 'static {
    fn player_dir(&self) -> &Path;
}

impl HasPlayerDir for crate::app::App {
    fn player_dir(&self) -> &Path {
        &self.player_dir
    }
}

pub fn routes() -> Router<SharedApp> {
    Router::new()
        .route("/{uid}/manifest/{file}", get(manifest))
        .route("/{uid}/thumbnails/{file}", get(thumbnail))
        .route("/{uid}/watch", get(watch))
        .route("/_player/{file}", get(player_file::<crate::app::App>))
        .layer(middleware::from_fn(allow_any_origin))
        .layer(middleware::from_fn(log_line))
}

pub async fn allow_any_origin(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    response
}

pub fn not_found(why: &str) -> Response {
    (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{why}\n")).into_response()
}

/// A live, `ready` video's media files, or why there are none (for the 404).
fn ready_media<'a>(app: &'a SharedApp, uid: &str) -> Result<&'a Media, &'static str> {
    let ready =
        app.with_live_record(uid, |r| r.video.status.state == State::Ready && r.video.ready_to_stream).unwrap_or(false);
    if !ready {
        return Err("no such video, or not ready yet");
    }
    app.media.as_ref().ok_or("no media: the emulator runs with --transcode off")
}

/// Letters, digits, `.`, `_`, `-`, not starting with a dot: a file name, never a path.
pub fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("m3u8") => "application/vnd.apple.mpegurl",
        Some("mpd") => "application/dash+xml",
        Some("ts") => "video/mp2t",
        Some("m4s") => "video/iso.segment",
        Some("mp4") => "video/mp4",
        Some("jpg") => "image/jpeg",
        Some("js") => "text/javascript; charset=utf-8",
        Some("map") => "application/json",
        _ => "application/octet-stream",
    }
}

pub async fn send_file(path: PathBuf) -> Response {
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let headers = [(header::CONTENT_TYPE, content_type(&path)), (header::CACHE_CONTROL, "no-cache")];
            (headers, bytes).into_response()
        }
        Err(_) => not_found("no such file"),
    }
}

async fn manifest(AppState(app): AppState<SharedApp>, UrlPath((uid, file)): UrlPath<(String, String)>) -> Response {
    let media = match ready_media(&app, &uid) {
        Ok(media) => media,
        Err(why) => return not_found(why),
    };
    let dash = file == DASH_MANIFEST || (file.starts_with(DASH_SEGMENT_PREFIX) && file.ends_with(".m4s"));
    let servable = file == PLAYLIST || file.ends_with(".ts") || dash;
    if !servable || !is_plain_file_name(&file) {
        return not_found("no such file");
    }
    send_file(media.manifest_dir(&uid).join(file)).await
}

async fn thumbnail(AppState(app): AppState<SharedApp>, UrlPath((uid, file)): UrlPath<(String, String)>) -> Response {
    if file != THUMBNAIL {
        return not_found("only thumbnails/thumbnail.jpg is emulated");
    }
    match ready_media(&app, &uid) {
        Ok(media) => send_file(media.thumbnail_path(&uid)).await,
        Err(why) => not_found(why),
    }
}

/// `GET /_player/{file}`: hls.js (and its source map) from `--player-dir`, read on every request.
pub async fn player_file<A: HasPlayerDir>(AppState(app): AppState<Arc<A>>, UrlPath(file): UrlPath<String>) -> Response {
    if !PLAYER_FILES.contains(&file.as_str()) {
        return not_found("no such file");
    }
    match tokio::fs::read(app.player_dir().join(&file)).await {
        Ok(bytes) => ([(header::CONTENT_TYPE, content_type(Path::new(&file)))], bytes).into_response(),
        Err(_) => not_found(&format!("{file} is not installed: run `npm ci --prefix devtools/player`")),
    }
}

async fn watch(AppState(app): AppState<SharedApp>, UrlPath(uid): UrlPath<String>) -> Response {
    if let Err(why) = ready_media(&app, &uid) {
        return not_found(why);
    }
    let page = WatchPage {
        title: &uid,
        source: "manifest/video.m3u8",
        poster: "thumbnails/thumbnail.jpg",
        player_script: "../_player/hls.min.js",
        product: "Cloudflare Stream",
    };
    watch_response(&page, &app.player_dir).await
}

/// What a watch page plays. All URLs relative to the page, so it also works behind
/// `--public-base-url` proxies.
pub struct WatchPage<'a> {
    /// The id in the title (video uid, playback id).
    pub title: &'a str,
    /// The HLS playlist.
    pub source: &'a str,
    pub poster: &'a str,
    /// Where `/_player/hls.min.js` is, relative to the page.
    pub player_script: &'a str,
    /// "Cloudflare Stream", "Mux Video".
    pub product: &'a str,
}

/// The watch page, saying so plainly when hls.js is not in `player_dir`.
pub async fn watch_response(page: &WatchPage<'_>, player_dir: &Path) -> Response {
    let hls_js = player_dir.join(PLAYER_FILES[0]);
    let installed = tokio::fs::metadata(&hls_js).await.is_ok_and(|m| m.is_file());
    let player = if installed { Ok(()) } else { Err(hls_js.as_path()) };
    Html(watch_page(page, player)).into_response()
}

/// The watch page. `player` is `Err(path looked at)` when hls.js is not installed: the page
/// says so and falls back to the browser's own HLS support, if any.
fn watch_page(page: &WatchPage<'_>, player: Result<(), &Path>) -> String {
    let (script, notice) = match player {
        Ok(()) => (format!(r#"<script src="{}"></script>"#, escape_html(page.player_script)), String::new()),
        Err(path) => (
            String::new(),
            format!(
                r#"<p class="error" id="missing">hls.js is not installed: {} does not exist. From the repository root run <code>npm ci --prefix devtools/player</code> (or start the emulator with <code>--player-dir</code>), then reload.</p>"#,
                escape_html(&path.display().to_string())
            ),
        ),
    };
    WATCH_PAGE
        .replace("{title}", &escape_html(page.title))
        .replace("{program}", crate::log::program())
        .replace("{product}", page.product)
        .replace("{poster}", &escape_html(page.poster))
        .replace("{source}", &escape_html(page.source))
        .replace("{notice}", &notice)
        .replace("{script}", &script)
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Relative URLs throughout, so the page also works behind `--public-base-url` proxies.
/// `window.playback` reports what happened, for scripts (devtools/player/check-playback.mjs).
const WATCH_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - {program}</title>
<link rel="icon" href="data:,">
<style>
  body { margin: 0; background: #111; color: #ddd; font: 14px/1.4 system-ui, sans-serif; }
  video { display: block; width: 100%; max-height: 85vh; background: #000; }
  p { margin: 0.6em 1em; } .error { color: #f77; } code { color: #fff; }
</style>
</head>
<body>
<video id="video" controls muted autoplay playsinline poster="{poster}"></video>
{notice}
<p id="status">Loading {source} ...</p>
<p>Video {title} from the local {product} emulator.</p>
{script}
<script>
(() => {
  const source = "{source}";
  const video = document.getElementById("video");
  const status = document.getElementById("status");
  const playback = (window.playback = { engine: null, playing: false, errors: [] });
  const show = (text, isError) => { status.textContent = text; status.className = isError ? "error" : ""; };
  const fail = (text) => { playback.errors.push(text); show(text, true); };
  const start = () => video.play().catch((e) => fail("play() was refused: " + e.message));
  video.addEventListener("playing", () => { playback.playing = true; show("Playing (" + playback.engine + ")"); });
  video.addEventListener("error", () => fail("media error " + (video.error ? video.error.code + " " + video.error.message : "")));
  if (window.Hls && window.Hls.isSupported()) {
    playback.engine = "hls.js " + window.Hls.version;
    const hls = new window.Hls();
    hls.on(window.Hls.Events.ERROR, (_, data) => {
      if (data.fatal) fail("hls.js fatal error: " + data.type + " / " + data.details);
    });
    hls.on(window.Hls.Events.MANIFEST_PARSED, start);
    hls.loadSource(source);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    playback.engine = "native";
    video.src = source;
    start();
  } else {
    fail(window.Hls ? "This browser has neither Media Source Extensions nor native HLS." : "hls.js is missing and this browser cannot play HLS natively.");
  }
})();
</script>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_never_escape_the_directory() {
        for good in ["video.m3u8", "seg_000.ts", "hls.min.js"] {
            assert!(is_plain_file_name(good), "{good}");
        }
        for bad in ["", "..", ".hidden", "a/b", "a\\b", "%2e%2e", "x y"] {
            assert!(!is_plain_file_name(bad), "{bad}");
        }
    }

    const PAGE: WatchPage<'static> = WatchPage {
        title: "abc",
        source: "manifest/video.m3u8",
        poster: "thumbnails/thumbnail.jpg",
        player_script: "../_player/hls.min.js",
        product: "Cloudflare Stream",
    };

    #[test]
    fn watch_page_with_and_without_hls_js() {
        let page = watch_page(&PAGE, Ok(()));
        assert!(page.contains(r#"const source = "manifest/video.m3u8";"#));
        assert!(page.contains(r#"poster="thumbnails/thumbnail.jpg""#));
        assert!(page.contains("Video abc from the local Cloudflare Stream emulator."));
        assert!(page.contains("<title>abc - stream-emulator</title>"));
        for placeholder in ["{title}", "{program}", "{product}", "{poster}", "{source}", "{notice}", "{script}"] {
            assert!(!page.contains(placeholder), "{placeholder}");
        }
        assert!(page.contains(r#"<script src="../_player/hls.min.js"></script>"#));
        assert!(page.contains("muted autoplay"));
        assert!(!page.contains("not installed"));
        let page = watch_page(&PAGE, Err(Path::new("/x/<dist>")));
        assert!(page.contains("hls.js is not installed: /x/&lt;dist&gt; does not exist"));
        assert!(page.contains("npm ci --prefix devtools/player"));
        assert!(!page.contains("../_player/hls.min.js\""));
    }
}
