//! Command line and environment configuration, parsed by hand to keep the build small.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::ratelimit::Limit;

pub const USAGE: &str = "\
usage: stream-emulator --account-id ACCT --token TOKEN [options]

  --listen ADDR               address to bind (default 127.0.0.1:0 = any free port)
  --account-id ID             the only account id accepted in API paths (required)
  --token TOKEN               the only API token accepted as `Authorization: Bearer` (required)
  --public-base-url URL       base of returned playback URLs (default http://<bound address>)
  --webhook-url URL           initial webhook subscription (needs --webhook-secret)
  --webhook-secret SECRET     signing secret for --webhook-url
  --rate-limit N/W            N requests per W seconds, then W seconds lockout (default 1200/300)
  --processing-delay-ms N     pause between queued/inprogress/ready (default 50)
  --max-in-flight N           videos downloading/queued/in progress at once; a copy beyond them
                              gets 429 (no lock-out) until some finish (default 120, Stream's)
  --require-head on|off       before its GET, the /copy fetch sends HEAD to the source URL, as Stream
                              documents its origin must support; a refused HEAD (an S3 URL presigned
                              for GET answers 403) fails the video, ERR_FETCH_ORIGIN_ERROR (default off)
  --transcode auto|on|off     transcode fetched sources to HLS with ffmpeg (default auto = on when
                              ffmpeg and ffprobe are on PATH; on without them = exit 2)
  --data-dir DIR              where sources and HLS output are kept (default: a fresh temporary
                              directory, removed on exit)
  --player-dir DIR            directory holding hls.min.js for the watch page (default
                              devtools/player/node_modules/hls.js/dist, relative to the current dir)

Every flag can also be given as an environment variable: EMULATOR_ + the flag name in upper
case with '-' as '_' (e.g. EMULATOR_ACCOUNT_ID). Flags win over the environment.";

/// (flag name, environment variable).
const OPTIONS: [(&str, &str); 13] = [
    ("listen", "EMULATOR_LISTEN"),
    ("account-id", "EMULATOR_ACCOUNT_ID"),
    ("token", "EMULATOR_TOKEN"),
    ("public-base-url", "EMULATOR_PUBLIC_BASE_URL"),
    ("webhook-url", "EMULATOR_WEBHOOK_URL"),
    ("webhook-secret", "EMULATOR_WEBHOOK_SECRET"),
    ("rate-limit", "EMULATOR_RATE_LIMIT"),
    ("processing-delay-ms", "EMULATOR_PROCESSING_DELAY_MS"),
    ("max-in-flight", "EMULATOR_MAX_IN_FLIGHT"),
    ("require-head", "EMULATOR_REQUIRE_HEAD"),
    ("transcode", "EMULATOR_TRANSCODE"),
    ("data-dir", "EMULATOR_DATA_DIR"),
    ("player-dir", "EMULATOR_PLAYER_DIR"),
];

/// Where `--player-dir` points by default: `npm ci --prefix devtools/player` installs hls.js there.
pub const DEFAULT_PLAYER_DIR: &str = "devtools/player/node_modules/hls.js/dist";

/// `--transcode`: whether fetched sources are turned into HLS with ffmpeg.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transcode {
    /// On when `ffmpeg` and `ffprobe` are both on `PATH`, off otherwise.
    #[default]
    Auto,
    On,
    Off,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: String,
}

/// The options both emulators take, parsed the same way ([`Values::serving`]).
#[derive(Clone, Debug)]
pub struct Serving {
    pub listen: String,
    /// Without trailing slash.
    pub public_base_url: Option<String>,
    pub webhook: Option<WebhookTarget>,
    pub processing_delay: Duration,
    pub transcode: Transcode,
    /// `None`: a fresh temporary directory, removed on exit.
    pub data_dir: Option<PathBuf>,
    /// `None`: [`DEFAULT_PLAYER_DIR`] if it exists.
    pub player_dir: Option<PathBuf>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub serving: Serving,
    pub account_id: String,
    pub token: String,
    pub rate_limit: Limit,
    /// Stream's concurrency limit: videos downloading, queued or in progress at once.
    pub max_in_flight: usize,
    /// `--require-head on`: the `/copy` fetch sends HEAD first and fails the video if it is refused.
    pub require_head: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum CliError {
    HelpRequested,
    Invalid(String),
}

/// Parses `args` (without the program name); `env` looks up environment variables.
pub fn parse(args: impl IntoIterator<Item = String>, env: impl Fn(&str) -> Option<String>) -> Result<Config, CliError> {
    let mut values = Values::collect(args, env, &OPTIONS)?;
    let account_id = values.required("account-id")?;
    let token = values.required("token")?;
    let serving = values.serving()?;
    let rate_limit = values.get("rate-limit").map(parse_rate_limit).transpose()?.unwrap_or_default();
    let max_in_flight = match values.get("max-in-flight") {
        None => 120,
        Some(text) => {
            text.parse().ok().filter(|n| *n > 0).ok_or_else(|| invalid("--max-in-flight must be a positive integer"))?
        }
    };
    let require_head = match values.get("require-head") {
        None | Some("off") => false,
        Some("on") => true,
        Some(_) => return Err(invalid("--require-head must be on or off")),
    };
    Ok(Config { serving, account_id, token, rate_limit, max_in_flight, require_head })
}

/// Flag values from the command line, completed from the environment, with the parsers both
/// emulators share.
pub struct Values(HashMap<&'static str, String>);

impl Values {
    /// `options` lists (flag name, environment variable). Flags win over the environment; empty
    /// environment variables count as unset.
    pub fn collect(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
        options: &[(&'static str, &'static str)],
    ) -> Result<Self, CliError> {
        let mut values = flag_values(args, options)?;
        for &(flag, var) in options {
            if !values.contains_key(flag)
                && let Some(value) = env(var).filter(|v| !v.is_empty())
            {
                values.insert(flag, value);
            }
        }
        Ok(Self(values))
    }

    pub fn get(&self, flag: &str) -> Option<&str> {
        self.0.get(flag).map(String::as_str)
    }

    pub fn required(&self, flag: &str) -> Result<String, CliError> {
        self.get(flag)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| invalid(format!("missing required --{flag}")))
    }

    /// The [`Serving`] options, in this order: `--public-base-url`, `--webhook-url` and
    /// `--webhook-secret`, `--processing-delay-ms`, `--transcode`, `--data-dir`, `--player-dir`.
    pub fn serving(&mut self) -> Result<Serving, CliError> {
        Ok(Serving {
            public_base_url: self.public_base_url()?,
            webhook: self.webhook()?,
            processing_delay: self.processing_delay()?,
            transcode: self.transcode()?,
            data_dir: self.directory("data-dir")?,
            player_dir: self.directory("player-dir")?,
            listen: self.listen(),
        })
    }

    /// `--listen`, default `127.0.0.1:0`.
    pub fn listen(&mut self) -> String {
        self.0.remove("listen").unwrap_or_else(|| "127.0.0.1:0".to_owned())
    }

    /// `--public-base-url`, without trailing slash.
    pub fn public_base_url(&self) -> Result<Option<String>, CliError> {
        Ok(self
            .get("public-base-url")
            .map(|url| http_url("--public-base-url", url))
            .transpose()?
            .map(|url| url.trim_end_matches('/').to_owned()))
    }

    /// `--webhook-url` with `--webhook-secret`: both or neither.
    pub fn webhook(&self) -> Result<Option<WebhookTarget>, CliError> {
        match (self.get("webhook-url"), self.get("webhook-secret")) {
            (None, None) => Ok(None),
            (Some(url), Some(secret)) => {
                Ok(Some(WebhookTarget { url: http_url("--webhook-url", url)?.to_owned(), secret: secret.to_owned() }))
            }
            (Some(_), None) => Err(invalid("--webhook-url requires --webhook-secret")),
            (None, Some(_)) => Err(invalid("--webhook-secret requires --webhook-url")),
        }
    }

    /// `--processing-delay-ms`, default 50 ms.
    pub fn processing_delay(&self) -> Result<Duration, CliError> {
        match self.get("processing-delay-ms") {
            None => Ok(Duration::from_millis(50)),
            Some(text) => Ok(Duration::from_millis(
                text.parse()
                    .map_err(|_| invalid("--processing-delay-ms must be a non-negative integer (milliseconds)"))?,
            )),
        }
    }

    /// `--transcode auto|on|off`, default `auto`.
    pub fn transcode(&self) -> Result<Transcode, CliError> {
        match self.get("transcode") {
            None | Some("auto") => Ok(Transcode::Auto),
            Some("on") => Ok(Transcode::On),
            Some("off") => Ok(Transcode::Off),
            Some(_) => Err(invalid("--transcode must be auto, on or off")),
        }
    }

    /// A directory flag (`--data-dir`, `--player-dir`): not empty when given.
    pub fn directory(&self, flag: &str) -> Result<Option<PathBuf>, CliError> {
        self.get(flag)
            .map(|dir| {
                if dir.is_empty() {
                    Err(invalid(format!("--{flag} must not be empty")))
                } else {
                    Ok(PathBuf::from(dir))
                }
            })
            .transpose()
    }
}

/// Collects `--flag value` and `--flag=value` pairs, rejecting unknown flags.
fn flag_values(
    args: impl IntoIterator<Item = String>,
    options: &[(&'static str, &'static str)],
) -> Result<HashMap<&'static str, String>, CliError> {
    let mut values = HashMap::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            return Err(CliError::HelpRequested);
        }
        let Some(body) = arg.strip_prefix("--") else {
            return Err(invalid(format!("unexpected argument {arg:?}")));
        };
        let (name, inline_value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (body, None),
        };
        let Some(&(flag, _)) = options.iter().find(|(flag, _)| *flag == name) else {
            return Err(invalid(format!("unknown flag --{name}")));
        };
        let value = match inline_value {
            Some(value) => value,
            None => args.next().ok_or_else(|| invalid(format!("--{flag} needs a value")))?,
        };
        values.insert(flag, value);
    }
    Ok(values)
}

