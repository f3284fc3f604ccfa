//! Asset endpoints: create, get, list, delete (doc §9.2-9.3, MUX-assets).

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::{StatusCode, Uri};
use serde_json::{Map, Value, json};

use crate::envelope::{Body, Reply};
use crate::mux::api::MuxError;
use crate::mux::app::SharedMux;
use crate::mux::model::{Asset, PlaybackId, Progress, Status, mux_id};
use crate::mux::{processing, webhook};

/// "Max: 255 characters".
const PASSTHROUGH_MAX_CHARS: usize = 255;
/// `meta` keys and their maximum lengths in code points.
const META_FIELDS: [(&str, usize); 3] = [("title", 512), ("creator_id", 128), ("external_id", 128)];
/// List: `limit` default 25 (the generated SDKs' default) and at most 100 (Mux's pagination guide).
const LIST_DEFAULT: usize = 25;
const LIST_MAX: usize = 100;

/// The create parameters the emulator understands, validated.
#[derive(Debug)]
struct CreateParams {
    url: String,
    policies: Vec<String>,
    passthrough: Option<String>,
    meta: Option<Map<String, Value>>,
    video_quality: &'static str,
    max_resolution_tier: &'static str,
    mp4_support: String,
    master_access: String,
    normalize_audio: bool,
    test: bool,
}

/// `POST /video/v1/assets` -> 201 with the Asset, `preparing`; the fetch and processing go on in
/// the background. All validation problems are reported at once, in `messages`.
pub fn create(app: &SharedMux, body: &[u8]) -> Result<Reply, MuxError> {
    let params = parse_create(body).map_err(MuxError::invalid)?;
    let now = chrono::Utc::now().timestamp();
    let asset = Asset {
        id: mux_id(),
        status: Status::Preparing,
        created_at: now.to_string(),
        playback_ids: params.policies.into_iter().map(|policy| PlaybackId { id: mux_id(), policy }).collect(),
        passthrough: params.passthrough,
        meta: params.meta,
        video_quality: params.video_quality,
        encoding_tier: encoding_tier_of(params.video_quality),
        mp4_support: params.mp4_support,
        master_access: params.master_access,
        max_resolution_tier: params.max_resolution_tier,
        ingest_type: "on_demand_url",
        normalize_audio: params.normalize_audio,
        test: params.test,
        progress: Progress::INGESTING,
        tracks: Vec::new(),
        duration: None,
        aspect_ratio: None,
        resolution_tier: None,
        max_stored_resolution: None,
        max_stored_frame_rate: None,
        errors: None,
    };
    app.insert_asset(asset.clone(), params.url.clone());
    webhook::announce(app, "created", &asset);
    processing::spawn(app.clone(), asset.id.clone(), params.url);
    Ok(Reply::json(StatusCode::CREATED, json!({ "data": asset.to_json() })))
}

pub fn get(app: &SharedMux, id: &str) -> Result<Reply, MuxError> {
    let asset = app.asset(id).ok_or_else(MuxError::not_found)?;
    Ok(Reply::json(StatusCode::OK, json!({ "data": asset.to_json() })))
}

/// 204 with no body (the SDK types the result as `void` and sends `Accept: */*`). Processing
/// stops, the media files go, and `video.asset.deleted` is sent with the asset as it was.
pub fn delete(app: &SharedMux, id: &str) -> Result<Reply, MuxError> {
    let asset = app.delete_asset(id).ok_or_else(MuxError::not_found)?;
    if let Some(media) = &app.media {
        media.remove_later(vec![id.to_owned()]);
    }
    webhook::announce(app, "deleted", &asset);
    webhook::close_lane(app, id);
    Ok(Reply { status: StatusCode::NO_CONTENT, body: Body::Empty, retry_after: None })
}

