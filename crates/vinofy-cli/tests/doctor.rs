//! `vinofy webhook register` and `vinofy doctor` against a local deployment made of the real
//! binaries, in the stack's sqs mode: uploads go through an S3 proxy that sends S3's notifications
//! to a moto queue (`harness::s3_notify`), the SQS event source feeds them to the real `ingest`
//! binary, the emulator fetches the presigned URL from s3s-fs and sends its signed webhook to the
//! real `webhook` binary behind a Function URL, registered by `vinofy webhook register` (whose
//! secret the function reads from moto's Secrets Manager at start-up). Then `vinofy doctor` runs
//! healthy, and with each fault: a bad token, a placeholder secret, the webhook pointing elsewhere,
//! an emulator that insists on HEAD (`--require-head on`, which a GET-presigned URL refuses).
//! Every `vinofy` run goes through the IAM recorder.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use vinofy_test_support::harness::function_url::FunctionUrl;
use vinofy_test_support::harness::lambda_queues::{Fleet, SqsEventSource};
use vinofy_test_support::harness::s3_notify::S3Notifier;
use vinofy_test_support::harness::*;

const PLACEHOLDER: &str = "REPLACE_WITH_CLOUDFLARE_WEBHOOK_SECRET";

type Run = cli::CliRun;

/// Doctor's `--json` lines.
trait DoctorRun {
    fn lines(&self) -> Vec<Value>;
    /// `--json` checks by name.
    fn checks(&self) -> HashMap<String, Value>;
    fn failed(&self) -> Vec<String>;
}

impl DoctorRun for Run {
    fn lines(&self) -> Vec<Value> {
        self.json_lines()
    }

    fn checks(&self) -> HashMap<String, Value> {
        self.lines_of_type("check").into_iter().map(|l| (l["name"].as_str().unwrap().to_owned(), l)).collect()
    }

    fn failed(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.checks().into_iter().filter(|(_, c)| c["ok"] == false).map(|(name, _)| name).collect();
        names.sort();
        names
    }
}

async fn vinofy(env: Vec<(String, String)>, args: &[&str]) -> Run {
    cli::run_vinofy(env!("CARGO_BIN_EXE_vinofy"), env, args).await
}

/// A URL that exists before its function does (the webhook must be registered, and its secret
/// stored, before the webhook function starts and reads it): forwards to the Function URL once set.
struct Relay {
    url: String,
    target: Arc<OnceLock<String>>,
}

impl Relay {
    async fn start() -> Self {
        let target: Arc<OnceLock<String>> = Arc::default();
        let app = axum::Router::new().fallback(relay).with_state(target.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, target }
    }
}

