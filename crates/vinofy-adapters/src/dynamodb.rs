//! [`VideoStore`] for DynamoDB. One item per source object (`source` = `s3://bucket/key`); the
//! claim rule of [`vinofy_core::domain::record::judge_claim`] is enforced by a condition expression so it
//! holds when invocations race.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::StalledStreamProtectionConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure};

use vinofy_core::domain::ids::{ClaimToken, VersionKey, VideoUid};
use vinofy_core::domain::provider::{Provider, VideoRef};
use vinofy_core::domain::record::{ClaimVerdict, RecordFilter, Status, StoredVersion, VideoRecord, judge_claim};
use vinofy_core::error::StoreError;
use vinofy_core::migrate::{Expected, MOVABLE, MigrationMarker, MigrationStart, MigrationStore};
use vinofy_core::ports::{
    Claim, ClaimOutcome, PageToken, ProviderVideo, ReadRecord, RecordPage, UnreadableRecord, VideoRecords,
    VideoReference, VideoStateStore, VideoStore,
};
use vinofy_core::video_state::processing_error;

/// Attribute names. `source`, `video_uid`, the URLs, `status`, `error`, `stream_state`, `bucket`,
/// `key`, `size`, `etag`, `version_id`, `created_at`, `updated_at` are a contract with the apps.
pub mod attr {
    pub const SOURCE: &str = "source";
    pub const STATUS: &str = "status";
    pub const BUCKET: &str = "bucket";
    pub const KEY: &str = "key";
    pub const SIZE: &str = "size";
    pub const ETAG: &str = "etag";
    pub const VERSION_ID: &str = "version_id";
    pub const SEQUENCER: &str = "sequencer";
    pub const VERSION_KEY: &str = "version_key";
    pub const CREATOR: &str = "creator";
    pub const CLAIM_TOKEN: &str = "claim_token";
    pub const CLAIM_EXPIRES_AT: &str = "claim_expires_at";
    pub const VIDEO_UID: &str = "video_uid";
    pub const PROVIDER: &str = "provider";
    pub const OWNER: &str = "owner";
    pub const SIGNED_PLAYBACK: &str = "signed_playback";
    pub const PLAYBACK_ID: &str = "playback_id";
    pub const PREVIOUS_PROVIDER: &str = "previous_provider";
    pub const PREVIOUS_VIDEO_UID: &str = "previous_video_uid";
    pub const HLS_URL: &str = "hls_url";
    pub const DASH_URL: &str = "dash_url";
    pub const THUMBNAIL_URL: &str = "thumbnail_url";
    pub const PREVIEW_URL: &str = "preview_url";
    pub const STREAM_STATE: &str = "stream_state";
    pub const ERROR: &str = "error";
    pub const LAST_ERROR: &str = "last_error";
    /// Set by a release that proved no video exists for the version; removed by the next claim.
    pub const NOTHING_SUBMITTED: &str = "nothing_submitted";
    pub const REPLACED_VIDEO_UID: &str = "replaced_video_uid";
    pub const REPLACED_PROVIDER: &str = "replaced_provider";
    pub const ENCODING: &str = "encoding";
    pub const MIGRATED_AT: &str = "migrated_at";
    pub const MIGRATION_ERROR: &str = "migration_error";
    /// The marker of a migration at work on the record: its tag, and when it may be taken over.
    pub const MIGRATION_TAG: &str = "migration_tag";
    pub const MIGRATION_EXPIRES_AT: &str = "migration_expires_at";
    pub const MIGRATION_TOKEN: &str = "migration_token";
    pub const CREATED_AT: &str = "created_at";
    pub const UPDATED_AT: &str = "updated_at";
    pub const SUBMITTED_AT: &str = "submitted_at";
    pub const DELETED_AT: &str = "deleted_at";
    pub const READY_AT: &str = "ready_at";
    pub const DURATION: &str = "duration";
    pub const WIDTH: &str = "width";
    pub const HEIGHT: &str = "height";
    /// Cloudflare's `size` (bytes it stored); `size` stays the S3 object's.
    pub const STREAM_SIZE: &str = "stream_size";
    pub const PCT_COMPLETE: &str = "pct_complete";
    pub const STREAM_ERROR_CODE: &str = "stream_error_code";
    /// Cloudflare's `modified`, as epoch nanoseconds: RFC 3339 strings with varying fractional
    /// digits do not sort as strings.
    pub const STREAM_MODIFIED_NS: &str = "stream_modified_ns";
}

/// The GSI that finds a record by its Cloudflare video uid (template.yaml).
pub const VIDEO_UID_INDEX: &str = "by_video_uid";

#[derive(Clone, Debug)]
pub struct DynamoVideoStore {
    client: Client,
    table: String,
}

/// One DynamoDB attempt (a single-item write answers in milliseconds); the SDK retries a timed-out
/// attempt, so a stalled connection costs this, not the function's whole timeout.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// DynamoDB error codes worth retrying (the SDK has already retried them with backoff).
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "LimitExceededException",
];

