//! HTTP Basic authentication, Mux's error shape, routing errors, the request log.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Mux, TOKEN_ID, TOKEN_SECRET};

async fn list_with(mux: &Mux, authorization: Option<&str>) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = mux.http.get(mux.api_url("/assets"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.json().await.unwrap())
}

fn basic(user: &str, password: &str) -> String {
    // Independent of the emulator's decoder: built with the same scheme curl -u uses.
    let raw = format!("{user}:{password}");
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in raw.as_bytes().chunks(3) {
        let bits = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[(bits >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

#[tokio::test]
async fn missing_or_wrong_credentials_are_401_with_mux_error_shape() {
    let mux = Mux::start(&[]);
    let expected = json!({"error": {"type": "unauthorized", "messages": ["Unauthorized request"]}});
    let wrong_secret = basic(TOKEN_ID, "nope");
    let wrong_id = basic("someone-else", TOKEN_SECRET);
    let bearer = format!("Bearer {TOKEN_SECRET}");
    for header in [None, Some(wrong_secret.as_str()), Some(&wrong_id), Some(&bearer), Some("Basic !!!"), Some("Basic")]
    {
        let (status, headers, body) = list_with(&mux, header).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{header:?}");
        assert_eq!(body, expected, "{header:?}");
        assert!(headers.get("x-ratelimit-limit").is_none(), "{header:?}: not rate limited, so no headers");
    }
    // The right credentials, with the scheme in any case, as curl -u and every HTTP client send them.
    let right = basic(TOKEN_ID, TOKEN_SECRET);
    assert_eq!(
        right,
        "Basic NDRjODE5ZGUtNGFkZC00YzlmLWIyZTktMzg0YTBhNzFiZWRlOklOS3hDb1orY1g2bDF5clI2dnF6WUhWYWVGRWNxdlpTaHpuV00xVS9ObzhLc1Y3aDZKeHUxWFh1VFVROTFzZGlHT05LM0g3TkU3SA=="
    );
    for header in [right.clone(), right.replace("Basic", "basic")] {
        let (status, headers, body) = list_with(&mux, Some(&header)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, json!({"data": [], "next_cursor": null}));
        assert!(headers.contains_key("x-ratelimit-limit") && headers.contains_key("x-ratelimit-remaining"));
    }
}

#[tokio::test]
async fn unknown_routes_are_404_not_found_after_authentication() {
    let mux = Mux::start(&[]);
    let not_found = json!({"error": {"type": "not_found",
        "messages": ["The requested resource either doesn't exist or you don't have access to it."]}});
    for (method, suffix) in [
        (Method::GET, "/assets/doesnotexist"),
        (Method::DELETE, "/assets/doesnotexist"),
        (Method::GET, "/uploads"),
        (Method::PATCH, "/assets/x"),
        (Method::GET, "/assets/x/playback-ids"),
    ] {
        let (status, body) = mux.call(method.clone(), suffix, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {suffix}");
        assert_eq!(body, not_found, "{method} {suffix}");
    }
    // Unauthenticated: 401 first, whatever the route.
    let response = mux.http.get(mux.api_url("/uploads")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Outside the API: Mux's 404 too.
    let response = mux.http.get(format!("{}/nothing/here/at/all", mux.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["type"], "not_found");

    let log = mux.requests().await;
    let summary: Vec<_> = log.iter().map(|r| (r["method"].clone(), r["route"].clone(), r["status"].clone())).collect();
    assert_eq!(
        summary,
        [
            (json!("GET"), json!("get"), json!(404)),
            (json!("DELETE"), json!("delete"), json!(404)),
            (json!("GET"), json!("unknown"), json!(404)),
            (json!("PATCH"), json!("unknown"), json!(404)),
            (json!("GET"), json!("unknown"), json!(404)),
            (json!("GET"), json!("unknown"), json!(401)),
        ]
    );
    let mut keys: Vec<_> = log[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["at_ms", "fault", "method", "route", "status", "user_agent"]);
    // The log never holds the credentials.
    assert!(!mux.stderr().contains(TOKEN_SECRET));
}
