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
//! Signed URLs (doc §6): a video with `requireSignedURLs: true` is not served by its uid (401).
//! Any video is served when a signed token stands in place of the uid (`/{token}/manifest/...`):
//! RS256, `kid` a live key of `POST /stream/keys`, `exp` in the future, `nbf` not, `sub` the
//! video's uid, `accessRules` allowing the client's address. A bad token is 401 too. Every URL
//! inside the manifests and the watch page is relative, so it keeps the token.
//!
//! The helpers (`send_file`, `not_found`, the watch page, hls.js) are shared with the Mux
//! emulator's delivery (`mux::delivery`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use std::net::IpAddr;

use axum::Extension;
use axum::extract::{Path as UrlPath, Request, State as AppState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::app::SharedApp;
use crate::control::log_line;
use crate::media::{DASH_MANIFEST, DASH_SEGMENT_PREFIX, Media, PLAYLIST, THUMBNAIL};
use crate::model::State;
use crate::server::PeerAddr;
use crate::signing::{self, Refusal};

/// "at most 5 rules" in a token's `accessRules`.
const MAX_ACCESS_RULES: usize = 5;

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

/// A plain-text refusal; `why` is one of the emulator's fixed texts, never the token.
pub fn refused(status: StatusCode, why: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{why}\n")).into_response()
}

fn unauthorized(why: &str) -> Response {
    refused(StatusCode::UNAUTHORIZED, why)
}

/// The uid a delivery path's first segment names: a uid as is (401 if the video requires signed
/// URLs), or a signed token's `sub` once the token checks out (401 otherwise). Unknown uids are
/// left to [`ready_media`]'s 404. `Err` is the 401's text.
fn authorize(app: &SharedApp, id: &str, peer: Option<Extension<PeerAddr>>) -> Result<String, String> {
    if !signing::looks_like_jwt(id) {
        return match app.video(id) {
            Some(video) if video.require_signed_urls => {
                Err("this video requires a signed URL: put a signed token in place of the video uid".to_owned())
            }
            _ => Ok(id.to_owned()),
        };
    }
    let peer = peer.map(|Extension(PeerAddr(address))| address.ip());
    verify_token(app, id, peer, chrono::Utc::now().timestamp())
        .map_err(|Refusal(why)| format!("invalid signed URL token: {why}"))
}

/// A Stream playback token: the shared checks ([`signing::verify`]), then `sub` naming a live
/// video and the `accessRules`.
fn verify_token(app: &SharedApp, token: &str, peer: Option<IpAddr>, now: i64) -> Result<String, Refusal> {
    let key = |kid: &str| app.signing_keys().get(kid).map(|key| key.public.clone());
    let claims = signing::verify(token, key, now)?;
    let uid = claims.get("sub").and_then(|v| v.as_str()).ok_or(Refusal("the token has no sub (the video uid)"))?;
    if app.video(uid).is_none() {
        return Err(Refusal("the token's sub names no video"));
    }
    check_access_rules(claims.get("accessRules"), peer)?;
    Ok(uid.to_owned())
}

/// `accessRules`: evaluated in order, the first matching rule decides; none matching allows.
/// `ip.src` compares with the client's address; the emulator cannot geolocate, so an
/// `ip.geoip.country` rule never matches.
pub fn check_access_rules(rules: Option<&serde_json::Value>, peer: Option<IpAddr>) -> Result<(), Refusal> {
    let Some(rules) = rules.filter(|r| !r.is_null()) else {
        return Ok(());
    };
    let rules = rules.as_array().ok_or(Refusal("accessRules must be an array"))?;
    if rules.len() > MAX_ACCESS_RULES {
        return Err(Refusal("accessRules has more than 5 rules"));
    }
    for rule in rules {
        let allow = match rule.get("action").and_then(|v| v.as_str()) {
            Some("allow") => true,
            Some("block") => false,
            _ => return Err(Refusal("an access rule's action must be allow or block")),
        };
        let list = |name: &str| -> Result<Vec<&str>, Refusal> {
            rule.get(name)
                .and_then(|v| v.as_array())
                .and_then(|items| items.iter().map(|item| item.as_str()).collect::<Option<Vec<_>>>())
                .ok_or(Refusal("an access rule lacks its ip or country list"))
        };
        let matches = match rule.get("type").and_then(|v| v.as_str()) {
            Some("any") => true,
            Some("ip.src") => {
                let mut matched = false;
                for cidr in list("ip")? {
                    let contains = cidr_contains(cidr, peer).ok_or(Refusal("an access rule has an invalid CIDR"))?;
                    matched |= contains;
                }
                matched
            }
            Some("ip.geoip.country") => {
                list("country")?;
                false
            }
            _ => return Err(Refusal("an access rule's type must be any, ip.src or ip.geoip.country")),
        };
        if matches {
            return if allow { Ok(()) } else { Err(Refusal("an access rule blocks this client")) };
        }
    }
    Ok(())
}

/// Whether `cidr` (`10.0.0.0/8`, `2001:db8::/32`, or a bare address) contains `peer`; `None` if
/// `cidr` is not one. IPv4 never matches IPv6 (IPv4-mapped IPv6 peers count as IPv4).
pub fn cidr_contains(cidr: &str, peer: Option<IpAddr>) -> Option<bool> {
    let (address, bits) = match cidr.trim().split_once('/') {
        Some((address, bits)) => (address, Some(bits.parse::<u32>().ok()?)),
        None => (cidr.trim(), None),
    };
    let network: IpAddr = address.parse().ok()?;
    let width = if network.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(width);
    if bits > width {
        return None;
    }
    let Some(peer) = peer.map(|ip| ip.to_canonical()) else {
        return Some(false);
    };
    let masked = |value: u128| if bits == 0 { 0 } else { value >> (width - bits) };
    Some(match (network, peer) {
        (IpAddr::V4(net), IpAddr::V4(ip)) => masked(u32::from(net).into()) == masked(u32::from(ip).into()),
        (IpAddr::V6(net), IpAddr::V6(ip)) => masked(u128::from(net)) == masked(u128::from(ip)),
        _ => false,
    })
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

async fn manifest(
    AppState(app): AppState<SharedApp>,
    UrlPath((id, file)): UrlPath<(String, String)>,
    peer: Option<Extension<PeerAddr>>,
) -> Response {
    let uid = match authorize(&app, &id, peer) {
        Ok(uid) => uid,
        Err(why) => return unauthorized(&why),
    };
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

async fn thumbnail(
    AppState(app): AppState<SharedApp>,
    UrlPath((id, file)): UrlPath<(String, String)>,
    peer: Option<Extension<PeerAddr>>,
) -> Response {
    let uid = match authorize(&app, &id, peer) {
        Ok(uid) => uid,
        Err(why) => return unauthorized(&why),
    };
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

async fn watch(
    AppState(app): AppState<SharedApp>,
    UrlPath(id): UrlPath<String>,
    peer: Option<Extension<PeerAddr>>,
) -> Response {
    // The title shows the uid, not the token the page may have been opened with.
    let uid = match authorize(&app, &id, peer) {
        Ok(uid) => uid,
        Err(why) => return unauthorized(&why),
    };
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
    fn cidrs() {
        let v4 = Some("127.0.0.1".parse().unwrap());
        assert_eq!(cidr_contains("127.0.0.1/32", v4), Some(true));
        assert_eq!(cidr_contains("127.0.0.0/8", v4), Some(true));
        assert_eq!(cidr_contains("127.0.0.1", v4), Some(true));
        assert_eq!(cidr_contains("0.0.0.0/0", v4), Some(true));
        assert_eq!(cidr_contains("10.0.0.0/8", v4), Some(false));
        assert_eq!(cidr_contains("::1/128", v4), Some(false));
        assert_eq!(cidr_contains("127.0.0.1/32", Some("::ffff:127.0.0.1".parse().unwrap())), Some(true));
        assert_eq!(cidr_contains("2001:db8::/32", Some("2001:db8::5".parse().unwrap())), Some(true));
        assert_eq!(cidr_contains("::/0", Some("2001:db8::5".parse().unwrap())), Some(true));
        assert_eq!(cidr_contains("127.0.0.1/33", v4), None);
        assert_eq!(cidr_contains("nope/8", v4), None);
        assert_eq!(cidr_contains("127.0.0.1/32", None), Some(false));
    }

    #[test]
    fn access_rules_first_match_wins() {
        use serde_json::json;
        let peer = Some("127.0.0.1".parse().unwrap());
        let check = |rules: serde_json::Value| check_access_rules(Some(&rules), peer);
        assert!(check_access_rules(None, peer).is_ok());
        assert!(check(json!([])).is_ok());
        assert!(check(json!([{"type": "ip.src", "action": "block", "ip": ["127.0.0.1/32"]}])).is_err());
        assert!(check(json!([{"type": "ip.src", "action": "block", "ip": ["10.0.0.0/8"]}])).is_ok());
        assert!(
            check(json!([{"type": "ip.src", "action": "allow", "ip": ["127.0.0.0/8"]}, {"type": "any", "action": "block"}]))
                .is_ok()
        );
        assert!(
            check(json!([{"type": "ip.geoip.country", "action": "allow", "country": ["US"]}, {"type": "any", "action": "block"}]))
                .is_err()
        );
        assert!(check(json!([{"type": "ip.geoip.country", "action": "block", "country": ["US"]}])).is_ok());
        assert!(check(json!([{"type": "ip.src", "action": "block", "ip": ["bad"]}])).is_err());
        assert!(check(json!([{"type": "asn", "action": "block"}])).is_err());
        assert!(check(json!([{"type": "any", "action": "deny"}])).is_err());
        assert!(check(json!({"type": "any"})).is_err());
        assert!(check(json!(vec![json!({"type": "ip.src", "action": "allow", "ip": ["10.0.0.0/8"]}); 6])).is_err());
    }

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
