//! Real media processing (`--transcode`): ffprobe for the facts the providers report (duration,
//! dimensions, frame rate, audio channels), ffmpeg for one HLS rendition (plus, on request, the
//! same rendition remuxed to DASH) and a thumbnail. Everything runs as child processes through
//! `tokio::process`, so the server never blocks, and at most [`MAX_CONCURRENT_TRANSCODES`] videos
//! are processed at once; the others wait (Cloudflare: `queued`).
//!
//! On disk, under the data directory: `{uid}/source` (the fetched bytes), `{uid}/manifest/`
//! (`video.m3u8` + `seg_NNN.ts`; with DASH also `video.mpd` + `dash_*.m4s`) and
//! `{uid}/thumbnails/thumbnail.jpg`, so that the delivery routes map URL paths to files one to one.
//! (`uid` is the Cloudflare video uid or the Mux asset id.)

use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Two cores is the common dev box; each ffmpeg already uses several threads.
pub const MAX_CONCURRENT_TRANSCODES: usize = 2;
/// HLS segment length, seconds (`-hls_time`), with a key frame forced at each boundary.
const SEGMENT_SECONDS: u32 = 2;
/// The single rendition is at most this many lines high: fast to encode, plenty for checking.
const MAX_HEIGHT: u32 = 720;
/// Kept from ffmpeg's stderr for `media_error` (it can print one line per broken frame).
const STDERR_TAIL_BYTES: usize = 2048;
pub const PLAYLIST: &str = "video.m3u8";
pub const DASH_MANIFEST: &str = "video.mpd";
pub const THUMBNAIL: &str = "thumbnail.jpg";
/// Prefix of the DASH segment files (`dash_init_0.m4s`, `dash_chunk_0_00001.m4s`).
pub const DASH_SEGMENT_PREFIX: &str = "dash_";

/// Prefix of the default (temporary) data directories: `{program}-{pid}-{random}`
/// (`stream-emulator-...`, `mux-emulator-...`).
fn temp_prefix() -> String {
    format!("{}-", crate::log::program())
}

/// What [`Media::transcode`] writes besides the HLS rendition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outputs {
    /// The HLS rendition remuxed (no second encode) to DASH: `video.mpd` + `dash_*.m4s`.
    pub dash: bool,
}

impl Outputs {
    pub const HLS_ONLY: Self = Self { dash: false };
    pub const HLS_AND_DASH: Self = Self { dash: true };
}

/// Why processing failed, as Cloudflare's `errorReasonCode` (doc §2.4) plus a detail for the
/// emulator's log and `GET /__emulator/videos`.
#[derive(Debug, PartialEq)]
pub enum Failure {
    /// ffprobe found no video stream (or could not read the file at all).
    NonVideo(String),
    /// Shorter than 0.1 s.
    TooShort(String),
    /// ffmpeg failed on a file ffprobe accepted.
    Malformed(String),
    /// The emulator's own problem (disk, missing ffmpeg).
    Internal(String),
}

impl Failure {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NonVideo(_) => "ERR_NON_VIDEO",
            Self::TooShort(_) => "ERR_DURATION_TOO_SHORT",
            Self::Malformed(_) => "ERR_MALFORMED_VIDEO",
            Self::Internal(_) => "ERR_UNKNOWN",
        }
    }

    /// English texts: the doc's error example for `ERR_MALFORMED_VIDEO`, its code table otherwise.
    pub fn text(&self) -> &'static str {
        match self {
            Self::NonVideo(_) => "The upload is not a video.",
            Self::TooShort(_) => "The video is shorter than 0.1 seconds.",
            Self::Malformed(_) => "The video was deemed to be corrupted or malformed.",
            Self::Internal(_) => "Could not determine the reason for the failure.",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Self::NonVideo(detail) | Self::TooShort(detail) | Self::Malformed(detail) | Self::Internal(detail) => {
                detail
            }
        }
    }
}

/// What ffprobe says about a source.
#[derive(Debug, PartialEq)]
pub struct Probe {
    /// Seconds; `None` when the container does not say (raw streams): taken from the playlist.
    pub duration: Option<f64>,
    /// As displayed, i.e. swapped for sources rotated by 90°.
    pub width: i64,
    pub height: i64,
    /// Frames per second of the video stream (`avg_frame_rate`, else `r_frame_rate`).
    pub frame_rate: Option<f64>,
    /// Channels of the first audio stream; `None` without audio.
    pub audio_channels: Option<i64>,
}

