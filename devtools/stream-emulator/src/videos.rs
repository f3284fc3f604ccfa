//! Video endpoints: copy, get, edit, delete, list (doc §2, §3).

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::{HeaderMap, Uri};
use chrono::TimeDelta;
use serde_json::Value;

use crate::app::SharedApp;
use crate::envelope::{ApiError, Reply, success_envelope};
use crate::fields::{
    CREATOR_EXPECTED, FRACTION_EXPECTED, Field, Fields, TIMESTAMP_EXPECTED, URL_EXPECTED, creator, fraction, http_url,
    object, object_value, string, string_array, timestamp,
};
use crate::model::{State, Timestamp, Video, random_hex32};
use crate::processing;

/// "If specified, must be at least 30 days from upload time." (doc §2.1)
const MIN_SCHEDULED_DELETION_DAYS: i64 = 30;
/// List "default 1000, max 1000" (doc §3.1).
const LIST_MAX: usize = 1000;

pub fn copy(app: &SharedApp, headers: &HeaderMap, body: &[u8]) -> Result<Reply, ApiError> {
    let fields = Fields::parse(body)?;
    // Stream's concurrency limit (doc: 120 queued or encoding at once), checked before anything is made.
    if app.in_flight() >= app.max_in_flight {
        return Err(ApiError::too_many_in_flight(app.max_in_flight));
    }
    let url = source_url(&fields)?;
    let creator = match fields.get("creator", CREATOR_EXPECTED, creator)? {
        Field::Set(creator) => Some(creator),
        // The documented `Upload-Creator` header is the same field; the body wins.
        Field::Absent | Field::Null => upload_creator_header(headers)?,
    };
    let mut meta = fields.get("meta", "an object", object)?.value().unwrap_or_default();
    // Legacy top-level `name` (2026 spec) is the display name, which lives in `meta.name`.
    if let Some(name) = fields.get("name", "a string", string)?.value() {
        meta.entry("name").or_insert(Value::String(name));
    }
    // Cloudflare records the source itself (doc §2.2), presigned credentials included (§10.4).
    meta.insert("downloaded-from".to_owned(), Value::String(url.clone()));

    let now = Timestamp::now();
    let scheduled_deletion = fields.get("scheduledDeletion", TIMESTAMP_EXPECTED, timestamp)?.value();
    check_scheduled_deletion(scheduled_deletion, now)?;

    let mut video = Video::new_copy(random_hex32(), &app.public_base_url, now);
    video.creator = creator;
    video.meta = meta;
    video.scheduled_deletion = scheduled_deletion;
    fields.get("requireSignedURLs", "a boolean", Value::as_bool)?.apply(&mut video.require_signed_urls);
    fields.get("allowedOrigins", "an array of strings", string_array)?.apply(&mut video.allowed_origins);
    fields.get("thumbnailTimestampPct", FRACTION_EXPECTED, fraction)?.apply(&mut video.thumbnail_timestamp_pct);
    // Stored as given: the emulator has no watermark profiles to expand it from.
    video.watermark = fields.get("watermark", "an object", object_value)?.value();

    app.insert_video(video.clone());
    // Like Cloudflare, answer `downloading` at once and fetch in the background.
    processing::spawn(app.clone(), video.uid.clone(), url);
    Ok(Reply::success(video_json(&video)))
}

pub fn get(app: &SharedApp, uid: &str) -> Result<Reply, ApiError> {
    app.video(uid).map(|video| Reply::success(video_json(&video))).ok_or_else(ApiError::not_found)
}