fn store_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    op: &str,
    err: SdkError<E, R>,
) -> StoreError {
    let retryable = match &err {
        SdkError::ServiceError(e) => e.err().code().is_some_and(|c| RETRYABLE_CODES.contains(&c)),
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        _ => false,
    };
    let message = format!("{op} failed: {}", aws_sdk_dynamodb::error::DisplayErrorContext(err));
    if retryable { StoreError::transient(message) } else { StoreError::permanent(message) }
}

fn is_conditional_check_failed<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err, SdkError::ServiceError(e) if e.err().code() == Some("ConditionalCheckFailedException"))
}

/// The item as it is now, from an UpdateItem refused by its condition (sent with
/// `ReturnValuesOnConditionCheckFailure::AllOld`); `None` for any other error, or no item.
pub(crate) fn refused_item<R>(err: &SdkError<UpdateItemError, R>) -> Option<&HashMap<String, AttributeValue>> {
    match err.as_service_error() {
        Some(UpdateItemError::ConditionalCheckFailedException(c)) => c.item.as_ref(),
        _ => None,
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub use vinofy_core::ingest::rfc3339;

fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

pub(crate) fn get_n<T: std::str::FromStr>(item: &HashMap<String, AttributeValue>, name: &str) -> Option<T> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok())
}

/// Reads a stored item as a record: strictly for what the decisions need (status, version key),
/// leniently for the rest (an attribute of the wrong type reads as absent).
pub fn record_from_item(item: &HashMap<String, AttributeValue>) -> ReadRecord {
    let text = |name: &str| get_s(item, name).map(str::to_owned);
    let source = text(attr::SOURCE).unwrap_or_default();
    let malformed = |what: &str| UnreadableRecord { source_uri: source.clone(), problem: format!("no valid {what}") };
    // A stored uid that is not one is a broken record, not a provider failure worth retrying.
    let uid = |name: &str| get_s(item, name).map(VideoUid::parse).transpose().map_err(|_| malformed(name));
    Ok(VideoRecord {
        source: source.clone(),
        status: get_s(item, attr::STATUS).and_then(Status::parse).ok_or_else(|| malformed("status"))?,
        bucket: text(attr::BUCKET).unwrap_or_default(),
        key: text(attr::KEY).unwrap_or_default(),
        size: get_n(item, attr::SIZE),
        etag: text(attr::ETAG),
        version_id: text(attr::VERSION_ID),
        version_key: text(attr::VERSION_KEY).map(VersionKey::from_stored).ok_or_else(|| malformed("version_key"))?,
        sequencer: text(attr::SEQUENCER).unwrap_or_default(),
        version_tag: text(attr::CREATOR),
        claim_token: text(attr::CLAIM_TOKEN).map(ClaimToken::from_stored),
        claim_expires_at_ms: get_n(item, attr::CLAIM_EXPIRES_AT),
        owner: text(attr::OWNER),
        provider: Provider::of_record(get_s(item, attr::PROVIDER)).ok_or_else(|| malformed("provider"))?,
        signed_playback: matches!(item.get(attr::SIGNED_PLAYBACK), Some(AttributeValue::Bool(true))),
        video_uid: uid(attr::VIDEO_UID)?,
        playback_id: text(attr::PLAYBACK_ID),
        previous_provider: get_s(item, attr::PREVIOUS_PROVIDER).and_then(Provider::parse),
        previous_video_uid: uid(attr::PREVIOUS_VIDEO_UID)?,
        hls_url: text(attr::HLS_URL),
        dash_url: text(attr::DASH_URL),
        thumbnail_url: text(attr::THUMBNAIL_URL),
        preview_url: text(attr::PREVIEW_URL),
        stream_state: text(attr::STREAM_STATE),
        pct_complete: text(attr::PCT_COMPLETE),
        error: text(attr::ERROR),
        stream_error_code: text(attr::STREAM_ERROR_CODE),
        last_error: text(attr::LAST_ERROR),
        replaced_video_uid: uid(attr::REPLACED_VIDEO_UID)?,
        replaced_provider: get_s(item, attr::REPLACED_PROVIDER).and_then(Provider::parse),
        encoding: text(attr::ENCODING),
        migrated_at: text(attr::MIGRATED_AT),
        migration_error: text(attr::MIGRATION_ERROR),
        migration_tag: text(attr::MIGRATION_TAG),
        migration_expires_at_ms: get_n(item, attr::MIGRATION_EXPIRES_AT),
        duration: get_n(item, attr::DURATION),
        width: get_n(item, attr::WIDTH),
        height: get_n(item, attr::HEIGHT),
        stream_size: get_n(item, attr::STREAM_SIZE),
        stream_modified_ns: get_n(item, attr::STREAM_MODIFIED_NS),
        created_at: text(attr::CREATED_AT),
        updated_at: text(attr::UPDATED_AT),
        submitted_at: text(attr::SUBMITTED_AT),
        ready_at: text(attr::READY_AT),
        deleted_at: text(attr::DELETED_AT),
    })
}

/// Reads the claim-relevant part of a stored item.
fn stored_version(item: &HashMap<String, AttributeValue>) -> Result<StoredVersion, StoreError> {
    Ok(record_from_item(item)?.stored_version())
}

