//! Private playback through the real `api` binary: a video uploaded by a signed-in user, created
//! with `requireSignedURLs` (Stream) or a `signed` playback policy (Mux), plays only with the
//! API's signed URLs, which the emulators verify against keys made by `vinofy signing-key create`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use vinofy_test_support::harness::function_url::FunctionUrl;
use vinofy_test_support::harness::oidc::DevIssuer;
use vinofy_test_support::harness::*;

const AUDIENCE: &str = "vinofy-api";
const ALICE: &str = "auth0|alice";
const BOB: &str = "auth0|bob";

struct ApiFunction {
    function: Arc<Function>,
    url: String,
}

async fn start_api(world: &World, issuer: &DevIssuer, extra: &[(&str, &str)]) -> ApiFunction {
    let mut env: HashMap<String, String> = world.env().into_iter().collect();
    env.extend(issuer.env(AUDIENCE));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let function = Arc::new(Function::start_binary(env!("CARGO_BIN_EXE_api"), env).await);
    let url = FunctionUrl::start(function.clone()).await.url;
    ApiFunction { function, url }
}

async fn call(api: &ApiFunction, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{}{}", api.url, path.trim_start_matches('/')))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Alice uploads a video through the API; the ingest function (with `ingest_env`) makes it a video.
async fn upload_as_alice(world: &World, api: &ApiFunction, issuer: &DevIssuer, ingest_env: &[(&str, &str)]) -> String {
    let video = sample_video();
    let body = json!({"filename": "Private tasting.mp4", "size": video.len(), "content_type": "video/mp4"});
    let (status, created) = call(api, "POST", "/uploads", &issuer.token(ALICE, AUDIENCE), Some(body)).await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let mut put = reqwest::Client::new().put(created["upload"]["url"].as_str().unwrap()).body(video.clone());
    for (name, value) in created["upload"]["headers"].as_object().unwrap() {
        if name != "content-length" {
            put = put.header(name, value.as_str().unwrap());
        }
    }
    let put = put.send().await.unwrap();
    assert_eq!(put.status(), 200);
    let etag = put.headers()["etag"].to_str().unwrap().trim_matches('"').to_owned();
    let ingest = Function::start(world, ingest_env).await;
    let reply = response(ingest.invoke(&world.created_event(&key, video.len(), &etag, "0055AED6DCD90281E5")).await);
    assert_eq!(reply["records"][0]["outcome"], "submitted", "{reply}");
    key
}

async fn signing_key_create(world: &World, extra: &[(&str, &str)], args: &[&str]) -> cli::CliRun {
    let env = world.env().into_iter().chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let args: Vec<&str> = ["signing-key", "create"].into_iter().chain(args.iter().copied()).collect();
    cli::run_vinofy(&peers::target_bin("vinofy").to_string_lossy(), env, &args).await
}

async fn get_status(url: &str) -> u16 {
    reqwest::get(url).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_private_stream_video_plays_only_with_the_apis_signed_urls() {
    let dist = player::hls_dist();
    let world = World::with_emulator_args(&["--transcode", "on", "--player-dir", &dist]).await;
    let issuer = DevIssuer::start_temp();
    let placeholder = r#"{"id":"REPLACE_WITH_KEY_ID","pem":"REPLACE_WITH_BASE64_PEM"}"#;
    let secret = world.create_secret("stream-signing-key", placeholder).await;
    let key_env = [("STREAM_SIGNING_KEY_SECRET_ARN", secret.as_str())];

    // Until the key is created, the API refuses to start, naming the variable.
    let mut env: HashMap<String, String> = world.env().into_iter().collect();
    env.extend(issuer.env(AUDIENCE));
    env.insert(key_env[0].0.into(), secret.clone());
    let mut refused = Function::start_binary(env!("CARGO_BIN_EXE_api"), env).await;
    let logs = refused.assert_refused_to_start("STREAM_SIGNING_KEY_SECRET_ARN").await;
    assert!(logs.contains("signing-key create"), "{logs}");

    let created = signing_key_create(&world, &key_env, &[]).await;
    let stdout = &created.stdout;
    assert!(created.code == 0, "{stdout}{}", created.stderr);
    let stored = aws_sdk_secretsmanager::Client::new(&sdk_config(&shared().dynamodb_endpoint).await)
        .get_secret_value()
        .secret_id(&secret)
        .send()
        .await
        .unwrap()
        .secret_string
        .unwrap();
    let stored: Value = serde_json::from_str(&stored).unwrap();
    let (key_id, pem) = (stored["id"].as_str().unwrap().to_owned(), stored["pem"].as_str().unwrap().to_owned());
    assert!(stdout.contains(&key_id) && !stdout.contains(&pem), "prints the key id only: {stdout}");

    let api = start_api(&world, &issuer, &[key_env[0], ("PLAYBACK_TOKEN_TTL_SECONDS", "600")]).await;
    let key = upload_as_alice(&world, &api, &issuer, &[("STREAM_REQUIRE_SIGNED_URLS", "true")]).await;
    let record = world.record(&key).await.unwrap();
    assert_eq!(s(&record, "owner").as_deref(), Some(ALICE));
    assert_eq!(record.get("signed_playback").and_then(|v| v.as_bool().ok()).copied(), Some(true));
    let uid = s(&record, "video_uid").unwrap();
    world.wait_video_final(&uid).await;

    // The recorded URLs are refused: the video is private.
    let unsigned_hls = s(&record, "hls_url").unwrap();
    assert_eq!(get_status(&unsigned_hls).await, 401, "{unsigned_hls}");

    let (status, playback) =
        call(&api, "GET", &format!("/videos/{uid}/playback"), &issuer.token(ALICE, AUDIENCE), None).await;
    assert_eq!(status, 200, "{playback}");
    let hls = playback["hls_url"].as_str().unwrap().to_owned();
    assert!(!hls.contains(&uid), "the uid is replaced by the token: {hls}");
    let token = hls.split('/').nth(3).unwrap().to_owned();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!((header.alg, header.kid.as_deref()), (jsonwebtoken::Algorithm::RS256, Some(key_id.as_str())));
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], uid.as_str());
    assert_eq!(claims["downloadable"], false);
    let now = vinofy_core::ingest::now_ms() / 1000;
    assert!((now + 590..=now + 600).contains(&claims["exp"].as_i64().unwrap()), "{claims}");
    let playlist = reqwest::get(&hls).await.unwrap();
    assert_eq!(playlist.status(), 200);
    assert!(playlist.text().await.unwrap().starts_with("#EXTM3U"));
    assert_eq!(get_status(playback["thumbnail_url"].as_str().unwrap()).await, 200);
    assert_eq!(get_status(playback["dash_url"].as_str().unwrap()).await, 200);
    player::assert_plays(&hls.replace("/manifest/video.m3u8", "/watch")).await;

    // Someone else's video: 403; an unknown one: 404.
    let bob = issuer.token(BOB, AUDIENCE);
    assert_eq!(call(&api, "GET", &format!("/videos/{uid}/playback"), &bob, None).await.0, 403);
    assert_eq!(call(&api, "GET", "/videos/ffffffffffffffffffffffffffffffff/playback", &bob, None).await.0, 404);

    // A token past its exp is refused (a second instance with a 1 s TTL; the emulator's clock).
    let short = start_api(&world, &issuer, &[key_env[0], ("PLAYBACK_TOKEN_TTL_SECONDS", "1")]).await;
    let (_, expiring) =
        call(&short, "GET", &format!("/videos/{uid}/playback"), &issuer.token(ALICE, AUDIENCE), None).await;
    let expiring = expiring["hls_url"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(get_status(&expiring).await, 401, "expired");

    // No token, signing key or presigned URL in the logs or the table.
    let logs = format!("{}{}{}", api.function.logs(), short.function.logs(), stdout);
    let pem_body: String = pem.chars().skip(40).take(40).collect();
    for secret_text in [token.as_str(), token.rsplit('.').next().unwrap(), pem_body.as_str()] {
        assert!(!logs.contains(secret_text), "a credential was logged");
        for item in world.all_items().await {
            assert!(!format!("{item:?}").contains(secret_text), "a credential in the table");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_mux_video_plays_with_muxs_playback_tokens() {
    let dist = player::hls_dist();
    let world = World::new().await.with_mux(&["--transcode", "on", "--player-dir", &dist]);
    let issuer = DevIssuer::start_temp();
    let secret = world
        .create_secret("mux-signing-key", r#"{"id":"REPLACE_WITH_KEY_ID","private_key":"REPLACE_WITH_KEY"}"#)
        .await;
    let mux_env = [("VIDEO_PROVIDER", "mux"), ("MUX_PLAYBACK_POLICY", "signed")];
    let created = signing_key_create(&world, &[("MUX_SIGNING_KEY_SECRET_ARN", &secret)], &["--provider", "mux"]).await;
    assert!(created.code == 0, "{}", created.stderr);

    let api = start_api(
        &world,
        &issuer,
        &[("MUX_SIGNING_KEY_SECRET_ARN", secret.as_str()), ("PLAYBACK_ACCESS", "any-authenticated")],
    )
    .await;
    let key = upload_as_alice(&world, &api, &issuer, &mux_env).await;
    let record = world.record(&key).await.unwrap();
    assert_eq!(s(&record, "provider").as_deref(), Some("mux"));
    let (asset, playback_id) = (s(&record, "video_uid").unwrap(), s(&record, "playback_id").unwrap());
    world.wait_asset_final(&asset).await;
    assert_eq!(get_status(&s(&record, "hls_url").unwrap()).await, 403, "a signed playback id needs a token");

    // Anyone signed in may watch under PLAYBACK_ACCESS=any-authenticated.
    let (status, playback) =
        call(&api, "GET", &format!("/videos/{asset}/playback"), &issuer.token(BOB, AUDIENCE), None).await;
    assert_eq!(status, 200, "{playback}");
    assert_eq!(playback["provider"], "mux");
    assert_eq!(playback["dash_url"], Value::Null, "Mux serves HLS only");
    let hls = playback["hls_url"].as_str().unwrap().to_owned();
    let thumbnail = playback["thumbnail_url"].as_str().unwrap().to_owned();
    assert!(hls.contains(&playback_id) && hls.contains("?token="), "{hls}");
    let audience = |url: &str| -> Value {
        let token = url.split("token=").nth(1).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let bytes = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
        serde_json::from_slice::<Value>(&bytes).unwrap()
    };
    assert_eq!((audience(&hls)["aud"].clone(), audience(&hls)["sub"].clone()), (json!("v"), json!(playback_id)));
    assert_eq!(audience(&thumbnail)["aud"], "t");
    let playlist = reqwest::get(&hls).await.unwrap();
    assert_eq!(playlist.status(), 200);
    assert!(playlist.text().await.unwrap().starts_with("#EXTM3U"));
    assert_eq!(get_status(&thumbnail).await, 200);
    // The video token is not a thumbnail token.
    let token_v = hls.split("token=").nth(1).unwrap();
    let wrong = format!("{}?token={token_v}", thumbnail.split('?').next().unwrap());
    assert_eq!(get_status(&wrong).await, 403);
    let base = world.mux.as_ref().unwrap().base_url.clone();
    let thumb_token = thumbnail.split("token=").nth(1).unwrap();
    player::assert_plays(&format!("{base}/{playback_id}/watch?playback-token={token_v}&thumbnail-token={thumb_token}"))
        .await;
    assert!(!api.function.logs().contains(token_v), "a playback token was logged");
}