/// Edit (doc §3.2). `meta`, when given, replaces the map wholesale (doc: "send the full map"),
/// which is also how a client can drop `downloaded-from` (§10.4). `null` clears the nullable
/// fields (`creator`, `scheduledDeletion`, `uploadExpiry`, `maxDurationSeconds`,
/// `publicDetails`) and leaves the others unchanged.
pub fn edit(app: &SharedApp, uid: &str, body: &[u8]) -> Result<Reply, ApiError> {
    let fields = Fields::parse(body)?;
    if let Field::Set(claimed) = fields.get("uid", "a string", string)?
        && claimed != uid
    {
        return Err(ApiError::bad_request("uid in the body does not match the video being updated"));
    }
    let creator = fields.get("creator", CREATOR_EXPECTED, creator)?;
    let meta = fields.get("meta", "an object", object)?;
    let require_signed_urls = fields.get("requireSignedURLs", "a boolean", Value::as_bool)?;
    let allowed_origins = fields.get("allowedOrigins", "an array of strings", string_array)?;
    let thumbnail_pct = fields.get("thumbnailTimestampPct", FRACTION_EXPECTED, fraction)?;
    let scheduled_deletion = fields.get("scheduledDeletion", TIMESTAMP_EXPECTED, timestamp)?;
    let upload_expiry = fields.get("uploadExpiry", TIMESTAMP_EXPECTED, timestamp)?;
    let max_duration =
        fields.get("maxDurationSeconds", "a positive integer", |v: &Value| v.as_i64().filter(|&n| n > 0))?;
    let public_details = fields.get("publicDetails", "an object", object_value)?;

    let updated = app.with_live_record(uid, |record| {
        let video = &mut record.video;
        if let Field::Set(when) = scheduled_deletion {
            check_scheduled_deletion(Some(when), video.uploaded.unwrap_or(video.created))?;
        }
        creator.apply_nullable(&mut video.creator);
        meta.apply(&mut video.meta);
        require_signed_urls.apply(&mut video.require_signed_urls);
        allowed_origins.apply(&mut video.allowed_origins);
        thumbnail_pct.apply(&mut video.thumbnail_timestamp_pct);
        scheduled_deletion.apply_nullable(&mut video.scheduled_deletion);
        upload_expiry.apply_nullable(&mut video.upload_expiry);
        max_duration.apply_nullable(&mut video.max_duration_seconds);
        public_details.apply_nullable(&mut video.public_details);
        video.touch();
        Ok(video.clone())
    });
    let video = updated.ok_or_else(ApiError::not_found)??;
    Ok(Reply::success(video_json(&video)))
}

/// 200 with an empty body: the SDK types the result as `void` and sends `Accept: */*`.
/// A deleted video's media files go at once (a job still processing it stops at its next step).
pub fn delete(app: &SharedApp, uid: &str) -> Result<Reply, ApiError> {
    app.with_live_record(uid, |record| record.deleted = true).ok_or_else(ApiError::not_found)?;
    if let Some(media) = &app.media {
        media.remove_later(vec![uid.to_owned()]);
    }
    Ok(Reply::empty())
}

/// List (doc §3.1). `total` and `range` are always present and are strings; `include_counts`
/// is accepted and changes nothing (when Cloudflare omits them is UNCONFIRMED).
pub fn list(app: &SharedApp, uri: &Uri) -> Result<Reply, ApiError> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|_| ApiError::bad_request("Malformed query string"))?;
    // Repeated parameters: the last one wins.
    let params: HashMap<String, String> = pairs.into_iter().collect();
    let filter = ListFilter::parse(&params)?;

    let mut videos: Vec<Video> = app.live_videos().into_iter().filter(|video| filter.matches(video)).collect();
    // Stable: equal `created` keeps creation order.
    videos.sort_by_key(|video| video.created);
    if !filter.ascending {
        videos.reverse();
    }
    let total = videos.len();
    videos.truncate(filter.limit);

    let mut body = success_envelope(videos.iter().map(video_json).collect());
    body["total"] = Value::String(total.to_string());
    body["range"] = Value::String(videos.len().to_string());
    Ok(Reply::json(axum::http::StatusCode::OK, body))
}

struct ListFilter {
    ascending: bool,
    limit: usize,
    creator: Option<String>,
    states: Option<Vec<State>>,
    video_name: Option<String>,
    /// Lower-cased.
    search: Option<String>,
    ids: Option<Vec<String>>,
    /// Inclusive (`created >= start`), like the Workers binding's default `afterComp=gte`.
    start: Option<Timestamp>,
    /// Exclusive (`created < end`), like the binding's default `beforeComp=lt`.
    end: Option<Timestamp>,
    /// `type=live`: the emulator only has on-demand videos.
    live_only: bool,
}

