//! `vinofy doctor`: checks a live deployment, each finding with its fix. Run by the operator after
//! `sam deploy`, with the stack's outputs (`--outputs FILE` and/or the environment): the table,
//! bucket, queues and secrets exist and are reachable; the secrets hold real values (never printed);
//! the Cloudflare token is active and may use Stream; the account's webhook points at our Function
//! URL with the secret we stored; the bucket notifies the ingest queue or function; and, with
//! `--canary`, a tiny video goes through the whole pipeline (upload → record submitted → ready →
//! deleted), which is how Cloudflare's fetch of our GET-presigned URLs is put to the test.
//!
//! With Mux in use, the Mux token is checked too (a one-asset listing: Mux has no verify endpoint).
//!
//! Its provider calls are a handful (verify, list?limit=1, the webhook, GETs of the canary's video,
//! Mux's listing), each taking its slot from the call budget the functions share, and its AWS calls read, except the canary's PutObject and
//! DeleteObject under `SOURCE_PREFIX` + `doctor-canary/`.

mod canary;
mod inputs;

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use serde_json::{Value, json};
use vinofy_adapters::config::{CloudflareConfig, SecretSource};
use vinofy_adapters::mux::config::{MuxConfig, MuxTokenSource, parse_token_secret, resolve_token};
use vinofy_adapters::secrets::secret_value;
use vinofy_adapters::{DynamoVideoStore, PacedCloudflare, PacedMux, aws_config, paced_cloudflare, paced_mux};
use vinofy_core::error::ProviderError;
use vinofy_core::paced::CallKind;
use vinofy_core::ports::VideoRecords;
use vinofy_core::secret::SecretString;

use crate::cli::DoctorArgs;
use crate::error::{CliError, describe_aws};
use crate::output::Output;
use crate::settings;
use crate::settings::env;
use inputs::{Inputs, SECRET_OUTPUTS, secret_is_set};

const CALL_TIMEOUT: Duration = Duration::from_secs(15);

pub const HELP: &str = "\
Inputs: the stack's outputs from --outputs FILE, the JSON of
  aws cloudformation describe-stacks --stack-name vinofy-ingest --query 'Stacks[0].Outputs' > outputs.json
and/or the environment: each output by its name in capitals (FAILED_EVENTS_QUEUE_URL, WEBHOOK_URL,
INGEST_QUEUE_URL, ...) or the functions' variable (VIDEOS_TABLE, UPLOAD_BUCKET,
CLOUDFLARE_WEBHOOK_SECRET_ARN, CLOUDFLARE_API_TOKEN_SECRET_ARN, ...). Cloudflare: CLOUDFLARE_ACCOUNT_ID
(and CLOUDFLARE_API_URL); the token checked is the one in CloudflareApiTokenSecretArn (what the
functions use), else CLOUDFLARE_API_TOKEN. The canary's key is SOURCE_PREFIX + doctor-canary/<time>.mp4
(SOURCE_PREFIX: the stack's UploadPrefix parameter).

Checks, in order (each ✔ or ✘ with its fix; – when it cannot be checked here):
  config              the outputs needed are known, and the environment agrees with --outputs
  table               DescribeTable (ACTIVE, the by_video_uid index) and GetItem of a key no record has
  bucket              HeadBucket
  ingest-queue        GetQueueAttributes of IngestQueueUrl (sqs mode)
  failed-events       GetQueueAttributes of FailedEventsQueueUrl: how many events wait for `vinofy redrive`
  secret <output>     GetSecretValue: set, not empty, not the placeholder REPLACE_WITH_… (never printed)
  token               GET /user/tokens/verify: active
  stream-permission   GET /accounts/{id}/stream?limit=1 is not refused (the Stream permission)
  webhook             GET /accounts/{id}/stream/webhook: notificationUrl is WebhookUrl, and its secret is
                      the one stored in CloudflareWebhookSecretArn
  mux-token           with Mux in use (MuxTokenSecretArn, or MUX_TOKEN_ID): GET /video/v1/assets?limit=1
                      with the stack's Mux token is not refused
  webhook-function    an unsigned POST to WebhookUrl is refused with 401 (the function is up and verifying)
  bucket-notification GetBucketNotificationConfiguration names the ingest queue (sqs mode) or function
                      (direct mode) for s3:ObjectCreated:* and s3:ObjectRemoved:*
  canary (--canary)   upload → record submitted → ready → deleted, each stage timed; on a failed fetch, the
                      record's error and Cloudflare's status.errorReasonCode / errorReasonText

--json: one JSON object per check ({\"type\": \"check\", \"name\", \"ok\", \"status\": pass|fail|skip, \"detail\",
\"fix\"}; the canary adds \"stages\"), then {\"type\": \"summary\", \"ok\", \"passed\", \"failed\", \"skipped\"}.
Every provider call takes its slot from the call budget the functions share in VIDEOS_TABLE.

Examples:
  vinofy doctor --outputs outputs.json
  vinofy doctor --outputs outputs.json --canary --canary-timeout 10m
  vinofy --json doctor --outputs outputs.json | jq -c 'select(.ok == false)'

Exit status: 0 every check passed (or could not be checked here); 1 a check failed; 2 bad usage or
configuration (an unreadable --outputs, nothing to check).";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub state: State,
    pub detail: String,
    pub fix: Option<String>,
    /// More fields for `--json` (the canary's stages).
    pub extra: Option<Value>,
}

impl Check {
    pub fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { name: name.into(), state: State::Pass, detail: detail.into(), fix: None, extra: None }
    }

    pub fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { name: name.into(), state: State::Fail, detail: detail.into(), fix: Some(fix.into()), extra: None }
    }

    pub fn skip(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { name: name.into(), state: State::Skip, detail: detail.into(), fix: None, extra: None }
    }
}

