//! Authentication, account and routing errors (doc §1.4).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{ACCOUNT, Emulator, TOKEN};

async fn send(emulator: &Emulator, url: &str, authorization: Option<&str>) -> (StatusCode, Value) {
    let mut request = emulator.http.get(url);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn malformed_authorization_is_400_with_the_observed_body() {
    let emulator = Emulator::start(&[]);
    let url = emulator.stream_url("");
    let expected = json!({
        "success": false,
        "errors": [{"code": 6003, "message": "Invalid request headers",
                    "error_chain": [{"code": 6111, "message": "Invalid format for Authorization header"}]}],
        "messages": [],
        "result": null,
    });
    let bearer_only = format!("Bearer{TOKEN}");
    for header in [None, Some("Basic dXNlcjpwYXNz"), Some("Bearer"), Some("Bearer "), Some(&*bearer_only)] {
        let (status, body) = send(&emulator, &url, header).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{header:?}");
        assert_eq!(body, expected, "{header:?}");
    }
}

#[tokio::test]
async fn wrong_token_or_account_is_403_authentication_error() {
    let emulator = Emulator::start(&[]);
    let wrong_account = format!("{}/client/v4/accounts/someone-else/stream", emulator.base);
    let cases =
        [(emulator.stream_url(""), "Bearer not-the-token".to_owned()), (wrong_account, format!("Bearer {TOKEN}"))];
    for (url, authorization) in cases {
        let (status, body) = send(&emulator, &url, Some(&authorization)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{url}");
        assert_eq!(body["success"], false);
        assert_eq!(body["result"], Value::Null);
        assert_eq!(body["errors"], json!([{"code": 10000, "message": "Authentication error"}]));
    }
    // The scheme is case-insensitive, as in HTTP.
    let (status, _) = send(&emulator, &emulator.stream_url(""), Some(&format!("bearer {TOKEN}"))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_video_and_unknown_route_are_404() {
    let emulator = Emulator::start(&[]);
    let (status, body) = emulator.get_video(&"0".repeat(32)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errors"][0]["code"], 10003);
    assert_eq!(body["result"], Value::Null);

    let (status, body) = emulator.call(Method::DELETE, &format!("/{}", "0".repeat(32)), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["success"], false);

    let (status, body) = emulator.call(Method::GET, "/a/b/c", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["errors"][0]["code"], 7000);

    let (status, _) = emulator.call(Method::PUT, "/copy", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // Even an unknown route needs the token.
    let url = format!("{}/client/v4/accounts/{ACCOUNT}/zones", emulator.base);
    let (status, _) = send(&emulator, &url, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
