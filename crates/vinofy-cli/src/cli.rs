//! The command line: `vinofy [--json] [-v] <command> ...`.

use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};
use vinofy_core::domain::record::Status;

/// Cloudflare locks an account out above 1,200 API calls in 5 minutes, i.e. 240 a minute.
pub const MAX_RATE_PER_MINUTE: u32 = 240;

const ENVIRONMENT: &str = "\
Configuration comes from the same environment variables as the ingest function:
  VIDEOS_TABLE                       every command
  VIDEO_PROVIDER                     backfill, reconcile, migrate (cloudflare or mux: new videos)
  CLOUDFLARE_ACCOUNT_ID              backfill, reconcile, migrate (with Cloudflare)
  CLOUDFLARE_API_TOKEN or
  CLOUDFLARE_API_TOKEN_SECRET_ARN    backfill, reconcile, migrate (with Cloudflare)
  MUX_TOKEN_ID + MUX_TOKEN_SECRET or
  MUX_TOKEN_SECRET_ARN               backfill, reconcile, migrate (with Mux)
  CLOUDFLARE_API_URL, MUX_API_URL, VIDEO_EXTENSIONS, SOURCE_PREFIX, PRESIGN_TTL_SECONDS, STREAM_*,
  MUX_*, REPLACED_VIDEO_POLICY       as for the function
  AWS_REGION, AWS_PROFILE, AWS_ENDPOINT_URL[_S3|_DYNAMODB|_SECRETS_MANAGER]   the AWS SDK's usual

Exit status: 0 done; 1 something failed (an object, a record, or a call); 2 bad usage or
configuration; 130 interrupted (Ctrl-C: in-flight work finishes, the summary is printed).";

#[derive(Debug, Parser)]
#[command(
    name = "vinofy",
    version,
    about = "Operator CLI of Vinofy video ingest: backfill, reconcile, inspect and export the videos table",
    after_help = TOP_LEVEL_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Machine-readable output: one JSON object per line on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// Log what the ingest logic decides on stderr (-v info, -vv debug; RUST_LOG also works)
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

const TOP_LEVEL_HELP: &str = concat!(
    "Examples:\n",
    "  vinofy backfill --bucket vinofy-uploads --prefix videos/ --dry-run\n",
    "  vinofy backfill --bucket vinofy-uploads --prefix videos/\n",
    "  vinofy reconcile --older-than 30m\n",
    "  vinofy status s3://vinofy-uploads/videos/tasting.mp4\n",
    "  vinofy list --status failed\n",
    "  vinofy export > videos.jsonl\n",
    "  vinofy migrate --to mux --dry-run\n",
    "  vinofy redrive --dry-run\n",
    "  vinofy cost --views-per-video 20\n",
    "  vinofy signing-key create --secret-arn arn:aws:secretsmanager:...:secret:StreamSigningKey-...\n",
    "\n",
    "Configuration comes from the same environment variables as the ingest function: VIDEOS_TABLE\n",
    "(every command), the video providers' (CLOUDFLARE_*, MUX_*, VIDEO_PROVIDER: backfill, reconcile\n",
    "and migrate), and the AWS SDK's usual variables. See `vinofy help <command>`."
);

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest the videos already in a bucket (those that have no record, or a record of another version)
    #[command(after_help = backfill_help())]
    Backfill(BackfillArgs),
    /// Bring stale `pending` and `submitted` records in line with Cloudflare Stream
    #[command(after_help = reconcile_help())]
    Reconcile(ReconcileArgs),
    /// Show one record: by S3 source or by Cloudflare video uid
    #[command(after_help = status_help())]
    Status(StatusArgs),
    /// One line per record: status, video uid, source, HLS URL
    #[command(after_help = list_help())]
    List(ListArgs),
    /// Every record as a JSON line (plain JSON values, without claim_token)
    #[command(after_help = export_help())]
    Export(ExportArgs),
    /// Move every record to another video provider (or re-create its video with the current options)
    #[command(after_help = migrate_help())]
    Migrate(MigrateArgs),
    /// Handle again the events in the failed-events queue (either delivery mode's), then delete them
    #[command(after_help = redrive_help())]
    Redrive(RedriveArgs),
    /// Estimate the monthly bill of the library, per alternative: Cloudflare Stream, Mux, AWS-only
    #[command(after_help = cost_help())]
    Cost(CostArgs),
    /// Playback signing keys of private videos (the api function signs playback with them)
    #[command(subcommand)]
    SigningKey(SigningKeyCommand),
    /// The readiness webhook: point Stream at the webhook function and store its signing secret
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Check the live deployment (after `sam deploy`): outputs, resources, secrets, token, webhook,
    /// bucket notification; with --canary, a video end to end
    #[command(after_help = crate::cmd::doctor::HELP)]
    Doctor(DoctorArgs),
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Subscribe the webhook function's URL at Stream and store the new signing secret
    #[command(after_help = crate::cmd::webhook::HELP)]
    Register(WebhookRegisterArgs),
}