/// `N/W`: N > 0 requests per W > 0 seconds.
pub fn parse_ratio(text: &str) -> Option<(u32, u64)> {
    text.split_once('/')
        .and_then(|(n, w)| Some((n.trim().parse::<u32>().ok()?, w.trim().parse::<u64>().ok()?)))
        .filter(|&(n, w)| n > 0 && w > 0)
}

fn parse_rate_limit(text: &str) -> Result<Limit, CliError> {
    let (max_requests, window_secs) =
        parse_ratio(text).ok_or_else(|| invalid("--rate-limit must be N/W with N requests per W seconds, both > 0"))?;
    Ok(Limit { max_requests, window: Duration::from_secs(window_secs) })
}

fn http_url<'a>(flag: &str, url: &'a str) -> Result<&'a str, CliError> {
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => Ok(url),
        _ => Err(invalid(format!("{flag} must be an http(s) URL"))),
    }
}

pub fn invalid(message: impl Into<String>) -> CliError {
    CliError::Invalid(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn minimal_flags_and_defaults() {
        let config = parse(args(&["--account-id", "acct", "--token=tok"]), no_env).unwrap();
        assert_eq!(config.serving.listen, "127.0.0.1:0");
        assert_eq!(config.account_id, "acct");
        assert_eq!(config.token, "tok");
        assert_eq!(config.rate_limit, Limit::default());
        assert_eq!(config.serving.processing_delay, Duration::from_millis(50));
        assert!(config.serving.webhook.is_none() && config.serving.public_base_url.is_none());
        assert_eq!(config.serving.transcode, Transcode::Auto);
        assert!(config.serving.data_dir.is_none() && config.serving.player_dir.is_none());
        assert!(!config.require_head);
        let strict = parse(args(&["--account-id", "a", "--token", "t", "--require-head", "on"]), no_env).unwrap();
        assert!(strict.require_head);
        let env = |name: &str| (name == "EMULATOR_REQUIRE_HEAD").then(|| "on".to_owned());
        assert!(parse(args(&["--account-id", "a", "--token", "t"]), env).unwrap().require_head);
    }

    #[test]
    fn media_flags() {
        let config = parse(
            args(&[
                "--account-id",
                "a",
                "--token",
                "t",
                "--transcode",
                "off",
                "--data-dir",
                "/tmp/d",
                "--player-dir=p",
            ]),
            no_env,
        )
        .unwrap();
        assert_eq!(config.serving.transcode, Transcode::Off);
        assert_eq!(config.serving.data_dir, Some(PathBuf::from("/tmp/d")));
        assert_eq!(config.serving.player_dir, Some(PathBuf::from("p")));
        let env = |name: &str| (name == "EMULATOR_TRANSCODE").then(|| "on".to_owned());
        assert_eq!(parse(args(&["--account-id", "a", "--token", "t"]), env).unwrap().serving.transcode, Transcode::On);
    }

    #[test]
    fn environment_fills_in_and_flags_win() {
        let env = |name: &str| match name {
            "EMULATOR_ACCOUNT_ID" => Some("from-env".to_owned()),
            "EMULATOR_TOKEN" => Some("env-token".to_owned()),
            "EMULATOR_RATE_LIMIT" => Some("5/2".to_owned()),
            _ => None,
        };
        let config = parse(args(&["--account-id", "flag"]), env).unwrap();
        assert_eq!(config.account_id, "flag");
        assert_eq!(config.token, "env-token");
        assert_eq!(config.rate_limit.max_requests, 5);
        assert_eq!(config.rate_limit.window, Duration::from_secs(2));
    }

    #[test]
    fn missing_required_flags_are_named() {
        let Err(CliError::Invalid(message)) = parse(args(&["--token", "t"]), no_env) else {
            panic!("expected an error");
        };
        assert!(message.contains("--account-id"), "{message}");
        let Err(CliError::Invalid(message)) = parse(args(&["--account-id", "a"]), no_env) else {
            panic!("expected an error");
        };
        assert!(message.contains("--token"), "{message}");
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            &["--rate-limit", "10"][..],
            &["--rate-limit", "0/5"],
            &["--processing-delay-ms", "-1"],
            &["--webhook-url", "http://x/hook"],
            &["--public-base-url", "ftp://x"],
            &["--bogus", "1"],
            &["--listen"],
            &["--transcode", "yes"],
            &["--data-dir="],
            &["--require-head", "yes"],
        ] {
            let mut list = args(&["--account-id", "a", "--token", "t"]);
            list.extend(args(bad));
            assert!(matches!(parse(list, no_env), Err(CliError::Invalid(_))), "{bad:?}");
        }
    }

    #[test]
    fn public_base_url_loses_trailing_slash() {
        let config =
            parse(args(&["--account-id", "a", "--token", "t", "--public-base-url", "https://cdn.test/"]), no_env)
                .unwrap();
        assert_eq!(config.serving.public_base_url.as_deref(), Some("https://cdn.test"));
    }
}
