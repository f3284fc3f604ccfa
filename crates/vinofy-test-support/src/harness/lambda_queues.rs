//! Lambda's two ways of feeding a burst to K concurrent instances of the real `ingest` binary, for
//! the burst tests: all K long-lived processes poll one Runtime API, so an event waits until one is
//! free, as it does in Lambda.
//!
//! - [`AsyncQueue`], Lambda's asynchronous invocation queue (the direct mode): an event waits while
//!   every instance is busy, and that costs it no retry (a throttle); a function error (or a
//!   timeout) is retried after the given delays (Lambda: about 1 and 2 minutes, at most 2 retries),
//!   and then the event goes to the failure destination.
//! - [`SqsEventSource`], the SQS event source mapping (the sqs mode), over a real queue on the moto
//!   peer with a redrive policy: batches of up to `batch_size` messages, at most `concurrency`
//!   invocations at once; the messages a response lists in `batchItemFailures` stay in the queue
//!   (and come back when their visibility ends, which the function may have changed), the others are
//!   deleted; a function error leaves the whole batch. Past `maxReceiveCount` receives, moto moves a
//!   message to the dead-letter queue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::runtime::{Reply, RuntimeApi};
use super::{Process, REGION, World, ingest_binary, sdk_config, shared};

/// K processes of the `ingest` binary polling one Runtime API.
pub struct Fleet {
    pub runtime: Arc<RuntimeApi>,
    processes: Vec<Process>,
}

impl Fleet {
    pub async fn start(world: &World, overrides: &[(&str, &str)], instances: usize) -> Self {
        let runtime = Arc::new(RuntimeApi::start().await);
        let mut env: HashMap<String, String> = world.env().into_iter().collect();
        for (k, v) in overrides {
            env.insert(k.to_string(), v.to_string());
        }
        let binary = ingest_binary();
        let processes =
            (0..instances).map(|_| Process::spawn(binary.to_str().unwrap(), env.clone(), &runtime)).collect();
        Self { runtime, processes }
    }

    /// Every instance's output, one after the other.
    pub fn logs(&self) -> String {
        self.processes.iter().map(|p| p.logs.lock().unwrap().clone()).collect::<Vec<_>>().join("\n")
    }
}

/// What happened to the events of an [`AsyncQueue`].
#[derive(Debug, Default, Clone)]
pub struct AsyncOutcome {
    /// Events whose invocation (first or a retry) succeeded.
    pub succeeded: usize,
    /// Events that failed every attempt: what Lambda sends to the on-failure destination.
    pub failure_destination: Vec<Value>,
    /// Every failed invocation: `errorType: errorMessage` (or `timeout`).
    pub function_errors: Vec<String>,
    pub invocations: usize,
}

/// Lambda's asynchronous invocation queue in front of a [`Fleet`].
pub struct AsyncQueue {
    runtime: Arc<RuntimeApi>,
    deadline: Duration,
    retry_delays: Vec<Duration>,
    outcome: Arc<Mutex<AsyncOutcome>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl AsyncQueue {
    /// `deadline`: each invocation's (the function timeout); `retry_delays`: one per retry.
    pub fn new(fleet: &Fleet, deadline: Duration, retry_delays: &[Duration]) -> Self {
        Self {
            runtime: fleet.runtime.clone(),
            deadline,
            retry_delays: retry_delays.to_vec(),
            outcome: Arc::default(),
            tasks: Mutex::default(),
        }
    }

    /// Queues one event (S3's asynchronous invocation).
    pub fn submit(&self, event: Value) {
        let (runtime, outcome, deadline, delays) =
            (self.runtime.clone(), self.outcome.clone(), self.deadline, self.retry_delays.clone());
        let task = tokio::spawn(async move {
            for attempt in 0..=delays.len() {
                let reply = runtime.invoke_queued(event.clone(), deadline, Duration::from_secs(5)).await;
                let error = match reply {
                    Some(Reply::Response(_)) => {
                        let mut o = outcome.lock().unwrap();
                        o.invocations += 1;
                        o.succeeded += 1;
                        return;
                    }
                    Some(Reply::Error { error_type, error_message }) => format!("{error_type}: {error_message}"),
                    None => "timeout".to_owned(),
                };
                {
                    let mut o = outcome.lock().unwrap();
                    o.invocations += 1;
                    o.function_errors.push(error);
                }
                if let Some(delay) = delays.get(attempt) {
                    tokio::time::sleep(*delay).await;
                }
            }
            outcome.lock().unwrap().failure_destination.push(event);
        });
        self.tasks.lock().unwrap().push(task);
    }

    /// Waits until every event submitted so far has succeeded or reached the failure destination.
    pub async fn drain(&self) -> AsyncOutcome {
        loop {
            let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.tasks.lock().unwrap());
            if tasks.is_empty() {
                break;
            }
            for task in tasks {
                task.await.unwrap();
            }
        }
        self.outcome.lock().unwrap().clone()
    }
}

/// What the event source mapping saw.
#[derive(Debug, Default, Clone)]
pub struct SqsOutcome {
    pub invocations: usize,
    /// Messages a response listed in `batchItemFailures`.
    pub batch_item_failures: usize,
    pub function_errors: Vec<String>,
    /// Messages deleted after their batch succeeded.
    pub deleted: usize,
}

/// An SQS queue (with its dead-letter queue) on the moto peer, and the event source mapping that
/// feeds it to a [`Fleet`].
pub struct SqsEventSource {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    outcome: Arc<Mutex<SqsOutcome>>,
    stop: Arc<AtomicBool>,
    busy: Arc<AtomicUsize>,
    pollers: Mutex<Vec<JoinHandle<()>>>,
}