/// Prints each check as it ends and keeps the tally.
struct Report<'o> {
    out: &'o Output,
    checks: Vec<Check>,
}

impl Report<'_> {
    fn add(&mut self, check: Check) -> Result<(), CliError> {
        if self.out.json {
            let mut line = json!({
                "type": "check",
                "name": check.name,
                "ok": check.state != State::Fail,
                "status": match check.state { State::Pass => "pass", State::Fail => "fail", State::Skip => "skip" },
                "detail": check.detail,
                "fix": check.fix,
            });
            if let (Some(Value::Object(extra)), Value::Object(map)) = (&check.extra, &mut line) {
                map.extend(extra.clone());
            }
            self.out.json_line(&line)?;
        } else {
            let mark = match check.state {
                State::Pass => "✔",
                State::Fail => "✘",
                State::Skip => "–",
            };
            self.out.line(&format!("{mark} {:<31} {}", check.name, check.detail))?;
            if let Some(fix) = &check.fix {
                self.out.line(&format!("  {:<31} fix: {fix}", ""))?;
            }
        }
        self.checks.push(check);
        Ok(())
    }

    fn count(&self, state: State) -> usize {
        self.checks.iter().filter(|c| c.state == state).count()
    }
}

/// What the other checks share: the clients and what the first checks learned.
struct Live {
    aws: SdkConfig,
    inputs: Inputs,
    /// Secret ARN → its value (read once), or why it could not be read.
    secrets: HashMap<String, Result<SecretString, String>>,
    /// The ingest queue's ARN (from GetQueueAttributes), for the notification check.
    ingest_queue_arn: Option<String>,
    /// The videos table (`None` when VideosTableName is unknown): its records and the call budgets.
    store: Option<DynamoVideoStore>,
    /// `Err`: why no Cloudflare check can run.
    stream: Result<(PacedCloudflare, String), String>,
    /// `None`: Mux is not in use (no MuxTokenSecretArn, no MUX_TOKEN_ID); `Err`: why it cannot be
    /// checked, and the fix.
    mux: Option<Result<PacedMux, (String, String)>>,
}

