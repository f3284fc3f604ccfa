//! The real `api` binary behind a local Function URL, against the dev OIDC issuer (devtools/dev-oidc),
//! s3s-fs (which verifies SigV4 and presigned URLs) and moto: tokens, uploads, multipart uploads.
//! Playback is in tests/api_playback.rs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use vinofy_test_support::harness::function_url::FunctionUrl;
use vinofy_test_support::harness::oidc::{Alg, DevIssuer, MintOptions};
use vinofy_test_support::harness::*;

const AUDIENCE: &str = "vinofy-api";
const ALICE: &str = "auth0|alice";
const BOB: &str = "google-oauth2|104593";
/// [`put_signed`]'s status when S3 closed the connection instead of answering.
const REFUSED_BY_CLOSING: u16 = 0;
/// What the IAM recorder's proxy (between the client and S3 in these tests) answers then.
const REFUSED_BY_CLOSING_BEHIND_THE_PROXY: u16 = 502;

pub struct Api {
    pub world: World,
    pub issuer: DevIssuer,
    pub function: Arc<Function>,
    pub url: String,
    pub http: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Api {
    async fn start(overrides: &[(&str, &str)]) -> Self {
        let world = World::new().await;
        let issuer = DevIssuer::start_temp();
        let mut env: HashMap<String, String> = world.env().into_iter().collect();
        env.extend(issuer.env(AUDIENCE));
        env.insert("AUTH_JWKS_MIN_REFETCH_SECONDS".into(), "1".into());
        for (k, v) in overrides {
            env.insert(k.to_string(), v.to_string());
        }
        let function = Arc::new(Function::start_binary(env!("CARGO_BIN_EXE_api"), env).await);
        let url = FunctionUrl::start(function.clone()).await.url;
        Self { world, issuer, function, url, http: reqwest::Client::new() }
    }

    fn token(&self, sub: &str) -> String {
        self.issuer.token(sub, AUDIENCE)
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        let mut request =
            self.http.request(method.parse().unwrap(), format!("{}{}", self.url, path.trim_start_matches('/')));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body, headers }
    }

    async fn create_upload(&self, sub: &str, filename: &str, size: usize, content_type: &str) -> Answer {
        let body = json!({"filename": filename, "size": size, "content_type": content_type});
        self.call("POST", "/uploads", Some(&self.token(sub)), Some(body)).await
    }

    async fn object_keys(&self) -> Vec<String> {
        let out = self.world.s3.list_objects_v2().bucket(&self.world.bucket).send().await.unwrap();
        out.contents().iter().filter_map(|o| o.key().map(str::to_owned)).collect()
    }
}

