//! `mux-emulator` command line and environment (`MUX_EMULATOR_<FLAG>`), with the Cloudflare
//! emulator's parsers.

use crate::cli::{CliError, Serving, Values, invalid, parse_ratio};
use crate::mux::ratelimit::BucketLimit;

pub const USAGE: &str = "\
usage: mux-emulator --token-id ID --token-secret SECRET [options]

  --listen ADDR               address to bind (default 127.0.0.1:0 = any free port)
  --token-id ID               the only access token id accepted (HTTP Basic user name, required)
  --token-secret SECRET       its secret (HTTP Basic password, required)
  --public-base-url URL       base of playback, thumbnail and watch URLs, standing in for
                              stream.mux.com and image.mux.com (default http://<bound address>)
  --webhook-url URL           where the environment's webhook events go (needs --webhook-secret)
  --webhook-secret SECRET     the endpoint's signing secret (mux-signature)
  --post-rate-limit N/W       POST requests: N per W seconds sustained (default 1/1, Mux's)
  --post-burst B              ... and B at once from full (default 5)
  --other-rate-limit N/W      every other method: N per W seconds sustained (default 5/1, Mux's)
  --other-burst B             ... and B at once from full (default 10)
  --processing-delay-ms N     pause between fetched and ready (default 50)
  --transcode auto|on|off     transcode fetched inputs to HLS with ffmpeg (default auto = on when
                              ffmpeg and ffprobe are on PATH; on without them = exit 2)
  --data-dir DIR              where inputs and HLS output are kept (default: a fresh temporary
                              directory, removed on exit)
  --player-dir DIR            directory holding hls.min.js for the watch page (default
                              devtools/player/node_modules/hls.js/dist, relative to the current dir)
  --environment-id ID         environment.id in webhook events (default: random, 6 characters)
  --environment-name NAME     environment.name in webhook events (default Development)

Every flag can also be given as an environment variable: MUX_EMULATOR_ + the flag name in upper
case with '-' as '_' (e.g. MUX_EMULATOR_TOKEN_ID). Flags win over the environment.";

/// (flag name, environment variable).
const OPTIONS: [(&str, &str); 16] = [
    ("listen", "MUX_EMULATOR_LISTEN"),
    ("token-id", "MUX_EMULATOR_TOKEN_ID"),
    ("token-secret", "MUX_EMULATOR_TOKEN_SECRET"),
    ("public-base-url", "MUX_EMULATOR_PUBLIC_BASE_URL"),
    ("webhook-url", "MUX_EMULATOR_WEBHOOK_URL"),
    ("webhook-secret", "MUX_EMULATOR_WEBHOOK_SECRET"),
    ("post-rate-limit", "MUX_EMULATOR_POST_RATE_LIMIT"),
    ("post-burst", "MUX_EMULATOR_POST_BURST"),
    ("other-rate-limit", "MUX_EMULATOR_OTHER_RATE_LIMIT"),
    ("other-burst", "MUX_EMULATOR_OTHER_BURST"),
    ("processing-delay-ms", "MUX_EMULATOR_PROCESSING_DELAY_MS"),
    ("transcode", "MUX_EMULATOR_TRANSCODE"),
    ("data-dir", "MUX_EMULATOR_DATA_DIR"),
    ("player-dir", "MUX_EMULATOR_PLAYER_DIR"),
    ("environment-id", "MUX_EMULATOR_ENVIRONMENT_ID"),
    ("environment-name", "MUX_EMULATOR_ENVIRONMENT_NAME"),
];

/// Defaults: Mux documents 1 POST and 5 other requests per second sustained "with the ability to
/// burst above this for short periods"; how far is UNCONFIRMED.
pub const DEFAULT_POST: BucketLimit = BucketLimit { requests: 1, per_seconds: 1, burst: 5 };
pub const DEFAULT_OTHER: BucketLimit = BucketLimit { requests: 5, per_seconds: 1, burst: 10 };

#[derive(Clone, Debug)]
pub struct Config {
    pub serving: Serving,
    pub token_id: String,
    pub token_secret: String,
    pub post_limit: BucketLimit,
    pub other_limit: BucketLimit,
    pub environment_id: String,
    pub environment_name: String,
}

/// Parses `args` (without the program name); `env` looks up environment variables.
pub fn parse(args: impl IntoIterator<Item = String>, env: impl Fn(&str) -> Option<String>) -> Result<Config, CliError> {
    let mut values = Values::collect(args, env, &OPTIONS)?;
    let token_id = values.required("token-id")?;
    let token_secret = values.required("token-secret")?;
    if token_id.contains(':') {
        return Err(invalid("--token-id must not contain ':' (HTTP Basic auth splits there)"));
    }
    let bucket = |rate_flag: &str, burst_flag: &str, default: BucketLimit| -> Result<BucketLimit, CliError> {
        let (requests, per_seconds) = match values.get(rate_flag) {
            None => (default.requests, default.per_seconds),
            Some(text) => parse_ratio(text)
                .ok_or_else(|| invalid(format!("--{rate_flag} must be N/W with N requests per W seconds, both > 0")))?,
        };
        let burst = match values.get(burst_flag) {
            None => default.burst,
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|&b| b > 0)
                .ok_or_else(|| invalid(format!("--{burst_flag} must be a positive integer")))?,
        };
        Ok(BucketLimit { requests, per_seconds, burst })
    };
    let post_limit = bucket("post-rate-limit", "post-burst", DEFAULT_POST)?;
    let other_limit = bucket("other-rate-limit", "other-burst", DEFAULT_OTHER)?;
    let environment_id = match values.get("environment-id") {
        Some(id) => id.to_owned(),
        None => (0..6).map(|_| fastrand::alphanumeric().to_ascii_lowercase()).collect(),
    };
    let environment_name = values.get("environment-name").unwrap_or("Development").to_owned();
    Ok(Config {
        serving: values.serving()?,
        token_id,
        token_secret,
        post_limit,
        other_limit,
        environment_id,
        environment_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Transcode;
    use std::time::Duration;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn minimal_flags_and_defaults() {
        let config = parse(args(&["--token-id", "id", "--token-secret=s3"]), no_env).unwrap();
        assert_eq!(
            (config.serving.listen.as_str(), config.token_id.as_str(), config.token_secret.as_str()),
            ("127.0.0.1:0", "id", "s3")
        );
        assert_eq!((config.post_limit, config.other_limit), (DEFAULT_POST, DEFAULT_OTHER));
        assert_eq!(config.serving.processing_delay, Duration::from_millis(50));
        assert_eq!(config.serving.transcode, Transcode::Auto);
        assert!(config.serving.webhook.is_none() && config.serving.public_base_url.is_none());
        assert_eq!(config.environment_id.len(), 6);
        assert_eq!(config.environment_name, "Development");
    }

    #[test]
    fn rate_limits_and_environment() {
        let env = |name: &str| match name {
            "MUX_EMULATOR_TOKEN_ID" => Some("env-id".to_owned()),
            "MUX_EMULATOR_TOKEN_SECRET" => Some("env-secret".to_owned()),
            "MUX_EMULATOR_POST_RATE_LIMIT" => Some("2/3".to_owned()),
            "MUX_EMULATOR_OTHER_BURST" => Some("7".to_owned()),
            _ => None,
        };
        let config =
            parse(args(&["--token-id", "flag-id", "--post-burst", "1", "--environment-id", "abc123"]), env).unwrap();
        assert_eq!(config.token_id, "flag-id");
        assert_eq!(config.token_secret, "env-secret");
        assert_eq!(config.post_limit, BucketLimit { requests: 2, per_seconds: 3, burst: 1 });
        assert_eq!(config.other_limit, BucketLimit { burst: 7, ..DEFAULT_OTHER });
        assert_eq!(config.environment_id, "abc123");
    }

    #[test]
    fn rejects_bad_values_naming_the_flag() {
        for (bad, flag) in [
            (&["--post-rate-limit", "1"][..], "--post-rate-limit"),
            (&["--other-rate-limit", "0/1"], "--other-rate-limit"),
            (&["--post-burst", "0"], "--post-burst"),
            (&["--webhook-url", "http://x/hook"], "--webhook-secret"),
            (&["--transcode", "maybe"], "--transcode"),
            (&["--account-id", "a"], "--account-id"),
        ] {
            let mut list = args(&["--token-id", "i", "--token-secret", "s"]);
            list.extend(args(bad));
            let Err(CliError::Invalid(message)) = parse(list, no_env) else { panic!("{bad:?} accepted") };
            assert!(message.contains(flag), "{bad:?}: {message}");
        }
        let Err(CliError::Invalid(message)) = parse(args(&["--token-secret", "s"]), no_env) else { panic!() };
        assert!(message.contains("--token-id"), "{message}");
    }
}
