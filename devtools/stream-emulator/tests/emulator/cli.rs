//! Process-level behaviour: required flags, environment variables, the listening line.

use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ACCOUNT, Emulator, TOKEN};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stream-emulator"))
        .args(args)
        .env_remove("EMULATOR_ACCOUNT_ID")
        .env_remove("EMULATOR_TOKEN")
        .stdin(Stdio::null())
        .output()
        .expect("run stream-emulator")
}

#[test]
fn missing_required_flags_exit_2_naming_the_flag() {
    let output = run(&["--account-id", ACCOUNT]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--token"));
    assert!(output.stdout.is_empty());

    let output = run(&["--token", TOKEN]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--account-id"));

    let output = run(&["--account-id", ACCOUNT, "--token", TOKEN, "--frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test]
async fn configuration_from_environment() {
    let emulator = Emulator::launch(
        &[],
        &[
            ("EMULATOR_LISTEN", "127.0.0.1:0"),
            ("EMULATOR_ACCOUNT_ID", "env-account"),
            ("EMULATOR_TOKEN", "env-token"),
            ("EMULATOR_PUBLIC_BASE_URL", "https://customer-test.cloudflarestream.com/"),
        ],
    );
    assert!(emulator.base.starts_with("http://127.0.0.1:"), "{}", emulator.base);

    let response = emulator
        .http
        .post(format!("{}/client/v4/accounts/env-account/stream/copy", emulator.base))
        .bearer_auth("env-token")
        .json(&json!({"url": "http://127.0.0.1:9/video.mp4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let uid = body["result"]["uid"].as_str().unwrap();
    let public = format!("https://customer-test.cloudflarestream.com/{uid}");
    assert_eq!(body["result"]["playback"]["hls"], format!("{public}/manifest/video.m3u8"));
    assert_eq!(body["result"]["playback"]["dash"], format!("{public}/manifest/video.mpd"));
    assert_eq!(body["result"]["thumbnail"], format!("{public}/thumbnails/thumbnail.jpg"));
    assert_eq!(body["result"]["preview"], format!("{public}/watch"));
}