/// Sends the signed request as a client would: the URL and exactly the headers given (reqwest
/// sets `content-length` from the body, as browsers do).
async fn put_signed(_: &reqwest::Client, signed: &Value, body: Vec<u8>) -> (u16, String) {
    // A client of its own: a connection S3 closed on a refused body must not be reused.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut request = http.put(signed["url"].as_str().unwrap()).body(body);
    for (name, value) in signed["headers"].as_object().unwrap() {
        if name != "content-length" {
            request = request.header(name, value.as_str().unwrap());
        }
    }
    // S3 may answer a body longer than the signed length with 403, or close the connection.
    let response = match request.send().await {
        Ok(response) => response,
        Err(e) => return (REFUSED_BY_CLOSING, e.to_string()),
    };
    let status = response.status().as_u16();
    let etag = response.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = response.text().await.unwrap();
    (status, if status == 200 { etag } else { text })
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_that_do_not_verify_get_401_and_nothing_happens() {
    let api = Api::start(&[]).await;
    let state = api.issuer.state();
    let alice = || MintOptions::new(ALICE, AUDIENCE);
    let now = vinofy_core::ingest::now_ms() / 1000;
    let valid = api.token(ALICE);
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let (header, payload, _) = {
        let mut parts = valid.splitn(3, '.');
        (parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned(), parts.next().unwrap().to_owned())
    };
    // A payload of Bob's under Alice's signature.
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&payload).unwrap()).unwrap();
    let mut bobs = claims.clone();
    bobs["sub"] = json!(BOB);
    let forged = format!("{header}.{}.{}", b64(bobs), valid.rsplit('.').next().unwrap());
    let none = format!("{}.{}.", b64(json!({"alg": "none", "typ": "JWT"})), payload);
    let kid = state.newest_kid().to_owned();
    let hs256 = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some(kid.clone());
        let public_pem = state.public_key_pem(&kid).unwrap();
        jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_secret(public_pem.as_bytes()).unwrap())
            .unwrap()
    };
    let cases: Vec<(&str, Option<String>)> = vec![
        ("forged signature", Some(forged)),
        ("expired", Some(state.mint(&alice().iat(now - 7200).exp(now - 3600)).unwrap())),
        ("not yet valid", Some(state.mint(&alice().iat(now).nbf(now + 3600).exp(now + 7200)).unwrap())),
        ("wrong issuer", Some(state.mint(&alice().iss("https://evil.example.com")).unwrap())),
        ("wrong audience", Some(state.mint(&MintOptions::new(ALICE, "another-api")).unwrap())),
        ("alg none", Some(none)),
        ("HS256 keyed with the RSA public key", Some(hs256)),
        ("unknown kid", Some(state.sign_with_unknown_key(&alice()).unwrap())),
        ("truncated", Some(valid[..valid.len() - 20].to_owned())),
        ("garbage", Some("not.a.jwt".to_owned())),
        ("no token", None),
    ];
    let body = json!({"filename": "a.mov", "size": 10, "content_type": "video/quicktime"});
    for (name, token) in &cases {
        for (method, path, body) in [
            ("POST", "/uploads", Some(body.clone())),
            ("GET", "/videos/0123456789abcdef0123456789abcdef/playback", None),
        ] {
            let answer = api.call(method, path, token.as_deref(), body).await;
            assert_eq!(answer.status, 401, "{name} {path}: {:?}", answer.body);
            assert_eq!(
                answer.headers.get("www-authenticate").and_then(|v| v.to_str().ok()),
                Some(r#"Bearer error="invalid_token""#),
                "{name}"
            );
            assert!(answer.body.get("upload").is_none() && !answer.body.to_string().contains("X-Amz"), "{name}");
        }
    }
    // Just outside the leeway is refused too; within it, accepted.
    let late = state.mint(&alice().iat(now - 3600).exp(now - 61)).unwrap();
    assert_eq!(api.call("POST", "/uploads", Some(&late), Some(body.clone())).await.status, 401, "61 s past exp");
    let lenient = state.mint(&alice().iat(now - 3600).exp(now - 30)).unwrap();
    assert_eq!(api.call("POST", "/uploads", Some(&lenient), Some(body.clone())).await.status, 201, "30 s past exp");

    assert_eq!(api.object_keys().await, Vec::<String>::new(), "nothing was uploaded");
    let logs = api.function.logs();
    for (name, token) in &cases {
        if let Some(token) = token.as_deref().filter(|t| t.len() > 20) {
            let signature = token.rsplit('.').next().unwrap();
            assert!(!logs.contains(token) && (signature.len() < 16 || !logs.contains(signature)), "{name} logged");
        }
    }
    assert!(!logs.contains(&payload), "a token's payload is never logged");
    // The unknown kids refetched the JWKS at most once a second, not once per request.
    let fetches = api.issuer.jwks_fetches().await;
    assert!(fetches <= 6, "{fetches} JWKS fetches for {} requests", cases.len() * 2 + 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_key_is_picked_up() {
    let mut api = Api::start(&[]).await;
    let body = json!({"filename": "a.mov", "size": 10, "content_type": "video/quicktime"});
    assert_eq!(api.call("POST", "/uploads", Some(&api.token(ALICE)), Some(body.clone())).await.status, 201);
    let fetched = api.issuer.jwks_fetches().await;
    let old_token = api.token(ALICE);
    let new_kid = api.issuer.state_mut().rotate(Alg::Es256, true).unwrap();
    let token = api.issuer.token(ALICE, AUDIENCE);
    assert_eq!(jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(), Some(new_kid.as_str()));
    // Accepted as soon as the refetch interval (1 s here, 30 s by default) lets the unknown kid
    // refetch the JWKS; refused until then, never an error.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let status = api.call("POST", "/uploads", Some(&token), Some(body.clone())).await.status;
        statuses.push(status);
        if status == 201 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(statuses.last(), Some(&201), "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 401), "{statuses:?}");
    let refetches = api.issuer.jwks_fetches().await - fetched;
    assert!((1..=2).contains(&refetches), "{refetches} refetches for {} requests", statuses.len());
    // The dropped key's tokens stop verifying once the refreshed JWKS no longer lists it.
    assert_eq!(api.call("POST", "/uploads", Some(&old_token), Some(body)).await.status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_lands_in_the_callers_space_and_becomes_a_video_they_own() {
    let api = Api::start(&[("UPLOAD_URL_TTL_SECONDS", "900")]).await;
    let video = sample_video();
    let answer = api.create_upload(ALICE, "Tasting notes 🍷.MOV", video.len(), "video/quicktime").await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let key = answer.body["key"].as_str().unwrap().to_owned();
    let space = vinofy_core::domain::upload::space_of(ALICE);
    assert!(key.starts_with(&format!("uploads/{space}/")) && key.ends_with(".mov"), "{key}");
    assert!(!key.contains("Tasting"), "the client's name is only a label: {key}");
    let upload = &answer.body["upload"];
    assert_eq!(upload["method"], "PUT");
    assert_eq!(upload["headers"]["content-type"], "video/quicktime");
    assert!(answer.body["expires_at"].as_str().unwrap().ends_with('Z'));

    // S3 itself refuses anything but what was signed.
    let http = &api.http;
    let (status, text) = put_signed(http, upload, [video.clone(), b"more".to_vec()].concat()).await;
    assert!(
        matches!(status, 403 | REFUSED_BY_CLOSING | REFUSED_BY_CLOSING_BEHIND_THE_PROXY),
        "a bigger body: {status} {text}"
    );
    let mut other_type = upload.clone();
    other_type["headers"]["content-type"] = json!("video/mp4");
    assert_eq!(put_signed(http, &other_type, video.clone()).await.0, 403, "another content type");
    let mut other_key = upload.clone();
    let url = upload["url"].as_str().unwrap();
    other_key["url"] = json!(url.replacen(&space, &vinofy_core::domain::upload::space_of(BOB), 1));
    assert_eq!(put_signed(http, &other_key, video.clone()).await.0, 403, "another user's space");
    other_key["url"] = json!(url.replacen(".mov", ".mp4", 1));
    assert_eq!(put_signed(http, &other_key, video.clone()).await.0, 403, "another key");
    assert!(api.object_keys().await.is_empty(), "nothing was written by a refused PUT");

    let (status, etag) = put_signed(http, upload, video.clone()).await;
    assert_eq!(status, 200, "{etag}");
    let head = api.world.s3.head_object().bucket(&api.world.bucket).key(&key).send().await.unwrap();
    assert_eq!(head.content_type(), Some("video/quicktime"));
    let label = head.metadata().and_then(|m| m.get("original-filename")).cloned().unwrap_or_default();
    assert_eq!(vinofy_core::domain::s3_key::decode_s3_key(&label).unwrap(), "Tasting notes 🍷.MOV");

    // Its notification becomes a video whose record names the uploader.
    let ingest = Function::start(&api.world, &[]).await;
    let event = api.world.created_event(&key, video.len(), etag.trim_matches('"'), "0055AED6DCD90281E5");
    let reply = response(ingest.invoke(&event).await);
    assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
    let record = api.world.record(&key).await.unwrap();
    assert_eq!(s(&record, "owner").as_deref(), Some(ALICE));
    assert_eq!(s(&record, "status").as_deref(), Some("submitted"));
    // A staff upload elsewhere has no owner.
    let staff = api.world.upload("videos/staff.mp4", &video).await;
    response(ingest.invoke(&staff).await);
    assert_eq!(s(&api.world.record("videos/staff.mp4").await.unwrap(), "owner"), None);

    // The presigned URL is in the answer to the caller and nowhere else.
    let signature = url.split("X-Amz-Signature=").nth(1).unwrap();
    let logs = format!("{}{}", api.function.logs(), ingest.logs());
    assert!(!logs.contains(signature) && !logs.contains(url), "a presigned URL was logged");
    for item in api.world.all_items().await {
        assert!(!format!("{item:?}").contains(signature), "a presigned URL in the table");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_url_expires() {
    let api = Api::start(&[("UPLOAD_URL_TTL_SECONDS", "1")]).await;
    let answer = api.create_upload(BOB, "late.mp4", 4, "video/mp4").await;
    assert_eq!(answer.status, 201);
    // S3's clock decides (s3s-fs checks X-Amz-Date + X-Amz-Expires); nothing here to inject.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, text) = put_signed(&api.http, &answer.body["upload"], b"late".to_vec()).await;
    assert_eq!(status, 403, "{text}");
    assert!(api.object_keys().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_upload_requests_get_a_readable_400_or_413() {
    let api = Api::start(&[("MAX_UPLOAD_BYTES", "1000000")]).await;
    let token = api.token(ALICE);
    let cases = [
        (json!({"filename": "notes.txt", "size": 10, "content_type": "video/mp4"}), 400, "extension \"txt\""),
        (json!({"filename": "a.mov", "size": 10, "content_type": "image/png"}), 400, "not a video type"),
        (json!({"filename": "a.mov", "size": 0, "content_type": "video/mp4"}), 400, "positive"),
        (json!({"filename": "a.mov", "size": -1, "content_type": "video/mp4"}), 400, "positive"),
        (json!({"filename": "a.mov", "size": "ten", "content_type": "video/mp4"}), 400, "JSON object"),
        (json!({"filename": "a.mov", "content_type": "video/mp4"}), 400, "JSON object"),
        (json!({"filename": "a.mov", "size": 10, "content_type": "video/mp4", "key": "../x"}), 400, "unknown field"),
        (json!(["a.mov"]), 400, "JSON object"),
        (json!({"filename": "a.mov", "size": 1_000_001, "content_type": "video/mp4"}), 413, "more than"),
    ];
    for (body, status, says) in cases {
        let answer = api.call("POST", "/uploads", Some(&token), Some(body.clone())).await;
        assert_eq!(answer.status, status, "{body}: {:?}", answer.body);
        let error = answer.body["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{body}: {error}");
    }
    let not_json = api.http.post(format!("{}uploads", api.url)).bearer_auth(&token).body("{nope").send().await.unwrap();
    assert_eq!(not_json.status().as_u16(), 400);
    assert_eq!(api.call("GET", "/uploads", Some(&token), None).await.status, 405);
    assert_eq!(api.call("GET", "/elsewhere", Some(&token), None).await.status, 404);
    assert!(api.object_keys().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_upload_above_the_part_size_completes() {
    const MIB: usize = 1024 * 1024;
    let api = Api::start(&[
        ("MULTIPART_THRESHOLD_BYTES", &(5 * MIB).to_string()),
        ("MULTIPART_PART_BYTES", &(5 * MIB).to_string()),
    ])
    .await;
    let size = 11 * MIB + 5;
    let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let answer = api.create_upload(ALICE, "big.mp4", size, "video/mp4").await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let upload = &answer.body["upload"];
    assert_eq!(upload["method"], "MULTIPART");
    let parts = upload["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts.iter().map(|p| p["size"].as_u64().unwrap() as usize).sum::<usize>(), size);
    let complete_path = upload["complete"]["path"].as_str().unwrap().to_owned();

    let mut offset = 0;
    for (i, part) in parts.iter().enumerate() {
        let len = part["size"].as_u64().unwrap() as usize;
        let chunk = bytes[offset..offset + len].to_vec();
        offset += len;
        if i == 0 {
            let (status, text) = put_signed(&api.http, part, [chunk.clone(), vec![0]].concat()).await;
            assert!(
                matches!(status, 403 | REFUSED_BY_CLOSING | REFUSED_BY_CLOSING_BEHIND_THE_PROXY),
                "a part over its size: {status} {text}"
            );
        }
        if i == 1 {
            // A part whose URL would expire first is signed again: the renewed URL works the same.
            let renewed =
                api.call("POST", upload["renew"]["path"].as_str().unwrap(), Some(&api.token(ALICE)), None).await;
            assert_eq!(renewed.status, 200, "{:?}", renewed.body);
            let numbers: Vec<u64> =
                renewed.body["parts"].as_array().unwrap().iter().map(|p| p["part_number"].as_u64().unwrap()).collect();
            assert_eq!(numbers, [2, 3], "only what is not uploaded yet");
            assert_eq!(put_signed(&api.http, &renewed.body["parts"][0], chunk).await.0, 200, "part 2, renewed");
            let early = api.call("POST", &complete_path, Some(&api.token(ALICE)), None).await;
            assert_eq!(early.status, 409, "{:?}", early.body);
            assert_eq!(early.body["missing_parts"], json!([3]));
            continue;
        }
        assert_eq!(put_signed(&api.http, part, chunk).await.0, 200, "part {}", i + 1);
    }
    // Someone else's token cannot complete it: the handle names Alice's space.
    assert_eq!(api.call("POST", &complete_path, Some(&api.token(BOB)), None).await.status, 404);
    assert_eq!(api.call("POST", "/uploads/bm90LWEtaGFuZGxl/complete", Some(&api.token(ALICE)), None).await.status, 404);
    let done = api.call("POST", &complete_path, Some(&api.token(ALICE)), None).await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    let key = answer.body["key"].as_str().unwrap();
    let object = api.world.s3.get_object().bucket(&api.world.bucket).key(key).send().await.unwrap();
    assert_eq!(object.content_type(), Some("video/mp4"));
    let stored = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(sha256_hex(&stored), sha256_hex(&bytes), "the parts were assembled in order");
    // A retry (the 200 lost on its way) gets the same 200 and changes nothing. S3 has forgotten the
    // upload (NoSuchUpload; s3s-fs lists it without parts): the object of its size is the answer.
    let again = api.call("POST", &complete_path, Some(&api.token(ALICE)), None).await;
    assert_eq!((again.status, &again.body), (200, &done.body), "a retried complete");
    let renew_path = upload["renew"]["path"].as_str().unwrap().to_owned();
    let renewed = api.call("POST", &renew_path, Some(&api.token(ALICE)), None).await;
    assert_eq!(renewed.status, 409, "no part URLs for a completed upload: {:?}", renewed.body);
    let size_now = api.world.s3.head_object().bucket(&api.world.bucket).key(key).send().await.unwrap().content_length();
    assert_eq!(size_now, Some(size as i64));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_refuses_to_start_on_bad_configuration_naming_the_variable() {
    let world = World::new().await;
    let issuer = DevIssuer::start_temp();
    let base: HashMap<String, String> = world.env().into_iter().chain(issuer.env(AUDIENCE)).collect();
    let cases: [(&str, Option<&str>); 5] = [
        ("AUTH_ISSUER", None),
        ("AUTH_JWKS_URL", Some("http://idp.example.com/.well-known/jwks.json")),
        ("UPLOAD_URL_TTL_SECONDS", Some("7200")),
        ("STREAM_SIGNING_KEY", Some(r#"{"id": "REPLACE_WITH_KEY_ID", "pem": "REPLACE_WITH_BASE64_PEM"}"#)),
        ("PLAYBACK_ACCESS", Some("everyone")),
    ];
    for (variable, value) in cases {
        let mut env = base.clone();
        match value {
            Some(v) => env.insert(variable.to_owned(), v.to_owned()),
            None => env.remove(variable),
        };
        let mut function = Function::start_binary(env!("CARGO_BIN_EXE_api"), env).await;
        let logs = function.assert_refused_to_start(variable).await;
        assert!(!logs.contains("REPLACE_WITH_BASE64_PEM"), "the value is never echoed: {logs}");
    }
}
