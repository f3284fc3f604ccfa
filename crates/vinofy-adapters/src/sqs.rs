//! Hands SQS messages back with a delay: `ChangeMessageVisibility` on each message the ingest use
//! case returned as a batch item failure because no provider call fitted its deadline, so that it
//! comes back when a call may go (after a lock-out, at its turn in the budget) instead of after the
//! queue's whole visibility timeout, and costs one receive per hand-back, not one per poll.

use aws_config::SdkConfig;
use futures::future::join_all;
use vinofy_core::ingest::RedeliveryDelay;

#[derive(Clone, Debug)]
pub struct SqsRedelivery {
    client: aws_sdk_sqs::Client,
}

impl SqsRedelivery {
    pub fn new(aws: &SdkConfig) -> Self {
        Self { client: aws_sdk_sqs::Client::new(aws) }
    }

    /// Applies every delay (concurrently). Best effort: a message whose visibility cannot be changed
    /// simply comes back after the queue's visibility timeout, so a failure is only logged.
    pub async fn apply(&self, delays: &[RedeliveryDelay]) {
        join_all(delays.iter().map(|d| self.delay(d))).await;
    }

    async fn delay(&self, d: &RedeliveryDelay) {
        let Some(queue_url) = queue_url(&d.queue_arn) else {
            tracing::warn!(message_id = %d.message_id, "not an SQS queue ARN; the message keeps the queue's visibility timeout");
            return;
        };
        let seconds = i32::try_from(d.delay.as_secs()).unwrap_or(i32::MAX);
        let result = self
            .client
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(&d.receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await;
        if let Err(e) = result {
            // The receipt handle is not logged: it is what lets anyone delete the message.
            tracing::warn!(message_id = %d.message_id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e),
                "could not delay the message; it comes back after the queue's visibility timeout");
        }
    }
}

/// The queue URL of `arn:PARTITION:sqs:REGION:ACCOUNT:NAME` (SQS's own form; a custom endpoint
/// such as a local peer reads the account and name from its path).
pub fn queue_url(arn: &str) -> Option<String> {
    if !vinofy_core::domain::event::is_sqs_arn(arn) {
        return None;
    }
    let parts: Vec<&str> = arn.split(':').collect();
    let (partition, region, account, name) = (parts[1], parts[3], parts[4], parts[5]);
    let domain = match partition {
        "aws-cn" => "amazonaws.com.cn",
        _ => "amazonaws.com",
    };
    Some(format!("https://sqs.{region}.{domain}/{account}/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_urls_follow_from_arns() {
        assert_eq!(
            queue_url("arn:aws:sqs:eu-west-1:123456789012:vinofy-IngestQueue-AbC_1").as_deref(),
            Some("https://sqs.eu-west-1.amazonaws.com/123456789012/vinofy-IngestQueue-AbC_1")
        );
        assert_eq!(
            queue_url("arn:aws-cn:sqs:cn-north-1:123456789012:q.fifo").as_deref(),
            Some("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q.fifo")
        );
        for bad in [
            "",
            "arn:aws:sns:us-east-1:123456789012:t",
            "arn:aws:sqs:us-east-1:12345:q",
            "arn:aws:sqs:us-east-1:123456789012:a/b",
        ] {
            assert_eq!(queue_url(bad), None, "{bad}");
        }
    }
}