/// Expression builder: every attribute name goes through a `#placeholder` (several of ours, such
/// as `key`, `size`, `status`, `source`, are DynamoDB reserved words).
#[derive(Default)]
struct Update {
    set: Vec<String>,
    remove: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Update {
    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    fn value(&mut self, attr: &str, v: AttributeValue) -> String {
        let placeholder = format!(":{attr}");
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    fn set(&mut self, attr: &str, v: AttributeValue) -> &mut Self {
        let (name, value) = (self.name(attr), self.value(attr, v));
        self.set.push(format!("{name} = {value}"));
        self
    }

    fn set_or_remove(&mut self, attr: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.set(attr, s(v)),
            None => self.remove(attr),
        }
    }

    /// The condition "the record's video is on `provider`" (a record without `provider` is
    /// Cloudflare's: [`Provider::of_record`]).
    fn provider_is(&mut self, provider: Provider, placeholder: &str) -> String {
        let (name, value) = (self.name(attr::PROVIDER), self.value(placeholder, s(provider.as_str())));
        match provider {
            Provider::Cloudflare => format!("(attribute_not_exists({name}) OR {name} = {value})"),
            Provider::Mux => format!("{name} = {value}"),
        }
    }

    /// `vinofy migrate`'s marker and its last error: a switched record, or a new version, has neither.
    fn remove_migration(&mut self) -> &mut Self {
        self.remove(attr::MIGRATION_TAG)
            .remove(attr::MIGRATION_TOKEN)
            .remove(attr::MIGRATION_EXPIRES_AT)
            .remove(attr::MIGRATION_ERROR)
    }

    fn remove(&mut self, attr: &str) -> &mut Self {
        let name = self.name(attr);
        self.remove.push(name);
        self
    }

    fn expression(&self) -> String {
        let mut e = String::new();
        if !self.set.is_empty() {
            e.push_str("SET ");
            e.push_str(&self.set.join(", "));
        }
        if !self.remove.is_empty() {
            e.push_str(" REMOVE ");
            e.push_str(&self.remove.join(", "));
        }
        e
    }
}

impl DynamoVideoStore {
    pub fn new(aws: &SdkConfig, table: &str) -> Self {
        let config = aws_sdk_dynamodb::config::Builder::from(aws)
            // Requests and responses are a few hundred bytes. Stalled-stream protection wraps every
            // body in a throughput monitor (about a tenth of an UpdateItem's CPU, measured with
            // bench/run.sh and perf); for payloads this small an attempt timeout is the better guard
            // against a stalled connection, and the SDK retries the attempt.
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            // Merged with the shared config's timeouts (the SDK keeps its 3.1 s connect timeout).
            .timeout_config(TimeoutConfig::builder().operation_attempt_timeout(ATTEMPT_TIMEOUT).build())
            .build();
        Self { client: Client::from_conf(config), table: table.to_owned() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens the connection with a read of a key no record has (allowed by the function's policy;
    /// half a read unit). Best effort: returns whether it worked.
    pub async fn warm_up(&self) -> bool {
        let read = self.client.get_item().table_name(&self.table).key(attr::SOURCE, s("warm-up://")).send();
        match tokio::time::timeout(crate::WARM_UP_TIMEOUT, read).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(e), "DynamoDB warm-up failed");
                false
            }
            // The SDK retries connection errors (an untrusted certificate too) with backoff.
            Err(_) => {
                tracing::warn!(error = "no answer within the warm-up timeout", "DynamoDB warm-up failed");
                false
            }
        }
    }

    /// Consumes the builder: its maps move into the request (no copy per write).
    fn update(
        &self,
        source: &str,
        update: Update,
        condition: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(attr::SOURCE, s(source))
            .update_expression(update.expression())
            .condition_expression(condition)
            .set_expression_attribute_names(Some(update.names))
            .set_expression_attribute_values(Some(update.values))
    }

    /// The items that reference a video uid (the `by_video_uid` index: eventually consistent).
    async fn items_of_video(&self, uid: &VideoUid) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let found = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(VIDEO_UID_INDEX)
            .key_condition_expression("#uid = :uid")
            .expression_attribute_names("#uid", attr::VIDEO_UID)
            .expression_attribute_values(":uid", s(uid))
            .send()
            .await
            .map_err(|e| store_error("Query (by video uid)", e))?;
        Ok(found.items.unwrap_or_default())
    }

    /// One item, strongly consistent (also the fallback for peers that do not return the item with a
    /// failed condition, and the call budget's read).
    pub(crate) async fn read(&self, source: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::SOURCE, s(source))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("GetItem", e))?;
        Ok(out.item)
    }
}

