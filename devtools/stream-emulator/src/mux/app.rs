//! The Mux emulator's state: the environment's assets, its webhook endpoint, faults, rate
//! limiter and request log. Each piece has its own short-lived `std` mutex; no lock is held
//! across `.await`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc::UnboundedSender;

use crate::app::{Controls, http_client, lock};
use crate::cli::WebhookTarget;
use crate::delivery::HasPlayerDir;
use crate::media::Media;
use crate::mux::cli::Config;
use crate::mux::model::{Asset, Status};
use crate::mux::ratelimit::MuxLimiter;
use crate::mux::webhook::Event;
use crate::signing::KeyStore;

pub type SharedMux = Arc<MuxApp>;

/// An asset plus what only the emulator knows about it (`GET /__emulator/assets`).
#[derive(Clone, Debug, Serialize)]
pub struct AssetRecord {
    pub asset: Asset,
    pub deleted: bool,
    /// The main input's URL exactly as sent (and fetched).
    pub input_url: String,
    pub source_sha256: Option<String>,
    pub source_size: Option<u64>,
    pub fetch_status: Option<u16>,
    pub fetch_error: Option<String>,
    /// Why ffprobe/ffmpeg rejected the input (`--transcode`), e.g. the end of ffmpeg's stderr.
    pub media_error: Option<String>,
    /// Creation order, for listing and cursors.
    #[serde(skip)]
    pub seq: u64,
    /// Width and height of the HLS rendition, once transcoded.
    #[serde(skip)]
    pub rendition: Option<(i64, i64)>,
}

/// What delivery needs to serve a playback id.
pub struct Playable {
    pub asset_id: String,
    /// Width and height of the HLS rendition.
    pub rendition: Option<(i64, i64)>,
}

/// `environment` in webhook events.
#[derive(Clone, Debug, Serialize)]
pub struct Environment {
    pub id: String,
    pub name: String,
}

pub struct MuxApp {
    pub token_id: String,
    pub token_secret: String,
    /// Base of playback, thumbnail and watch URLs, without trailing slash.
    pub public_base_url: String,
    pub processing_delay: Duration,
    /// Client for input fetches and webhook deliveries.
    pub http: reqwest::Client,
    /// `Some` when transcoding is on.
    pub media: Option<Media>,
    /// Where `/_player/hls.min.js` is read from (absolute).
    pub player_dir: PathBuf,
    pub webhook: Option<WebhookTarget>,
    pub environment: Environment,
    assets: Mutex<Assets>,
    /// `POST /system/v1/signing-keys`: the public halves, for verifying signed playback tokens.
    signing_keys: Mutex<KeyStore>,
    pub controls: Controls<MuxLimiter>,
    /// Per asset, the queue its webhook events are delivered from, in order.
    lanes: Mutex<HashMap<String, UnboundedSender<Event>>>,
}

#[derive(Default)]
struct Assets {
    records: Vec<AssetRecord>,
    next_seq: u64,
}

impl HasPlayerDir for MuxApp {
    fn player_dir(&self) -> &Path {
        &self.player_dir
    }
}

impl MuxApp {
    pub fn new(
        config: &Config,
        public_base_url: String,
        media: Option<Media>,
        player_dir: PathBuf,
    ) -> reqwest::Result<Self> {
        let http = http_client()?;
        Ok(Self {
            token_id: config.token_id.clone(),
            token_secret: config.token_secret.clone(),
            public_base_url,
            processing_delay: config.serving.processing_delay,
            http,
            media,
            player_dir,
            webhook: config.serving.webhook.clone(),
            environment: Environment { id: config.environment_id.clone(), name: config.environment_name.clone() },
            assets: Mutex::default(),
            signing_keys: Mutex::new(KeyStore::new(usize::MAX)),
            controls: Controls::new(MuxLimiter::new(config.post_limit, config.other_limit)),
            lanes: Mutex::default(),
        })
    }