/// The size of the single rendition [`Media::transcode`] makes from a `width` x `height` source:
/// at most [`MAX_HEIGHT`] lines, even dimensions (the `scale` filter below).
pub fn rendition_size(width: i64, height: i64) -> (i64, i64) {
    if width <= 0 || height <= 0 {
        return (width, height);
    }
    let max = i64::from(MAX_HEIGHT);
    let w = if height > max { width * max / height } else { width };
    (w / 2 * 2, height.min(max) / 2 * 2)
}

/// `ffmpeg` and `ffprobe` as found on `PATH`.
#[derive(Clone, Debug)]
pub struct Tools {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
}

impl Tools {
    /// Both tools from `path` (the value of `PATH`), or `None` if either is missing.
    pub fn find(path: Option<&std::ffi::OsStr>) -> Option<Self> {
        let path = path?;
        let find = |name: &str| std::env::split_paths(path).map(|dir| dir.join(name)).find(|file| is_executable(file));
        Some(Self { ffmpeg: find("ffmpeg")?, ffprobe: find("ffprobe")? })
    }
}

fn is_executable(file: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        file.is_file()
    }
}

pub struct Media {
    root: PathBuf,
    /// A temporary directory this process created: removed when `Media` is dropped.
    temporary: bool,
    tools: Tools,
    permits: Semaphore,
}

