//! Signed URLs (doc §6): signing keys (`/stream/keys`) and `requireSignedURLs` on delivery, with
//! tokens minted the way a client does (jsonwebtoken, RS256, `kid` = the key id). The playback
//! test needs `ffmpeg` and `ffprobe` on PATH, like `media.rs`.

use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Key, fetch, in_an_hour, require_ffmpeg, sample};
use crate::media::wait_final;
use crate::support::{Emulator, is_hex32, serve};

async fn create_key(emulator: &Emulator) -> Key {
    let (status, envelope) = emulator.call(Method::POST, "/keys", None).await;
    assert_eq!(status, StatusCode::OK, "{envelope}");
    assert_eq!(envelope["success"], true, "{envelope}");
    let result = &envelope["result"];
    assert!(is_hex32(&result["id"]) && result["id"].as_str().unwrap().bytes().all(|b| !b.is_ascii_uppercase()));
    let pem = String::from_utf8(STANDARD.decode(result["pem"].as_str().unwrap()).unwrap()).unwrap();
    Key { id: result["id"].as_str().unwrap().to_owned(), pem }
}

#[tokio::test]
async fn signing_keys_are_created_listed_and_revoked() {
    let emulator = Emulator::start(&[]);
    let (status, envelope) = emulator.call(Method::POST, "/keys", None).await;
    assert_eq!(status, StatusCode::OK, "{envelope}");
    assert_eq!((envelope["errors"].clone(), envelope["messages"].clone()), (json!([]), json!([])));
    let result = &envelope["result"];
    let id = result["id"].as_str().unwrap().to_owned();
    assert!(is_hex32(&result["id"]), "{result}");
    let created = result["created"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok(), "{created}");

    // pem: base64 of a PKCS#1 PEM that signs; jwk: base64 of the private JWK.
    let pem = String::from_utf8(STANDARD.decode(result["pem"].as_str().unwrap()).unwrap()).unwrap();
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"), "{pem}");
    assert!(pem.trim_end().ends_with("-----END RSA PRIVATE KEY-----"), "{pem}");
    assert!(EncodingKey::from_rsa_pem(pem.as_bytes()).is_ok());
    let jwk: Value = serde_json::from_slice(&STANDARD.decode(result["jwk"].as_str().unwrap()).unwrap()).unwrap();
    assert_eq!((jwk["kty"].as_str(), jwk["e"].as_str()), (Some("RSA"), Some("AQAB")), "{jwk}");
    for field in ["n", "d", "p", "q", "dp", "dq", "qi"] {
        assert!(jwk[field].is_string(), "{field}: {jwk}");
    }
    // 2048 bits: 256 bytes of modulus, 342 base64url characters.
    assert_eq!(jwk["n"].as_str().unwrap().len(), 342, "{jwk}");

    let second = create_key(&emulator).await;
    let (status, envelope) = emulator.call(Method::GET, "/keys", None).await;
    assert_eq!(status, StatusCode::OK, "{envelope}");
    assert_eq!(
        envelope["result"],
        json!([{"id": id, "created": created}, {"id": second.id, "created": envelope["result"][1]["created"]}])
    );

    let (status, envelope) = emulator.call(Method::DELETE, &format!("/keys/{id}"), None).await;
    assert_eq!(
        (status, envelope["result"].clone(), envelope["success"].clone()),
        (StatusCode::OK, json!("Revoked"), json!(true))
    );
    let (status, envelope) = emulator.call(Method::DELETE, &format!("/keys/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{envelope}");
    assert_eq!(envelope["success"], false);
    assert_eq!(envelope["errors"][0]["code"], 10003);
    let (_, envelope) = emulator.call(Method::GET, "/keys", None).await;
    assert_eq!(envelope["result"].as_array().unwrap().len(), 1, "{envelope}");
    assert_eq!(envelope["result"][0]["id"], second.id.as_str());

    // The same gate as every /stream endpoint, and the route in the request log and faults.
    let response = emulator.http.post(emulator.stream_url("/keys")).bearer_auth("wrong").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    emulator.add_faults(json!([{"route": "keys", "status": 503}])).await;
    let (status, _) = emulator.call(Method::GET, "/keys", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, envelope) = emulator.call(Method::PUT, "/keys", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{envelope}");
    assert!(emulator.requests().await.iter().any(|r| r["route"] == "keys"));
    // Keys are account configuration: a reset keeps them.
    emulator.control(Method::POST, "reset", None).await;
    let (_, envelope) = emulator.call(Method::GET, "/keys", None).await;
    assert_eq!(envelope["result"].as_array().unwrap().len(), 1, "{envelope}");
}

async fn ready_video(emulator: &Emulator, origin: &str, private: bool) -> String {
    let created = emulator.copy(json!({"url": format!("{origin}/sample.mp4"), "requireSignedURLs": private})).await;
    assert_eq!(created["requireSignedURLs"], private);
    let uid = created["uid"].as_str().unwrap().to_owned();
    let video = wait_final(emulator, &uid).await;
    assert_eq!(video["status"]["state"], "ready", "{video}");
    uid
}

/// Every delivery path under `/{id}` answers 401 with a plain-text body that does not echo `id`.
async fn assert_refused(emulator: &Emulator, id: &str, why: &str) {
    for file in
        ["manifest/video.m3u8", "manifest/seg_000.ts", "manifest/video.mpd", "thumbnails/thumbnail.jpg", "watch"]
    {
        let (status, content_type, body) = fetch(emulator, &format!("/{id}/{file}")).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {file}: {body}");
        assert!(content_type.starts_with("text/plain"), "{why}: {content_type}");
        assert!(!body.contains(id), "{why}: the body echoes the path's id: {body}");
    }
}

#[tokio::test]
async fn private_videos_are_served_only_with_a_valid_signed_token() {
    require_ffmpeg();
    let origin = serve(Router::new().route("/sample.mp4", get(|| async { sample() }))).await;
    let emulator = Emulator::start(&["--transcode", "on"]);
    let key = create_key(&emulator).await;
    let private = ready_video(&emulator, &origin, true).await;
    let public = ready_video(&emulator, &origin, false).await;

    // By uid: the private video is refused everywhere, the public one served.
    assert_refused(&emulator, &private, "private by uid").await;
    let (_, _, body) = fetch(&emulator, &format!("/{private}/manifest/video.m3u8")).await;
    assert!(String::from_utf8_lossy(&body).contains("signed"), "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = fetch(&emulator, &format!("/{public}/manifest/video.m3u8")).await;
    assert_eq!(status, StatusCode::OK);

    // With a valid token in place of the uid: the playlist and every segment it names.
    let token = key.sign(&json!({"sub": private, "kid": key.id, "exp": in_an_hour()}));
    let (status, content_type, body) = fetch(&emulator, &format!("/{token}/manifest/video.m3u8")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, "application/vnd.apple.mpegurl");
    let playlist = String::from_utf8(body).unwrap();
    let segments: Vec<&str> = playlist.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert!(!segments.is_empty(), "{playlist}");
    for segment in segments {
        assert!(!segment.contains('/'), "relative, so it keeps the token: {segment}");
        let (status, content_type, bytes) = fetch(&emulator, &format!("/{token}/manifest/{segment}")).await;
        assert_eq!((status, content_type.as_str()), (StatusCode::OK, "video/mp2t"), "{segment}");
        assert_eq!(bytes[0], 0x47, "an MPEG-TS segment");
    }
    let (status, _, mpd) = fetch(&emulator, &format!("/{token}/manifest/video.mpd")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&mpd).contains(r#"initialization="dash_init_$RepresentationID$.m4s""#));
    let (status, _, _) = fetch(&emulator, &format!("/{token}/manifest/dash_chunk_0_00001.m4s")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, content_type, jpeg) = fetch(&emulator, &format!("/{token}/thumbnails/thumbnail.jpg")).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "image/jpeg"));
    assert!(jpeg.starts_with(&[0xFF, 0xD8]));
    let (status, _, page) = fetch(&emulator, &format!("/{token}/watch")).await;
    let page = String::from_utf8(page).unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(r#"const source = "manifest/video.m3u8";"#) && page.contains(&private), "{page}");
    assert!(!page.contains(&token), "the page names the uid, not the token");
    // A token also serves a public video; the token's sub, not anything else, picks the video.
    let public_token = key.sign(&json!({"sub": public, "exp": in_an_hour()}));
    let (status, _, _) = fetch(&emulator, &format!("/{public_token}/manifest/video.m3u8")).await;
    assert_eq!(status, StatusCode::OK);
    // nbf in the past and string-valued claims (as Cloudflare's /token endpoint issues) are fine,
    // and so are access rules that let 127.0.0.1 through.
    let allowed = key.sign(&json!({"sub": private, "exp": in_an_hour().to_string(), "nbf": "1",
        "accessRules": [{"type": "ip.src", "action": "allow", "ip": ["127.0.0.0/8", "::1/128"]},
                        {"type": "any", "action": "block"}]}));
    let (status, _, body) = fetch(&emulator, &format!("/{allowed}/manifest/video.m3u8")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));

    // Refusals: all 401, none echoing the token.
    let now = chrono::Utc::now().timestamp();
    let expired = key.sign(&json!({"sub": private, "exp": now - 10}));
    assert_refused(&emulator, &expired, "expired").await;
    assert_refused(&emulator, &key.sign(&json!({"sub": private})), "no exp").await;
    assert_refused(&emulator, &key.sign(&json!({"sub": private, "exp": in_an_hour(), "nbf": now + 600})), "nbf").await;
    // The token's sub picks the video: one naming no video is refused.
    assert_refused(&emulator, &key.sign(&json!({"sub": "f".repeat(32), "exp": in_an_hour()})), "unknown sub").await;
    assert_refused(&emulator, &key.sign(&json!({"exp": in_an_hour()})), "no sub").await;
    let stranger = Key { id: "0".repeat(32), pem: key.pem.clone() };
    assert_refused(&emulator, &stranger.sign(&json!({"sub": private, "exp": in_an_hour()})), "unknown kid").await;
    let hs256 = jsonwebtoken::encode(
        &Header { kid: Some(key.id.clone()), ..Header::new(Algorithm::HS256) },
        &json!({"sub": private, "exp": in_an_hour()}),
        &EncodingKey::from_secret(key.pem.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_refused(&emulator, &hs256, "HS256").await;
    let (head, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let tampered = format!("{head}.{flipped}{}", &signature[1..]);
    assert_refused(&emulator, &tampered, "tampered signature").await;
    let (header, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let other_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"sub": public, "exp": in_an_hour()}).to_string());
    assert_refused(&emulator, &format!("{header}.{other_payload}.{signature}"), "tampered payload").await;
    let blocked = key.sign(&json!({"sub": private, "exp": in_an_hour(),
        "accessRules": [{"type": "ip.src", "action": "block", "ip": ["127.0.0.1/32"]}]}));
    assert_refused(&emulator, &blocked, "ip.src block").await;
    let (_, _, body) = fetch(&emulator, &format!("/{blocked}/manifest/video.m3u8")).await;
    assert!(String::from_utf8_lossy(&body).contains("access rule"), "{}", String::from_utf8_lossy(&body));

    // A sub naming a deleted video is refused.
    let (status, _, _) = emulator.call_raw(Method::DELETE, &format!("/{public}"), None).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_refused(&emulator, &public_token, "deleted sub").await;

    // Revoking the key invalidates every token signed with it.
    let (status, _) = emulator.call(Method::DELETE, &format!("/keys/{}", key.id), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_refused(&emulator, &token, "revoked key").await;

    // The tokens never reach the log.
    let log = emulator.stderr();
    assert!(log.contains("GET /{token}/manifest/video.m3u8"), "{log}");
    for secret in [&token, &expired, &hs256, &blocked] {
        assert!(!log.contains(secret.as_str()), "the log has a token: {log}");
    }
}
