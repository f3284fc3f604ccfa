//! The local world (peers, bucket, table, emulator) and the real binaries driven through the
//! Lambda Runtime API.

pub mod cli;
pub mod dynamo_proxy;
pub mod forward;
pub mod function_url;
pub mod iam_recorder;
pub mod lambda_queues;
pub mod oidc;
pub mod peers;
pub mod player;
pub mod runtime;
pub mod s3_notify;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use aws_sdk_s3::primitives::ByteStream;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use vinofy_adapters::config::Config;
use vinofy_adapters::{CloudflareStream, DynamoVideoStore, S3Presigner};
use vinofy_core::domain::s3_key::encode_s3_key;
use vinofy_core::ingest::Ingestor;
use vinofy_core::secret::SecretString;

pub use peers::{ACCESS_KEY, Emulator, MuxEmulator, REGION, SECRET_KEY, shared};
pub use runtime::{Reply, RuntimeApi};

pub const ACCOUNT_ID: &str = "0123456789abcdef0123456789abcdef";

pub type Record = HashMap<String, AttributeValue>;

/// Keys that break naive decoding (every provider's end-to-end test): each must become a record for
/// exactly that object, whose bytes the provider fetches.
pub const HOSTILE_KEYS: &[&str] = &[
    "videos/holiday clip.mp4",
    "videos/a+b.mp4",
    "videos/clip (1).mp4",
    "videos/x=y&z.mp4",
    "videos/100%.mp4",
    "videos/take#1?.mp4",
    "videos/12:30 it's ~home.MOV",
    "videos/café 日本 🎬.mkv",
    "videos/a/b/c/deep.webm",
];

pub struct World {
    pub bucket: String,
    pub table: String,
    pub token: String,
    pub emulator: Emulator,
    /// The Mux emulator, once [`World::with_mux`] started one: its variables join [`World::env`].
    pub mux: Option<MuxEmulator>,
    pub s3: aws_sdk_s3::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub http: reqwest::Client,
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", fastrand::u32(..))
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(vinofy_adapters::aws_http_client())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "tests"))
        .load()
        .await
}