    // --- assets -------------------------------------------------------------------------

    pub fn insert_asset(&self, asset: Asset, input_url: String) {
        let mut assets = lock(&self.assets);
        let seq = assets.next_seq;
        assets.next_seq += 1;
        assets.records.push(AssetRecord {
            asset,
            deleted: false,
            input_url,
            source_sha256: None,
            source_size: None,
            fetch_status: None,
            fetch_error: None,
            media_error: None,
            seq,
            rendition: None,
        });
    }

    /// Runs `f` on the live record for `id`; `None` if unknown, deleted, or wiped by a reset.
    pub fn with_live_record<R>(&self, id: &str, f: impl FnOnce(&mut AssetRecord) -> R) -> Option<R> {
        lock(&self.assets).records.iter_mut().find(|r| r.asset.id == id && !r.deleted).map(f)
    }

    pub fn asset(&self, id: &str) -> Option<Asset> {
        self.with_live_record(id, |record| record.asset.clone())
    }

    /// Live assets, newest first, with their sequence numbers.
    pub fn live_assets_newest_first(&self) -> Vec<(u64, Asset)> {
        let assets = lock(&self.assets);
        assets.records.iter().rev().filter(|r| !r.deleted).map(|r| (r.seq, r.asset.clone())).collect()
    }

    /// Marks the asset deleted; returns it as it was.
    pub fn delete_asset(&self, id: &str) -> Option<Asset> {
        self.with_live_record(id, |record| {
            record.deleted = true;
            record.asset.clone()
        })
    }

    /// The live, `ready` asset that has this playback id, or why there is none.
    pub fn playable(&self, playback_id: &str) -> Result<Playable, &'static str> {
        let assets = lock(&self.assets);
        let record = assets
            .records
            .iter()
            .find(|r| !r.deleted && r.asset.playback_ids.iter().any(|p| p.id == playback_id))
            .ok_or("no such playback id")?;
        if record.asset.status != Status::Ready {
            return Err("no such playback id, or its asset is not ready yet");
        }
        Ok(Playable { asset_id: record.asset.id.clone(), rendition: record.rendition })
    }

    /// Every asset ever created, deleted ones included, oldest first.
    pub fn all_records(&self) -> Vec<AssetRecord> {
        lock(&self.assets).records.clone()
    }

    /// The policy (`public`, `signed`) of the live asset's playback id, `None` if no live asset
    /// has it.
    pub fn playback_policy(&self, playback_id: &str) -> Option<String> {
        let assets = lock(&self.assets);
        assets
            .records
            .iter()
            .filter(|r| !r.deleted)
            .flat_map(|r| r.asset.playback_ids.iter())
            .find(|p| p.id == playback_id)
            .map(|p| p.policy.clone())
    }

    // --- signing keys -------------------------------------------------------------------

    /// The environment's URL signing keys. Configuration, like the webhook endpoint: they survive
    /// `POST /__emulator/reset`.
    pub fn signing_keys(&self) -> MutexGuard<'_, KeyStore> {
        lock(&self.signing_keys)
    }

    // --- webhook lanes ------------------------------------------------------------------

    pub fn lanes(&self) -> MutexGuard<'_, HashMap<String, UnboundedSender<Event>>> {
        lock(&self.lanes)
    }

    /// Back to an empty environment (`POST /__emulator/reset`): assets (and their media files),
    /// faults, request log and rate-limit state. Background jobs of wiped assets find their asset
    /// gone and stop; webhook events already queued are still delivered.
    pub fn reset(&self) {
        let wiped: Vec<String> = {
            let mut assets = lock(&self.assets);
            assets.records.drain(..).map(|record| record.asset.id).collect()
        };
        if let Some(media) = &self.media {
            media.remove_later(wiped);
        }
        lock(&self.lanes).clear();
        self.controls.clear(MuxLimiter::reset);
    }
}