impl VideoStore for DynamoVideoStore {
    async fn claim(&self, claim: &Claim<'_>) -> Result<ClaimOutcome, StoreError> {
        let o = claim.object;
        let now = rfc3339(claim.now_ms);
        let mut u = Update::default();
        u.set(attr::STATUS, s(Status::Pending.as_str()))
            .set(attr::BUCKET, s(&o.bucket))
            .set(attr::KEY, s(&o.key))
            .set(attr::SIZE, n(o.size))
            .set(attr::ETAG, s(&o.etag))
            .set_or_remove(attr::VERSION_ID, o.version_id.as_deref())
            .set(attr::SEQUENCER, s(&o.sequencer))
            .set(attr::VERSION_KEY, s(&claim.version_key))
            .set(attr::CREATOR, s(&claim.version_tag))
            .set(attr::CLAIM_TOKEN, s(claim.token.as_str()))
            .set(attr::CLAIM_EXPIRES_AT, n(claim.expires_at_ms))
            .set_or_remove(attr::OWNER, claim.owner.as_deref())
            .set(attr::UPDATED_AT, s(&now))
            .remove(attr::ERROR)
            .remove(attr::LAST_ERROR)
            .remove(attr::NOTHING_SUBMITTED)
            // A new version's video is not the migrated one: what `vinofy migrate` wrote goes (a
            // migration at work on the old version then finds the record changed, and lets go).
            .remove(attr::ENCODING)
            .remove_migration()
            .remove(attr::PREVIOUS_PROVIDER)
            .remove(attr::PREVIOUS_VIDEO_UID);
        let created = u.name(attr::CREATED_AT);
        let updated_value = u.value(attr::UPDATED_AT, s(&now));
        u.set.push(format!("{created} = if_not_exists({created}, {updated_value})"));
        // Mirrors judge_claim: no record; our version's claim expired; a newer version; a re-upload
        // after a delete.
        u.value("now_ms", n(claim.now_ms));
        u.value("deleted", s(Status::Deleted.as_str()));
        u.name(attr::SOURCE);
        let mut condition = String::from(
            "attribute_not_exists(#source) \
             OR (#version_key = :version_key AND #status = :status AND #claim_expires_at < :now_ms) \
             OR (#version_key <> :version_key AND #sequencer < :sequencer) \
             OR (#status = :deleted AND #sequencer < :sequencer)",
        );
        if claim.retry_failed {
            u.value("failed", s(Status::Failed.as_str()));
            condition.push_str(" OR (#version_key = :version_key AND #status = :failed)");
        }

        let result = self
            .update(claim.source, u, &condition)
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let previous = out.attributes.filter(|a| !a.is_empty());
                let Some(previous) = previous else {
                    return Ok(ClaimOutcome::Claimed {
                        verdict: ClaimVerdict::Claim,
                        current_video: None,
                        nothing_submitted: false,
                    });
                };
                let stored = stored_version(&previous)?;
                let verdict =
                    judge_claim(Some(&stored), &claim.version_key, &o.sequencer, claim.now_ms, claim.retry_failed);
                let nothing_submitted =
                    matches!(previous.get(attr::NOTHING_SUBMITTED), Some(AttributeValue::Bool(true)));
                Ok(ClaimOutcome::Claimed { verdict, current_video: stored.video, nothing_submitted })
            }
            Err(e) if is_conditional_check_failed(&e) => {
                let returned = refused_item(&e).cloned();
                let item = match returned {
                    Some(item) => Some(item),
                    None => self.read(claim.source).await?,
                };
                // Our own claim: the SDK retried a write that had succeeded (its reply was lost, a
                // timeout under load). The claim is ours, what it replaced is not known: a take-over,
                // which looks up before copying.
                let ours = item.as_ref().and_then(|i| get_s(i, attr::CLAIM_TOKEN)) == Some(claim.token.as_str());
                let stored = item.as_ref().map(stored_version).transpose()?;
                if ours && let Some(stored) = stored {
                    return Ok(ClaimOutcome::Claimed {
                        verdict: ClaimVerdict::TakeOver,
                        current_video: stored.video,
                        nothing_submitted: false,
                    });
                }
                match judge_claim(stored.as_ref(), &claim.version_key, &o.sequencer, claim.now_ms, claim.retry_failed) {
                    // The record changed between the check and the read: let the retry decide.
                    ClaimVerdict::Claim | ClaimVerdict::TakeOver | ClaimVerdict::RetryFailed => Err(
                        StoreError::transient("the claim was refused but the record now allows it (concurrent change)"),
                    ),
                    refusal => Ok(ClaimOutcome::Refused(refusal)),
                }
            }
            Err(e) => Err(store_error("UpdateItem (claim)", e)),
        }
    }

    async fn complete(
        &self,
        claim: &Claim<'_>,
        video: &ProviderVideo,
        replaced_video: Option<&VideoRef>,
        encoding: Option<&str>,
    ) -> Result<bool, StoreError> {
        let now = rfc3339(vinofy_core::ingest::now_ms());
        let mut u = Update::default();
        u.set(attr::STATUS, s(Status::Submitted.as_str()))
            .set(attr::PROVIDER, s(video.provider.as_str()))
            .set(attr::VIDEO_UID, s(video.uid.as_str()))
            .set_or_remove(attr::PLAYBACK_ID, video.playback_id.as_deref())
            .set(attr::SIGNED_PLAYBACK, AttributeValue::Bool(video.signed_playback))
            .set_or_remove(attr::ENCODING, encoding)
            .set(attr::STREAM_STATE, s(video.state.as_str()))
            .set_or_remove(attr::HLS_URL, video.hls_url.as_deref())
            .set_or_remove(attr::DASH_URL, video.dash_url.as_deref())
            .set_or_remove(attr::THUMBNAIL_URL, video.thumbnail_url.as_deref())
            .set_or_remove(attr::PREVIEW_URL, video.preview_url.as_deref())
            .set(attr::UPDATED_AT, s(&now))
            .set(attr::SUBMITTED_AT, s(&now))
            .remove(attr::CLAIM_TOKEN)
            .remove(attr::CLAIM_EXPIRES_AT)
            .remove(attr::ERROR)
            .remove(attr::LAST_ERROR);
        if let Some(old) = replaced_video {
            u.set(attr::REPLACED_VIDEO_UID, s(old.uid.as_str())).set(attr::REPLACED_PROVIDER, s(old.provider.as_str()));
        }
        let (vk, token) = (
            u.value("expected_version_key", s(&claim.version_key)),
            u.value("expected_token", s(claim.token.as_str())),
        );
        let condition = format!("{} = {vk} AND {} = {token}", u.name(attr::VERSION_KEY), u.name(attr::CLAIM_TOKEN));
        match self.update(claim.source, u, &condition).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(store_error("UpdateItem (complete)", e)),
        }
    }

    async fn fail(&self, claim: &Claim<'_>, reason: &str) -> Result<(), StoreError> {
        let mut u = Update::default();
        u.set(attr::STATUS, s(Status::Failed.as_str()))
            .set(attr::ERROR, s(reason))
            .set(attr::UPDATED_AT, s(rfc3339(vinofy_core::ingest::now_ms())))
            .remove(attr::CLAIM_TOKEN)
            .remove(attr::CLAIM_EXPIRES_AT);
        let token = u.value("expected_token", s(claim.token.as_str()));
        let condition = format!("{} = {token}", u.name(attr::CLAIM_TOKEN));
        match self.update(claim.source, u, &condition).send().await {
            Ok(_) => Ok(()),
            // Someone else holds the record now; their outcome stands.
            Err(e) if is_conditional_check_failed(&e) => Ok(()),
            Err(e) => Err(store_error("UpdateItem (fail)", e)),
        }
    }

    async fn release(&self, claim: &Claim<'_>, reason: &str, nothing_submitted: bool) -> Result<(), StoreError> {
        let mut u = Update::default();
        if nothing_submitted {
            u.set(attr::NOTHING_SUBMITTED, AttributeValue::Bool(true));
        }
        u.set(attr::CLAIM_EXPIRES_AT, n(0))
            .set(attr::LAST_ERROR, s(reason))
            .set(attr::UPDATED_AT, s(rfc3339(vinofy_core::ingest::now_ms())))
            .remove(attr::CLAIM_TOKEN);
        let token = u.value("expected_token", s(claim.token.as_str()));
        let condition = format!("{} = {token}", u.name(attr::CLAIM_TOKEN));
        match self.update(claim.source, u, &condition).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_check_failed(&e) => Ok(()),
            Err(e) => Err(store_error("UpdateItem (release)", e)),
        }
    }

    async fn clear_replaced(&self, source: &str, replaced_video_uid: &VideoUid) -> Result<(), StoreError> {
        let mut u = Update::default();
        u.remove(attr::REPLACED_VIDEO_UID).remove(attr::REPLACED_PROVIDER);
        let uid = u.value("expected_replaced", s(replaced_video_uid));
        let condition = format!("{} = {uid}", u.name(attr::REPLACED_VIDEO_UID));
        match self.update(source, u, &condition).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_check_failed(&e) => Ok(()),
            Err(e) => Err(store_error("UpdateItem (clear replaced)", e)),
        }
    }

    async fn stored(&self, source: &str) -> Result<Option<StoredVersion>, StoreError> {
        self.read(source).await?.as_ref().map(stored_version).transpose()
    }

    async fn mark_deleted(&self, source: &str, sequencer: &str) -> Result<bool, StoreError> {
        let now = rfc3339(vinofy_core::ingest::now_ms());
        let mut u = Update::default();
        u.set(attr::STATUS, s(Status::Deleted.as_str()))
            .set(attr::DELETED_AT, s(&now))
            .set(attr::UPDATED_AT, s(&now))
            .set(attr::SEQUENCER, s(sequencer))
            // An ingest in flight can no longer complete: its video is deleted again (superseded).
            .remove(attr::CLAIM_TOKEN)
            .remove(attr::CLAIM_EXPIRES_AT);
        let deleted = u.value("deleted_status", s(Status::Deleted.as_str()));
        let condition = format!(
            "attribute_exists({}) AND {} <> {deleted} AND {} < :sequencer",
            u.name(attr::SOURCE),
            u.name(attr::STATUS),
            u.name(attr::SEQUENCER)
        );
        match self.update(source, u, &condition).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(store_error("UpdateItem (delete)", e)),
        }
    }
}