/// `GET /video/v1/assets?limit&page&cursor&live_stream_id&upload_id`, newest first:
/// `{"data": [...], "next_cursor": "..." | null}`. With `cursor`, `page` is ignored.
pub fn list(app: &SharedMux, uri: &Uri) -> Result<Reply, MuxError> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|_| MuxError::invalid(vec!["Malformed query string".to_owned()]))?;
    let params: HashMap<String, String> = pairs.into_iter().collect();
    let positive = |name: &str, default: usize| -> Result<usize, MuxError> {
        match params.get(name).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|&n| n > 0)
                .ok_or_else(|| MuxError::invalid(vec![format!("{name} must be a positive integer")])),
        }
    };
    let limit = positive("limit", LIST_DEFAULT)?.min(LIST_MAX);
    let page = positive("page", 1)?;
    let cursor = match params.get("cursor").filter(|v| !v.is_empty()) {
        None => None,
        Some(text) => Some(decode_cursor(text).ok_or_else(|| MuxError::invalid(vec!["Invalid cursor".to_owned()]))?),
    };
    // The emulator has neither live streams nor direct uploads: those filters match nothing.
    let filtered_out =
        ["live_stream_id", "upload_id"].iter().any(|name| params.get(*name).is_some_and(|v| !v.is_empty()));

    let mut assets = if filtered_out { Vec::new() } else { app.live_assets_newest_first() };
    if let Some(before) = cursor {
        assets.retain(|(seq, _)| *seq < before);
    } else {
        let skip = (page - 1).saturating_mul(limit);
        assets.drain(..skip.min(assets.len()));
    }
    let more = assets.len() > limit;
    assets.truncate(limit);
    let next_cursor = match assets.last() {
        Some((seq, _)) if more => Value::String(encode_cursor(*seq)),
        _ => Value::Null,
    };
    let data: Vec<Value> = assets.iter().map(|(_, asset)| asset.to_json()).collect();
    Ok(Reply::json(StatusCode::OK, json!({ "data": data, "next_cursor": next_cursor })))
}

/// Opaque to clients: the creation sequence number of the last asset returned, hex-encoded.
fn encode_cursor(seq: u64) -> String {
    hex::encode(format!("seq:{seq}"))
}

fn decode_cursor(text: &str) -> Option<u64> {
    let bytes = hex::decode(text).ok()?;
    String::from_utf8(bytes).ok()?.strip_prefix("seq:")?.parse().ok()
}

fn encoding_tier_of(video_quality: &str) -> &'static str {
    match video_quality {
        "plus" => "smart",
        "premium" => "premium",
        _ => "baseline",
    }
}

