//! Signed playback: URL signing keys (`/system/v1/signing-keys`) and `?token=` on signed playback
//! ids, with tokens minted the way the Mux SDKs do (RS256, `kid`, `sub` = playback id, `aud`). The
//! playback test needs `ffmpeg` and `ffprobe` on PATH, like `media.rs`.

use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{Key, fetch, in_an_hour, require_ffmpeg, sample};
use crate::support::{Mux, TOKEN_ID, is_mux_id, serve};

fn keys_url(mux: &Mux, suffix: &str) -> String {
    format!("{}/system/v1/signing-keys{suffix}", mux.base)
}

async fn keys_call(mux: &Mux, method: Method, suffix: &str) -> (StatusCode, String) {
    let request =
        mux.http.request(method, keys_url(mux, suffix)).basic_auth(TOKEN_ID, Some(crate::support::TOKEN_SECRET));
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn create_key(mux: &Mux) -> (Key, Value) {
    let (status, body) = keys_call(mux, Method::POST, "").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let data: Value = serde_json::from_str::<Value>(&body).unwrap()["data"].clone();
    let pem = String::from_utf8(STANDARD.decode(data["private_key"].as_str().unwrap()).unwrap()).unwrap();
    (Key { id: data["id"].as_str().unwrap().to_owned(), pem }, data)
}

#[tokio::test]
async fn signing_keys_are_created_listed_and_deleted() {
    let mux = Mux::start(&[]);
    let (key, data) = create_key(&mux).await;
    assert!(is_mux_id(&data["id"]), "{data}");
    assert!(key.pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"), "{}", key.pem);
    assert!(EncodingKey::from_rsa_pem(key.pem.as_bytes()).is_ok());
    let created_at = data["created_at"].as_str().unwrap();
    assert!(created_at.parse::<i64>().unwrap() > 1_600_000_000, "unix seconds as a string: {data}");

    let (status, body) = keys_call(&mux, Method::GET, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list, json!({"data": [{"id": key.id, "created_at": created_at}]}), "no private keys in the list");
    let (status, body) = keys_call(&mux, Method::GET, &format!("/{}", key.id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body.contains("private_key"), "{body}");

    // Unauthenticated: Mux's 401.
    let response = mux.http.get(keys_url(&mux, "")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let (status, body) = keys_call(&mux, Method::DELETE, &format!("/{}", key.id)).await;
    assert_eq!((status, body.as_str()), (StatusCode::NO_CONTENT, ""));
    let (status, body) = keys_call(&mux, Method::DELETE, &format!("/{}", key.id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["type"], "not_found");
    let (_, body) = keys_call(&mux, Method::GET, "").await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({"data": []}));
    assert!(mux.requests().await.iter().any(|r| r["route"] == "signing_keys"));
}

/// 403, plain text, the token not echoed.
async fn assert_forbidden(mux: &Mux, path: &str, token: &str, why: &str) {
    let (status, content_type, body) = fetch(mux, path).await;
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, StatusCode::FORBIDDEN, "{why}: {path}: {body}");
    assert!(content_type.starts_with("text/plain"), "{why}: {content_type}");
    assert!(token.is_empty() || !body.contains(token), "{why}: the body echoes the token");
}

#[tokio::test]
async fn signed_playback_ids_need_a_valid_token() {
    require_ffmpeg();
    let origin = serve(Router::new().route("/sample.mp4", get(|| async { sample() }))).await;
    let mux = Mux::start(&["--transcode", "on"]);
    let (key, _) = create_key(&mux).await;
    let asset = mux
        .create(json!({"inputs": [{"url": format!("{origin}/sample.mp4")}], "playback_policies": ["public", "signed"]}))
        .await;
    let id = asset["id"].as_str().unwrap();
    let public = asset["playback_ids"][0]["id"].as_str().unwrap().to_owned();
    let signed = asset["playback_ids"][1]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (asset["playback_ids"][0]["policy"].as_str(), asset["playback_ids"][1]["policy"].as_str()),
        (Some("public"), Some("signed"))
    );
    assert_eq!(mux.wait_for_status(id, &["ready", "errored"]).await["status"], "ready");

    // A public playback id needs no token.
    let (status, _, _) = fetch(&mux, &format!("/{public}.m3u8")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = fetch(&mux, &format!("/{public}/thumbnail.jpg")).await;
    assert_eq!(status, StatusCode::OK);

    // A signed one: 403 without a token, everywhere.
    for path in ["{id}.m3u8", "{id}/rendition.m3u8", "{id}/seg_000.ts", "{id}/thumbnail.jpg", "{id}/watch"] {
        assert_forbidden(&mux, &format!("/{}", path.replace("{id}", &signed)), "", "no token").await;
    }

    // With aud=v: the multivariant playlist, the rendition and the segments, each URL carrying it.
    let video = key.sign(&json!({"sub": signed, "aud": "v", "exp": in_an_hour()}));
    let (status, content_type, body) = fetch(&mux, &format!("/{signed}.m3u8?token={video}")).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, "application/vnd.apple.mpegurl");
    let multivariant = String::from_utf8(body).unwrap();
    let rendition = multivariant.lines().find(|l| !l.is_empty() && !l.starts_with('#')).unwrap().to_owned();
    assert_eq!(rendition, format!("{signed}/rendition.m3u8?token={video}"));
    let (status, _, body) = fetch(&mux, &format!("/{rendition}")).await;
    assert_eq!(status, StatusCode::OK);
    let playlist = String::from_utf8(body).unwrap();
    let segments: Vec<&str> = playlist.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert!(!segments.is_empty() && playlist.contains("#EXT-X-ENDLIST"), "{playlist}");
    for segment in segments {
        assert!(segment.starts_with("seg_") && segment.ends_with(&format!(".ts?token={video}")), "{segment}");
        let (status, content_type, bytes) = fetch(&mux, &format!("/{signed}/{segment}")).await;
        assert_eq!((status, content_type.as_str()), (StatusCode::OK, "video/mp2t"), "{segment}");
        assert_eq!(bytes[0], 0x47);
    }
    // The watch page passes the tokens on, like player.mux.com's playback-token / thumbnail-token.
    let thumbnail = key.sign(&json!({"sub": signed, "aud": "t", "exp": in_an_hour()}));
    let (status, _, page) =
        fetch(&mux, &format!("/{signed}/watch?playback-token={video}&thumbnail-token={thumbnail}")).await;
    let page = String::from_utf8(page).unwrap();
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&format!(r#"const source = "../{signed}.m3u8?token={video}";"#)), "{page}");
    assert!(page.contains(&format!(r#"poster="thumbnail.jpg?token={thumbnail}""#)), "{page}");

    // The thumbnail needs aud=t; a video token does not open it, nor a thumbnail token the video.
    let (status, content_type, jpeg) = fetch(&mux, &format!("/{signed}/thumbnail.jpg?token={thumbnail}")).await;
    assert_eq!((status, content_type.as_str()), (StatusCode::OK, "image/jpeg"));
    assert!(jpeg.starts_with(&[0xFF, 0xD8]));
    assert_forbidden(&mux, &format!("/{signed}/thumbnail.jpg?token={video}"), &video, "aud v on a thumbnail").await;
    assert_forbidden(&mux, &format!("/{signed}.m3u8?token={thumbnail}"), &thumbnail, "aud t on video").await;
    assert_forbidden(&mux, &format!("/{signed}/seg_000.ts?token={thumbnail}"), &thumbnail, "aud t on a segment").await;

    // Wrong sub (another playback id), expired, no exp, no aud, unknown kid, HS256, tampered.
    for (why, claims) in [
        ("wrong sub", json!({"sub": public, "aud": "v", "exp": in_an_hour()})),
        ("expired", json!({"sub": signed, "aud": "v", "exp": chrono::Utc::now().timestamp() - 5})),
        ("no exp", json!({"sub": signed, "aud": "v"})),
        ("no aud", json!({"sub": signed, "exp": in_an_hour()})),
    ] {
        let token = key.sign(&claims);
        assert_forbidden(&mux, &format!("/{signed}.m3u8?token={token}"), &token, why).await;
    }
    let stranger = Key { id: "x".repeat(44), pem: key.pem.clone() };
    let unknown = stranger.sign(&json!({"sub": signed, "aud": "v", "exp": in_an_hour()}));
    assert_forbidden(&mux, &format!("/{signed}.m3u8?token={unknown}"), &unknown, "unknown kid").await;
    let hs256 = jsonwebtoken::encode(
        &Header { kid: Some(key.id.clone()), ..Header::new(Algorithm::HS256) },
        &json!({"sub": signed, "aud": "v", "exp": in_an_hour()}),
        &EncodingKey::from_secret(b"secret").unwrap(),
    )
    .unwrap();
    assert_forbidden(&mux, &format!("/{signed}.m3u8?token={hs256}"), &hs256, "HS256").await;
    let (head, signature) = video.rsplit_once('.').unwrap();
    let tampered = format!("{head}.{}{}", if signature.starts_with('A') { "B" } else { "A" }, &signature[1..]);
    assert_forbidden(&mux, &format!("/{signed}.m3u8?token={tampered}"), &tampered, "tampered").await;

    // Deleting the key invalidates its tokens.
    let (status, _) = keys_call(&mux, Method::DELETE, &format!("/{}", key.id)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_forbidden(&mux, &format!("/{signed}.m3u8?token={video}"), &video, "deleted key").await;
}