pub async fn run(args: DoctorArgs, out: &Output) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    let file = match &args.outputs {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::Usage(format!("--outputs {}: cannot read it: {e}", path.display())))?;
            Some(
                inputs::parse_outputs(&text)
                    .map_err(|e| CliError::Usage(format!("--outputs {}: {e}", path.display())))?,
            )
        }
        None => None,
    };
    let inputs = inputs::resolve(file, env);
    if inputs.get("VideosTableName").is_none() && inputs.get("UploadBucketName").is_none() {
        return Err(CliError::Usage(
            "nothing to check: give the stack's outputs with --outputs FILE (aws cloudformation describe-stacks \
             --query 'Stacks[0].Outputs'), or at least VIDEOS_TABLE and UPLOAD_BUCKET"
                .into(),
        ));
    }
    let aws = aws_config().await;
    let store = inputs.get("VideosTableName").map(|table| DynamoVideoStore::new(&aws, table));
    let mut report = Report { out, checks: Vec::new() };
    let mut live = Live {
        aws,
        inputs,
        secrets: HashMap::new(),
        ingest_queue_arn: None,
        store,
        stream: Err(String::new()),
        mux: None,
    };

    report.add(config_check(&live.inputs))?;
    report.add(table_check(&live).await)?;
    report.add(bucket_check(&live).await)?;
    let (queue, arn) = ingest_queue_check(&live).await;
    live.ingest_queue_arn = arn;
    report.add(queue)?;
    report.add(failed_events_check(&live).await)?;
    for output in SECRET_OUTPUTS {
        if let Some(check) = secret_check(&mut live, output).await {
            report.add(check)?;
        }
    }
    live.stream = stream_client(&mut live).await;
    report.add(token_check(&live).await)?;
    report.add(stream_permission_check(&live).await)?;
    report.add(webhook_check(&mut live).await)?;
    live.mux = mux_client(&mut live).await;
    if let Some(check) = mux_token_check(&live).await {
        report.add(check)?;
    }
    report.add(webhook_function_check(&live).await)?;
    report.add(notification_check(&live).await)?;
    if args.canary {
        let check = canary::run(&live, args.canary_timeout).await;
        report.add(check)?;
    }

    let (passed, failed, skipped) = (report.count(State::Pass), report.count(State::Fail), report.count(State::Skip));
    if out.json {
        out.json_line(&json!({"type": "summary", "ok": failed == 0, "passed": passed, "failed": failed,
            "skipped": skipped, "elapsed_ms": started.elapsed().as_millis() as u64}))?;
    } else {
        let verdict = if failed == 0 { "healthy" } else { "NOT healthy" };
        out.line(&format!(
            "{verdict}: {passed} passed, {failed} failed, {skipped} not checkable here ({})",
            crate::output::elapsed(started.elapsed())
        ))?;
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn config_check(inputs: &Inputs) -> Check {
    let mut problems = Vec::new();
    for (output, values) in &inputs.conflicts {
        let sources: Vec<String> = values.iter().map(|v| format!("{}={}", v.from, v.value)).collect();
        problems.push(format!("{output} is given differently: {}", sources.join(", ")));
    }
    let required = ["VideosTableName", "UploadBucketName", "WebhookUrl", "CloudflareWebhookSecretArn"];
    let missing: Vec<&str> = required.iter().copied().filter(|o| inputs.get(o).is_none()).collect();
    if !missing.is_empty() {
        problems.push(format!("not known: {}", missing.join(", ")));
    }
    if env("CLOUDFLARE_ACCOUNT_ID").is_none() {
        problems.push("CLOUDFLARE_ACCOUNT_ID is not set".into());
    }
    if inputs.get("CloudflareApiTokenSecretArn").is_none() && env("CLOUDFLARE_API_TOKEN").is_none() {
        problems.push("no Cloudflare token: neither CloudflareApiTokenSecretArn nor CLOUDFLARE_API_TOKEN".into());
    }
    if problems.is_empty() {
        let mut detail = inputs.summary();
        if !inputs.unknown.is_empty() {
            detail.push_str(&format!("; not used: {}", inputs.unknown.join(", ")));
        }
        Check::pass("config", detail)
    } else {
        Check::fail(
            "config",
            problems.join("; "),
            "pass the stack's outputs (--outputs FILE from `aws cloudformation describe-stacks --query \
             'Stacks[0].Outputs'`), export CLOUDFLARE_ACCOUNT_ID (the stack's CloudflareAccountId), and unset \
             variables that name another stack's resources",
        )
    }
}

fn not_known(name: &str, output: &str) -> Check {
    Check::fail(name, format!("{output} is not known"), format!("give the stack's {output} output (--outputs FILE)"))
}

async fn table_check(live: &Live) -> Check {
    let Some(table) = live.inputs.get("VideosTableName") else { return not_known("table", "VideosTableName") };
    let ddb = aws_sdk_dynamodb::Client::new(&live.aws);
    let described = match ddb.describe_table().table_name(table).send().await {
        Ok(d) => d,
        Err(e) => {
            return Check::fail(
                "table",
                format!("DescribeTable {table}: {}", describe_aws(&e)),
                "check the name (output VideosTableName), the region (AWS_REGION) and the operator's \
                 dynamodb:DescribeTable permission",
            );
        }
    };
    let description = described.table.unwrap_or_else(|| aws_sdk_dynamodb::types::TableDescription::builder().build());
    let status = description.table_status.as_ref().map_or("unknown", |s| s.as_str()).to_owned();
    let index = description
        .global_secondary_indexes()
        .iter()
        .find(|g| g.index_name() == Some("by_video_uid"))
        .map(|g| g.index_status.as_ref().map_or("unknown", |s| s.as_str()).to_owned());
    let key_is_source = description.key_schema().iter().any(|k| k.attribute_name() == "source");
    if status != "ACTIVE" || index.as_deref() != Some("ACTIVE") || !key_is_source {
        return Check::fail(
            "table",
            format!(
                "{table}: status {status}, index by_video_uid {}, partition key source: {key_is_source}",
                index.as_deref().unwrap_or("missing")
            ),
            "wait for the stack to finish (ACTIVE), or redeploy: the table must be template.yaml's VideosTable",
        );
    }
    let store = live.store.as_ref().expect("built with the table's name");
    match store.record("s3://vinofy-doctor/no-such-record").await {
        Ok(_) => Check::pass(
            "table",
            format!("{table}: ACTIVE, by_video_uid ACTIVE, about {} items", description.item_count.unwrap_or(0)),
        ),
        Err(e) => Check::fail(
            "table",
            format!("{table}: GetItem refused: {e}"),
            "grant the operator dynamodb:GetItem on VideosTable (README, Operator CLI)",
        ),
    }
}

async fn bucket_check(live: &Live) -> Check {
    let Some(bucket) = live.inputs.get("UploadBucketName") else { return not_known("bucket", "UploadBucketName") };
    let s3 = settings::s3_client(&live.aws);
    match s3.head_bucket().bucket(bucket).send().await {
        Ok(_) => Check::pass("bucket", format!("{bucket}: reachable")),
        Err(e) => Check::fail(
            "bucket",
            format!("HeadBucket {bucket}: {}", describe_aws(&e)),
            "check the name (output UploadBucketName), the region, and the operator's s3:ListBucket on UploadBucket",
        ),
    }
}

async fn queue_attributes(
    live: &Live,
    url: &str,
) -> Result<HashMap<aws_sdk_sqs::types::QueueAttributeName, String>, String> {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let sqs = aws_sdk_sqs::Client::new(&live.aws);
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::QueueArn)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map(|o| o.attributes.unwrap_or_default())
        .map_err(|e| describe_aws(&e))
}