impl SqsEventSource {
    /// Creates the queue (`visibility_timeout`, redriven to a fresh DLQ after `max_receive_count`).
    pub async fn create(name: &str, visibility_timeout: Duration, max_receive_count: u32) -> Self {
        let sqs = aws_sdk_sqs::Client::new(&sdk_config(&shared().dynamodb_endpoint).await);
        let suffix = format!("{:08x}", fastrand::u32(..));
        let dlq_url = sqs
            .create_queue()
            .queue_name(format!("{name}-dlq-{suffix}"))
            .send()
            .await
            .expect("create the DLQ")
            .queue_url
            .unwrap();
        let dlq_arn = queue_arn(&sqs, &dlq_url).await;
        let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count.to_string()});
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{name}-{suffix}"))
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                visibility_timeout.as_secs().to_string(),
            )
            .attributes(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy, redrive.to_string())
            .send()
            .await
            .expect("create the queue")
            .queue_url
            .unwrap();
        let queue_arn = queue_arn(&sqs, &queue_url).await;
        Self {
            sqs,
            queue_url,
            queue_arn,
            dlq_url,
            outcome: Arc::default(),
            stop: Arc::default(),
            busy: Arc::default(),
            pollers: Mutex::default(),
        }
    }

    /// Sends one message (S3's notification to the queue).
    pub async fn send(&self, body: &Value) {
        self.sqs.send_message().queue_url(&self.queue_url).message_body(body.to_string()).send().await.unwrap();
    }

    /// Starts the mapping: `concurrency` pollers (`MaximumConcurrency`), each receiving up to
    /// `batch_size` messages and invoking the fleet with `deadline`.
    pub fn start(&self, fleet: &Fleet, concurrency: usize, batch_size: i32, deadline: Duration) {
        for _ in 0..concurrency {
            let (sqs, queue_url, arn) = (self.sqs.clone(), self.queue_url.clone(), self.queue_arn.clone());
            let (runtime, outcome, stop, busy) =
                (fleet.runtime.clone(), self.outcome.clone(), self.stop.clone(), self.busy.clone());
            self.pollers.lock().unwrap().push(tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let received = sqs
                        .receive_message()
                        .queue_url(&queue_url)
                        .max_number_of_messages(batch_size)
                        .wait_time_seconds(1)
                        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                        .send()
                        .await;
                    let messages = match received {
                        Ok(r) => r.messages.unwrap_or_default(),
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            continue;
                        }
                    };
                    if messages.is_empty() {
                        continue;
                    }
                    busy.fetch_add(1, Ordering::SeqCst);
                    let records: Vec<Value> = messages.iter().map(|m| sqs_record(m, &arn)).collect();
                    let reply =
                        runtime.invoke_queued(json!({"Records": records}), deadline, Duration::from_secs(5)).await;
                    let keep: Vec<String> = match &reply {
                        Some(Reply::Response(v)) => v["batchItemFailures"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                            .collect(),
                        // A function error or a timeout: the whole batch comes back.
                        _ => messages.iter().filter_map(|m| m.message_id.clone()).collect(),
                    };
                    let mut deleted = 0;
                    for m in &messages {
                        if !keep.contains(m.message_id.as_ref().unwrap()) {
                            sqs.delete_message()
                                .queue_url(&queue_url)
                                .receipt_handle(m.receipt_handle.as_deref().unwrap())
                                .send()
                                .await
                                .unwrap();
                            deleted += 1;
                        }
                    }
                    {
                        let mut o = outcome.lock().unwrap();
                        o.invocations += 1;
                        o.deleted += deleted;
                        match reply {
                            Some(Reply::Response(_)) => o.batch_item_failures += keep.len(),
                            Some(Reply::Error { error_type, error_message }) => {
                                o.function_errors.push(format!("{error_type}: {error_message}"))
                            }
                            None => o.function_errors.push("timeout".into()),
                        }
                    }
                    busy.fetch_sub(1, Ordering::SeqCst);
                }
            }));
        }
    }

    /// Messages in the queue, visible or not (in flight, or delayed by a hand-back).
    pub async fn pending(&self) -> usize {
        count(&self.sqs, &self.queue_url).await
    }

    /// Messages in the dead-letter queue.
    pub async fn dead_letters(&self) -> usize {
        count(&self.sqs, &self.dlq_url).await
    }

    /// Waits (up to `timeout`) until the queue is empty and no invocation is running, then stops
    /// the pollers and returns what they saw.
    pub async fn drain(&self, timeout: Duration) -> SqsOutcome {
        let give_up = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < give_up
            && (self.pending().await > 0 || self.busy.load(Ordering::SeqCst) > 0)
        {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        self.stop.store(true, Ordering::SeqCst);
        let pollers: Vec<JoinHandle<()>> = std::mem::take(&mut *self.pollers.lock().unwrap());
        for p in pollers {
            p.await.unwrap();
        }
        self.outcome.lock().unwrap().clone()
    }
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    attributes[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone()
}

/// Messages in a queue: visible, delayed, and in flight (received, or handed back with a delay).
async fn count(sqs: &aws_sdk_sqs::Client, url: &str) -> usize {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(A::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    let n = |a: A| attributes.get(&a).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    n(A::ApproximateNumberOfMessages)
        + n(A::ApproximateNumberOfMessagesDelayed)
        + n(A::ApproximateNumberOfMessagesNotVisible)
}

/// One record of an SQS event, as the event source mapping sends it to the function.
fn sqs_record(m: &aws_sdk_sqs::types::Message, queue_arn: &str) -> Value {
    let attributes: serde_json::Map<String, Value> =
        m.attributes.iter().flatten().map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone()))).collect();
    json!({
        "messageId": m.message_id,
        "receiptHandle": m.receipt_handle,
        "body": m.body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": m.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    })
}
