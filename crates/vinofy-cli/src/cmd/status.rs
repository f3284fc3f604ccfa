//! `vinofy status`: one record, by source or by Cloudflare video uid.

use std::process::ExitCode;

use vinofy_core::domain::ids::VideoUid;
use vinofy_core::domain::record::{Status, VideoRecord};
use vinofy_core::ports::VideoRecords;

use crate::cli::StatusArgs;
use crate::error::CliError;
use crate::output::{Output, record_json};
use crate::settings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The partition key, `s3://bucket/key`.
    Source(String),
    /// A video provider's uid.
    Uid(VideoUid),
}

/// Reads KEY_OR_UID (and --bucket).
pub fn resolve(target: &str, bucket: Option<&str>) -> Result<Lookup, String> {
    if let Some(rest) = target.strip_prefix("s3://") {
        if bucket.is_some() {
            return Err(format!("{target} already names its bucket; drop --bucket"));
        }
        return match rest.split_once('/') {
            Some((b, k)) if !b.is_empty() && !k.is_empty() => Ok(Lookup::Source(target.to_owned())),
            _ => Err(format!("{target} is not s3://BUCKET/KEY")),
        };
    }
    if let Some(bucket) = bucket {
        if bucket.is_empty() || target.is_empty() {
            return Err("--bucket and KEY must not be empty".into());
        }
        return Ok(Lookup::Source(vinofy_core::domain::object::source_uri(bucket, target)));
    }
    // A key has a path or an extension; a uid is letters and digits only (the one uid rule).
    if let Ok(uid) = VideoUid::parse(target) {
        return Ok(Lookup::Uid(uid));
    }
    Err(format!(
        "{target:?} is neither a video uid (letters and digits) nor an s3:// URI; to look up a key, add \
         --bucket BUCKET (or write s3://BUCKET/{target})"
    ))
}

pub async fn run(args: StatusArgs, out: &Output) -> Result<ExitCode, CliError> {
    let lookup = resolve(&args.target, args.bucket.as_deref()).map_err(CliError::Usage)?;
    let table_name = settings::videos_table()?;
    let store = settings::store(&table_name).await;
    let (records, what) = match &lookup {
        Lookup::Source(source) => (store.record(source).await.map(|r| r.into_iter().collect()), source.as_str()),
        Lookup::Uid(uid) => (store.records_of_video(uid).await, uid.as_str()),
    };
    let records: Vec<VideoRecord> = records.map_err(|e| CliError::Fatal(e.to_string()))?;
    if records.is_empty() {
        return Err(CliError::NotFound(format!("no record for {what} in table {table_name}")));
    }
    for (i, record) in records.iter().enumerate() {
        if out.json {
            out.json_line(&record_json(record))?;
        } else {
            if i > 0 {
                out.line("")?;
            }
            for line in human(record) {
                out.line(&line)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The record for a reader: the source, then one `name  value` line per thing that is known.
pub fn human(record: &VideoRecord) -> Vec<String> {
    let mut rows: Vec<(&str, String)> = Vec::new();
    let mut add = |name: &'static str, value: Option<String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            rows.push((name, v));
        }
    };
    add("status", Some(record.status.as_str().to_owned()));
    add("provider", Some(record.provider.to_string()));
    add("video_uid", record.video_uid.as_ref().map(String::from));
    add("playback_id", record.playback_id.clone());
    add(
        "stream_state",
        record.stream_state.clone().map(|s| match &record.pct_complete {
            Some(pct) if s != "ready" => format!("{s} ({pct}%)"),
            _ => s,
        }),
    );
    add("hls", record.hls_url.clone());
    add("dash", record.dash_url.clone());
    add("thumbnail", record.thumbnail_url.clone());
    add("preview", record.preview_url.clone());
    let media =
        [record.duration.map(|d| format!("{d} s")), record.width.zip(record.height).map(|(w, h)| format!("{w}x{h}"))];
    add("media", Some(media.into_iter().flatten().collect::<Vec<_>>().join(", ")));
    let mut object = Vec::new();
    if let Some(size) = record.size {
        object.push(format!("{size} bytes"));
    }
    if let Some(etag) = &record.etag {
        object.push(format!("eTag {etag}"));
    }
    if let Some(version) = &record.version_id {
        object.push(format!("version {version}"));
    }
    add("object", Some(object.join(", ")));
    add("created_at", record.created_at.clone());
    add("submitted_at", record.submitted_at.clone());
    add("ready_at", record.ready_at.clone());
    add("deleted_at", record.deleted_at.clone());
    add("updated_at", record.updated_at.clone());
    add("error", record.error.clone());
    add("last_error", record.last_error.clone());
    if record.status == Status::Pending {
        let until = record.claim_expires_at_ms.unwrap_or(0);
        let claim = if until > vinofy_core::ingest::now_ms() {
            format!("held until {}", vinofy_core::ingest::rfc3339(until))
        } else {
            "expired (its invocation died or gave up; `vinofy reconcile` takes it over)".to_owned()
        };
        add("claim", Some(claim));
    }
    add("replaced_video_uid", record.replaced_video_uid.as_ref().map(String::from));
    if let (Some(provider), Some(uid)) = (record.previous_provider, &record.previous_video_uid) {
        add("previous", Some(format!("{provider}:{uid} (before `vinofy migrate`)")));
    }
    add("migrated_at", record.migrated_at.clone());
    add("migration_error", record.migration_error.clone());

    let mut lines = vec![record.source.clone()];
    lines.extend(rows.into_iter().map(|(name, value)| format!("  {name:<14}{value}")));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_read_as_uri_key_or_uid() {
        let uid = "6b9e68b07dfee8cc2d116e4c51d6a957";
        assert_eq!(resolve(uid, None), Ok(Lookup::Uid(VideoUid::parse(uid).unwrap())));
        // Providers' uids are case-sensitive (Mux's are mixed-case): looked up as given.
        let mixed = "QrikEQpEXp3RvklQSHyHSYOakQkhcEXV";
        assert_eq!(resolve(mixed, None), Ok(Lookup::Uid(VideoUid::parse(mixed).unwrap())));
        assert_eq!(resolve("s3://b/videos/a b.mp4", None), Ok(Lookup::Source("s3://b/videos/a b.mp4".into())));
        assert_eq!(resolve("videos/a.mp4", Some("b")), Ok(Lookup::Source("s3://b/videos/a.mp4".into())));
        // With --bucket, even 32 hex digits are a key.
        assert_eq!(resolve(uid, Some("b")), Ok(Lookup::Source(format!("s3://b/{uid}"))));
        let hint = resolve("videos/a.mp4", None).unwrap_err();
        assert!(hint.contains("--bucket"), "{hint}");
        assert!(resolve("s3://b", None).is_err());
        assert!(resolve("s3://b/k", Some("b")).is_err());
    }
}