fn count_of(attributes: &HashMap<aws_sdk_sqs::types::QueueAttributeName, String>) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    [A::ApproximateNumberOfMessages, A::ApproximateNumberOfMessagesNotVisible]
        .iter()
        .filter_map(|a| attributes.get(a).and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

async fn ingest_queue_check(live: &Live) -> (Check, Option<String>) {
    let Some(url) = live.inputs.get("IngestQueueUrl") else {
        return (Check::skip("ingest-queue", "no IngestQueueUrl output: direct mode (S3 invokes the function)"), None);
    };
    match queue_attributes(live, url).await {
        Ok(attributes) => {
            let arn = attributes.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn).cloned();
            let detail =
                format!("{}: reachable, {} messages in it", arn.as_deref().unwrap_or(url), count_of(&attributes));
            (Check::pass("ingest-queue", detail), arn)
        }
        Err(e) => (
            Check::fail(
                "ingest-queue",
                format!("GetQueueAttributes {url}: {e}"),
                "check the URL (output IngestQueueUrl) and the operator's sqs:GetQueueAttributes on IngestQueue",
            ),
            None,
        ),
    }
}

async fn failed_events_check(live: &Live) -> Check {
    let Some(url) = live.inputs.get("FailedEventsQueueUrl") else {
        return not_known("failed-events", "FailedEventsQueueUrl");
    };
    match queue_attributes(live, url).await {
        Ok(attributes) => {
            let n = count_of(&attributes);
            let tail = if n == 0 { String::new() } else { " (see them with `vinofy redrive --dry-run`)".into() };
            Check::pass("failed-events", format!("reachable, {n} failed events waiting{tail}"))
        }
        Err(e) => Check::fail(
            "failed-events",
            format!("GetQueueAttributes {url}: {e}"),
            "check the URL (output FailedEventsQueueUrl) and the operator's sqs:GetQueueAttributes on FailedEventsQueue",
        ),
    }
}

async fn read_secret(live: &mut Live, arn: &str) -> Result<SecretString, String> {
    if let Some(known) = live.secrets.get(arn) {
        return known.clone();
    }
    let client = aws_sdk_secretsmanager::Client::new(&live.aws);
    let value = match client.get_secret_value().secret_id(arn).send().await {
        Ok(o) => o.secret_string.map(SecretString::new).ok_or_else(|| "the secret has no string value".to_owned()),
        Err(e) => Err(format!("GetSecretValue: {}", describe_aws(&e))),
    };
    live.secrets.insert(arn.to_owned(), value.clone());
    value
}