#[derive(Debug, Args)]
pub struct WebhookRegisterArgs {
    /// The webhook function's URL (default: WEBHOOK_URL, the stack output WebhookUrl)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// The secret to store the signing secret in (default: CLOUDFLARE_WEBHOOK_SECRET_ARN, the stack
    /// output CloudflareWebhookSecretArn)
    #[arg(long, value_name = "ARN")]
    pub secret_arn: Option<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The stack's outputs: the JSON of `aws cloudformation describe-stacks --stack-name S --query
    /// 'Stacks[0].Outputs'` (a list of {OutputKey, OutputValue}); the environment fills in the rest
    #[arg(long, value_name = "FILE")]
    pub outputs: Option<std::path::PathBuf>,

    /// Also upload a tiny video under SOURCE_PREFIX + doctor-canary/, wait until its record is
    /// ready, then delete it, timing each stage
    #[arg(long)]
    pub canary: bool,

    /// How long the canary may take to become ready, and then deleted
    #[arg(long, value_name = "AGE", default_value = "5m", value_parser = parse_age)]
    pub canary_timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum SigningKeyCommand {
    /// Create a key at the provider and store it in the api function's secret
    #[command(after_help = SIGNING_KEY_HELP)]
    Create(SigningKeyArgs),
}

const SIGNING_KEY_HELP: &str = "\
Examples:
  vinofy signing-key create --secret-arn <StreamSigningKeySecretArn output>
  vinofy signing-key create --provider mux --secret-arn <MuxSigningKeySecretArn output>

Creates the key with the provider's API (Stream: POST /stream/keys, with CLOUDFLARE_ACCOUNT_ID and
CLOUDFLARE_API_TOKEN[_SECRET_ARN]; Mux: POST /system/v1/signing-keys, with MUX_TOKEN_ID and
MUX_TOKEN_SECRET[_ARN]; the call takes its slot from the provider's call budget that every process
shares in VIDEOS_TABLE) and stores {\"id\", \"pem\"} (Mux: {\"id\", \"private_key\"}) in the secret with
PutSecretValue. The private key is shown by the provider only once and is never printed; only
its id is. The api function reads the secret at start-up: new instances sign with the new key.

Exit status: 0 stored; 1 the provider or Secrets Manager refused; 2 bad usage or configuration.";

#[derive(Debug, Args)]
pub struct SigningKeyArgs {
    /// Whose key: cloudflare or mux
    #[arg(long, value_name = "PROVIDER", value_parser = parse_provider, default_value = "cloudflare")]
    pub provider: vinofy_core::domain::provider::Provider,

    /// The secret to store it in (default: STREAM_SIGNING_KEY_SECRET_ARN or MUX_SIGNING_KEY_SECRET_ARN)
    #[arg(long, value_name = "ARN")]
    pub secret_arn: Option<String>,
}

fn migrate_help() -> String {
    with_environment(
        "\
What it does, per record with a video (ready, submitted or error) on the other provider, or on
the target with other options than the current ones (a re-encode):
  - ingests its S3 source again into the target: a fresh presigned URL, tagged, exactly once
    (a run that resumes finds the video an interrupted one made, by its tag);
  - waits until the new video is ready (polling the provider, within its call budget);
  - switches the record's provider, ids and URLs in one conditional write, only while the record
    still holds the same object version and old video: an upload or a delete during the run
    wins, and the new video is deleted again;
  - keeps previous_provider and previous_video_uid for rollback; deletes the old video only with
    --delete-old, and only after the switch.
A record that fails stays where it was, with the reason in migration_error. Running again
continues where it stopped: migrated records are no longer candidates.

Examples:
  # What would move (reads the table only)
  vinofy migrate --to mux --dry-run
  # Move everything under videos/, then delete the Cloudflare copies
  vinofy migrate --to mux --prefix videos/ --delete-old
  # Re-create every Mux video after changing MUX_PLAYBACK_POLICY or MUX_VIDEO_QUALITY
  vinofy migrate --to mux --delete-old",
    )
}

fn redrive_help() -> String {
    with_environment(
        "\
Reads the failed-events queue (the stack output FailedEventsQueueUrl; --queue-url, else
FAILED_EVENTS_QUEUE_URL), 10 messages at a time, in either mode's shape:
  - direct mode: Lambda's on-failure destination records (the event in requestPayload, with the
    condition, the attempts and the last error, which the report quotes);
  - sqs mode: the S3 notifications the ingest queue's redrive policy moved there (s3:TestEvent:
    nothing to do).