/// The table definition from template.yaml, so local tables are the deployed table's twins.
pub fn create_table_from_template(
    ddb: &aws_sdk_dynamodb::Client,
    name: &str,
) -> aws_sdk_dynamodb::operation::create_table::builders::CreateTableFluentBuilder {
    let text = std::fs::read_to_string(peers::repo_root().join("template.yaml")).unwrap();
    let template: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let props = &template["Resources"]["VideosTable"]["Properties"];
    let to_str = |v: &serde_yaml_ng::Value| v.as_str().unwrap().to_owned();
    let keys = |schema: &serde_yaml_ng::Value| -> Vec<KeySchemaElement> {
        schema
            .as_sequence()
            .unwrap()
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(to_str(&k["AttributeName"]))
                    .key_type(KeyType::from(to_str(&k["KeyType"]).as_str()))
                    .build()
                    .unwrap()
            })
            .collect()
    };
    let mut builder = ddb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::from(to_str(&props["BillingMode"]).as_str()))
        .set_key_schema(Some(keys(&props["KeySchema"])));
    for a in props["AttributeDefinitions"].as_sequence().unwrap() {
        builder = builder.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(to_str(&a["AttributeName"]))
                .attribute_type(ScalarAttributeType::from(to_str(&a["AttributeType"]).as_str()))
                .build()
                .unwrap(),
        );
    }
    for g in props["GlobalSecondaryIndexes"].as_sequence().into_iter().flatten() {
        builder = builder.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(to_str(&g["IndexName"]))
                .set_key_schema(Some(keys(&g["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(to_str(&g["Projection"]["ProjectionType"]).as_str()))
                        .build(),
                )
                .build()
                .unwrap(),
        );
    }
    builder
}

impl World {
    pub async fn new() -> Self {
        Self::with_emulator_args(&[]).await
    }

    pub async fn with_emulator_args(args: &[&str]) -> Self {
        let peers = shared();
        let token = format!("cf-test-token-{:016x}", fastrand::u64(..));
        let emulator = Emulator::start(ACCOUNT_ID, &token, args);
        let s3_conf =
            aws_sdk_s3::config::Builder::from(&sdk_config(&peers.s3_endpoint).await).force_path_style(true).build();
        let s3 = aws_sdk_s3::Client::from_conf(s3_conf);
        let ddb = aws_sdk_dynamodb::Client::new(&sdk_config(&peers.dynamodb_endpoint).await);
        let bucket = unique("uploads");
        let table = unique("videos");
        s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");
        create_table_from_template(&ddb, &table).send().await.expect("create table");
        Self { bucket, table, token, emulator, mux: None, s3, ddb, http: reqwest::Client::new() }
    }

    /// Also a Mux emulator, started with `args` (its limits, a webhook URL, `--transcode off`).
    pub fn with_mux(mut self, args: &[&str]) -> Self {
        self.mux = Some(MuxEmulator::start(args));
        self
    }

    fn mux_emulator(&self) -> &MuxEmulator {
        self.mux.as_ref().expect("World::with_mux")
    }

    /// A Mux emulator control route (`/__emulator/assets`, `/__emulator/requests`, ...).
    pub async fn mux_get(&self, path: &str) -> Value {
        let url = format!("{}{path}", self.mux_emulator().base_url);
        self.http.get(url).send().await.unwrap().json().await.unwrap()
    }

    /// Every Mux asset ever created (`{asset, deleted, ...}`), oldest first.
    pub async fn mux_assets(&self) -> Vec<Value> {
        self.mux_get("/__emulator/assets").await.as_array().cloned().unwrap_or_default()
    }

    /// Mux API requests of one route (`create`, `get`, `list`, `delete`).
    pub async fn mux_requests(&self, route: &str) -> usize {
        let all = self.mux_get("/__emulator/requests").await;
        all.as_array().unwrap().iter().filter(|r| r["route"] == route).count()
    }

    /// A Secrets Manager secret (on moto) named `{name}-{table}`, holding `value`: its ARN.
    pub async fn create_secret(&self, name: &str, value: &str) -> String {
        let sm = aws_sdk_secretsmanager::Client::new(&sdk_config(&shared().dynamodb_endpoint).await);
        let created = sm
            .create_secret()
            .name(format!("{name}-{}", self.table))
            .secret_string(value)
            .send()
            .await
            .expect("create secret");
        created.arn().expect("an ARN").to_owned()
    }

    /// The record of `key` once its status is `want` (the webhook's write, in the background).
    pub async fn wait_status(&self, key: &str, want: &str) -> Record {
        for _ in 0..200 {
            if let Some(r) = self.record(key).await
                && s(&r, "status").as_deref() == Some(want)
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{key} never became {want}: {:?}", self.record(key).await);
    }

    /// The emulator's entry of a Mux asset once it is `ready` or `errored`.
    pub async fn wait_asset_final(&self, asset_id: &str) -> Value {
        for _ in 0..400 {
            let entry = self.mux_assets().await.into_iter().find(|a| a["asset"]["id"] == asset_id);
            if let Some(entry) = entry
                && matches!(entry["asset"]["status"].as_str(), Some("ready" | "errored"))
            {
                return entry;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("asset {asset_id} never reached a final state");
    }

    pub async fn inject_mux_faults(&self, faults: Value) {
        let url = format!("{}/__emulator/faults", self.mux_emulator().base_url);
        let r = self.http.post(url).json(&json!({ "faults": faults })).send().await.unwrap();
        assert!(r.status().is_success(), "mux faults refused: {}", r.text().await.unwrap());
    }

    /// The same bucket and table, with a new emulator started with `args` (e.g. a webhook URL).
    pub fn with_emulator(mut self, args: &[&str]) -> Self {
        self.emulator = Emulator::start(ACCOUNT_ID, &self.token, args);
        self
    }

    /// The function's environment, as the template sets it (plus local endpoints).
    pub fn env(&self) -> Vec<(String, String)> {
        let peers = shared();
        [
            ("VIDEOS_TABLE", self.table.as_str()),
            ("UPLOAD_BUCKET", self.bucket.as_str()),
            ("CLOUDFLARE_ACCOUNT_ID", ACCOUNT_ID),
            ("CLOUDFLARE_API_URL", self.emulator.api_url.as_str()),
            ("CLOUDFLARE_API_TOKEN", self.token.as_str()),
            ("PRESIGN_TTL_SECONDS", "600"),
            ("AWS_ENDPOINT_URL_S3", peers.s3_endpoint.as_str()),
            ("AWS_ENDPOINT_URL_DYNAMODB", peers.dynamodb_endpoint.as_str()),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", peers.dynamodb_endpoint.as_str()),
            ("AWS_ENDPOINT_URL_SQS", peers.dynamodb_endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_REGION", REGION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .chain(self.mux.iter().flat_map(|mux| {
            [
                ("MUX_TOKEN_ID", mux.token_id.as_str()),
                ("MUX_TOKEN_SECRET", mux.token_secret.as_str()),
                ("MUX_API_URL", mux.base_url.as_str()),
                ("MUX_STREAM_URL", mux.base_url.as_str()),
                ("MUX_IMAGE_URL", mux.base_url.as_str()),
            ]
        }))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    pub fn config_with(&self, overrides: &[(&str, &str)]) -> Config {
        let mut env: HashMap<String, String> = self.env().into_iter().collect();
        for (k, v) in overrides {
            env.insert(k.to_string(), v.to_string());
        }
        Config::from_lookup(|k| env.get(k).cloned()).expect("valid config")
    }

    /// The ingest use case in-process, wired to the real adapters and peers (fast tests).
    pub async fn ingestor(
        &self,
        overrides: &[(&str, &str)],
    ) -> Ingestor<S3Presigner, CloudflareStream, DynamoVideoStore> {
        let config = self.config_with(overrides);
        let peers = shared();
        let s3 = S3Presigner::from_client(self.s3.clone());
        let store = DynamoVideoStore::new(&sdk_config(&peers.dynamodb_endpoint).await, &self.table);
        let cloudflare = config.cloudflare.as_ref().expect("the world's Cloudflare");
        let token = match &cloudflare.token {
            vinofy_adapters::config::SecretSource::Inline(t) => t.clone(),
            other => panic!("in-process tests use an inline token, not {other:?}"),
        };
        let stream = CloudflareStream::new(
            &cloudflare.api_url,
            &cloudflare.account_id,
            SecretString::new(token.expose()),
            cloudflare.options.clone(),
        )
        .unwrap();
        Ingestor::new(s3, stream, store, config.ingest_settings())
    }

    /// Uploads an object and returns its eTag (quotes stripped, as notifications carry it).
    pub async fn put_object(&self, key: &str, body: &[u8]) -> String {
        let out = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {}", aws_sdk_s3::error::DisplayErrorContext(e)));
        out.e_tag().unwrap_or_default().trim_matches('"').to_owned()
    }

    /// An `ObjectCreated:Put` notification exactly as S3 sends it (key form-encoded).
    pub fn created_event(&self, key: &str, size: usize, etag: &str, sequencer: &str) -> Value {
        json!({"Records": [self.created_record(key, size, etag, sequencer)]})
    }

    pub fn created_record(&self, key: &str, size: usize, etag: &str, sequencer: &str) -> Value {
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
            "eventTime": "2026-11-25T10:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "ingest",
                "bucket": {"name": self.bucket, "ownerIdentity": {"principalId": "EXAMPLE"}, "arn": format!("arn:aws:s3:::{}", self.bucket)},
                "object": {"key": encode_s3_key(key), "size": size, "eTag": etag, "sequencer": sequencer}}
        })
    }

    /// Uploads `body` under `key` and returns the matching notification.
    pub async fn upload(&self, key: &str, body: &[u8]) -> Value {
        let etag = self.put_object(key, body).await;
        self.created_event(key, body.len(), &etag, "0055AED6DCD90281E5")
    }

    /// Claims `object` as an invocation would and leaves it there, as one that died (or is still
    /// running) before completing; the claim expires in `expires_in_ms`.
    pub async fn leave_claim(&self, object: &vinofy_core::domain::object::ObjectVersion, expires_in_ms: i64) {
        use vinofy_core::ports::{Claim, ClaimOutcome, VideoStore};
        let now = vinofy_core::ingest::now_ms();
        let claim = Claim {
            source: &object.source(),
            version_key: object.version_key(),
            version_tag: object.version_tag(),
            token: vinofy_core::domain::ids::ClaimToken::from_stored("claim-left-by-a-test"),
            expires_at_ms: now + expires_in_ms,
            now_ms: now,
            retry_failed: false,
            owner: None,
            object,
        };
        let store = DynamoVideoStore::new(&sdk_config(&shared().dynamodb_endpoint).await, &self.table);
        assert!(matches!(store.claim(&claim).await.unwrap(), ClaimOutcome::Claimed { .. }));
    }

    /// Moves a record's claim deadline into the past, as the passing of its invocation's deadline
    /// would: the tests need not wait on the wall clock for a dead invocation's claim to expire.
    pub async fn expire_claim(&self, key: &str) {
        self.ddb
            .update_item()
            .table_name(&self.table)
            .key("source", AttributeValue::S(self.source(key)))
            .update_expression("SET claim_expires_at = :past")
            .condition_expression("attribute_exists(claim_expires_at)")
            .expression_attribute_values(":past", AttributeValue::N((vinofy_core::ingest::now_ms() - 1).to_string()))
            .send()
            .await
            .expect("the record holds a claim");
    }

    /// The object version a notification announces (its first record).
    pub fn announced_object(event: &Value) -> vinofy_core::domain::object::ObjectVersion {
        use vinofy_core::domain::event::{EventRules, Invocation, ObjectEvent, parse_invocation};
        let bucket = event.pointer("/Records/0/s3/bucket/name").and_then(Value::as_str).unwrap_or_default();
        match parse_invocation(event, &EventRules { upload_bucket: bucket }) {
            Ok(Invocation::S3(events)) => match events.into_iter().next() {
                Some(ObjectEvent::Created(object)) => object,
                other => panic!("not an ObjectCreated record: {other:?}"),
            },
            other => panic!("not an S3 notification: {other:?}"),
        }
    }

    pub fn source(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, key)
    }

    pub async fn record(&self, key: &str) -> Option<Record> {
        self.ddb
            .get_item()
            .table_name(&self.table)
            .key("source", AttributeValue::S(self.source(key)))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    /// Every record (the items keyed by an `s3://` source; not the call budget's bucket).
    pub async fn all_records(&self) -> Vec<Record> {
        self.all_items().await.into_iter().filter(|i| s(i, "source").is_some_and(|s| s.starts_with("s3://"))).collect()
    }

    /// Every item of the table, the call budget's bucket included.
    pub async fn all_items(&self) -> Vec<Record> {
        self.ddb.scan().table_name(&self.table).send().await.unwrap().items.unwrap_or_default()
    }

    pub async fn emulator_get(&self, path: &str) -> Value {
        self.http.get(format!("{}{path}", self.emulator.base_url)).send().await.unwrap().json().await.unwrap()
    }

    /// Every video the emulator ever created (with what it fetched).
    pub async fn videos(&self) -> Vec<Value> {
        self.emulator_get("/__emulator/videos").await.as_array().cloned().unwrap_or_default()
    }

    /// API requests the emulator received, by route (`copy`, `list`, `get`, `delete`, ...).
    pub async fn requests(&self, route: &str) -> usize {
        let all = self.emulator_get("/__emulator/requests").await;
        all.as_array().unwrap().iter().filter(|r| r["route"] == route).count()
    }

    pub async fn inject_faults(&self, faults: Value) {
        let r = self
            .http
            .post(format!("{}/__emulator/faults", self.emulator.base_url))
            .json(&json!({ "faults": faults }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "inject faults: {}", r.status());
    }

    /// Waits until the emulator's video `uid` reaches a final state, and returns its record.
    pub async fn wait_video_final(&self, uid: &str) -> Value {
        for _ in 0..200 {
            let v = self.videos().await.into_iter().find(|v| v["video"]["uid"] == uid);
            if let Some(v) = v {
                let state = v["video"]["status"]["state"].as_str().unwrap_or_default().to_owned();
                if state == "ready" || state == "error" {
                    return v;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("video {uid} never reached a final state");
    }
}

pub fn s(record: &Record, name: &str) -> Option<String> {
    record.get(name).and_then(|v| v.as_s().ok()).cloned()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The tiny real video shipped for tests and the demo (H.264 MP4, ~1 s).
pub fn sample_video() -> Vec<u8> {
    std::fs::read(peers::repo_root().join("fixtures/sample.mp4")).expect("fixtures/sample.mp4")
}

/// One process of a real binary polling a Runtime API, its output collected.
pub struct Process {
    pub child: Child,
    pub logs: Arc<Mutex<String>>,
    /// Output pipes that reached end-of-file.
    closed_pipes: Arc<std::sync::atomic::AtomicUsize>,
}

impl Process {
    pub fn spawn(binary: &str, env: HashMap<String, String>, runtime: &RuntimeApi) -> Self {
        // Its AWS calls go through the recording proxies of the IAM conformance check.
        let env = match iam_recorder::principal_of(binary) {
            Some(principal) => iam_recorder::recorded_map(principal, env),
            None => env,
        };
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .envs(&env)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "ingest")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/ingest")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            // DEBUG unless the test asks for another level.
            .env("AWS_LAMBDA_LOG_LEVEL", env.get("AWS_LAMBDA_LOG_LEVEL").map_or("DEBUG", String::as_str))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = peers::on_keeper_thread(move || peers::spawn_tied(&mut cmd));
        let logs = Arc::new(Mutex::new(String::new()));
        let closed_pipes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for pipe in [
            Box::new(tokio::process::ChildStdout::from_std(child.stdout.take().unwrap()).unwrap())
                as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(tokio::process::ChildStderr::from_std(child.stderr.take().unwrap()).unwrap()),
        ] {
            let (logs, closed_pipes) = (logs.clone(), closed_pipes.clone());
            tokio::spawn(async move {
                let mut pipe = pipe;
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    logs.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
                }
                closed_pipes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        Self { child, logs, closed_pipes }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of the real `ingest` binary.
pub fn ingest_binary() -> PathBuf {
    // Cargo names the binary only for the package that owns it (not for crates/vinofy-cli).
    option_env!("CARGO_BIN_EXE_ingest").map(PathBuf::from).unwrap_or_else(|| peers::target_bin("ingest"))
}

/// The real `ingest` binary, run as Lambda runs it: a process polling the Runtime API.
pub struct Function {
    pub runtime: RuntimeApi,
    process: Process,
}

impl Function {
    pub async fn start(world: &World, overrides: &[(&str, &str)]) -> Self {
        let mut env: HashMap<String, String> = world.env().into_iter().collect();
        for (k, v) in overrides {
            env.insert(k.to_string(), v.to_string());
        }
        Self::start_with_env(env).await
    }

    pub async fn start_with_env(env: HashMap<String, String>) -> Self {
        Self::start_binary(ingest_binary().to_str().unwrap(), env).await
    }

    pub async fn start_binary(binary: &str, env: HashMap<String, String>) -> Self {
        let runtime = RuntimeApi::start().await;
        let process = Process::spawn(binary, env, &runtime);
        Self { runtime, process }
    }

    /// Invokes with a 60 s deadline (the template's timeout) and waits for the reply.
    pub async fn invoke(&self, payload: &Value) -> Reply {
        self.invoke_with_deadline(payload, Duration::from_secs(60)).await.expect("the function replied")
    }

    pub async fn invoke_with_deadline(&self, payload: &Value, deadline: Duration) -> Option<Reply> {
        self.runtime.invoke(payload.clone(), deadline, deadline + Duration::from_secs(5)).await
    }

    pub fn logs(&self) -> String {
        self.process.logs.lock().unwrap().clone()
    }

    /// Kills the process, as Lambda does at a timeout or a crash.
    pub fn kill(&mut self) {
        let _ = self.process.child.kill();
        let _ = self.process.child.wait();
    }

    /// Waits for the process to exit on its own (start-up failures) and returns its exit code.
    /// Asserts that the process stopped during init, naming `variable`, before taking any event;
    /// returns its logs (for the caller's own checks, e.g. that no value was echoed).
    pub async fn assert_refused_to_start(&mut self, variable: &str) -> String {
        let code = self.exit_code().await;
        assert!(matches!(code, Some(c) if c != 0), "{variable}: exit code {code:?}");
        let logs = self.logs();
        assert!(logs.contains(variable), "{variable}: {logs}");
        assert_eq!(self.runtime.polls(), 0, "{variable}: must not take events");
        logs
    }

    pub async fn exit_code(&mut self) -> Option<i32> {
        for _ in 0..200 {
            if let Some(status) = self.process.child.try_wait().unwrap() {
                // Let the readers drain what the process wrote before it exited.
                while self.process.closed_pipes.load(std::sync::atomic::Ordering::SeqCst) < 2 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                return status.code();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

pub fn response(reply: Reply) -> Value {
    match reply {
        Reply::Response(v) => v,
        Reply::Error { error_type, error_message } => panic!("function failed: {error_type}: {error_message}"),
    }
}