/// What to do about a secret that is not set, by output.
fn secret_fix(output: &str) -> String {
    match output {
        "CloudflareApiTokenSecretArn" => {
            "aws secretsmanager put-secret-value --secret-id <CloudflareApiTokenSecretArn> --secret-string '<a token \
             with Stream Write>' (the functions read it at start-up)"
                .into()
        }
        "CloudflareWebhookSecretArn" => "vinofy webhook register --url <WebhookUrl> --secret-arn \
                                         <CloudflareWebhookSecretArn> (stores the secret Cloudflare returns)"
            .into(),
        "StreamSigningKeySecretArn" => "vinofy signing-key create --secret-arn <StreamSigningKeySecretArn>".into(),
        "MuxSigningKeySecretArn" => {
            "vinofy signing-key create --provider mux --secret-arn <MuxSigningKeySecretArn>".into()
        }
        "MuxTokenSecretArn" => "aws secretsmanager put-secret-value --secret-id <MuxTokenSecretArn> --secret-string \
             '{\"id\": \"<token id>\", \"secret\": \"<token secret>\"}'"
            .into(),
        other => format!("store the real value in the {other} secret (the Mux dashboard's webhook signing secret)"),
    }
}

async fn secret_check(live: &mut Live, output: &'static str) -> Option<Check> {
    let arn = live.inputs.get(output)?.to_owned();
    let name = format!("secret {}", output.trim_end_matches("Arn"));
    Some(match read_secret(live, &arn).await {
        Ok(value) => match secret_is_set(value.expose()) {
            Ok(()) => Check::pass(name, format!("{arn}: set ({} characters, not shown)", value.expose().len())),
            Err(why) => Check::fail(name, format!("{arn} {why}"), secret_fix(output)),
        },
        Err(e) => Check::fail(
            name,
            format!("{arn}: {e}"),
            format!("check the ARN (output {output}) and the operator's secretsmanager:GetSecretValue on it"),
        ),
    })
}

/// The Cloudflare client with the token the functions use (the stack's secret), else the
/// operator's `CLOUDFLARE_API_TOKEN`. `Ok((client, where the token came from))`.
async fn stream_client(live: &mut Live) -> Result<(PacedCloudflare, String), String> {
    let token_arn = live.inputs.get("CloudflareApiTokenSecretArn").map(str::to_owned);
    let lookup = |name: &str| match name {
        // The token is resolved here, from the stack's secret when there is one.
        "CLOUDFLARE_API_TOKEN_SECRET_ARN" => None,
        "CLOUDFLARE_API_TOKEN" => env(name).or_else(|| token_arn.as_ref().map(|_| "from-the-secret".to_owned())),
        _ => env(name),
    };
    let cf = CloudflareConfig::from_lookup(&lookup, true)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "Cloudflare is not configured".to_owned())?;
    let (token, from) = match &token_arn {
        Some(arn) => {
            let raw = read_secret(live, arn).await.map_err(|e| format!("the token secret: {e}"))?;
            secret_is_set(raw.expose()).map_err(|why| format!("the token secret {why}"))?;
            // The token as the functions take it from the secret (plain, or a JSON field).
            let value = secret_value("CLOUDFLARE_API_TOKEN_SECRET_ARN", raw.expose()).map_err(|e| e.to_string())?;
            (value, "the token in CloudflareApiTokenSecretArn".to_owned())
        }
        None => match &cf.token {
            SecretSource::Inline(value) => (value.clone(), "CLOUDFLARE_API_TOKEN".to_owned()),
            SecretSource::SecretsManager { .. } => return Err("no token".into()),
        },
    };
    // Its calls count against the budget every function takes its calls from.
    let store = live.store.as_ref().ok_or_else(|| NO_BUDGET_TABLE.to_owned())?;
    let stream = paced_cloudflare(&cf, token, store).map_err(|e| e.to_string())?;
    Ok((stream, from))
}