Each S3 record goes through the function's own use case (claim, presigned copy, record; or the
deletion sync), within the shared call budget, waiting out lock-outs. A message is deleted only
once each of its records ended for good (submitted, adopted, duplicate, skipped, outdated, deleted,
or failed and recorded as failed); one with a record to try again (the provider still unavailable)
or that cannot be decoded stays in the queue and is made visible again when the run ends. Needs
UPLOAD_BUCKET (only its events are the function's) and the provider's variables, as backfill.

Examples:
  # What would be redriven (decodes only: no write, no provider call, the queue unchanged)
  vinofy redrive --dry-run
  # Redrive at most 100 messages, then look at what is left
  vinofy redrive --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/vinofy-FailedEventsQueue-AbC --limit 100
  # After fixing a refused copy (a bad token): submit the versions recorded as failed again
  vinofy redrive --retry-failed",
    )
}

fn with_environment(text: &str) -> String {
    format!("{text}\n\n{ENVIRONMENT}")
}

fn backfill_help() -> String {
    with_environment(
        "\
What it does, per object listed (ListObjectsV2):
  - not a video (extension, folder marker, zero bytes, outside SOURCE_PREFIX): skipped;
  - a record with this eTag already (read with BatchGetItem before anything else): duplicate,
    no write and no Cloudflare call, so re-running a finished or interrupted backfill is cheap;
  - no record, or a record of another version of the key: ingested exactly as the function does
    (claim, presigned copy, record), at most --rate starts a minute and --concurrency at a time.
A live S3 notification for a newer upload always wins over the backfill.

Examples:
  # What would be ingested (reads only: no write, no Cloudflare call)
  vinofy backfill --bucket vinofy-uploads --prefix videos/ --dry-run

  # Ingest, 8 at a time, at most 120 new videos a minute
  vinofy backfill --bucket vinofy-uploads --prefix videos/ --concurrency 8 --rate 120

  # JSON lines (one per object, then a summary) for scripts
  vinofy --json backfill --bucket vinofy-uploads | jq -c 'select(.outcome == \"failed\")'",
    )
}