/// Validates a create body. Unknown top-level fields are ignored; the main input is the first
/// of `inputs` (or the deprecated `input`), further inputs (text/audio tracks, overlays) are
/// checked for a `url` and otherwise ignored.
fn parse_create(body: &[u8]) -> Result<CreateParams, Vec<String>> {
    let body: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(vec!["The request body must be a JSON object".to_owned()]),
        // serde_json syntax errors carry only a position, not the input.
        Err(error) => return Err(vec![format!("Invalid JSON in the request body: {error}")]),
    };
    let mut problems = Vec::new();
    let present = |name: &str| body.get(name).filter(|v| !v.is_null());

    let url = match (present("inputs"), present("input")) {
        (Some(_), Some(_)) => {
            problems.push("Send either inputs or the deprecated input, not both".to_owned());
            None
        }
        (Some(inputs), None) => main_input(inputs, "inputs", &mut problems),
        (None, Some(input)) => main_input(input, "input", &mut problems),
        (None, None) => {
            problems.push("inputs is required".to_owned());
            None
        }
    };

    let policies = match (present("playback_policies"), present("playback_policy")) {
        (Some(_), Some(_)) => {
            problems.push("Send either playback_policies or the deprecated playback_policy, not both".to_owned());
            Vec::new()
        }
        (Some(value), None) => policies(value, "playback_policies", &mut problems),
        (None, Some(value)) => policies(value, "playback_policy", &mut problems),
        (None, None) => match present("advanced_playback_policies") {
            Some(Value::Array(items)) => {
                let names: Vec<Value> =
                    items.iter().map(|item| item.get("policy").cloned().unwrap_or(Value::Null)).collect();
                policies(&Value::Array(names), "advanced_playback_policies[].policy", &mut problems)
            }
            Some(_) => {
                problems.push("advanced_playback_policies must be an array of objects".to_owned());
                Vec::new()
            }
            None => Vec::new(),
        },
    };

    let passthrough = match present("passthrough") {
        None => None,
        Some(Value::String(text)) if text.chars().count() <= PASSTHROUGH_MAX_CHARS => Some(text.clone()),
        Some(_) => {
            problems.push(format!("passthrough must be a string of at most {PASSTHROUGH_MAX_CHARS} characters"));
            None
        }
    };

    let meta = match present("meta") {
        None => None,
        Some(Value::Object(map)) => {
            for (key, value) in map {
                match META_FIELDS.iter().find(|(name, _)| name == key) {
                    None => problems.push(format!("meta.{key} is not a known field (title, creator_id, external_id)")),
                    Some((_, max)) if value.as_str().is_none_or(|s| s.chars().count() > *max) => {
                        problems.push(format!("meta.{key} must be a string of at most {max} code points"));
                    }
                    Some(_) => {}
                }
            }
            Some(map.clone())
        }
        Some(_) => {
            problems.push("meta must be an object".to_owned());
            None
        }
    };

    let mut choice = |name: &str, allowed: &[&'static str], default: &'static str| -> &'static str {
        match present(name) {
            None => default,
            Some(value) => match allowed.iter().find(|a| value.as_str() == Some(**a)) {
                Some(found) => found,
                None => {
                    problems.push(format!("{name} must be one of {}", allowed.join(", ")));
                    default
                }
            },
        }
    };
    let video_quality = match present("video_quality") {
        Some(_) => choice("video_quality", &["basic", "plus", "premium"], "basic"),
        // The deprecated name and values.
        None => match choice("encoding_tier", &["baseline", "smart", "premium"], "baseline") {
            "smart" => "plus",
            "premium" => "premium",
            _ => "basic",
        },
    };
    let max_resolution_tier = choice("max_resolution_tier", &["1080p", "1440p", "2160p"], "1080p");
    let mp4_support =
        choice("mp4_support", &["none", "standard", "capped-1080p", "audio-only", "audio-only,capped-1080p"], "none")
            .to_owned();
    let master_access = choice("master_access", &["none", "temporary"], "none").to_owned();

    if mp4_support != "none" && present("static_renditions").is_some() {
        problems.push("mp4_support and static_renditions cannot both be set".to_owned());
    }
    if present("static_renditions").is_some_and(|v| !v.is_array()) {
        problems.push("static_renditions must be an array".to_owned());
    }
    let mut flag = |name: &str| match present(name) {
        None => false,
        Some(Value::Bool(value)) => *value,
        Some(_) => {
            problems.push(format!("{name} must be a boolean"));
            false
        }
    };
    let normalize_audio = flag("normalize_audio");
    let test = flag("test");

    match url {
        Some(url) if problems.is_empty() => Ok(CreateParams {
            url,
            policies,
            passthrough,
            meta,
            video_quality,
            max_resolution_tier,
            mp4_support,
            master_access,
            normalize_audio,
            test,
        }),
        _ => Err(problems),
    }
}

/// The main input's URL from `inputs` / `input`: an array of input objects (or of URL strings),
/// or a single URL string.
fn main_input(value: &Value, name: &str, problems: &mut Vec<String>) -> Option<String> {
    let items: Vec<&Value> = match value {
        Value::String(_) => vec![value],
        Value::Array(items) if !items.is_empty() => items.iter().collect(),
        Value::Array(_) => {
            problems.push(format!("{name} must not be empty"));
            return None;
        }
        _ => {
            problems.push(format!("{name} must be an array of input objects or a URL string"));
            return None;
        }
    };
    let mut main = None;
    for (index, item) in items.iter().enumerate() {
        let url = item.as_str().or_else(|| item.get("url").and_then(Value::as_str));
        let Some(url) = url else {
            problems.push(format!("{name}[{index}].url is required"));
            continue;
        };
        if index > 0 {
            continue;
        }
        if url.starts_with("mux://") {
            problems.push(format!("{name}[0].url: clips of existing assets (mux://) are not emulated"));
        } else if !is_http_url(url) {
            problems.push(format!("{name}[0].url must be a valid http(s) URL"));
        } else {
            main = Some(url.to_owned());
        }
    }
    main
}

