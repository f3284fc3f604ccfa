//! `--transcode`: real HLS from ffmpeg at Mux's URL shapes, the facts of a ready asset, media
//! errors. Like the Cloudflare emulator's media tests these need `ffmpeg` and `ffprobe` on PATH
//! (`apt-get install ffmpeg`) and fail, not skip, without them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use reqwest::header::{ACCESS_CONTROL_ALLOW_ORIGIN, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{require_ffmpeg, sample};
use crate::support::{Mux, next_delivery, serve, webhook_receiver};

/// An origin with `/sample.mp4`, `/notes.txt` and `/never` (never answers).
async fn media_origin() -> String {
    let router = Router::new()
        .route("/sample.mp4", get(|| async { sample() }))
        .route("/notes.txt", get(|| async { "Tasting notes, definitely not a video.\n".repeat(50) }))
        .route("/never", get(std::future::pending::<()>));
    serve(router).await
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("mux-test-{name}-{}-{nanos:x}", std::process::id()));
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

async fn fetch(mux: &Mux, url: &str) -> reqwest::Response {
    mux.http.get(url).send().await.unwrap()
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> String {
    response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_real_video_is_transcoded_and_served_at_muxs_url_shapes() {
    require_ffmpeg();
    let origin = media_origin().await;
    let data = TempDir::new("data");
    let player = TempDir::new("player");
    std::fs::write(player.0.join("hls.min.js"), "window.Hls = {};").unwrap();
    let (hook, mut deliveries) = webhook_receiver(vec![]).await;
    let mux = Mux::start(&[
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
    let created =
        mux.create(json!({"inputs": [{"url": format!("{origin}/sample.mp4")}], "playback_policies": ["public"]})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let playback_id = created["playback_ids"][0]["id"].as_str().unwrap().to_owned();

    // Not playable until ready.
    let early = fetch(&mux, &format!("{}/{playback_id}.m3u8", mux.base)).await;
    if mux.get_asset(&id).await.1["data"]["status"] == "preparing" {
        assert_eq!(early.status(), StatusCode::NOT_FOUND);
    }

    let mut saw_transcoding = false;
    let asset = loop {
        let (_, envelope) = mux.get_asset(&id).await;
        let asset = envelope["data"].clone();
        if asset["progress"]["state"] == "transcoding" {
            saw_transcoding = true;
            let pct = asset["progress"]["progress"].as_i64().unwrap();
            assert!((0..100).contains(&pct), "{asset}");
            assert_eq!(asset["status"], "preparing");
        }
        if asset["status"] != "preparing" {
            break asset;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert!(saw_transcoding || mux.stderr().contains("transcoded"), "{}", mux.stderr());
    assert_eq!(asset["status"], "ready", "{asset}");
    assert!((asset["duration"].as_f64().unwrap() - 2.0).abs() < 0.1, "{asset}");
    assert_eq!(asset["aspect_ratio"], "16:9");
    assert_eq!(asset["resolution_tier"], "720p");
    assert_eq!(asset["max_stored_resolution"], "SD");
    assert!(asset["max_stored_frame_rate"].as_f64().unwrap() > 0.0, "{asset}");
    assert_eq!(asset["progress"], json!({"state": "completed", "progress": 100}));
    let tracks = asset["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 2, "{asset}");
    assert_eq!(
        (tracks[0]["type"].clone(), tracks[0]["max_width"].clone(), tracks[0]["max_height"].clone()),
        (json!("video"), json!(320), json!(180))
    );
    assert_eq!(tracks[1]["type"], "audio");
    assert!(tracks[1]["max_channels"].as_i64().unwrap() >= 1);
    // The webhook carries the same facts.
    assert_eq!(next_delivery(&mut deliveries).await.json()["type"], "video.asset.created");
    let ready = next_delivery(&mut deliveries).await.json();
    assert_eq!(ready["type"], "video.asset.ready");
    assert_eq!(ready["data"]["tracks"], asset["tracks"]);

    // stream.mux.com/{PLAYBACK_ID}.m3u8: a multivariant playlist naming the rendition.
    let response = fetch(&mux, &format!("{}/{playback_id}.m3u8?token=ignored", mux.base)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_TYPE), "application/vnd.apple.mpegurl");
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    let multivariant = response.text().await.unwrap();
    assert!(
        multivariant.starts_with("#EXTM3U") && multivariant.contains("#EXT-X-STREAM-INF:BANDWIDTH="),
        "{multivariant}"
    );
    assert!(multivariant.contains("RESOLUTION=320x180"), "{multivariant}");
    let rendition = multivariant.lines().find(|l| !l.starts_with('#') && !l.is_empty()).unwrap();
    assert_eq!(rendition, format!("{playback_id}/rendition.m3u8"), "relative: {multivariant}");
    let response = fetch(&mux, &format!("{}/{rendition}", mux.base)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let playlist = response.text().await.unwrap();
    assert!(playlist.contains("#EXT-X-PLAYLIST-TYPE:VOD") && playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    let segments: Vec<&str> = playlist.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert!(!segments.is_empty());
    for segment in segments {
        assert!(!segment.contains('/'), "segment URLs are relative: {segment}");
        let response = fetch(&mux, &format!("{}/{playback_id}/{segment}", mux.base)).await;
        assert_eq!(response.status(), StatusCode::OK, "{segment}");
        assert_eq!(header(&response, CONTENT_TYPE), "video/mp2t");
        let bytes = response.bytes().await.unwrap();
        assert!(bytes.len() > 1000 && bytes[0] == 0x47, "an MPEG-TS segment");
    }

    // image.mux.com/{PLAYBACK_ID}/thumbnail.jpg
    let response = fetch(&mux, &format!("{}/{playback_id}/thumbnail.jpg?time=1&width=200", mux.base)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, CONTENT_TYPE), "image/jpeg");
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    assert!(response.bytes().await.unwrap().starts_with(&[0xFF, 0xD8]), "a JPEG");

    // The watch page (player.mux.com/{PLAYBACK_ID}) plays the multivariant playlist.
    let response = fetch(&mux, &format!("{}/{playback_id}/watch", mux.base)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, CONTENT_TYPE).starts_with("text/html"));
    let page = response.text().await.unwrap();
    assert!(page.contains(&format!(r#"const source = "../{playback_id}.m3u8";"#)), "{page}");
    assert!(page.contains(r#"<script src="../_player/hls.min.js"></script>"#), "{page}");
    assert!(page.contains(r#"poster="thumbnail.jpg""#) && page.contains("Mux Video emulator"), "{page}");
    let response = fetch(&mux, &format!("{}/_player/hls.min.js", mux.base)).await;
    assert_eq!(response.text().await.unwrap(), "window.Hls = {};");

    // Nothing else, and asset ids are not playback ids.
    for path in [
        format!("{playback_id}/thumbnail.png"),
        format!("{playback_id}/storyboard.vtt"),
        format!("{playback_id}/source"),
        format!("{playback_id}/..%2Fsource"),
        format!("{id}.m3u8"),
        format!("{id}/thumbnail.jpg"),
        "0000.m3u8".to_owned(),
    ] {
        let response = fetch(&mux, &format!("{}/{path}", mux.base)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), "*");
    }

    // Files live under --data-dir/{ASSET_ID}; deleting the asset takes them away.
    let dir = data.0.join(&id);
    assert!(dir.join("source").is_file() && dir.join("manifest/video.m3u8").is_file());
    assert!(!dir.join("manifest/video.mpd").exists(), "no DASH for Mux");
    let (status, _, _) = mux.call_raw(Method::DELETE, &format!("/assets/{id}"), None).await.unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(fetch(&mux, &format!("{}/{playback_id}.m3u8", mux.base)).await.status(), StatusCode::NOT_FOUND);
    let deadline = Instant::now() + Duration::from_secs(10);
    while dir.exists() {
        assert!(Instant::now() < deadline, "{} was not removed", dir.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(mux.stderr().contains(&format!("asset {id}: transcoded 2.0")), "{}", mux.stderr());
}

#[tokio::test]
async fn non_videos_end_errored_and_are_never_served() {
    require_ffmpeg();
    let origin = media_origin().await;
    let data = TempDir::new("errors");
    let mux = Mux::start(&["--transcode", "on", "--data-dir", data.arg()]);
    let created =
        mux.create(json!({"inputs": [{"url": format!("{origin}/notes.txt")}], "playback_policies": ["public"]})).await;
    let id = created["id"].as_str().unwrap();
    let asset = mux.wait_for_status(id, &["ready", "errored"]).await;
    assert_eq!(asset["status"], "errored", "{asset}");
    assert_eq!(asset["errors"]["type"], "invalid_input");
    assert!(asset["errors"]["messages"][0].is_string(), "{asset}");
    assert!(asset.get("duration").is_none() && asset["tracks"] == json!([]), "{asset}");
    let record = mux.record(id).await;
    assert_eq!(record["fetch_status"], 200);
    assert!(record["media_error"].as_str().is_some_and(|e| !e.is_empty()), "{record}");
    let playback_id = created["playback_ids"][0]["id"].as_str().unwrap();
    for path in [format!("{playback_id}.m3u8"), format!("{playback_id}/thumbnail.jpg"), format!("{playback_id}/watch")]
    {
        assert_eq!(fetch(&mux, &format!("{}/{path}", mux.base)).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn preparing_assets_are_404_and_transcoding_off_serves_no_media() {
    let origin = media_origin().await;
    let mux = Mux::start(&["--transcode", "off"]);
    let pending =
        mux.create(json!({"inputs": [{"url": format!("{origin}/never")}], "playback_policies": ["public"]})).await;
    let pending_id = pending["playback_ids"][0]["id"].as_str().unwrap();
    let response = fetch(&mux, &format!("{}/{pending_id}.m3u8", mux.base)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("not ready"));

    let ready =
        mux.create(json!({"inputs": [{"url": format!("{origin}/notes.txt")}], "playback_policies": ["public"]})).await;
    mux.wait_for_status(ready["id"].as_str().unwrap(), &["ready"]).await;
    let playback_id = ready["playback_ids"][0]["id"].as_str().unwrap();
    let response = fetch(&mux, &format!("{}/{playback_id}.m3u8", mux.base)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("--transcode off"));
}
