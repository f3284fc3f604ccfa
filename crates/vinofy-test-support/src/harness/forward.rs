//! The pass-through both local proxies in front of the peers share (the IAM recorder, the S3
//! notifier): a request forwarded unchanged, its reply handed back unchanged.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};

/// Sends the request to `upstream` as it came, every header included (`Host` too: s3s-fs verifies
/// SigV4, and the signature covers the host), the body only if there is one. Returns the reply's
/// status, its headers but the framing ones (hyper frames the answer again; a HEAD reply keeps its
/// Content-Length, the object's size), and its body; `Err` with the transport's reason.
pub async fn pass_on(
    http: &reqwest::Client,
    upstream: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, HeaderMap, Bytes), String> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = http.request(method.clone(), format!("{upstream}{path}"));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if !body.is_empty() {
        request = request.body(body);
    }
    let reply = request.send().await.map_err(|e| e.to_string())?;
    let status = reply.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in reply.headers() {
        let framing = name == "transfer-encoding" || name == "connection";
        if !framing && (name != "content-length" || method == Method::HEAD) {
            out_headers.append(name.clone(), value.clone());
        }
    }
    let bytes = reply.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, out_headers, bytes))
}
