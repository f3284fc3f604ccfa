//! Reads of the videos table: by source, by video uid, in batches, and paginated scans.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use vinofy_ingest::adapters::dynamodb::{VIDEO_UID_INDEX, attr};

use crate::error::{CliError, aws_error};
use crate::item::{Item, get_s};

pub fn key(source: &str) -> Item {
    HashMap::from([(attr::SOURCE.to_owned(), AttributeValue::S(source.to_owned()))])
}

/// One record, strongly consistent.
pub async fn get(client: &Client, table: &str, source: &str) -> Result<Option<Item>, CliError> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(key(source)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| aws_error("GetItem", e))?;
    Ok(out.item)
}

/// The records that point at a Cloudflare video (the `by_video_uid` index; normally one).
pub async fn by_video_uid(client: &Client, table: &str, uid: &str) -> Result<Vec<Item>, CliError> {
    let out = client
        .query()
        .table_name(table)
        .index_name(VIDEO_UID_INDEX)
        .key_condition_expression("#uid = :uid")
        .expression_attribute_names("#uid", attr::VIDEO_UID)
        .expression_attribute_values(":uid", AttributeValue::S(uid.to_owned()))
        .send()
        .await
        .map_err(|e| aws_error("Query (by_video_uid)", e))?;
    Ok(out.items.unwrap_or_default())
}

/// Many records at once (BatchGetItem, 100 keys a request, strongly consistent), with only the
/// `attributes` asked for. Keyed by source; sources without a record are absent.
pub async fn batch_get(
    client: &Client,
    table: &str,
    sources: &[String],
    attributes: &[&str],
) -> Result<HashMap<String, Item>, CliError> {
    let names: HashMap<String, String> = attributes.iter().map(|a| (format!("#{a}"), (*a).to_owned())).collect();
    let projection = attributes.iter().map(|a| format!("#{a}")).collect::<Vec<_>>().join(", ");
    let mut found = HashMap::new();
    for chunk in sources.chunks(100) {
        let mut keys: Vec<Item> = chunk.iter().map(|s| key(s)).collect();
        let mut retries = 0u32;
        while !keys.is_empty() {
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .projection_expression(&projection)
                .set_expression_attribute_names(Some(names.clone()))
                .build()
                .map_err(|e| CliError::Fatal(format!("BatchGetItem request: {e}")))?;
            let out = client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(|e| aws_error("BatchGetItem", e))?;
            for item in out.responses.and_then(|mut r| r.remove(table)).unwrap_or_default() {
                if let Some(source) = get_s(&item, attr::SOURCE) {
                    found.insert(source.to_owned(), item);
                }
            }
            // DynamoDB may leave keys unprocessed under load: ask again, backing off.
            keys = out.unprocessed_keys.and_then(|mut u| u.remove(table)).map(|k| k.keys).unwrap_or_default();
            if !keys.is_empty() {
                retries += 1;
                if retries > 10 {
                    return Err(CliError::Fatal("BatchGetItem kept leaving keys unprocessed (throttled?)".into()));
                }
                tokio::time::sleep(Duration::from_millis(50 << retries.min(6))).await;
            }
        }
    }
    Ok(found)
}

/// A paginated, strongly consistent Scan, optionally filtered.
pub struct Scan {
    client: Client,
    table: String,
    filter: Option<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    start: Option<Item>,
    done: bool,
}

impl Scan {
    pub fn new(client: Client, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
            filter: None,
            names: HashMap::new(),
            values: HashMap::new(),
            start: None,
            done: false,
        }
    }

    /// A filter expression; every attribute name in it is written `#name` and mapped here.
    pub fn filter(mut self, expression: &str, names: &[&str], values: &[(&str, AttributeValue)]) -> Self {
        self.filter = Some(expression.to_owned());
        self.names = names.iter().map(|n| (format!("#{n}"), (*n).to_owned())).collect();
        self.values = values.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        self
    }

    /// The next page (possibly empty when a filter matched nothing in it); `None` at the end.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Item>>, CliError> {
        if self.done {
            return Ok(None);
        }
        let mut request =
            self.client.scan().table_name(&self.table).consistent_read(true).set_exclusive_start_key(self.start.take());
        if let Some(filter) = &self.filter {
            request = request
                .filter_expression(filter)
                .set_expression_attribute_names(Some(self.names.clone()))
                .set_expression_attribute_values((!self.values.is_empty()).then(|| self.values.clone()));
        }
        let out = request.send().await.map_err(|e| aws_error("Scan", e))?;
        self.start = out.last_evaluated_key.filter(|k| !k.is_empty());
        self.done = self.start.is_none();
        Ok(Some(out.items.unwrap_or_default()))
    }
}