fn reconcile_help() -> String {
    with_environment(
        "\
What it does, per record not updated for --older-than:
  - submitted: asks Cloudflare for the video (GET /stream/{uid}) and records its state (ready,
    error with its reason, or still processing); a video Cloudflare no longer has becomes
    `error` / ERR_VIDEO_MISSING;
  - pending (a claim whose invocation died): re-runs the ingest of that object version, which
    takes the expired claim over and adopts the video an earlier attempt made (looked up by its
    creator) or copies it; a claim that is still live is left alone;
  - a replaced_video_uid left behind (deleting the replaced video failed; REPLACED_VIDEO_POLICY=delete):
    deletes that video from Stream and clears the attribute.
Prints each record's status before and after.

Examples:
  vinofy reconcile                       # records untouched for 15 minutes
  vinofy reconcile --older-than 2h --dry-run
  vinofy --json reconcile --older-than 1d",
    )
}

fn status_help() -> String {
    with_environment(
        "\
KEY_OR_UID is one of:
  s3://BUCKET/KEY      the source URI (the record's partition key)
  KEY --bucket BUCKET  the same, in two parts
  UID                  a video provider's uid (letters and digits), found with the by_video_uid index

Examples:
  vinofy status s3://vinofy-uploads/videos/tasting.mp4
  vinofy status 'videos/tasting night.mov' --bucket vinofy-uploads
  vinofy status 6b9e68b07dfee8cc2d116e4c51d6a957
  vinofy --json status 6b9e68b07dfee8cc2d116e4c51d6a957 | jq -r .hls_url",
    )
}

fn list_help() -> String {
    with_environment(
        "\
Scans the table (paginated); the order is DynamoDB's. Needs only VIDEOS_TABLE.

Examples:
  vinofy list
  vinofy list --status failed
  vinofy list --status submitted --limit 20
  vinofy --json list --status ready | jq -r .hls_url",
    )
}