impl ListFilter {
    fn parse(params: &HashMap<String, String>) -> Result<Self, ApiError> {
        let get = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
        let flag = |name: &str| match params.get(name).map(String::as_str) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(ApiError::bad_request(format!("{name} must be true or false"))),
        };
        let time = |names: [&str; 2]| {
            names
                .iter()
                .find_map(|name| get(name).map(|value| (name, value)))
                .map(|(name, value)| {
                    Timestamp::parse(&value)
                        .ok_or_else(|| ApiError::bad_request(format!("{name} must be an RFC 3339 date-time")))
                })
                .transpose()
        };
        let comma_list =
            |name: &str| get(name).map(|value| value.split(',').map(|s| s.trim().to_owned()).collect::<Vec<_>>());

        flag("include_counts")?;
        let limit = match get("limit") {
            None => LIST_MAX,
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| ApiError::bad_request("limit must be a positive integer"))?
                .min(LIST_MAX),
        };
        let states = comma_list("status")
            .map(|names| {
                names
                    .iter()
                    .map(|name| name.parse::<State>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|()| ApiError::bad_request("status must list known video states"))
            })
            .transpose()?;
        let live_only = match get("type").as_deref() {
            None | Some("vod") => false,
            Some("live") => true,
            Some(_) => return Err(ApiError::bad_request("type must be vod or live")),
        };
        Ok(Self {
            ascending: flag("asc")?,
            limit,
            creator: get("creator"),
            states,
            video_name: get("video_name"),
            search: get("search").map(|s| s.to_lowercase()),
            ids: comma_list("id"),
            start: time(["start", "after"])?,
            end: time(["end", "before"])?,
            live_only,
        })
    }

    fn matches(&self, video: &Video) -> bool {
        let name = video.meta.get("name").and_then(Value::as_str);
        !self.live_only
            && self.creator.as_ref().is_none_or(|c| video.creator.as_ref() == Some(c))
            && self.states.as_ref().is_none_or(|s| s.contains(&video.status.state))
            && self.video_name.as_deref().is_none_or(|n| name == Some(n))
            && self.search.as_deref().is_none_or(|s| name.is_some_and(|n| n.to_lowercase().contains(s)))
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&video.uid))
            && self.start.is_none_or(|start| video.created >= start)
            && self.end.is_none_or(|end| video.created < end)
    }
}

fn video_json(video: &Video) -> Value {
    serde_json::to_value(video).expect("a Video has only string map keys and finite numbers")
}

/// `url` (deprecated) or `input` (preferred since 2026). Both with different values is
/// rejected: Cloudflare's behaviour is UNCONFIRMED and it is almost certainly a client bug.
fn source_url(fields: &Fields) -> Result<String, ApiError> {
    let url = fields.get("url", URL_EXPECTED, http_url)?.value();
    let input = fields.get("input", URL_EXPECTED, http_url)?.value();
    match (url, input) {
        (Some(url), Some(input)) if url != input => {
            Err(ApiError::bad_request("url and input are both set and differ; send only one"))
        }
        (Some(url), _) | (None, Some(url)) => Ok(url),
        (None, None) => Err(ApiError::bad_request("url (or input) is required")),
    }
}

fn upload_creator_header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("upload-creator") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| creator(&Value::String(text.to_owned())))
        .map(Some)
        .ok_or_else(|| ApiError::bad_request(format!("Upload-Creator must be {CREATOR_EXPECTED}")))
}

fn check_scheduled_deletion(when: Option<Timestamp>, uploaded: Timestamp) -> Result<(), ApiError> {
    match when {
        Some(when) if when < uploaded.plus(TimeDelta::days(MIN_SCHEDULED_DELETION_DAYS)) => {
            Err(ApiError::bad_request("scheduledDeletion must be at least 30 days from upload time"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: Value) -> Fields {
        Fields::parse(value.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn source_url_rules() {
        let ok = |v: Value| source_url(&fields(v)).map_err(|e| e.message);
        assert_eq!(
            ok(json!({"url": "https://s3.test/a%20b?X-Amz-Signature=1"})).unwrap(),
            "https://s3.test/a%20b?X-Amz-Signature=1"
        );
        assert_eq!(ok(json!({"input": "http://h/x"})).unwrap(), "http://h/x");
        assert!(ok(json!({})).is_err());
        assert!(ok(json!({"url": "ftp://h/x"})).is_err());
        assert!(ok(json!({"url": "not a url"})).is_err());
        assert!(ok(json!({"url": "http://h/x", "input": "http://h/y"})).is_err());
    }
}