impl Media {
    /// Uses `data_dir` (created if missing, never removed), or a fresh temporary directory.
    pub fn open(data_dir: Option<&Path>, tools: Tools) -> io::Result<Self> {
        let (root, temporary) = match data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                (std::path::absolute(dir)?, false)
            }
            None => {
                remove_stale_temp_dirs();
                let name = format!("{}{}-{:08x}", temp_prefix(), std::process::id(), fastrand::u32(..));
                let dir = std::env::temp_dir().join(name);
                std::fs::create_dir(&dir)?;
                (dir, true)
            }
        };
        Ok(Self { root, temporary, tools, permits: Semaphore::new(MAX_CONCURRENT_TRANSCODES) })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tools(&self) -> &Tools {
        &self.tools
    }

    fn video_dir(&self, uid: &str) -> PathBuf {
        self.root.join(uid)
    }

    pub fn source_path(&self, uid: &str) -> PathBuf {
        self.video_dir(uid).join("source")
    }

    pub fn manifest_dir(&self, uid: &str) -> PathBuf {
        self.video_dir(uid).join("manifest")
    }

    pub fn thumbnail_path(&self, uid: &str) -> PathBuf {
        self.video_dir(uid).join("thumbnails").join(THUMBNAIL)
    }

    /// Waits for a free transcoding slot.
    pub async fn slot(&self) -> SemaphorePermit<'_> {
        self.permits.acquire().await.expect("the semaphore is never closed")
    }

    /// Deletes a video's files (deleted video, reset), in the background.
    pub fn remove_later(&self, uids: Vec<String>) {
        let dirs: Vec<PathBuf> = uids.iter().map(|uid| self.video_dir(uid)).collect();
        tokio::task::spawn_blocking(move || {
            for dir in dirs {
                if let Err(error) = std::fs::remove_dir_all(&dir)
                    && error.kind() != io::ErrorKind::NotFound
                {
                    crate::elog!("cannot remove {}: {error}", dir.display());
                }
            }
        });
    }

    /// `ffprobe` on the stored source.
    pub async fn probe(&self, uid: &str) -> Result<Probe, Failure> {
        let output = Command::new(&self.tools.ffprobe)
            .args(["-v", "error", "-print_format", "json", "-show_format", "-show_streams"])
            .arg(self.source_path(uid))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(60), output)
            .await
            .map_err(|_| Failure::Malformed("ffprobe timed out".to_owned()))?
            .map_err(|e| Failure::Internal(format!("cannot run ffprobe: {e}")))?;
        if !output.status.success() {
            return Err(Failure::NonVideo(format!("ffprobe: {}", last_lines(&output.stderr))));
        }
        parse_probe(&output.stdout)
    }

    /// One H.264/AAC HLS rendition into `{uid}/manifest/` (and DASH, when `outputs` says so).
    /// `progress` gets the seconds encoded so far. Returns the playlist's total duration.
    pub async fn transcode(
        &self,
        uid: &str,
        expected_duration: Option<f64>,
        outputs: Outputs,
        mut progress: impl FnMut(f64),
    ) -> Result<f64, Failure> {
        let dir = self.manifest_dir(uid);
        tokio::fs::create_dir_all(&dir).await.map_err(|e| Failure::Internal(format!("cannot create {dir:?}: {e}")))?;
        let scale = format!("scale=w='trunc(min(iw\\,iw*{MAX_HEIGHT}/ih)/2)*2':h='trunc(min(ih\\,{MAX_HEIGHT})/2)*2'");
        let key_frames = format!("expr:gte(t,n_forced*{SEGMENT_SECONDS})");
        let mut command = Command::new(&self.tools.ffmpeg);
        command
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-nostats", "-progress", "pipe:1"])
            .args(["-stats_period", "0.25", "-y", "-i"])
            .arg(self.source_path(uid))
            .args(["-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn"])
            .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-vf", &scale])
            .args(["-force_key_frames", &key_frames])
            .args(["-c:a", "aac", "-b:a", "128k", "-ac", "2"])
            .args(["-f", "hls", "-hls_time", &SEGMENT_SECONDS.to_string(), "-hls_playlist_type", "vod"])
            .arg("-hls_segment_filename")
            .arg(dir.join("seg_%03d.ts"))
            .arg(dir.join(PLAYLIST));
        // Generous, but a wedged ffmpeg must not hold a slot forever.
        let limit =
            Duration::from_secs(120) + Duration::from_secs_f64(expected_duration.unwrap_or(0.0).min(86_400.0) * 4.0);
        run(command, limit, |line| {
            if let Some(micros) = line.strip_prefix("out_time_us=").and_then(|v| v.trim().parse::<i64>().ok())
                && micros >= 0
            {
                progress(micros as f64 / 1e6);
            }
        })
        .await?;
        let playlist = tokio::fs::read_to_string(dir.join(PLAYLIST))
            .await
            .map_err(|e| Failure::Malformed(format!("ffmpeg wrote no playlist: {e}")))?;
        let Some(total) = playlist_duration(&playlist) else {
            return Err(Failure::Malformed("ffmpeg produced no segment (no decodable frames)".to_owned()));
        };
        if outputs.dash {
            self.remux_to_dash(&dir, limit).await?;
        }
        Ok(total)
    }

    /// The HLS rendition in `dir`, remuxed (stream copy, no second encode) into fragmented-MP4
    /// DASH: `video.mpd` (static, segment template + timeline, relative URLs) and
    /// `dash_init_{N}.m4s` / `dash_chunk_{N}_{NNNNN}.m4s`, one representation per stream.
    async fn remux_to_dash(&self, dir: &Path, limit: Duration) -> Result<(), Failure> {
        let mut command = Command::new(&self.tools.ffmpeg);
        command
            .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
            .arg(dir.join(PLAYLIST))
            // MPEG-TS carries H.264/AAC with its own codec tags; MP4 wants avc1/mp4a.
            .args(["-map", "0", "-c", "copy", "-tag:v", "avc1", "-tag:a", "mp4a"])
            .args(["-f", "dash", "-seg_duration", &SEGMENT_SECONDS.to_string(), "-use_template", "1"])
            .args(["-use_timeline", "1"])
            .args(["-init_seg_name", &format!("{DASH_SEGMENT_PREFIX}init_$RepresentationID$.m4s")])
            .args(["-media_seg_name", &format!("{DASH_SEGMENT_PREFIX}chunk_$RepresentationID$_$Number%05d$.m4s")])
            .arg(dir.join(DASH_MANIFEST));
        run(command, limit, |_| {}).await?;
        match tokio::fs::metadata(dir.join(DASH_MANIFEST)).await {
            Ok(meta) if meta.len() > 0 => Ok(()),
            _ => Err(Failure::Malformed("ffmpeg wrote no DASH manifest".to_owned())),
        }
    }

    /// `{uid}/thumbnails/thumbnail.jpg`, the frame at `at` seconds (the first frame if that fails).
    pub async fn thumbnail(&self, uid: &str, at: f64) -> Result<(), Failure> {
        let path = self.thumbnail_path(uid);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| Failure::Internal(format!("cannot create {dir:?}: {e}")))?;
        }
        let mut last = Failure::Malformed("no thumbnail".to_owned());
        for at in if at > 0.0 { vec![at, 0.0] } else { vec![0.0] } {
            let mut command = Command::new(&self.tools.ffmpeg);
            command
                .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-ss", &format!("{at:.3}"), "-i"])
                .arg(self.source_path(uid))
                .args(["-map", "0:v:0", "-frames:v", "1", "-q:v", "4", "-update", "1"])
                .arg(&path);
            match run(command, Duration::from_secs(60), |_| {}).await {
                Ok(()) if tokio::fs::metadata(&path).await.is_ok_and(|m| m.len() > 0) => return Ok(()),
                Ok(()) => last = Failure::Malformed(format!("no frame at {at:.3} s for the thumbnail")),
                Err(failure) => last = failure,
            }
        }
        Err(last)
    }
}

