//! Headless Chromium playback (devtools/player/check-playback.mjs): a watch page really plays.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

fn player_dir() -> PathBuf {
    super::peers::repo_root().join("devtools/player")
}

/// hls.js's `dist` directory, for an emulator's `--player-dir` (fails, never skips, without the setup).
pub fn hls_dist() -> String {
    let dist = player_dir().join("node_modules/hls.js/dist");
    assert!(dist.join("hls.min.js").is_file(), "run the setup: npm ci --prefix devtools/player (scripts/setup.sh)");
    dist.to_string_lossy().into_owned()
}

/// Opens `watch` in headless Chromium and asserts that its video plays (currentTime > 0.5 s);
/// returns the player's report.
pub async fn assert_plays(watch: &str) -> Value {
    let output = tokio::time::timeout(
        Duration::from_secs(90),
        tokio::process::Command::new("node")
            .arg(player_dir().join("check-playback.mjs"))
            .arg(watch)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("check-playback.mjs finished within 90 s")
    .expect("run node (scripts/setup.sh installs it with chromium)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{watch} did not play:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let result: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(result["ok"], true, "{result}");
    assert!(result["currentTime"].as_f64().unwrap_or_default() > 0.5, "{result}");
    result
}