/// The Mux client with the stack's token (MuxTokenSecretArn), else the operator's MUX_TOKEN_ID and
/// MUX_TOKEN_SECRET, paced by the Mux budgets the functions share; `None` when Mux is not in use.
async fn mux_client(live: &mut Live) -> Option<Result<PacedMux, (String, String)>> {
    let arn = live.inputs.get("MuxTokenSecretArn").map(str::to_owned);
    if arn.is_none() && env("MUX_TOKEN_ID").is_none() {
        return None;
    }
    let lookup = |name: &str| match name {
        "MUX_TOKEN_SECRET_ARN" => arn.clone(),
        // The stack's token decides when there is one.
        "MUX_TOKEN_ID" | "MUX_TOKEN_SECRET" if arn.is_some() => None,
        _ => env(name),
    };
    let mux = match MuxConfig::from_lookup(lookup) {
        Ok(Some(mux)) => mux,
        Ok(None) => return Some(Err(("Mux is not configured".to_owned(), MUX_TOKEN_FIX.to_owned()))),
        Err(e) => return Some(Err((e.to_string(), format!("fix {}", e.name)))),
    };
    let Some(store) = live.store.clone() else {
        return Some(Err((NO_BUDGET_TABLE.to_owned(), "give VIDEOS_TABLE (the output VideosTableName)".to_owned())));
    };
    let credentials = match (&mux.token, &arn) {
        // The secret the `secret MuxTokenSecret` check read already, parsed as the functions parse it.
        (MuxTokenSource::SecretsManager { variable, .. }, Some(arn)) => match read_secret(live, arn).await {
            Ok(raw) => {
                parse_token_secret(variable, raw.expose()).map_err(|e| (e.to_string(), MUX_TOKEN_FIX.to_owned()))
            }
            Err(e) => Err((
                format!("MuxTokenSecretArn: {e}"),
                "check MuxTokenSecretArn and the operator's secretsmanager:GetSecretValue on it".to_owned(),
            )),
        },
        (source, _) => resolve_token(source, &live.aws).await.map_err(|e| (e.to_string(), MUX_TOKEN_FIX.to_owned())),
    };
    Some(credentials.and_then(|credentials| {
        paced_mux(&mux, credentials, &store).map_err(|e| (e.to_string(), "check the MUX_* variables".to_owned()))
    }))
}

/// Why no provider check can run without the table.
const NO_BUDGET_TABLE: &str = "the call budget every process shares is in the videos table: VIDEOS_TABLE is unknown";

const MUX_TOKEN_FIX: &str = "create a Mux access token with Mux Video Read and Write (dashboard → Settings → Access \
                             Tokens) and store it: aws secretsmanager put-secret-value --secret-id <MuxTokenSecretArn> \
                             --secret-string '{\"id\": \"<token id>\", \"secret\": \"<token secret>\"}'";

/// Mux has no token-verify endpoint: a one-asset listing says whether the token is taken and may
/// read Mux Video.
async fn mux_token_check(live: &Live) -> Option<Check> {
    const CALL: &str = "GET /video/v1/assets?limit=1";
    let mux = match live.mux.as_ref()? {
        Ok(mux) => mux,
        Err((why, fix)) => return Some(Check::fail("mux-token", format!("not checked: {why}"), fix.as_str())),
    };
    Some(match mux.operator_call(CallKind::Other, CALL_TIMEOUT, |mux, left| mux.probe_access(left)).await {
        Ok(()) => Check::pass("mux-token", format!("{CALL}: the token is accepted")),
        Err(e @ (ProviderError::OverBudget { .. } | ProviderError::NotSent(_))) => not_sent("mux-token", CALL, &e),
        Err(ProviderError::Http { status: status @ (401 | 403), message, .. }) => {
            Check::fail("mux-token", format!("{CALL}: HTTP {status}: {message}"), MUX_TOKEN_FIX)
        }
        Err(e) => Check::fail("mux-token", format!("{CALL}: {e}"), "retry later"),
    })
}

/// Not sent, for a reason of ours: the shared call budget had no slot in time (spent by a burst,
/// or a lock-out another process met), or the budget's item could not be read or written (the
/// operator's DynamoDB permissions, an outage). Says which, since the fixes differ.
fn not_sent(name: &str, call: &str, e: &ProviderError) -> Check {
    let fix = match e {
        ProviderError::OverBudget { .. } => {
            "run doctor again later: the provider's rate limit is spent or the account is locked out (the \
             dashboard's budget wait and lock-out widgets say which, and for how long)"
        }
        _ => {
            "the call budget lives in the videos table: give the operator dynamodb:GetItem and \
             dynamodb:UpdateItem on VideosTable (the budget items), or retry if DynamoDB is unavailable"
        }
    };
    Check::fail(name, format!("{call}: not sent: {e}"), fix)
}