impl Drop for Media {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Runs an ffmpeg `command`, feeding each stdout line to `on_line`; any failure is `Malformed`
/// with the end of ffmpeg's stderr.
async fn run(mut command: Command, limit: Duration, mut on_line: impl FnMut(&str)) -> Result<(), Failure> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| Failure::Internal(format!("cannot run ffmpeg: {e}")))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(Failure::Internal("ffmpeg pipes missing".to_owned()));
    };
    let lines = async {
        let mut lines = BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            on_line(&line);
        }
    };
    let finished = async {
        let ((), tail) = tokio::join!(lines, read_tail(stderr));
        (child.wait().await, tail)
    };
    // On timeout `child` is dropped with the future's borrow released: kill_on_drop ends it.
    let (status, tail) =
        tokio::time::timeout(limit, finished).await.map_err(|_| Failure::Malformed("ffmpeg timed out".to_owned()))?;
    let status = status.map_err(|e| Failure::Internal(format!("waiting for ffmpeg: {e}")))?;
    if status.success() { Ok(()) } else { Err(Failure::Malformed(format!("ffmpeg {status}: {}", last_lines(&tail)))) }
}

/// Everything from `reader`, keeping only the last [`STDERR_TAIL_BYTES`].
async fn read_tail(mut reader: impl AsyncRead + Unpin) -> Vec<u8> {
    let mut tail = Vec::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n @ 1..) = reader.read(&mut buffer).await {
        tail.extend_from_slice(&buffer[..n]);
        if tail.len() > 2 * STDERR_TAIL_BYTES {
            tail.drain(..tail.len() - STDERR_TAIL_BYTES);
        }
    }
    tail
}

/// The last few non-empty lines of a tool's stderr, on one line.
fn last_lines(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    let joined = lines[start..].join(" | ");
    if joined.is_empty() { "no error output".to_owned() } else { joined }
}

/// The sum of the playlist's `#EXTINF` durations; `None` if it lists no segment.
fn playlist_duration(playlist: &str) -> Option<f64> {
    let durations: Vec<f64> = playlist
        .lines()
        .filter_map(|line| line.strip_prefix("#EXTINF:"))
        .filter_map(|rest| rest.split(',').next()?.trim().parse().ok())
        .collect();
    (!durations.is_empty()).then(|| durations.iter().sum())
}

/// Reads `ffprobe -print_format json -show_format -show_streams` output.
pub fn parse_probe(json: &[u8]) -> Result<Probe, Failure> {
    let probe: Value =
        serde_json::from_slice(json).map_err(|e| Failure::Internal(format!("unreadable ffprobe output: {e}")))?;
    let format_name = probe["format"]["format_name"].as_str().unwrap_or_default();
    // Still images (png_pipe, jpeg_pipe, image2, ...) have a "video" stream but are not videos.
    if format_name == "image2" || format_name.ends_with("_pipe") {
        return Err(Failure::NonVideo(format!("a still image ({format_name})")));
    }
    let streams = probe["streams"].as_array().map(Vec::as_slice).unwrap_or_default();
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video" && s["disposition"]["attached_pic"] != 1)
        .ok_or_else(|| Failure::NonVideo(format!("no video stream ({format_name})")))?;
    let (width, height) = (video["width"].as_i64().unwrap_or(0), video["height"].as_i64().unwrap_or(0));
    if width <= 0 || height <= 0 {
        return Err(Failure::NonVideo(format!("video stream without dimensions ({format_name})")));
    }
    let seconds = |value: &Value| value.as_str().and_then(|s| s.parse::<f64>().ok()).filter(|d| d.is_finite());
    let duration = seconds(&probe["format"]["duration"]).or_else(|| seconds(&video["duration"]));
    if let Some(duration) = duration
        && duration < 0.1
    {
        return Err(Failure::TooShort(format!("{duration} s")));
    }
    let rate = |value: &Value| {
        let (num, den) = value.as_str()?.split_once('/')?;
        let (num, den) = (num.parse::<f64>().ok()?, den.parse::<f64>().ok()?);
        (num > 0.0 && den > 0.0).then(|| num / den).filter(|r| r.is_finite())
    };
    let frame_rate = rate(&video["avg_frame_rate"]).or_else(|| rate(&video["r_frame_rate"]));
    let audio_channels = streams.iter().find(|s| s["codec_type"] == "audio").and_then(|s| s["channels"].as_i64());
    let rotation = video["side_data_list"]
        .as_array()
        .and_then(|list| list.iter().find_map(|entry| entry["rotation"].as_i64()))
        .or_else(|| video["tags"]["rotate"].as_str().and_then(|r| r.parse().ok()))
        .unwrap_or(0);
    let (width, height) = if rotation.rem_euclid(180) == 90 { (height, width) } else { (width, height) };
    Ok(Probe { duration, width, height, frame_rate, audio_channels })
}

