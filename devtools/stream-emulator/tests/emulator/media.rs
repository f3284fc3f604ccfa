//! `--transcode`: real HLS from ffmpeg, the delivery routes, and media errors. These tests need
//! `ffmpeg` and `ffprobe` on PATH (`apt-get install ffmpeg`) and fail, not skip, without them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{require_ffmpeg, sample};
use crate::support::{Emulator, next_delivery, serve, webhook_receiver};

/// The sample with its media data zeroed: ffprobe accepts it, ffmpeg cannot decode a frame.
fn broken_sample() -> Vec<u8> {
    let mut bytes = sample();
    let mdat = bytes.windows(4).position(|w| w == b"mdat").expect("an mdat box");
    bytes[mdat + 4..].fill(0);
    bytes
}

/// An origin with `/sample.mp4`, `/broken.mp4`, `/notes.txt` and `/never` (never answers).
async fn media_origin() -> String {
    let router = Router::new()
        .route("/sample.mp4", get(|| async { sample() }))
        .route("/broken.mp4", get(|| async { broken_sample() }))
        .route("/notes.txt", get(|| async { "Meeting notes, definitely not a video.\n".repeat(50) }))
        .route("/never", get(std::future::pending::<()>));
    serve(router).await
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("emulator-test-{name}-{}-{:x}", std::process::id(), rand_u64()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn arg(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_u64() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

/// Waits for `ready`/`error` (transcoding takes longer than the emulator's usual 5 ms steps).
pub(crate) async fn wait_final(emulator: &Emulator, uid: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, envelope) = emulator.get_video(uid).await;
        let video = envelope["result"].clone();
        if video["status"]["state"] == "ready" || video["status"]["state"] == "error" {
            return video;
        }
        assert!(Instant::now() < deadline, "video never finished: {video}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn fetch(emulator: &Emulator, url: &str) -> reqwest::Response {
    emulator.http.get(url).send().await.unwrap()
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

#[tokio::test]
async fn a_real_video_is_transcoded_served_and_announced() {
    require_ffmpeg();
    let origin = media_origin().await;
    let data = TempDir::new("data");
    let player = TempDir::new("player");
    let (hook, mut deliveries) = webhook_receiver(vec![]).await;
    let emulator = Emulator::start(&[
        "--transcode",
        "on",
        "--data-dir",
        data.arg(),
        "--player-dir",
        player.arg(),
        "--webhook-url",
        &hook,
        "--webhook-secret",
        "s3cret",
    ]);

    let created = emulator.copy(json!({"url": format!("{origin}/sample.mp4"), "thumbnailTimestampPct": 0.5})).await;
    let uid = created["uid"].as_str().unwrap().to_owned();
    let base = format!("{}/{uid}", emulator.base);

    // Polled as fast as possible: the states go forward only, and end in ready.
    let order = ["downloading", "queued", "inprogress", "ready"];
    let mut seen = vec![];
    let video = loop {
        let (_, envelope) = emulator.get_video(&uid).await;
        let video = envelope["result"].clone();
        let state = video["status"]["state"].as_str().unwrap().to_owned();
        let rank = order.iter().position(|s| *s == state).unwrap_or_else(|| panic!("unexpected {video}"));
        assert!(seen.last().is_none_or(|&last| last <= rank), "state went back: {video}");
        if state == "inprogress" {
            assert_eq!(video["status"]["step"], "encoding", "{video}");
            let pct: f64 = video["status"]["pctComplete"].as_str().unwrap().parse().unwrap();
            assert!((0.0..100.0).contains(&pct), "{video}");
        }
        seen.push(rank);
        if state == "ready" {
            break video;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert_eq!(video["readyToStream"], true);
    assert_eq!(video["status"]["pctComplete"], "100.000000");
    assert_eq!(video["status"]["errorReasonCode"], "");
    assert!((video["duration"].as_f64().unwrap() - 2.0).abs() < 0.1, "{video}");
    assert_eq!(video["input"], json!({"width": 320, "height": 180}));
    assert_eq!(video["size"], sample().len());

    // The webhook carries the same finished video.
    let delivered = next_delivery(&mut deliveries).await.json();
    assert_eq!(delivered["uid"], uid.as_str());
    assert_eq!(delivered["status"]["state"], "ready");
    assert_eq!(delivered["input"], json!({"width": 320, "height": 180}));

    // The playlist, at the URL the API returned, and its segments, relative to it.
    let playlist_url = video["playback"]["hls"].as_str().unwrap();
    assert_eq!(playlist_url, format!("{base}/manifest/video.m3u8"));
    let response = fetch(&emulator, playlist_url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_TYPE), "application/vnd.apple.mpegurl");
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    let playlist = response.text().await.unwrap();
    assert!(playlist.starts_with("#EXTM3U") && playlist.contains("#EXT-X-PLAYLIST-TYPE:VOD"), "{playlist}");
    assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    let segments: Vec<&str> = playlist.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert!(!segments.is_empty(), "{playlist}");
    for segment in segments {
        assert!(!segment.contains('/'), "segment URLs are relative to the playlist: {segment}");
        let response = fetch(&emulator, &format!("{base}/manifest/{segment}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{segment}");
        assert_eq!(header(&response, CONTENT_TYPE), "video/mp2t");
        assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
        let bytes = response.bytes().await.unwrap();
        assert!(bytes.len() > 1000 && bytes[0] == 0x47, "an MPEG-TS segment");
    }

    let response = fetch(&emulator, video["thumbnail"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_TYPE), "image/jpeg");
    assert!(response.bytes().await.unwrap().starts_with(&[0xFF, 0xD8]), "a JPEG");

    // DASH: the same rendition remuxed, at the URL the API returned, segments relative to it.
    let dash_url = video["playback"]["dash"].as_str().unwrap();
    assert_eq!(dash_url, format!("{base}/manifest/video.mpd"));
    let response = fetch(&emulator, dash_url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_TYPE), "application/dash+xml");
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    let mpd = response.text().await.unwrap();
    assert!(mpd.contains("<MPD") && mpd.contains(r#"type="static""#), "{mpd}");
    assert!(mpd.contains(r#"initialization="dash_init_$RepresentationID$.m4s""#), "{mpd}");
    assert!(mpd.contains(r#"media="dash_chunk_$RepresentationID$_$Number%05d$.m4s""#), "{mpd}");
    assert!(mpd.contains(r#"width="320" height="180""#) && mpd.contains("mp4a.40.2"), "{mpd}");
    for segment in ["dash_init_0.m4s", "dash_chunk_0_00001.m4s", "dash_init_1.m4s", "dash_chunk_1_00001.m4s"] {
        let response = fetch(&emulator, &format!("{base}/manifest/{segment}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{segment}");
        assert_eq!(header(&response, CONTENT_TYPE), "video/iso.segment");
        assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
        let bytes = response.bytes().await.unwrap();
        let kind = if segment.contains("init") { b"ftyp" } else { b"styp" };
        assert!(bytes.len() > 8 && (&bytes[4..8] == kind || &bytes[4..8] == b"moof"), "{segment}: an MP4 box");
    }

    // No other files, nothing outside the video's directory.
    for path in [
        "manifest/source",
        "manifest/..%2Fsource",
        "manifest/dash_chunk_9_00001.m4s",
        "manifest/dash_notes.txt",
        "thumbnails/thumbnail.gif",
    ] {
        let response = fetch(&emulator, &format!("{base}/{path}")).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    }

    // The watch page, first without hls.js installed: it says so.
    let watch_url = video["preview"].as_str().unwrap();
    assert_eq!(watch_url, format!("{base}/watch"));
    let response = fetch(&emulator, watch_url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, CONTENT_TYPE).starts_with("text/html"));
    let page = response.text().await.unwrap();
    assert!(page.contains("hls.js is not installed") && page.contains("npm ci --prefix devtools/player"), "{page}");
    assert_eq!(
        fetch(&emulator, &format!("{}/_player/hls.min.js", emulator.base)).await.status(),
        StatusCode::NOT_FOUND
    );
    // ... then with it (looked up on every request).
    std::fs::write(player.0.join("hls.min.js"), "window.Hls = {};").unwrap();
    let page = fetch(&emulator, watch_url).await.text().await.unwrap();
    assert!(!page.contains("not installed"), "{page}");
    assert!(page.contains(r#"<script src="../_player/hls.min.js"></script>"#), "{page}");
    assert!(page.contains("<video") && page.contains("muted autoplay"), "{page}");
    assert!(page.contains(r#"const source = "manifest/video.m3u8";"#), "{page}");
    let response = fetch(&emulator, &format!("{}/_player/hls.min.js", emulator.base)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, CONTENT_TYPE).starts_with("text/javascript"));
    assert_eq!(response.text().await.unwrap(), "window.Hls = {};");
    assert_eq!(fetch(&emulator, &format!("{}/_player/hls.js", emulator.base)).await.status(), StatusCode::NOT_FOUND);

    // The files live under --data-dir/{uid}; deleting the video takes them away and 404s.
    let video_dir = data.0.join(&uid);
    assert!(video_dir.join("source").is_file() && video_dir.join("manifest/video.m3u8").is_file());
    let (status, _, _) = emulator.call_raw(Method::DELETE, &format!("/{uid}"), None).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    for url in [playlist_url, watch_url, video["thumbnail"].as_str().unwrap()] {
        assert_eq!(fetch(&emulator, url).await.status(), StatusCode::NOT_FOUND, "{url}");
    }
    wait_until_gone(&video_dir).await;

    let log = emulator.stderr();
    assert!(log.contains(&format!("video {uid}: transcoded 2.0")), "{log}");
}

async fn wait_until_gone(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while path.exists() {
        assert!(Instant::now() < deadline, "{} was not removed", path.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn non_videos_and_undecodable_videos_end_in_error() {
    require_ffmpeg();
    let origin = media_origin().await;
    let data = TempDir::new("errors");
    let (hook, mut deliveries) = webhook_receiver(vec![]).await;
    let emulator = Emulator::start(&[
        "--transcode",
        "on",
        "--data-dir",
        data.arg(),
        "--webhook-url",
        &hook,
        "--webhook-secret",
        "s3cret",
    ]);
    for (path, code, text) in [
        ("/notes.txt", "ERR_NON_VIDEO", "The upload is not a video."),
        ("/broken.mp4", "ERR_MALFORMED_VIDEO", "The video was deemed to be corrupted or malformed."),
    ] {
        let created = emulator.copy(json!({"url": format!("{origin}{path}")})).await;
        let uid = created["uid"].as_str().unwrap();
        let video = wait_final(&emulator, uid).await;
        assert_eq!(video["status"]["state"], "error", "{path}: {video}");
        assert_eq!(video["status"]["errorReasonCode"], code, "{path}: {video}");
        assert_eq!(video["status"]["errorReasonText"], text, "{path}: {video}");
        assert_eq!(video["status"]["step"], "encoding", "{path}: {video}");
        assert_eq!(video["readyToStream"], false);
        assert!(video.get("readyToStreamAt").is_none(), "{video}");
        let record = emulator.record(uid).await;
        assert_eq!(record["fetch_status"], 200);
        assert!(record["media_error"].as_str().is_some_and(|e| !e.is_empty()), "{record}");
        let delivered = next_delivery(&mut deliveries).await.json();
        assert_eq!(delivered["uid"], uid);
        assert_eq!(delivered["status"]["errorReasonCode"], code);
        for suffix in ["manifest/video.m3u8", "manifest/video.mpd", "watch", "thumbnails/thumbnail.jpg"] {
            let url = format!("{}/{uid}/{suffix}", emulator.base);
            assert_eq!(fetch(&emulator, &url).await.status(), StatusCode::NOT_FOUND, "{url}");
        }
    }
    // A reset also removes the media files.
    assert_eq!(std::fs::read_dir(&data.0).unwrap().count(), 2);
    let (status, _) = emulator.control(Method::POST, "reset", None).await;
    assert_eq!(status, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_dir(&data.0).unwrap().count() > 0 {
        assert!(Instant::now() < deadline, "reset left media files behind");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn media_is_404_until_ready() {
    require_ffmpeg();
    let origin = media_origin().await;
    let emulator = Emulator::start(&["--transcode", "on"]);
    let created = emulator.copy(json!({"url": format!("{origin}/never")})).await;
    let uid = created["uid"].as_str().unwrap();
    for suffix in
        ["manifest/video.m3u8", "manifest/seg_000.ts", "manifest/video.mpd", "watch", "thumbnails/thumbnail.jpg"]
    {
        let response = fetch(&emulator, &format!("{}/{uid}/{suffix}", emulator.base)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{suffix}");
        assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
        assert!(response.text().await.unwrap().contains("not ready"));
    }
    assert_eq!(emulator.get_video(uid).await.1["result"]["status"]["state"], "downloading");
    let unknown = format!("{}/{}/watch", emulator.base, "0".repeat(32));
    assert_eq!(fetch(&emulator, &unknown).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn several_videos_at_once_all_finish() {
    require_ffmpeg();
    let origin = media_origin().await;
    let emulator = Emulator::start(&["--transcode", "on"]);
    let mut uids = vec![];
    for _ in 0..4 {
        let created = emulator.copy(json!({"url": format!("{origin}/sample.mp4")})).await;
        uids.push(created["uid"].as_str().unwrap().to_owned());
    }
    let mut most_in_progress = 0;
    loop {
        let (_, body) = emulator.call(Method::GET, "", None).await;
        let states: Vec<Value> =
            body["result"].as_array().unwrap().iter().map(|v| v["status"]["state"].clone()).collect();
        most_in_progress = most_in_progress.max(states.iter().filter(|s| *s == "inprogress").count());
        if states.iter().all(|s| s == "ready" || s == "error") {
            assert!(states.iter().all(|s| s == "ready"), "{states:?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(most_in_progress <= 2, "at most 2 transcodes at once, saw {most_in_progress}");
}

#[tokio::test]
async fn transcoding_off_keeps_media_less_videos() {
    let origin = media_origin().await;
    let emulator = Emulator::start(&["--transcode", "off"]);
    let created = emulator.copy(json!({"url": format!("{origin}/notes.txt")})).await;
    let uid = created["uid"].as_str().unwrap();
    let video = wait_final(&emulator, uid).await;
    assert_eq!(video["status"]["state"], "ready");
    assert_eq!(video["duration"], -1);
    assert_eq!(video["input"], json!({"width": -1, "height": -1}));
    for file in ["video.m3u8", "video.mpd"] {
        let response = fetch(&emulator, &format!("{}/{uid}/manifest/{file}", emulator.base)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{file}");
        assert!(response.text().await.unwrap().contains("--transcode off"), "{file}");
    }
    assert!(emulator.stderr().contains("transcoding off"));
}

/// A PATH with no ffmpeg: `on` refuses to start, `auto` falls back to off.
#[tokio::test]
async fn transcode_on_needs_ffmpeg_and_auto_falls_back() {
    let empty = TempDir::new("empty-path");
    let output = Command::new(env!("CARGO_BIN_EXE_stream-emulator"))
        .args(["--account-id", "a", "--token", "t", "--transcode", "on"])
        .env("PATH", empty.arg())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--transcode") && stderr.contains("ffmpeg"), "{stderr}");
    assert!(output.stdout.is_empty());

    let emulator = Emulator::launch(
        &["--listen", "127.0.0.1:0", "--account-id", "a", "--token", "t", "--transcode", "auto"],
        &[("PATH", empty.arg())],
    );
    // Logged before the listening line; the stderr reader thread may still be catching up.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !emulator.stderr().contains("transcoding off") {
        assert!(Instant::now() < deadline, "{}", emulator.stderr());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The default data directory is temporary: created at start, removed on SIGTERM.
#[tokio::test]
async fn default_data_dir_is_removed_on_exit() {
    require_ffmpeg();
    let mut child = Command::new(env!("CARGO_BIN_EXE_stream-emulator"))
        .args(["--listen", "127.0.0.1:0", "--account-id", "a", "--token", "t", "--transcode", "on"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert!(line.starts_with("stream-emulator listening on"), "{line}");
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let dir = stderr
        .lines()
        .find_map(|l| l.strip_prefix("stream-emulator: transcoding with ").and_then(|rest| rest.split(" into ").nth(1)))
        .unwrap_or_else(|| panic!("no data dir in the log: {stderr}"));
    assert!(dir.contains("stream-emulator-"), "{dir}");
    assert!(!Path::new(dir).exists(), "{dir} was left behind");
}
