//! The local world is watchable: the Cloudflare Stream emulator transcodes a real upload to HLS,
//! serves it at the URLs the API returned, and headless Chromium plays the watch page.
//!
//! Needs the setup, and fails (never skips) without it:
//! - `apt-get install -y ffmpeg chromium` (Debian `chromium` at /usr/bin/chromium, or CHROMIUM_PATH);
//! - `npm ci --prefix devtools/player` (hls.js and playwright-core);
//! - `cargo build --workspace --bins` (the `stream-emulator` binary next to this test's directory).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
const TOKEN: &str = "playback-test-token";
const SETUP: &str = "run the setup: apt-get install -y ffmpeg chromium && npm ci --prefix devtools/player \
                     && cargo build --workspace --bins (scripts/setup.sh)";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

fn require(ok: bool, what: &str) {
    assert!(ok, "{what} is missing: {SETUP}");
}

fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM_PATH").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// `target/<profile>/stream-emulator`, next to this test's `deps/` directory.
fn emulator_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let path = exe.parent().and_then(Path::parent).expect("target/<profile>").join("stream-emulator");
    require(path.is_file(), &format!("{} (cargo build --workspace --bins)", path.display()));
    path
}

fn player_dir() -> PathBuf {
    repo_root().join("devtools/player")
}

/// A running `stream-emulator --transcode on`; killed on drop, its log shown if the test failed.
struct Emulator {
    child: Child,
    base: String,
    http: reqwest::Client,
    log: Arc<Mutex<String>>,
}

impl Emulator {
    fn start() -> Self {
        let hls_dist = player_dir().join("node_modules/hls.js/dist");
        let mut child = Command::new(emulator_bin())
            .args(["--listen", "127.0.0.1:0", "--account-id", ACCOUNT, "--token", TOKEN, "--transcode", "on"])
            .arg("--player-dir")
            .arg(&hls_dist)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start stream-emulator");
        let log = Arc::new(Mutex::new(String::new()));
        let (mut pipe, sink) = (child.stderr.take().unwrap(), Arc::clone(&log));
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buffer) {
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("stream-emulator listening on ")
            .unwrap_or_else(|| panic!("stream-emulator did not start: {line:?}"))
            .to_owned();
        Self { child, base, http: reqwest::Client::new(), log }
    }

    async fn copy(&self, url: &str) -> Value {
        let response = self
            .http
            .post(format!("{}/client/v4/accounts/{ACCOUNT}/stream/copy", self.base))
            .bearer_auth(TOKEN)
            .json(&json!({ "url": url }))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "copy: {}", response.status());
        let body: Value = response.json().await.unwrap();
        body["result"].clone()
    }

    /// Polls the video until `ready` or `error`.
    async fn wait_final(&self, uid: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let body: Value = self
                .http
                .get(format!("{}/client/v4/accounts/{ACCOUNT}/stream/{uid}", self.base))
                .bearer_auth(TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let video = body["result"].clone();
            if video["status"]["state"] == "ready" || video["status"]["state"] == "error" {
                return video;
            }
            assert!(Instant::now() < deadline, "the video never finished: {video}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // SIGKILL; the emulator's temporary data dir is swept by the next emulator that starts.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- stream-emulator stderr ---\n{}", self.log.lock().unwrap());
        }
    }
}

/// The "S3" the emulator downloads from: `/sample.mp4` (fixtures/sample.mp4) and `/notes.txt`.
async fn origin() -> String {
    let sample = std::fs::read(repo_root().join("fixtures/sample.mp4")).expect("fixtures/sample.mp4");
    let router = Router::new()
        .route("/sample.mp4", get(move || async move { sample }))
        .route("/notes.txt", get(|| async { "Not a video: just some text.\n".repeat(20) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread")]
async fn uploaded_video_plays_in_headless_chromium() {
    require(on_path("ffmpeg") && on_path("ffprobe"), "ffmpeg");
    require(on_path("node"), "node");
    require(chromium_path().is_file(), &format!("chromium ({})", chromium_path().display()));
    for installed in ["node_modules/hls.js/dist/hls.min.js", "node_modules/playwright-core/package.json"] {
        require(player_dir().join(installed).is_file(), &format!("devtools/player/{installed}"));
    }
    let origin = origin().await;
    let emulator = Emulator::start();

    let started = Instant::now();
    let created = emulator.copy(&format!("{origin}/sample.mp4")).await;
    let uid = created["uid"].as_str().unwrap().to_owned();
    let video = emulator.wait_final(&uid).await;
    let transcoded_in = started.elapsed();
    assert_eq!(video["status"]["state"], "ready", "{video}");
    assert_eq!(video["readyToStream"], true);
    assert_eq!(video["status"]["pctComplete"], "100.000000");
    let duration = video["duration"].as_f64().unwrap_or(-1.0);
    assert!((duration - 2.0).abs() < 0.1, "duration {duration}: {video}");
    assert_eq!(video["input"], json!({"width": 320, "height": 180}));

    // The playlist is served at the URL the API returned, and its segments resolve next to it.
    let hls = video["playback"]["hls"].as_str().unwrap();
    assert_eq!(hls, format!("{}/{uid}/manifest/video.m3u8", emulator.base));
    let response = emulator.http.get(hls).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let playlist = response.text().await.unwrap();
    assert!(playlist.starts_with("#EXTM3U") && playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    let segment = playlist.lines().find(|l| !l.is_empty() && !l.starts_with('#')).expect("a segment");
    let segment_url = format!("{}/{uid}/manifest/{segment}", emulator.base);
    let response = emulator.http.get(&segment_url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{segment_url}");
    assert!(!response.bytes().await.unwrap().is_empty());

    // Headless Chromium plays the watch page.
    let watch = video["preview"].as_str().unwrap();
    let screenshot = std::env::temp_dir().join(format!("playback-{uid}.png"));
    let check_started = Instant::now();
    let output = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new("node")
            .arg(player_dir().join("check-playback.mjs"))
            .arg(watch)
            .arg("--screenshot")
            .arg(&screenshot)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("check-playback.mjs finished within 90 s")
    .expect("run node");
    let checked_in = check_started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the video did not play ({}):\n{stdout}\n{stderr}", output.status);
    let result: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(result["ok"], true, "{result}");
    assert!(result["currentTime"].as_f64().unwrap() > 0.5, "{result}");
    assert!(result["readyState"].as_i64().unwrap() >= 2, "{result}");
    assert!(result["engine"].as_str().is_some_and(|e| e.starts_with("hls.js")), "{result}");
    assert_eq!((result["width"].as_i64(), result["height"].as_i64()), (Some(320), Some(180)), "{result}");
    let _ = std::fs::remove_file(&screenshot);
    eprintln!(
        "playback: ready {} ms after /copy, playing in headless Chromium after {} ms: {result}",
        transcoded_in.as_millis(),
        checked_in.as_millis()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn text_file_ends_in_non_video_error() {
    require(on_path("ffmpeg") && on_path("ffprobe"), "ffmpeg");
    let origin = origin().await;
    let emulator = Emulator::start();
    let created = emulator.copy(&format!("{origin}/notes.txt")).await;
    let uid = created["uid"].as_str().unwrap();
    let video = emulator.wait_final(uid).await;
    assert_eq!(video["status"]["state"], "error", "{video}");
    assert_eq!(video["status"]["errorReasonCode"], "ERR_NON_VIDEO", "{video}");
    assert_eq!(video["readyToStream"], false);
    let response = emulator.http.get(video["playback"]["hls"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(response.status(), 404);
}