/// Cloudflare's `modified` as epoch nanoseconds (0 when absent or unreadable: never newer).
fn modified_ns(video: &ProviderVideo) -> i64 {
    video
        .details
        .modified
        .as_deref()
        .and_then(|m| chrono::DateTime::parse_from_rfc3339(m).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or(0)
}

pub(crate) fn key(source: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([(attr::SOURCE.to_owned(), s(source))])
}

impl VideoRecords for DynamoVideoStore {
    async fn record(&self, source: &str) -> Result<Option<VideoRecord>, StoreError> {
        Ok(self.read(source).await?.as_ref().map(record_from_item).transpose()?)
    }

    async fn records_of_video(&self, uid: &VideoUid) -> Result<Vec<VideoRecord>, StoreError> {
        Ok(self.items_of_video(uid).await?.iter().map(record_from_item).collect::<Result<_, _>>()?)
    }

    async fn records_of(&self, sources: &[String]) -> Result<HashMap<String, ReadRecord>, StoreError> {
        let mut found = HashMap::new();
        // BatchGetItem takes 100 keys a request.
        for chunk in sources.chunks(100) {
            let mut keys: Vec<HashMap<String, AttributeValue>> = chunk.iter().map(|source| key(source)).collect();
            let mut retries = 0u32;
            while !keys.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::permanent(format!("BatchGetItem request: {e}")))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| store_error("BatchGetItem", e))?;
                for item in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    if let Some(source) = get_s(&item, attr::SOURCE) {
                        found.insert(source.to_owned(), record_from_item(&item));
                    }
                }
                // DynamoDB may leave keys unprocessed under load: ask again, backing off.
                keys = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
                if !keys.is_empty() {
                    retries += 1;
                    if retries > 10 {
                        return Err(StoreError::transient("BatchGetItem kept leaving keys unprocessed (throttled?)"));
                    }
                    tokio::time::sleep(Duration::from_millis(50 << retries.min(6))).await;
                }
            }
        }
        Ok(found)
    }

    async fn scan(&self, filter: &RecordFilter, start: Option<PageToken>) -> Result<RecordPage, StoreError> {
        let mut request = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .set_exclusive_start_key(start.map(|t| key(&t.0)));
        let mut u = Update::default();
        // Records only: the table also holds the call budget (`budget:…`), which is no record.
        let source = u.name(attr::SOURCE);
        let records_only = u.value("s3_prefix", s("s3://"));
        let mut clauses = vec![format!("begins_with({source}, {records_only})")];
        if !filter.statuses.is_empty() {
            let status = u.name(attr::STATUS);
            let values: Vec<String> =
                filter.statuses.iter().map(|st| u.value(&format!("status_{}", st.as_str()), s(st.as_str()))).collect();
            let mut wanted = format!("{status} IN ({})", values.join(", "));
            if filter.or_replaced_video {
                wanted = format!("({wanted} OR attribute_exists({}))", u.name(attr::REPLACED_VIDEO_UID));
            }
            clauses.push(wanted);
        }
        if let Some(cutoff) = &filter.updated_before {
            let updated = u.name(attr::UPDATED_AT);
            let cutoff = u.value("cutoff", s(cutoff));
            clauses.push(format!("({updated} < {cutoff} OR attribute_not_exists({updated}))"));
        }
        request = request
            .filter_expression(clauses.join(" AND "))
            .set_expression_attribute_names(Some(u.names))
            .set_expression_attribute_values(Some(u.values));
        let out = request.send().await.map_err(|e| store_error("Scan", e))?;
        let next =
            out.last_evaluated_key.as_ref().and_then(|k| get_s(k, attr::SOURCE)).map(|s| PageToken(s.to_owned()));
        Ok(RecordPage { records: out.items().iter().map(record_from_item).collect(), next })
    }
}

