//! Test harness: the `mux-emulator` process and its API ([`crate::common`]: the process, the
//! origin server and the webhook receiver both emulators' tests use).

use std::ops::Deref;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::mpsc;

pub use crate::common::{Delivery, Origin, Process, refused_url, serve};

pub const TOKEN_ID: &str = "44c819de-4add-4c9f-b2e9-384a0a71bede";
pub const TOKEN_SECRET: &str = "INKxCoZ+cX6l1yrR6vqzYHVaeFEcqvZShznWM1U/No8KsV7h6Jxu1XXuTUQ91sdiGONK3H7NE7H";

/// A running `mux-emulator`; killed on drop.
pub struct Mux(Process);

impl Deref for Mux {
    type Target = Process;

    fn deref(&self) -> &Process {
        &self.0
    }
}

impl Mux {
    /// Starts with the test token, a 5 ms processing delay, transcoding off (`media.rs` turns it
    /// on), rate limits high enough not to get in the way, and `extra` flags.
    pub fn start(extra: &[&str]) -> Self {
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--token-id",
            TOKEN_ID,
            "--token-secret",
            TOKEN_SECRET,
            "--processing-delay-ms",
            "5",
            "--transcode",
            "off",
            "--post-burst",
            "1000",
            "--other-burst",
            "1000",
        ];
        args.extend_from_slice(extra);
        Self::launch(&args, &[])
    }

    /// Starts with exactly these flags and extra environment variables.
    pub fn launch(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self(Process::launch(env!("CARGO_BIN_EXE_mux-emulator"), "mux-emulator", args, env))
    }

    /// `http://127.0.0.1:PORT/video/v1{suffix}`.
    pub fn api_url(&self, suffix: &str) -> String {
        format!("{}/video/v1{suffix}", self.base)
    }

    fn request(&self, method: Method, suffix: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.api_url(suffix)).basic_auth(TOKEN_ID, Some(TOKEN_SECRET))
    }

    /// An authenticated API call. Returns the status, headers and raw body.
    pub async fn call_raw(
        &self,
        method: Method,
        suffix: &str,
        body: Option<&Value>,
    ) -> reqwest::Result<(StatusCode, HeaderMap, String)> {
        crate::common::send_raw(self.request(method, suffix), body).await
    }

    /// An authenticated API call expecting a JSON body.
    pub async fn call(&self, method: Method, suffix: &str, body: Option<&Value>) -> (StatusCode, Value) {
        crate::common::send_json(self.request(method, suffix), body).await
    }

    /// `POST /video/v1/assets`, asserting 201; returns the Asset.
    pub async fn create(&self, body: Value) -> Value {
        let (status, envelope) = self.call(Method::POST, "/assets", Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{envelope}");
        envelope["data"].clone()
    }

    pub async fn get_asset(&self, id: &str) -> (StatusCode, Value) {
        self.call(Method::GET, &format!("/assets/{id}"), None).await
    }

    /// Polls `GET /assets/{id}` until the status is one of `statuses`.
    pub async fn wait_for_status(&self, id: &str, statuses: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (status, envelope) = self.get_asset(id).await;
            assert_eq!(status, StatusCode::OK, "{envelope}");
            let asset = &envelope["data"];
            if statuses.iter().any(|s| asset["status"] == *s) {
                return asset.clone();
            }
            assert!(Instant::now() < deadline, "asset never reached {statuses:?}: {asset}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `GET /__emulator/assets`.
    pub async fn records(&self) -> Vec<Value> {
        self.control_list("assets").await
    }

    pub async fn record(&self, id: &str) -> Value {
        self.records()
            .await
            .into_iter()
            .find(|r| r["asset"]["id"] == id)
            .unwrap_or_else(|| panic!("no record for {id}"))
    }
}

/// A webhook receiver at `{base}/hook` (`mux-signature`); answers with the given statuses in turn
/// (200 once they run out; a failure with a short text), and forwards every delivery.
pub async fn webhook_receiver(statuses: Vec<StatusCode>) -> (String, mpsc::UnboundedReceiver<Delivery>) {
    fn respond(status: StatusCode) -> Response {
        (status, if status.is_success() { "" } else { "receiver not ready" }).into_response()
    }
    crate::common::webhook_receiver_with("mux-signature", statuses, respond).await
}

pub async fn next_delivery(receiver: &mut mpsc::UnboundedReceiver<Delivery>) -> Delivery {
    crate::common::next_delivery_within(receiver, 20).await
}

/// Checks a `mux-signature` header the way the Mux SDK's `verifySignature` does (doc §9.5),
/// independently of the emulator's code: `t` and any `v1`, HMAC-SHA256 over `"{t}.{body}"`,
/// at most 300 s old.
pub fn signature_is_valid(header: &str, body: &[u8], secret: &str) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if chrono::Utc::now().timestamp() - timestamp > 300 {
        return false;
    }
    let time = timestamp.to_string();
    signatures.iter().any(|signature| crate::common::hmac_hex_matches(secret, &time, body, signature))
}

/// A Mux-like id: 44 letters and digits.
pub fn is_mux_id(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.len() == 44 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}