fn export_help() -> String {
    with_environment(
        "\
Every record, one JSON object per line on stdout (strongly consistent scan, paginated), with every
attribute as a plain JSON value (strings, numbers, booleans, lists, objects), sorted by name. The
claim token is never exported. The count goes to stderr. Needs only VIDEOS_TABLE.

Examples:
  vinofy export > videos.jsonl
  vinofy export | jq -r 'select(.status == \"ready\") | [.source, .video_uid] | @tsv'",
    )
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The bucket to list
    #[arg(long, value_name = "BUCKET")]
    pub bucket: String,

    /// Only keys under this prefix (default: SOURCE_PREFIX, else the whole bucket)
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,

    /// Objects ingested at the same time
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// A cap on this run's own share of the Cloudflare call budget: at most this many ingests
    /// started per minute (each new object costs one call). Without it, the run takes what the shared
    /// budget (CLOUDFLARE_CALL_BUDGET) has left beside the ingest function
    #[arg(long, value_name = "PER_MINUTE", value_parser = parse_rate)]
    pub rate: Option<u32>,

    /// List what would be ingested: no write, no Cloudflare call
    #[arg(long)]
    pub dry_run: bool,

    /// Also ingest again the versions recorded as `failed` (e.g. after fixing the token); without
    /// it they are reported and left alone
    #[arg(long)]
    pub retry_failed: bool,

    /// Presign with long-term IAM user keys (no session token); URLs then live 15 minutes.
    /// Also VINOFY_ALLOW_LONG_TERM_CREDENTIALS=1
    #[arg(long)]
    pub allow_long_term_credentials: bool,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Only records whose updated_at is older than this (e.g. 90s, 15m, 2h, 1d, 1h30m)
    #[arg(long, value_name = "AGE", default_value = "15m", value_parser = parse_age)]
    pub older_than: Duration,

    /// Say what would change; write nothing (Cloudflare is still read)
    #[arg(long)]
    pub dry_run: bool,

    /// Records handled at the same time
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// A cap on this run's own share of the Cloudflare call budget: at most this many records
    /// handled per minute (each costs one or two calls). Without it, the shared budget decides
    #[arg(long, value_name = "PER_MINUTE", value_parser = parse_rate)]
    pub rate: Option<u32>,

    /// Presign with long-term IAM user keys (no session token); URLs then live 15 minutes.
    /// Also VINOFY_ALLOW_LONG_TERM_CREDENTIALS=1
    #[arg(long)]
    pub allow_long_term_credentials: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// s3://BUCKET/KEY, a KEY (with --bucket), or a video uid (letters and digits)
    #[arg(value_name = "KEY_OR_UID")]
    pub target: String,

    /// The bucket of KEY
    #[arg(long, value_name = "BUCKET")]
    pub bucket: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only records with this status: pending, submitted, failed, ready, error or deleted
    #[arg(long, value_name = "STATUS", value_parser = parse_status)]
    pub status: Option<Status>,

    /// At most this many records
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {}

fn cost_help() -> String {
    with_environment(
        "\
Scans the table and counts the live videos (ready or submitted): how many, their minutes (the sum
of `duration`; videos without one are counted and reported) and their source bytes (`size`).
Then prices, side by side, Cloudflare Stream, Mux and AWS-only (MediaConvert + S3 + CloudFront):
the monthly bill (storage, delivery, encoding of new uploads, the S3 egress when the provider
fetches a source, S3 storage of the sources, Lambda and DynamoDB) and the one-off cost of
bringing the current library there. Prices come from the built-in prices.toml (each figure with
its source and date; unconfirmed ones marked *); --prices FILE merges a file over them.
Needs only VIDEOS_TABLE.

Examples:
  vinofy cost --views-per-video 20
  vinofy cost --delivered-minutes 250000 --new-videos-per-month 40
  vinofy cost --prices my-prices.toml --html cost.html
  vinofy --json cost --views-per-video 5 | jq '.alternatives[] | {name, monthly_total}'",
    )
}

#[derive(Debug, Args)]
pub struct CostArgs {
    /// Minutes delivered (watched) per month, all videos together
    #[arg(long, value_name = "N", value_parser = parse_quantity, conflicts_with = "views_per_video")]
    pub delivered_minutes: Option<f64>,

    /// Views per video per month, each watching the whole video (delivered = views × minutes stored)
    #[arg(long, value_name = "N", value_parser = parse_quantity)]
    pub views_per_video: Option<f64>,

    /// New videos per month (priced at the library's average duration and size)
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub new_videos_per_month: u64,

    /// A TOML file merged over the built-in prices (only the figures it names change)
    #[arg(long, value_name = "FILE")]
    pub prices: Option<std::path::PathBuf>,

    /// Also write a self-contained HTML report (table and SVG chart) to FILE
    #[arg(long, value_name = "FILE")]
    pub html: Option<std::path::PathBuf>,
}

/// A non-negative, finite number (minutes, views).
fn parse_quantity(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("{value:?} is not a number of at least 0")),
    }
}