fn is_http_url(text: &str) -> bool {
    reqwest::Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}

/// `public` / `signed`, as an array or a single string. `drm` needs a DRM configuration
/// (`advanced_playback_policies`), which the emulator does not have.
fn policies(value: &Value, name: &str, problems: &mut Vec<String>) -> Vec<String> {
    let items: Vec<&Value> = match value {
        Value::String(_) => vec![value],
        Value::Array(items) => items.iter().collect(),
        _ => {
            problems.push(format!("{name} must be an array of policies (public, signed)"));
            return Vec::new();
        }
    };
    let mut names = Vec::new();
    for item in items {
        match item.as_str() {
            Some(policy @ ("public" | "signed")) => names.push(policy.to_owned()),
            Some("drm") => problems.push(format!("{name}: drm playback is not emulated")),
            _ => problems.push(format!("{name} entries must be public or signed")),
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: Value) -> Result<CreateParams, Vec<String>> {
        parse_create(value.to_string().as_bytes())
    }

    #[test]
    fn current_and_deprecated_shapes() {
        let params = parse(json!({"inputs": [{"url": "https://s3.test/a.mp4?X-Amz-Signature=1"}],
            "playback_policies": ["public", "signed"], "video_quality": "plus", "passthrough": "k"}))
        .unwrap();
        assert_eq!(params.url, "https://s3.test/a.mp4?X-Amz-Signature=1");
        assert_eq!(params.policies, ["public", "signed"]);
        assert_eq!((params.video_quality, params.max_resolution_tier), ("plus", "1080p"));
        let params = parse(json!({"input": "http://h/x.mp4", "playback_policy": "signed"})).unwrap();
        assert_eq!((params.url.as_str(), params.policies.as_slice()), ("http://h/x.mp4", &["signed".to_owned()][..]));
        let params = parse(json!({"input": [{"url": "http://h/x.mp4"}, {"url": "http://h/en.vtt", "type": "text"}],
            "encoding_tier": "smart"}))
        .unwrap();
        assert!(params.policies.is_empty());
        assert_eq!(params.video_quality, "plus");
        assert_eq!(encoding_tier_of("basic"), "baseline");
    }

    #[test]
    fn every_problem_is_reported() {
        let problems = parse(json!({"playback_policies": ["drm", "private"], "passthrough": "x".repeat(256),
            "meta": {"title": 5, "color": "red"}, "video_quality": "ultra", "test": "yes"}))
        .unwrap_err();
        let text = problems.join("\n");
        for expected in [
            "inputs is required",
            "drm",
            "public or signed",
            "passthrough",
            "meta.title",
            "meta.color",
            "video_quality",
            "test must be a boolean",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
        assert!(parse(json!({"inputs": [], "playback_policies": ["public"]})).is_err());
        assert!(parse(json!({"inputs": [{"url": "ftp://h/x"}]})).is_err());
        assert!(parse(json!({"inputs": [{"url": "mux://assets/abc"}]})).is_err());
        assert!(parse(json!({"inputs": [{"url": "http://h/x"}], "input": "http://h/x"})).is_err());
        assert!(parse(json!({"inputs": "http://h/x", "passthrough": "é".repeat(255)})).is_ok());
        assert!(parse_create(b"[1]").is_err());
        let error = parse_create(b"{\"inputs\": \"https://secret.test/").unwrap_err();
        assert!(!error[0].contains("secret"), "{error:?}");
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("zz"), None);
        assert_eq!(decode_cursor(&hex::encode("other:1")), None);
    }
}
