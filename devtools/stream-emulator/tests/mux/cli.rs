//! Process-level behaviour: required flags, environment variables, the listening line.

use std::process::{Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Mux, TOKEN_ID, TOKEN_SECRET};

fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mux-emulator"))
        .args(args)
        .env_remove("MUX_EMULATOR_TOKEN_ID")
        .env_remove("MUX_EMULATOR_TOKEN_SECRET")
        .stdin(Stdio::null())
        .output()
        .expect("run mux-emulator")
}

#[test]
fn missing_or_bad_flags_exit_2_naming_the_flag() {
    for (args, flag) in [
        (&["--token-id", TOKEN_ID][..], "--token-secret"),
        (&["--token-secret", TOKEN_SECRET], "--token-id"),
        (&["--token-id", "i", "--token-secret", "s", "--post-rate-limit", "fast"], "--post-rate-limit"),
        (&["--token-id", "i", "--token-secret", "s", "--frobnicate"], "--frobnicate"),
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("mux-emulator: ") && stderr.contains(flag), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
    let output = run(&["--help"]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("MUX_EMULATOR_"));
}

#[tokio::test]
async fn configuration_from_environment() {
    let mux = Mux::launch(
        &[],
        &[
            ("MUX_EMULATOR_LISTEN", "127.0.0.1:0"),
            ("MUX_EMULATOR_TOKEN_ID", "env-id"),
            ("MUX_EMULATOR_TOKEN_SECRET", "env-secret"),
            ("MUX_EMULATOR_PUBLIC_BASE_URL", "https://stream.mux.test/"),
            ("MUX_EMULATOR_TRANSCODE", "off"),
        ],
    );
    assert!(mux.base.starts_with("http://127.0.0.1:"), "{}", mux.base);
    let response = mux
        .http
        .post(mux.api_url("/assets"))
        .basic_auth("env-id", Some("env-secret"))
        .json(&json!({"inputs": [{"url": "http://127.0.0.1:9/video.mp4"}], "playback_policies": ["public"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["status"], "preparing");
    // Logged before the listening line; the stderr reader thread may still be catching up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !mux.stderr().contains("mux-emulator: transcoding off: assets become ready without media") {
        assert!(std::time::Instant::now() < deadline, "{}", mux.stderr());
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