fn stream_unavailable(name: &str, why: &str) -> Check {
    Check::fail(
        name,
        format!("not checked: {why}"),
        "set CLOUDFLARE_ACCOUNT_ID and store a token with Stream Write in CloudflareApiTokenSecretArn",
    )
}

async fn token_check(live: &Live) -> Check {
    let (stream, from) = match &live.stream {
        Ok(s) => s,
        Err(why) => return stream_unavailable("token", why),
    };
    match stream.operator_call(CallKind::Other, CALL_TIMEOUT, |s, left| s.verify_token(left)).await {
        Err(e @ (ProviderError::OverBudget { .. } | ProviderError::NotSent(_))) => {
            not_sent("token", "GET /user/tokens/verify", &e)
        }
        Ok(t) if t.status == "active" => Check::pass("token", format!("{from}: active (token id {})", t.id)),
        Ok(t) => Check::fail(
            "token",
            format!("{from}: status {} (token id {})", t.status, t.id),
            "create a new token with Stream Write (dashboard → My Profile → API Tokens) and store it",
        ),
        Err(e) => Check::fail(
            "token",
            format!("{from}: GET /user/tokens/verify: {e}"),
            "store a valid Cloudflare API token with Stream Write in CloudflareApiTokenSecretArn \
             (aws secretsmanager put-secret-value)",
        ),
    }
}