impl Update {
    /// "The record still holds `expected`": its object version and video, past submission. The
    /// same rule as the memory store's (tests/migrate_store.rs proves they agree).
    fn holds(&mut self, expected: &Expected<'_>) -> String {
        let (vk_name, vk) = (self.name(attr::VERSION_KEY), self.value("expected_version_key", s(expected.version_key)));
        let (uid_name, uid) = (self.name(attr::VIDEO_UID), self.value("expected_uid", s(expected.video.uid.as_str())));
        let on_provider = self.provider_is(expected.video.provider, "expected_provider");
        let status_name = self.name(attr::STATUS);
        let statuses = MOVABLE.map(|st| self.value(&format!("movable_{}", st.as_str()), s(st.as_str()))).join(", ");
        format!("{vk_name} = {vk} AND {uid_name} = {uid} AND {on_provider} AND {status_name} IN ({statuses})")
    }
}

impl MigrationStore for DynamoVideoStore {
    async fn begin_migration(
        &self,
        source: &str,
        expected: &Expected<'_>,
        marker: &MigrationMarker<'_>,
    ) -> Result<MigrationStart, StoreError> {
        let mut u = Update::default();
        u.set(attr::MIGRATION_TAG, s(marker.tag))
            .set(attr::MIGRATION_TOKEN, s(marker.token.as_str()))
            .set(attr::MIGRATION_EXPIRES_AT, n(marker.expires_at_ms));
        let holds = u.holds(expected);
        let (token_name, expires_name, now) =
            (u.name(attr::MIGRATION_TOKEN), u.name(attr::MIGRATION_EXPIRES_AT), u.value("now_ms", n(marker.now_ms)));
        // No live marker: none, or one whose holder let go (no token) or died (expired).
        let condition = format!(
            "{holds} AND (attribute_not_exists({token_name}) OR attribute_not_exists({expires_name}) \
             OR {expires_name} < {now})"
        );
        let result = self
            .update(source, u, &condition)
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let before = out.attributes.unwrap_or_default();
                Ok(MigrationStart::Started { resumed: get_s(&before, attr::MIGRATION_TAG) == Some(marker.tag) })
            }
            Err(e) if is_conditional_check_failed(&e) => {
                let item = refused_item(&e);
                let held_until = item.and_then(|i| {
                    get_s(i, attr::MIGRATION_TOKEN)?;
                    get_n::<i64>(i, attr::MIGRATION_EXPIRES_AT).filter(|until| *until >= marker.now_ms)
                });
                let still_holds = item.and_then(|i| record_from_item(i).ok()).is_some_and(|r| expected.held_by(&r));
                Ok(match held_until {
                    Some(until_ms) if still_holds => MigrationStart::Busy { until_ms },
                    _ => MigrationStart::Changed,
                })
            }
            Err(e) => Err(store_error("UpdateItem (begin migration)", e)),
        }
    }

    async fn switch_migrated(
        &self,
        source: &str,
        expected: &Expected<'_>,
        token: &ClaimToken,
        video: &ProviderVideo,
        encoding: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let d = &video.details;
        let now = rfc3339(now_ms);
        let mut u = Update::default();
        u.set(attr::PROVIDER, s(video.provider.as_str()))
            .set(attr::VIDEO_UID, s(video.uid.as_str()))
            .set_or_remove(attr::PLAYBACK_ID, video.playback_id.as_deref())
            .set(attr::SIGNED_PLAYBACK, AttributeValue::Bool(video.signed_playback))
            .set_or_remove(attr::HLS_URL, video.hls_url.as_deref())
            .set_or_remove(attr::DASH_URL, video.dash_url.as_deref())
            .set_or_remove(attr::THUMBNAIL_URL, video.thumbnail_url.as_deref())
            .set_or_remove(attr::PREVIEW_URL, video.preview_url.as_deref())
            .set(attr::STATUS, s(Status::Ready.as_str()))
            .set(attr::STREAM_STATE, s(video.state.as_str()))
            .set(attr::STREAM_MODIFIED_NS, n(modified_ns(video)))
            .set(attr::READY_AT, s(d.ready_at.clone().unwrap_or_else(|| now.clone())))
            .set(attr::PREVIOUS_PROVIDER, s(expected.video.provider.as_str()))
            .set(attr::PREVIOUS_VIDEO_UID, s(expected.video.uid.as_str()))
            .set(attr::ENCODING, s(encoding))
            .set(attr::MIGRATED_AT, s(&now))
            .set(attr::UPDATED_AT, s(&now))
            .remove_migration()
            .remove(attr::ERROR)
            .remove(attr::STREAM_ERROR_CODE)
            .remove(attr::PCT_COMPLETE);
        for (name, value) in [
            (attr::DURATION, d.duration.map(n)),
            (attr::WIDTH, d.width.map(n)),
            (attr::HEIGHT, d.height.map(n)),
            (attr::STREAM_SIZE, d.size.map(n)),
        ] {
            match value {
                Some(value) => u.set(name, value),
                None => u.remove(name),
            };
        }
        let holds = u.holds(expected);
        let (token_name, ours) = (u.name(attr::MIGRATION_TOKEN), u.value("our_token", s(token.as_str())));
        let condition = format!("{holds} AND {token_name} = {ours}");
        match self.update(source, u, &condition).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(store_error("UpdateItem (switch migrated)", e)),
        }
    }

    async fn record_now(&self, source: &str) -> Result<Option<VideoRecord>, StoreError> {
        match self.read(source).await? {
            Some(item) => Ok(Some(record_from_item(&item)?)),
            None => Ok(None),
        }
    }

    async fn end_migration(
        &self,
        source: &str,
        token: &ClaimToken,
        keep_tag: bool,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut u = Update::default();
        u.remove(attr::MIGRATION_TOKEN).remove(attr::MIGRATION_EXPIRES_AT);
        if !keep_tag {
            u.remove(attr::MIGRATION_TAG);
        }
        if let Some(error) = error {
            u.set(attr::MIGRATION_ERROR, s(error));
        }
        let (token_name, ours) = (u.name(attr::MIGRATION_TOKEN), u.value("our_token", s(token.as_str())));
        match self.update(source, u, &format!("{token_name} = {ours}")).send().await {
            // Refused: an upload's claim already removed our marker; nothing of ours is left.
            Ok(_) => Ok(()),
            Err(e) if is_conditional_check_failed(&e) => Ok(()),
            Err(e) => Err(store_error("UpdateItem (end migration)", e)),
        }
    }
}