async fn relay(
    State(target): State<Arc<OnceLock<String>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(base) = target.get() else { return StatusCode::SERVICE_UNAVAILABLE.into_response() };
    let url = format!("{}{}", base.trim_end_matches('/'), uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut request = reqwest::Client::new().request(method, url).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(r) => (r.status(), r.bytes().await.unwrap_or_default()).into_response(),
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// A moto queue URL in SQS's own form (what the stack outputs hold).
fn aws_form(url: &str) -> String {
    let path = url.split_once("://").and_then(|(_, rest)| rest.split_once('/')).map(|(_, p)| p).unwrap();
    format!("https://sqs.{REGION}.amazonaws.com/{path}")
}

/// The deployment: what `sam deploy` would have made, with real binaries, and its outputs.
struct Deployment {
    world: World,
    sm: aws_sdk_secretsmanager::Client,
    token_secret: String,
    webhook_secret: String,
    webhook_url: String,
    queue: SqsEventSource,
    notifier: S3Notifier,
    register: Run,
    _fleet: Fleet,
    _webhook: Arc<Function>,
}

impl Deployment {
    async fn start(emulator_args: &[&str]) -> Self {
        let world = World::with_emulator_args(emulator_args).await;
        let sm = aws_sdk_secretsmanager::Client::new(&sdk_config(&shared().dynamodb_endpoint).await);
        let token_secret = world.create_secret("cf-token", &world.token).await;
        let webhook_secret = world.create_secret("cf-webhook", PLACEHOLDER).await;
        let relay = Relay::start().await;

        // The operator registers the webhook: the secret goes into the stack's secret.
        let mut env = world.env();
        env.push(("CLOUDFLARE_WEBHOOK_SECRET_ARN".into(), webhook_secret.clone()));
        let register = vinofy(env, &["webhook", "register", "--url", &relay.url]).await;
        assert_eq!(register.code, 0, "{register:?}");

        // The webhook function starts afterwards and reads it.
        let mut env: HashMap<String, String> = world.env().into_iter().collect();
        env.retain(|k, _| !k.starts_with("CLOUDFLARE_"));
        env.insert("CLOUDFLARE_WEBHOOK_SECRET_ARN".into(), webhook_secret.clone());
        let webhook = Arc::new(Function::start_binary(peers::target_bin("webhook").to_str().unwrap(), env).await);
        relay.target.set(FunctionUrl::start(webhook.clone()).await.url).unwrap();

        // sqs mode: bucket → (notifier) → ingest queue → event source → ingest.
        let queue = SqsEventSource::create("ingest", Duration::from_secs(30), 3).await;
        let fleet = Fleet::start(&world, &[("INGEST_QUEUE_ARN", queue.queue_arn.as_str())], 1).await;
        queue.start(&fleet, 1, 10, Duration::from_secs(30));
        let notifier = S3Notifier::start(&shared().s3_endpoint, queue.sqs.clone(), &queue.queue_url).await;
        Self {
            world,
            sm,
            token_secret,
            webhook_secret,
            webhook_url: relay.url,
            queue,
            notifier,
            register,
            _fleet: fleet,
            _webhook: webhook,
        }
    }

    /// The operator's environment: the stack's outputs as variables, the token from its secret,
    /// uploads through the notifying S3 endpoint.
    fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .world
            .env()
            .into_iter()
            .filter(|(k, _)| k != "CLOUDFLARE_API_TOKEN" && k != "AWS_ENDPOINT_URL_S3")
            .collect();
        for (k, v) in [
            ("AWS_ENDPOINT_URL_S3", self.notifier.endpoint.clone()),
            ("CLOUDFLARE_API_TOKEN_SECRET_ARN", self.token_secret.clone()),
            ("CLOUDFLARE_WEBHOOK_SECRET_ARN", self.webhook_secret.clone()),
            ("WEBHOOK_URL", self.webhook_url.clone()),
            ("INGEST_QUEUE_URL", aws_form(&self.queue.queue_url)),
            ("FAILED_EVENTS_QUEUE_URL", aws_form(&self.queue.dlq_url)),
        ] {
            env.push((k.to_owned(), v));
        }
        env
    }

    async fn doctor(&self, args: &[&str]) -> Run {
        vinofy(self.env(), &[&["--json", "doctor"], args].concat()).await
    }

    async fn put_secret(&self, arn: &str, value: &str) {
        self.sm.put_secret_value().secret_id(arn).secret_string(value).send().await.unwrap();
    }

    async fn stored_secret(&self, arn: &str) -> String {
        self.sm.get_secret_value().secret_id(arn).send().await.unwrap().secret_string.unwrap()
    }

    /// The emulator's webhook subscription (with its secret).
    async fn subscription(&self) -> Value {
        let url = format!("{}/accounts/{ACCOUNT_ID}/stream/webhook", self.world.emulator.api_url);
        let r = self.world.http.get(url).bearer_auth(&self.world.token).send().await.unwrap();
        r.json::<Value>().await.unwrap()["result"].clone()
    }
}

fn secret_values_absent(run: &Run, secrets: &[&str]) {
    for secret in secrets {
        assert!(!run.stdout.contains(secret) && !run.stderr.contains(secret), "a secret was printed: {run:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_register_subscribes_the_url_and_stores_the_secret_unprinted() {
    let d = Deployment::start(&[]).await;
    let subscription = d.subscription().await;
    assert_eq!(subscription["notificationUrl"], d.webhook_url.as_str());
    let secret = subscription["secret"].as_str().unwrap().to_owned();
    assert_eq!(d.stored_secret(&d.webhook_secret).await, secret, "the answer's secret is what was stored");
    secret_values_absent(&d.register, &[&secret, &d.world.token]);
    assert!(d.register.stdout.contains("new instances pick it up"), "{:?}", d.register);

    // JSON, and a second registration rotates the secret (stored again).
    let mut env = d.world.env();
    env.push(("CLOUDFLARE_WEBHOOK_SECRET_ARN".into(), d.webhook_secret.clone()));
    env.push(("WEBHOOK_URL".into(), d.webhook_url.clone()));
    let again = vinofy(env.clone(), &["--json", "webhook", "register"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    let line = &again.lines()[0];
    assert_eq!(
        (line["notification_url"].as_str(), line["secret_arn"].as_str()),
        (Some(d.webhook_url.as_str()), Some(d.webhook_secret.as_str()))
    );
    let rotated = d.stored_secret(&d.webhook_secret).await;
    assert_ne!(rotated, secret);
    assert_eq!(d.subscription().await["secret"], rotated.as_str());
    secret_values_absent(&again, &[&rotated]);

    // Usage errors: exit 2, naming the flag or variable.
    let no_url: Vec<_> = env.iter().filter(|(k, _)| k != "WEBHOOK_URL").cloned().collect();
    let run = vinofy(no_url, &["webhook", "register"]).await;
    assert!(run.code == 2 && run.stderr.contains("WEBHOOK_URL"), "{run:?}");
    let run = vinofy(env.clone(), &["webhook", "register", "--url", "http://example.com/hook"]).await;
    assert!(run.code == 2 && run.stderr.contains("https://"), "{run:?}");
    let run = vinofy(env.clone(), &["webhook", "register", "--secret-arn", "not-an-arn"]).await;
    assert!(run.code == 2 && run.stderr.contains("--secret-arn"), "{run:?}");
}

/// Secrets stored as JSON (the console's key/value editor) are read the way the functions read them:
/// the `token` / `secret` field, not the JSON text.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_stored_as_json_are_read_as_the_functions_read_them() {
    let d = Deployment::start(&[]).await;
    let signing_secret = d.stored_secret(&d.webhook_secret).await;
    d.put_secret(&d.token_secret, &json!({"token": d.world.token}).to_string()).await;
    d.put_secret(&d.webhook_secret, &json!({"secret": signing_secret}).to_string()).await;
    let run = d.doctor(&[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let checks = run.checks();
    assert_eq!(checks["token"]["status"], "pass", "{run:?}");
    assert!(
        checks["webhook"]["detail"].as_str().unwrap().contains("the stored secret is its signing secret"),
        "{run:?}"
    );
    secret_values_absent(&run, &[&d.world.token, &signing_secret]);
}

/// The operator's Cloudflare calls land on the same account limit as a burst's: each takes its slot
/// from the budget the functions share, so a lock-out one of them met holds the commands too, and
/// nothing is sent into it.
#[tokio::test(flavor = "multi_thread")]
async fn operator_commands_take_their_calls_from_the_shared_budget_and_honour_a_lockout() {
    use vinofy_adapters::budget::CLOUDFLARE_BUDGET_KEY;
    use vinofy_adapters::{DynamoCallBudget, DynamoVideoStore};
    use vinofy_core::domain::budget::CallBudget;
    use vinofy_core::ports::CallBudgetGate;

    let d = Deployment::start(&[]).await;
    let budget_version = |items: Vec<Record>| {
        items
            .into_iter()
            .find(|i| s(i, "source").as_deref() == Some(CLOUDFLARE_BUDGET_KEY))
            .and_then(|i| i.get("version").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<i64>().ok()))
    };
    let after_register = budget_version(d.world.all_items().await).expect("webhook register took a slot");
    let run = d.doctor(&[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let after_doctor = budget_version(d.world.all_items().await).unwrap();
    assert!(after_doctor >= after_register + 3, "verify, list and the webhook each took a slot: {after_doctor}");

    // Another process met a 5-minute lock-out.
    let store = DynamoVideoStore::new(&sdk_config(&shared().dynamodb_endpoint).await, &d.world.table);
    let gate = DynamoCallBudget::new(store, CallBudget::parse("1200/300").unwrap(), CLOUDFLARE_BUDGET_KEY);
    gate.hold_for(Duration::from_secs(300)).await;
    let (webhook_calls, verify_calls) = (d.world.requests("webhook").await, d.world.requests("verify").await);
    let secret = d.stored_secret(&d.webhook_secret).await;

    let register = vinofy(d.env(), &["webhook", "register"]).await;
    assert_eq!(register.code, 1, "{register:?}");
    assert!(register.stderr.contains("call budget has no slot"), "{register:?}");
    assert_eq!(d.stored_secret(&d.webhook_secret).await, secret, "nothing rotated, nothing stored");

    let run = d.doctor(&[]).await;
    let checks = run.checks();
    assert_eq!(run.code, 1, "{run:?}");
    for name in ["token", "stream-permission", "webhook"] {
        assert_eq!(checks[name]["status"], "fail", "{name}: {run:?}");
        assert!(checks[name]["detail"].as_str().unwrap().contains("call budget"), "{name}: {run:?}");
    }
    assert_eq!(
        (d.world.requests("webhook").await, d.world.requests("verify").await),
        (webhook_calls, verify_calls),
        "nothing was sent into the lock-out"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_deployment_passes_and_the_canary_goes_through_every_stage() {
    let d = Deployment::start(&[]).await;
    let run = d.doctor(&["--canary", "--canary-timeout", "60s"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let checks = run.checks();
    for name in [
        "config",
        "table",
        "bucket",
        "ingest-queue",
        "failed-events",
        "secret CloudflareApiTokenSecret",
        "secret CloudflareWebhookSecret",
        "token",
        "stream-permission",
        "webhook",
        "webhook-function",
        "bucket-notification",
        "canary",
    ] {
        assert!(checks.contains_key(name), "no {name} check: {run:?}");
    }
    assert!(run.failed().is_empty(), "{run:?}");
    assert_eq!(checks["webhook"]["status"], "pass");
    assert!(checks["webhook"]["detail"].as_str().unwrap().contains("the stored secret is its signing secret"));
    // s3s-fs implements no GetBucketNotificationConfiguration: the canary proves delivery instead.
    assert_eq!(checks["bucket-notification"]["status"], "skip", "{run:?}");
    let stages: Vec<&str> =
        checks["canary"]["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["uploaded", "submitted", "ready", "deleted"], "{run:?}");
    let summary = run.lines().pop().unwrap();
    assert_eq!((summary["type"].as_str(), summary["ok"].as_bool()), (Some("summary"), Some(true)));

    // The canary really went through: created, then deleted, by S3 notifications.
    let key = checks["canary"]["key"].as_str().unwrap();
    let record = d.world.record(key).await.expect("the canary's record");
    assert_eq!(s(&record, "status").as_deref(), Some("deleted"));
    let events: Vec<String> =
        d.notifier.sent().iter().map(|e| e["Records"][0]["eventName"].as_str().unwrap().to_owned()).collect();
    assert_eq!(events, ["ObjectCreated:Put", "ObjectRemoved:Delete"]);
    let listed = d.world.s3.list_objects_v2().bucket(&d.world.bucket).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0), "the canary object is gone");

    // The human form: ✔ lines and the verdict, no secret.
    let human = vinofy(d.env(), &["doctor", "--canary", "--canary-timeout", "60s"]).await;
    assert_eq!(human.code, 0, "{human:?}");
    assert!(human.stdout.contains("✔ canary"), "{human:?}");
    assert!(human.stdout.contains("✔ token") && human.stdout.contains("healthy: "), "{human:?}");
    let webhook_secret = d.stored_secret(&d.webhook_secret).await;
    secret_values_absent(&human, &[&webhook_secret, &d.world.token]);
    secret_values_absent(&run, &[&webhook_secret, &d.world.token]);
    println!("--- vinofy doctor --canary (json)\n{}--- vinofy doctor --canary\n{}", run.stdout, human.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_token_fails_the_token_and_stream_checks() {
    let d = Deployment::start(&[]).await;
    d.put_secret(&d.token_secret, "cf-not-the-token-0123456789").await;
    let run = d.doctor(&[]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let checks = run.checks();
    assert_eq!(run.failed(), ["stream-permission", "token", "webhook"], "{run:?}");
    assert!(checks["token"]["detail"].as_str().unwrap().contains("HTTP 401"), "{run:?}");
    assert!(checks["token"]["fix"].as_str().unwrap().contains("Stream Write"));
    assert!(checks["stream-permission"]["detail"].as_str().unwrap().contains("HTTP 403"), "{run:?}");
    secret_values_absent(&run, &["cf-not-the-token-0123456789"]);

    // A token without the Stream permission: verify says active, the Stream route refuses.
    d.put_secret(&d.token_secret, &d.world.token).await;
    d.world
        .inject_faults(json!([{"route": "list", "times": 1, "status": 403, "code": 10000,
        "message": "Authentication error"}]))
        .await;
    let run = d.doctor(&[]).await;
    assert_eq!(run.failed(), ["stream-permission"], "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_placeholder_secret_is_named_never_printed_and_breaks_the_webhook() {
    let d = Deployment::start(&[]).await;
    let real = d.stored_secret(&d.webhook_secret).await;
    d.put_secret(&d.webhook_secret, PLACEHOLDER).await;
    let run = d.doctor(&[]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.failed(), ["secret CloudflareWebhookSecret", "webhook"], "{run:?}");
    let checks = run.checks();
    let secret = &checks["secret CloudflareWebhookSecret"];
    assert!(secret["detail"].as_str().unwrap().contains("placeholder"), "{run:?}");
    assert!(secret["fix"].as_str().unwrap().contains("vinofy webhook register"), "{run:?}");
    assert!(checks["webhook"]["detail"].as_str().unwrap().contains("401"), "{run:?}");
    secret_values_absent(&run, &[&real]);

    // The token's secret left at the placeholder: the Cloudflare checks cannot run.
    d.put_secret(&d.token_secret, "REPLACE_WITH_CLOUDFLARE_API_TOKEN").await;
    let run = d.doctor(&[]).await;
    let failed = run.failed();
    for name in ["secret CloudflareApiTokenSecret", "token", "stream-permission", "webhook"] {
        assert!(failed.contains(&name.to_owned()), "{name}: {run:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_pointing_elsewhere_is_found_with_its_fix() {
    let d = Deployment::start(&[]).await;
    let url = format!("{}/accounts/{ACCOUNT_ID}/stream/webhook", d.world.emulator.api_url);
    let other = "https://another-app.example.com/hooks/stream";
    let r = d.world.http.put(url).bearer_auth(&d.world.token).json(&json!({"notificationUrl": other})).send().await;
    assert!(r.unwrap().status().is_success());
    let run = d.doctor(&[]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.failed(), ["webhook"], "{run:?}");
    let webhook = &run.checks()["webhook"];
    assert!(webhook["detail"].as_str().unwrap().contains(other), "{run:?}");
    assert!(webhook["fix"].as_str().unwrap().starts_with("vinofy webhook register"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_that_insists_on_head_fails_the_canary_with_its_own_reason() {
    let d = Deployment::start(&["--require-head", "on"]).await;
    let run = d.doctor(&["--canary", "--canary-timeout", "60s"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.failed(), ["canary"], "{run:?}");
    let canary = &run.checks()["canary"];
    let detail = canary["detail"].as_str().unwrap();
    assert!(detail.contains("ERR_FETCH_ORIGIN_ERROR"), "{detail}");
    assert!(
        detail.contains(
            "errorReasonText \"The video failed to download from the URL: the origin answered HEAD with HTTP 403\""
        ),
        "{detail}"
    );
    assert!(!detail.contains("X-Amz"), "no presigned URL in the report: {detail}");
    assert!(canary["fix"].as_str().unwrap().contains("HEAD"), "{run:?}");
    let stages: Vec<&str> = canary["stages"].as_array().unwrap().iter().map(|s| s["stage"].as_str().unwrap()).collect();
    assert_eq!(stages, ["uploaded", "submitted"], "{run:?}");
    // Cleaned up: the object is deleted (and the deletion sync follows).
    let listed = d.world.s3.list_objects_v2().bucket(&d.world.bucket).send().await.unwrap();
    assert_eq!(listed.key_count(), Some(0));
    println!("--- vinofy doctor --canary with --require-head on (json)\n{}", run.stdout);
    let human = vinofy(d.env(), &["doctor", "--canary", "--canary-timeout", "60s"]).await;
    println!("--- the same, human\n{}", human.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_outputs_file_and_the_environment_must_agree() {
    let d = Deployment::start(&[]).await;
    let dir = std::env::temp_dir().join(format!("vinofy-doctor-{:08x}", fastrand::u32(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let outputs = |bucket: &str| {
        json!([
            {"OutputKey": "UploadBucketName", "OutputValue": bucket},
            {"OutputKey": "VideosTableName", "OutputValue": d.world.table},
            {"OutputKey": "WebhookUrl", "OutputValue": d.webhook_url},
            {"OutputKey": "CloudflareApiTokenSecretArn", "OutputValue": d.token_secret},
            {"OutputKey": "CloudflareWebhookSecretArn", "OutputValue": d.webhook_secret},
            {"OutputKey": "IngestQueueUrl", "OutputValue": aws_form(&d.queue.queue_url)},
            {"OutputKey": "FailedEventsQueueUrl", "OutputValue": aws_form(&d.queue.dlq_url)},
            {"OutputKey": "IngestFunctionArn", "OutputValue": "arn:aws:lambda:us-east-1:123456789012:function:ingest"},
        ])
    };
    let same = dir.join("outputs.json");
    std::fs::write(&same, outputs(&d.world.bucket).to_string()).unwrap();
    let run = d.doctor(&["--outputs", same.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.checks()["config"]["detail"].as_str().unwrap().contains("from --outputs"), "{run:?}");

    // The environment names another bucket than the stack: a finding, not a guess.
    let other = dir.join("other.json");
    std::fs::write(&other, outputs("uploads-of-another-stack").to_string()).unwrap();
    let run = d.doctor(&["--outputs", other.to_str().unwrap()]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let config = &run.checks()["config"];
    assert_eq!(config["ok"], false);
    assert!(config["detail"].as_str().unwrap().contains("UploadBucketName is given differently"), "{run:?}");

    // Unreadable or malformed outputs, and nothing to check at all: exit 2.
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"not\": \"outputs\"}").unwrap();
    let run = d.doctor(&["--outputs", bad.to_str().unwrap()]).await;
    assert!(run.code == 2 && run.stderr.contains("OutputKey"), "{run:?}");
    let run = d.doctor(&["--outputs", dir.join("missing.json").to_str().unwrap()]).await;
    assert!(run.code == 2 && run.stderr.contains("cannot read"), "{run:?}");
    let bare: Vec<(String, String)> =
        d.env().into_iter().filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("CLOUDFLARE_A")).collect();
    let run = vinofy(bare, &["doctor"]).await;
    assert!(run.code == 2 && run.stderr.contains("--outputs"), "{run:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_secret_the_outputs_name_is_checked_and_placeholders_fail() {
    // Only the secrets matter here: no deployment, no Cloudflare (its checks fail, unconfigured).
    let world = World::new().await;
    let mut env = world.env();
    env.retain(|(k, _)| !k.starts_with("CLOUDFLARE_"));
    let set = [
        ("MUX_TOKEN_SECRET_ARN", "mux-token", r#"{"id": "mux-id", "secret": "mux-secret-value"}"#),
        ("MUX_WEBHOOK_SECRET_ARN", "mux-webhook", "mux-webhook-signing-secret"),
        ("STREAM_SIGNING_KEY_SECRET_ARN", "stream-key", r#"{"id": "k1", "pem": "c3RyZWFtLXBlbQ=="}"#),
    ];
    for (var, name, value) in set {
        env.push((var.to_owned(), world.create_secret(name, value).await));
    }
    // No Mux here: a closed port, so its token check fails at once.
    env.push(("MUX_API_URL".to_owned(), "http://127.0.0.1:9".to_owned()));
    let placeholder = r#"{"id": "REPLACE_WITH_KEY_ID", "private_key": "REPLACE_WITH_BASE64_PEM"}"#;
    env.push(("MUX_SIGNING_KEY_SECRET_ARN".to_owned(), world.create_secret("mux-key", placeholder).await));
    let run = vinofy(env, &["--json", "doctor"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    let checks = run.checks();
    for name in ["secret MuxTokenSecret", "secret MuxWebhookSecret", "secret StreamSigningKeySecret"] {
        assert_eq!(checks[name]["status"], "pass", "{name}: {run:?}");
    }
    let mux_key = &checks["secret MuxSigningKeySecret"];
    assert_eq!(mux_key["status"], "fail", "{run:?}");
    assert!(mux_key["fix"].as_str().unwrap().contains("vinofy signing-key create --provider mux"), "{run:?}");
    assert!(checks["token"]["detail"].as_str().unwrap().starts_with("not checked"), "{run:?}");
    assert_eq!(
        (checks["mux-token"]["status"].as_str(), checks["mux-token"]["fix"].as_str()),
        (Some("fail"), Some("retry later"))
    );
    secret_values_absent(&run, &["mux-secret-value", "mux-webhook-signing-secret", "c3RyZWFtLXBlbQ"]);
}

/// With Mux in use, doctor checks the stack's Mux token against Mux (which has no verify endpoint:
/// a one-asset listing), within the Mux budget the functions share.
#[tokio::test(flavor = "multi_thread")]
async fn the_mux_token_is_checked_against_mux() {
    let world = World::new().await.with_mux(&[]);
    let env: HashMap<String, String> = world.env().into_iter().collect();
    let (id, secret) = (env["MUX_TOKEN_ID"].clone(), env["MUX_TOKEN_SECRET"].clone());
    let token_secret = world.create_secret("mux-token", &json!({"id": id, "secret": secret}).to_string()).await;
    // The stack's token decides, not the operator's MUX_TOKEN_ID/SECRET.
    let mut env: Vec<(String, String)> =
        world.env().into_iter().filter(|(k, _)| !k.starts_with("CLOUDFLARE_") && !k.starts_with("MUX_TOKEN")).collect();
    env.push(("MUX_TOKEN_SECRET_ARN".to_owned(), token_secret.clone()));
    let listed = world.mux_requests("list").await;

    let run = vinofy(env.clone(), &["--json", "doctor"]).await;
    let check = &run.checks()["mux-token"];
    assert_eq!(check["status"], "pass", "{run:?}");
    assert_eq!(world.mux_requests("list").await, listed + 1, "one listing");
    let budget = world.all_items().await.into_iter().any(|i| s(&i, "source").as_deref() == Some("budget:mux"));
    assert!(budget, "the listing took its slot from the shared Mux budget");

    // A token Mux does not know: 401, with the fix, and neither half of the token printed.
    let sm = aws_sdk_secretsmanager::Client::new(&sdk_config(&shared().dynamodb_endpoint).await);
    let wrong = json!({"id": id, "secret": "not-the-mux-token-secret"}).to_string();
    sm.put_secret_value().secret_id(&token_secret).secret_string(wrong).send().await.unwrap();
    let run = vinofy(env, &["--json", "doctor"]).await;
    let check = &run.checks()["mux-token"];
    assert_eq!(check["status"], "fail", "{run:?}");
    assert!(check["detail"].as_str().unwrap().contains("HTTP 401"), "{run:?}");
    assert!(check["fix"].as_str().unwrap().contains("MuxTokenSecretArn"), "{run:?}");
    secret_values_absent(&run, &[&secret, "not-the-mux-token-secret"]);
}