#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// The failed-events queue's URL (default: FAILED_EVENTS_QUEUE_URL, the stack output FailedEventsQueueUrl)
    #[arg(long, value_name = "URL")]
    pub queue_url: Option<String>,

    /// Receive and decode, report what would be redriven, and leave every message in the queue:
    /// no write, no provider call
    #[arg(long)]
    pub dry_run: bool,

    /// At most this many messages
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,

    /// Also submit again the versions recorded as `failed` (the provider refused them: fix the
    /// cause first); without it they count as failed for good and their messages are deleted
    #[arg(long)]
    pub retry_failed: bool,

    /// Messages handled at the same time
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// A cap on this run's own pace: at most this many messages started per minute. Without it,
    /// the shared call budget decides
    #[arg(long, value_name = "PER_MINUTE", value_parser = parse_rate)]
    pub rate: Option<u32>,

    /// Presign with long-term IAM user keys (no session token); URLs then live 15 minutes.
    /// Also VINOFY_ALLOW_LONG_TERM_CREDENTIALS=1
    #[arg(long)]
    pub allow_long_term_credentials: bool,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The provider the records move to: mux or cloudflare (its own provider: re-encode)
    #[arg(long, value_name = "PROVIDER", value_parser = parse_provider)]
    pub to: vinofy_core::domain::provider::Provider,

    /// Only records whose S3 key starts with this
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub prefix: String,

    /// Say what would move; write nothing and call no provider
    #[arg(long)]
    pub dry_run: bool,

    /// Delete each old video once its record points at the new one
    #[arg(long)]
    pub delete_old: bool,

    /// Records migrated at the same time
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// A cap on this run's own pace: at most this many records started per minute. Without it,
    /// both providers' shared call budgets decide
    #[arg(long, value_name = "PER_MINUTE", value_parser = parse_rate)]
    pub rate: Option<u32>,

    /// How long a new video may take to be ready; past it the record is left to the next run
    #[arg(long, value_name = "AGE", default_value = "30m", value_parser = parse_age)]
    pub ready_timeout: Duration,

    /// How often the provider is asked whether a new video is ready
    #[arg(long, value_name = "AGE", default_value = "10s", value_parser = parse_age)]
    pub poll_every: Duration,

    /// Presign with long-term IAM user keys (no session token); URLs then live 15 minutes.
    /// Also VINOFY_ALLOW_LONG_TERM_CREDENTIALS=1
    #[arg(long)]
    pub allow_long_term_credentials: bool,
}

fn parse_provider(value: &str) -> Result<vinofy_core::domain::provider::Provider, String> {
    vinofy_core::domain::provider::Provider::parse(value.trim())
        .ok_or_else(|| format!("not a video provider (cloudflare, mux): {value:?}"))
}

/// Parses a record status with the library's own names (the table's contract), so the CLI can
/// never drift from it.
fn parse_status(value: &str) -> Result<Status, String> {
    Status::parse(value)
        .ok_or_else(|| format!("not a record status (pending, submitted, failed, ready, error, deleted): {value:?}"))
}

pub fn parse_rate(value: &str) -> Result<u32, String> {
    let rate: u32 =
        value.trim().parse().map_err(|_| format!("{value:?} is not a whole number of objects per minute"))?;
    if rate == 0 {
        return Err("must be at least 1 per minute".into());
    }
    if rate > MAX_RATE_PER_MINUTE {
        return Err(format!(
            "{rate} per minute is above {MAX_RATE_PER_MINUTE}: Cloudflare Stream locks the account out above 1,200 API \
             calls per 5 minutes ({MAX_RATE_PER_MINUTE} a minute); a larger cap on this run's share means nothing"
        ));
    }
    Ok(rate)
}

/// `90s`, `15m`, `2h`, `1d`, `1h30m`, `0`.
pub fn parse_age(value: &str) -> Result<Duration, String> {
    let text = value.trim();
    let bad = || format!("{value:?} is not an age: use a number with s, m, h or d (e.g. 90s, 15m, 2h, 1h30m)");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() || text.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rates_above_cloudflares_limit_are_refused_with_the_reason() {
        assert_eq!(parse_rate("240"), Ok(240));
        assert_eq!(parse_rate("1"), Ok(1));
        let err = parse_rate("241").unwrap_err();
        assert!(err.contains("1,200") && err.contains("240"), "{err}");
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("-3").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn ages_read_like_durations() {
        assert_eq!(parse_age("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_age("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_age("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_age("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_age("0"), Ok(Duration::ZERO));
        assert_eq!(parse_age("0s"), Ok(Duration::ZERO));
        for bad in ["", "15", "m", "15x", "1.5h", "-1m", "99999999999999999999d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