impl VideoStateStore for DynamoVideoStore {
    async fn source_of_video(&self, uid: &VideoUid) -> Result<Option<String>, StoreError> {
        Ok(self.items_of_video(uid).await?.iter().find_map(|item| get_s(item, attr::SOURCE)).map(str::to_owned))
    }

    async fn video_reference(&self, source: &str) -> Result<Option<VideoReference>, StoreError> {
        let Some(item) = self.read(source).await? else { return Ok(None) };
        let status = get_s(&item, attr::STATUS)
            .and_then(Status::parse)
            .ok_or_else(|| StoreError::permanent(format!("{source}: the record has no valid status")))?;
        Ok(Some(VideoReference {
            status,
            provider: Provider::of_record(get_s(&item, attr::PROVIDER))
                .ok_or_else(|| StoreError::permanent(format!("{source}: the record has an unknown provider")))?,
            video_uid: get_s(&item, attr::VIDEO_UID)
                .map(VideoUid::parse)
                .transpose()
                .map_err(|e| StoreError::permanent(format!("{source}: {e}")))?,
            version_tag: get_s(&item, attr::CREATOR).map(str::to_owned),
        }))
    }

    async fn write_video_state(&self, source: &str, video: &ProviderVideo, now_ms: i64) -> Result<bool, StoreError> {
        let d = &video.details;
        let new_status = video.state.final_status();
        let mut u = Update::default();
        u.set(attr::STREAM_STATE, s(video.state.as_str()))
            .set(attr::STREAM_MODIFIED_NS, n(modified_ns(video)))
            .set(attr::UPDATED_AT, s(rfc3339(now_ms)))
            .set_or_remove(attr::PCT_COMPLETE, d.pct_complete.as_deref());
        if let Some(status) = new_status {
            u.set(attr::STATUS, s(status.as_str()));
        }
        match new_status {
            Some(Status::Error) => {
                let (code, error) = processing_error(d.error_code.as_deref(), d.error_text.as_deref());
                u.set(attr::ERROR, s(error)).set(attr::STREAM_ERROR_CODE, s(code));
            }
            Some(_) => {
                u.remove(attr::ERROR).remove(attr::STREAM_ERROR_CODE);
                let ready_at = d.ready_at.clone().unwrap_or_else(|| rfc3339(now_ms));
                u.set(attr::READY_AT, s(ready_at));
            }
            None => {}
        }
        for (name, value) in [
            (attr::DURATION, d.duration.map(n)),
            (attr::WIDTH, d.width.map(n)),
            (attr::HEIGHT, d.height.map(n)),
            (attr::STREAM_SIZE, d.size.map(n)),
        ] {
            if let Some(value) = value {
                u.set(name, value);
            }
        }
        let (uid, submitted, ready, error) = (
            u.value("expected_uid", s(video.uid.as_str())),
            u.value("st_submitted", s(Status::Submitted.as_str())),
            u.value("st_ready", s(Status::Ready.as_str())),
            u.value("st_error", s(Status::Error.as_str())),
        );
        let (uid_name, status_name, modified_name) =
            (u.name(attr::VIDEO_UID), u.name(attr::STATUS), u.name(attr::STREAM_MODIFIED_NS));
        let on_provider = u.provider_is(video.provider, "expected_provider");
        // Only a record that still points at this video and is past submission moves, and only
        // forwards in the provider's time: repeated or out-of-order deliveries change nothing.
        let condition = format!(
            "{uid_name} = {uid} AND {on_provider} AND {status_name} IN ({submitted}, {ready}, {error}) \
             AND (attribute_not_exists({modified_name}) OR {modified_name} < :stream_modified_ns)"
        );
        match self.update(source, u, &condition).send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_check_failed(&e) => Ok(false),
            Err(e) => Err(store_error("UpdateItem (stream state)", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_expressions_use_placeholders_for_every_name() {
        let mut u = Update::default();
        u.set(attr::KEY, s("k")).set_or_remove(attr::VERSION_ID, None).remove(attr::ERROR);
        assert_eq!(u.expression(), "SET #key = :key REMOVE #version_id, #error");
        assert_eq!(u.names["#key"], "key");
        assert_eq!(u.values[":key"], s("k"));
    }

    #[test]
    fn stored_versions_are_read_strictly() {
        let mut item = HashMap::from([
            (attr::STATUS.to_owned(), s("submitted")),
            (attr::VERSION_KEY.to_owned(), s("etag:x")),
            (attr::CLAIM_EXPIRES_AT.to_owned(), n(42)),
            (attr::VIDEO_UID.to_owned(), s("uid")),
        ]);
        let v = stored_version(&item).unwrap();
        assert_eq!(
            (v.status, v.claim_expires_at_ms, v.video.as_ref().map(|v| (v.provider, v.uid.as_str()))),
            (Status::Submitted, 42, Some((Provider::Cloudflare, "uid"))),
            "a record without a provider is Cloudflare's"
        );
        item.insert(attr::PROVIDER.to_owned(), s("mux"));
        assert_eq!(stored_version(&item).unwrap().video.unwrap().provider, Provider::Mux);
        // A stored uid that is not one is a broken record (not retried), not a provider failure.
        item.insert(attr::VIDEO_UID.to_owned(), s("../x"));
        assert!(!stored_version(&item).unwrap_err().is_retryable());
        item.insert(attr::VIDEO_UID.to_owned(), s("uid"));
        item.insert(attr::STATUS.to_owned(), s("weird"));
        assert!(!stored_version(&item).unwrap_err().is_retryable());
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(1_764_064_800_123), "2025-11-25T10:00:00.123Z");
    }
}