/// Removes `{program}-{pid}-*` temporary directories left by emulators that are gone
/// (killed with SIGKILL, as test harnesses do, so their `Drop` never ran). Linux only: it needs
/// `/proc` to tell whether the pid is alive.
fn remove_stale_temp_dirs() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let prefix = temp_prefix();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix.as_str()))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(json: &str) -> Result<Probe, Failure> {
        parse_probe(json.as_bytes())
    }

    #[test]
    fn probe_of_a_normal_video() {
        let json = r#"{"streams":[{"codec_type":"audio","channels":2},{"codec_type":"video","width":320,"height":180,
            "avg_frame_rate":"30000/1001","disposition":{"attached_pic":0}}],
            "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"2.000000"}}"#;
        let probed = probe(json).unwrap();
        assert_eq!((probed.duration, probed.width, probed.height), (Some(2.0), 320, 180));
        assert!((probed.frame_rate.unwrap() - 29.97).abs() < 0.001, "{probed:?}");
        assert_eq!(probed.audio_channels, Some(2));
    }

    #[test]
    fn rotated_sources_report_display_dimensions() {
        let json = r#"{"streams":[{"codec_type":"video","width":1920,"height":1080,
            "side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]}],"format":{"format_name":"mov","duration":"3.5"}}"#;
        let probed = probe(json).unwrap();
        assert_eq!((probed.duration, probed.width, probed.height), (Some(3.5), 1080, 1920));
        assert_eq!((probed.frame_rate, probed.audio_channels), (None, None));
    }

    #[test]
    fn non_videos_and_short_videos() {
        let audio_with_cover = r#"{"streams":[{"codec_type":"audio"},{"codec_type":"video","width":500,"height":500,
            "disposition":{"attached_pic":1}}],"format":{"format_name":"mp3","duration":"180.0"}}"#;
        assert_eq!(probe(audio_with_cover).unwrap_err().code(), "ERR_NON_VIDEO");
        let png = r#"{"streams":[{"codec_type":"video","width":10,"height":10}],"format":{"format_name":"png_pipe"}}"#;
        assert_eq!(probe(png).unwrap_err().code(), "ERR_NON_VIDEO");
        let short = r#"{"streams":[{"codec_type":"video","width":10,"height":10}],"format":{"format_name":"mov","duration":"0.04"}}"#;
        assert_eq!(probe(short).unwrap_err().code(), "ERR_DURATION_TOO_SHORT");
        let raw = r#"{"streams":[{"codec_type":"video","width":10,"height":10,"avg_frame_rate":"0/0",
            "r_frame_rate":"25/1"}],"format":{"format_name":"h264"}}"#;
        let expected = Probe { duration: None, width: 10, height: 10, frame_rate: Some(25.0), audio_channels: None };
        assert_eq!(probe(raw), Ok(expected));
    }

    #[test]
    fn playlist_durations() {
        let playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000000,\nseg_000.ts\n#EXTINF:0.5,\nseg_001.ts\n#EXT-X-ENDLIST\n";
        assert_eq!(playlist_duration(playlist), Some(2.5));
        assert_eq!(playlist_duration("#EXTM3U\n#EXT-X-ENDLIST\n"), None);
    }

    #[test]
    fn rendition_sizes() {
        assert_eq!(rendition_size(320, 180), (320, 180));
        assert_eq!(rendition_size(1920, 1080), (1280, 720));
        assert_eq!(rendition_size(1080, 1920), (404, 720));
        assert_eq!(rendition_size(321, 181), (320, 180));
    }

    #[test]
    fn stderr_tail_keeps_the_last_lines() {
        assert_eq!(last_lines(b"a\n\nb\nc\nd\n"), "b | c | d");
        assert_eq!(last_lines(b""), "no error output");
    }

    #[test]
    fn tools_are_found_on_path_only_when_executable() {
        let dir = std::env::temp_dir().join(format!("media-tools-test-{}", fastrand::u32(..)));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(Tools::find(Some(dir.as_os_str())).is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for name in ["ffmpeg", "ffprobe"] {
                std::fs::write(dir.join(name), "#!/bin/sh\n").unwrap();
                std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            let tools = Tools::find(Some(dir.as_os_str())).unwrap();
            assert_eq!(tools.ffmpeg, dir.join("ffmpeg"));
        }
        assert!(Tools::find(None).is_none());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
