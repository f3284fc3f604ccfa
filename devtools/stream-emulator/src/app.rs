//! Shared emulator state: the video library, webhook subscription, faults, rate limiter and the
//! request log. Each piece has its own short-lived `std` mutex; no lock is held across `.await`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;

use crate::cli::Config;
use crate::faults::FaultQueue;
use crate::media::Media;
use crate::model::{Timestamp, Video};
use crate::ratelimit::RateLimiter;
use crate::requests::RequestLog;
pub use crate::requests::RequestRecord;
use crate::signing::KeyStore;

pub type SharedApp = Arc<App>;

/// "You can have up to 1,000 keys" (Stream's signing keys).
pub const MAX_SIGNING_KEYS: usize = 1000;

/// A video plus what only the emulator knows about it (exposed by `GET /__emulator/videos`).
#[derive(Clone, Debug, Serialize)]
pub struct VideoRecord {
    pub video: Video,
    pub deleted: bool,
    pub source_sha256: Option<String>,
    pub source_size: Option<u64>,
    pub fetch_status: Option<u16>,
    pub fetch_error: Option<String>,
    /// Why ffprobe/ffmpeg rejected the source (`--transcode`), e.g. the end of ffmpeg's stderr.
    pub media_error: Option<String>,
}

/// The account's single webhook subscription (doc §5.1).
#[derive(Clone, Debug)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
    pub modified: Timestamp,
}

pub struct App {
    pub account_id: String,
    pub token: String,
    /// Base of playback/thumbnail URLs, without trailing slash.
    pub public_base_url: String,
    pub processing_delay: Duration,
    pub max_in_flight: usize,
    /// `--require-head on`: a HEAD of the source before the GET, as Stream documents.
    pub require_head: bool,
    /// Client for origin fetches and webhook deliveries.
    pub http: reqwest::Client,
    /// `Some` when transcoding is on.
    pub media: Option<Media>,
    /// Where `/_player/hls.min.js` is read from (absolute).
    pub player_dir: PathBuf,
    videos: Mutex<Vec<VideoRecord>>,
    webhook: Mutex<Option<Webhook>>,
    /// `POST /stream/keys`: the public halves, for verifying signed playback tokens.
    signing_keys: Mutex<KeyStore>,
    pub controls: Controls<RateLimiter>,
}

/// A poisoned lock only means another request panicked mid-update; for a test double it is
/// more useful to keep serving than to cascade the panic.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What both apps keep for the gate and the test-control API: the fault queue, the rate limiter
/// (`L`, each provider's own) and the request log.
pub struct Controls<L> {
    faults: Mutex<FaultQueue>,
    limiter: Mutex<L>,
    requests: RequestLog,
}

impl<L> Controls<L> {
    pub fn new(limiter: L) -> Self {
        Self { faults: Mutex::default(), limiter: Mutex::new(limiter), requests: RequestLog::default() }
    }

    pub fn faults(&self) -> MutexGuard<'_, FaultQueue> {
        lock(&self.faults)
    }

    pub fn limiter(&self) -> MutexGuard<'_, L> {
        lock(&self.limiter)
    }

    pub fn request_log(&self) -> &RequestLog {
        &self.requests
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.requests.all()
    }

    /// Clears the faults and the request log, then resets the limiter with `reset_limiter`.
    pub fn clear(&self, reset_limiter: impl FnOnce(&mut L)) {
        lock(&self.faults).clear();
        self.requests.clear();
        reset_limiter(&mut lock(&self.limiter));
    }
}

/// The client both emulators fetch sources and deliver webhooks with.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        // The emulator talks to local origins and receivers; an inherited HTTP(S)_PROXY
        // would only get in the way.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .build()
}

impl App {
    pub fn new(
        config: &Config,
        public_base_url: String,
        media: Option<Media>,
        player_dir: PathBuf,
    ) -> reqwest::Result<Self> {
        let http = http_client()?;
        let webhook = config.serving.webhook.as_ref().map(|target| Webhook {
            url: target.url.clone(),
            secret: target.secret.clone(),
            modified: Timestamp::now(),
        });
        Ok(Self {
            account_id: config.account_id.clone(),
            token: config.token.clone(),
            public_base_url,
            processing_delay: config.serving.processing_delay,
            max_in_flight: config.max_in_flight,
            require_head: config.require_head,
            http,
            media,
            player_dir,
            videos: Mutex::default(),
            webhook: Mutex::new(webhook),
            signing_keys: Mutex::new(KeyStore::new(MAX_SIGNING_KEYS)),
            controls: Controls::new(RateLimiter::new(config.rate_limit)),
        })
    }

    // --- videos -------------------------------------------------------------------------

    pub fn insert_video(&self, video: Video) {
        lock(&self.videos).push(VideoRecord {
            video,
            deleted: false,
            source_sha256: None,
            source_size: None,
            fetch_status: None,
            fetch_error: None,
            media_error: None,
        });
    }

    /// Live videos that count against Stream's concurrency limit (downloading, queued, in progress).
    pub fn in_flight(&self) -> usize {
        use crate::model::State;
        lock(&self.videos)
            .iter()
            .filter(|r| {
                !r.deleted && matches!(r.video.status.state, State::Downloading | State::Queued | State::InProgress)
            })
            .count()
    }

    /// A live (not deleted) video.
    pub fn video(&self, uid: &str) -> Option<Video> {
        self.with_live_record(uid, |record| record.video.clone())
    }

    /// Runs `f` on the live record for `uid`; `None` if unknown, deleted, or wiped by a reset.
    pub fn with_live_record<R>(&self, uid: &str, f: impl FnOnce(&mut VideoRecord) -> R) -> Option<R> {
        lock(&self.videos).iter_mut().find(|r| r.video.uid == uid && !r.deleted).map(f)
    }

    /// Live videos in creation order.
    pub fn live_videos(&self) -> Vec<Video> {
        lock(&self.videos).iter().filter(|r| !r.deleted).map(|r| r.video.clone()).collect()
    }

    /// Every video ever created, deleted ones included.
    pub fn all_records(&self) -> Vec<VideoRecord> {
        lock(&self.videos).clone()
    }

    // --- signing keys ---------------------------------------------------------------------

    /// The account's signing keys (`POST /stream/keys`). Like the webhook subscription they are
    /// configuration and survive `POST /__emulator/reset`.
    pub fn signing_keys(&self) -> MutexGuard<'_, KeyStore> {
        lock(&self.signing_keys)
    }

    // --- webhook subscription -----------------------------------------------------------

    pub fn webhook(&self) -> Option<Webhook> {
        lock(&self.webhook).clone()
    }

    pub fn set_webhook(&self, webhook: Option<Webhook>) {
        *lock(&self.webhook) = webhook;
    }

    /// Back to an empty library (`POST /__emulator/reset`). The webhook subscription is
    /// configuration, not data, and is kept. Background jobs of wiped videos find their
    /// video gone and stop.
    pub fn reset(&self) {
        let wiped: Vec<String> = lock(&self.videos).drain(..).map(|record| record.video.uid).collect();
        if let Some(media) = &self.media {
            media.remove_later(wiped);
        }
        self.controls.clear(RateLimiter::reset);
    }
}
