//! Test harness: the `stream-emulator` process and its API ([`crate::common`]: the process, the
//! origin server and the webhook receiver both emulators' tests use).

use std::ops::Deref;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use reqwest::Method;
use serde_json::Value;
use tokio::sync::mpsc;

pub use crate::common::{Delivery, Origin, Process, refused_url, serve};

pub const ACCOUNT: &str = "0123456789abcdef0123456789abcdef";
pub const TOKEN: &str = "emulator-test-token";

/// A running `stream-emulator`; killed on drop.
pub struct Emulator(Process);

impl Deref for Emulator {
    type Target = Process;

    fn deref(&self) -> &Process {
        &self.0
    }
}

impl Emulator {
    /// Starts with the test account/token, a 5 ms processing delay, transcoding off (the origin
    /// serves bytes that are not a video; `media.rs` turns it on), and `extra` flags.
    pub fn start(extra: &[&str]) -> Self {
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--account-id",
            ACCOUNT,
            "--token",
            TOKEN,
            "--processing-delay-ms",
            "5",
            "--transcode",
            "off",
        ];
        args.extend_from_slice(extra);
        Self::launch(&args, &[])
    }

    /// Starts with exactly these flags and extra environment variables.
    pub fn launch(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self(Process::launch(env!("CARGO_BIN_EXE_stream-emulator"), "stream-emulator", args, env))
    }

    /// `http://127.0.0.1:PORT/client/v4/accounts/ACCOUNT/stream{suffix}`.
    pub fn stream_url(&self, suffix: &str) -> String {
        format!("{}/client/v4/accounts/{ACCOUNT}/stream{suffix}", self.base)
    }

    /// An authenticated API call. Returns the status, headers and raw body.
    pub async fn call_raw(
        &self,
        method: Method,
        suffix: &str,
        body: Option<&Value>,
    ) -> reqwest::Result<(StatusCode, HeaderMap, String)> {
        crate::common::send_raw(self.http.request(method, self.stream_url(suffix)).bearer_auth(TOKEN), body).await
    }

    /// An authenticated API call expecting a JSON body.
    pub async fn call(&self, method: Method, suffix: &str, body: Option<&Value>) -> (StatusCode, Value) {
        crate::common::send_json(self.http.request(method, self.stream_url(suffix)).bearer_auth(TOKEN), body).await
    }

    /// `POST /copy`, asserting success; returns the Video.
    pub async fn copy(&self, body: Value) -> Value {
        let (status, envelope) = self.call(Method::POST, "/copy", Some(&body)).await;
        assert_eq!(status, StatusCode::OK, "{envelope}");
        assert_eq!(envelope["success"], true, "{envelope}");
        envelope["result"].clone()
    }

    pub async fn get_video(&self, uid: &str) -> (StatusCode, Value) {
        self.call(Method::GET, &format!("/{uid}"), None).await
    }

    /// Polls `GET /stream/{uid}` until the state is one of `states`.
    pub async fn wait_for_state(&self, uid: &str, states: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, envelope) = self.get_video(uid).await;
            assert_eq!(status, StatusCode::OK, "{envelope}");
            let video = &envelope["result"];
            if states.iter().any(|s| video["status"]["state"] == *s) {
                return video.clone();
            }
            assert!(Instant::now() < deadline, "video never reached {states:?}: {video}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `GET /__emulator/videos`.
    pub async fn records(&self) -> Vec<Value> {
        self.control_list("videos").await
    }

    pub async fn record(&self, uid: &str) -> Value {
        self.records()
            .await
            .into_iter()
            .find(|r| r["video"]["uid"] == uid)
            .unwrap_or_else(|| panic!("no record for {uid}"))
    }
}

/// A webhook receiver at `{base}/hook` (`Webhook-Signature`); answers with the given statuses
/// in turn (200 once they run out), and forwards every delivery.
pub async fn webhook_receiver(statuses: Vec<StatusCode>) -> (String, mpsc::UnboundedReceiver<Delivery>) {
    crate::common::webhook_receiver_with("webhook-signature", statuses, |status| status.into_response()).await
}

pub async fn next_delivery(receiver: &mut mpsc::UnboundedReceiver<Delivery>) -> Delivery {
    crate::common::next_delivery_within(receiver, 10).await
}

/// Checks a `Webhook-Signature` header the way a receiver would (doc §5.3), independently of
/// the emulator's own signing code.
pub fn signature_is_valid(header: &str, body: &[u8], secret: &str) -> bool {
    let mut time = None;
    let mut sig1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("time", value)) => time = Some(value),
            Some(("sig1", value)) => sig1 = Some(value),
            _ => {}
        }
    }
    let (Some(time), Some(sig1)) = (time, sig1) else {
        return false;
    };
    let Ok(seconds) = time.parse::<i64>() else {
        return false;
    };
    if (chrono::Utc::now().timestamp() - seconds).abs() > 300 {
        return false;
    }
    crate::common::hmac_hex_matches(secret, time, body, sig1)
}

pub fn is_hex32(value: &Value) -> bool {
    value.as_str().is_some_and(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}