async fn stream_permission_check(live: &Live) -> Check {
    let (stream, _) = match &live.stream {
        Ok(s) => s,
        Err(why) => return stream_unavailable("stream-permission", why),
    };
    match stream.operator_call(CallKind::Other, CALL_TIMEOUT, |s, left| s.probe_stream_access(left)).await {
        Err(e @ (ProviderError::OverBudget { .. } | ProviderError::NotSent(_))) => {
            not_sent("stream-permission", "GET /accounts/{id}/stream?limit=1", &e)
        }
        Ok(()) => Check::pass("stream-permission", "GET /accounts/{id}/stream?limit=1: allowed"),
        Err(ProviderError::Http { status: status @ (401 | 403), message, .. }) => Check::fail(
            "stream-permission",
            format!("GET /accounts/{{id}}/stream?limit=1: HTTP {status}: {message}"),
            "give the token the Stream Write permission on this account (and check CLOUDFLARE_ACCOUNT_ID)",
        ),
        Err(e) => Check::fail("stream-permission", format!("GET /accounts/{{id}}/stream?limit=1: {e}"), "retry later"),
    }
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

async fn webhook_check(live: &mut Live) -> Check {
    let Some(url) = live.inputs.get("WebhookUrl").map(str::to_owned) else { return not_known("webhook", "WebhookUrl") };
    let register = "vinofy webhook register --url <WebhookUrl> --secret-arn <CloudflareWebhookSecretArn>";
    let subscription = match &live.stream {
        Ok((stream, _)) => {
            stream.operator_call(CallKind::Other, CALL_TIMEOUT, |s, left| s.webhook_subscription(left)).await
        }
        Err(why) => return stream_unavailable("webhook", why),
    };
    let subscription = match subscription {
        Ok(Some(s)) => s,
        Ok(None) => return Check::fail("webhook", "the account has no Stream webhook", register),
        Err(e @ (ProviderError::OverBudget { .. } | ProviderError::NotSent(_))) => {
            return not_sent("webhook", "GET /accounts/{id}/stream/webhook", &e);
        }
        Err(e) => return Check::fail("webhook", format!("GET /stream/webhook: {e}"), "retry later"),
    };
    if !same_url(&subscription.notification_url, &url) {
        return Check::fail(
            "webhook",
            format!(
                "Stream delivers to {}, not to WebhookUrl {url} (one webhook per account: another app or stack \
                 may have taken it)",
                subscription.notification_url
            ),
            register,
        );
    }
    let stored = match live.inputs.get("CloudflareWebhookSecretArn").map(str::to_owned) {
        Some(arn) => Some(read_secret(live, &arn).await),
        None => None,
    };
    let not_its_secret = |why: String| {
        Check::fail(
            "webhook",
            format!("points at {url}, but the stored secret is not its signing secret{why}: every delivery gets 401"),
            format!("{register} (rotates the secret and stores it)"),
        )
    };
    match (subscription.secret, stored) {
        // Compared as the webhook function takes it (plain, or a JSON field).
        (Some(theirs), Some(Ok(raw))) => match secret_value("CLOUDFLARE_WEBHOOK_SECRET_ARN", raw.expose()) {
            Ok(ours) if ours.expose() == theirs.expose() => {
                Check::pass("webhook", format!("points at {url}; the stored secret is its signing secret"))
            }
            Ok(_) => not_its_secret(String::new()),
            // A placeholder, or nothing usable: the function does not even start (502 until then).
            Err(e) => not_its_secret(format!(" ({e})")),
        },
        _ => Check::pass("webhook", format!("points at {url} (signing secret not compared)")),
    }
}

async fn webhook_function_check(live: &Live) -> Check {
    let Some(url) = live.inputs.get("WebhookUrl") else { return not_known("webhook-function", "WebhookUrl") };
    let client = match vinofy_adapters::http::client() {
        Ok(c) => c,
        Err(e) => return Check::fail("webhook-function", format!("no HTTP client: {e}"), "report this"),
    };
    let answer =
        client.post(url).timeout(CALL_TIMEOUT).header("content-type", "application/json").body("{}").send().await;
    match answer.map(|r| r.status().as_u16()) {
        Ok(401) => Check::pass("webhook-function", "an unsigned POST is refused with 401: up and verifying"),
        Ok(status) => Check::fail(
            "webhook-function",
            format!("an unsigned POST to WebhookUrl got HTTP {status}, not 401"),
            "read the webhook function's logs: it refuses to start while its secret holds the placeholder \
             (502 from the Function URL); a 403 means the Function URL is not public (AuthType NONE)",
        ),
        Err(e) => Check::fail(
            "webhook-function",
            format!("POST WebhookUrl: {}", vinofy_adapters::http::describe(e)),
            "check WebhookUrl (the stack output) and that the Function URL exists",
        ),
    }
}

async fn notification_check(live: &Live) -> Check {
    let Some(bucket) = live.inputs.get("UploadBucketName") else {
        return not_known("bucket-notification", "UploadBucketName");
    };
    let s3 = settings::s3_client(&live.aws);
    let config = match s3.get_bucket_notification_configuration().bucket(bucket).send().await {
        Ok(c) => c,
        Err(e) => {
            let text = describe_aws(&e);
            if text.contains("NotImplemented") {
                return Check::skip(
                    "bucket-notification",
                    "this S3 endpoint does not implement GetBucketNotificationConfiguration (s3s-fs, the local \
                     world): not checkable here; --canary proves delivery end to end",
                );
            }
            return Check::fail(
                "bucket-notification",
                format!("GetBucketNotificationConfiguration {bucket}: {text}"),
                "grant the operator s3:GetBucketNotification on UploadBucket",
            );
        }
    };
    let events_of = |events: &[aws_sdk_s3::types::Event]| -> Vec<String> {
        events.iter().map(|e| e.as_str().to_owned()).collect::<Vec<_>>()
    };
    let (target, events): (String, Vec<String>) = match (&live.ingest_queue_arn, live.inputs.get("IngestFunctionArn")) {
        (Some(queue), _) => (
            queue.clone(),
            config
                .queue_configurations()
                .iter()
                .filter(|q| q.queue_arn() == queue)
                .flat_map(|q| events_of(q.events()))
                .collect(),
        ),
        (None, Some(function)) if live.inputs.get("IngestQueueUrl").is_none() => (
            function.to_owned(),
            config
                .lambda_function_configurations()
                .iter()
                .filter(|l| l.lambda_function_arn() == function)
                .flat_map(|l| events_of(l.events()))
                .collect(),
        ),
        _ => {
            return Check::fail(
                "bucket-notification",
                "cannot tell the target: neither the ingest queue's ARN nor IngestFunctionArn is known",
                "give IngestQueueUrl (sqs mode) or IngestFunctionArn (direct mode)",
            );
        }
    };
    let covers =
        |family: &str| events.iter().any(|e| e == &format!("s3:{family}:*") || e.starts_with(&format!("s3:{family}:")));
    match (covers("ObjectCreated"), covers("ObjectRemoved")) {
        (true, true) => {
            Check::pass("bucket-notification", format!("{bucket} notifies {target}: {}", events.join(", ")))
        }
        (created, removed) => Check::fail(
            "bucket-notification",
            format!(
                "{bucket} does not notify {target} of{}{}",
                if created { "" } else { " s3:ObjectCreated:*" },
                if removed { "" } else { " s3:ObjectRemoved:*" }
            ),
            "redeploy the stack (sam deploy): its UploadBucket NotificationConfiguration sets both; a manual \
             change or another tool replaced it",
        ),
    }
}
