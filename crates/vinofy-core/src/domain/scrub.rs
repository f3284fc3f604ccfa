//! Text from a video provider (error messages, error reasons) is untrusted and may quote our request
//! back, presigned URL included, in any form: exact, percent-decoded or -encoded, HTML- or
//! JSON-escaped, or only a fragment. Such text reaches the record's `error`, the Lambda error (logs,
//! the failure queue) and the CLI, so it is scrubbed generically here before it is kept anywhere.

/// Runs of at least this many characters from a signature's or token's alphabet (hex, base64) are
/// taken as credentials. Below it: video uids (32 hex) and account ids (32 hex) stay readable.
const OPAQUE_RUN: usize = 40;

/// What replaces a removed credential.
pub const REDACTED: &str = "<redacted>";

/// Scrubs provider text: any word that mentions an `X-Amz-*` parameter (in any escaping) goes whole;
/// any query string goes; any long opaque run (a signature, a session token) goes.
pub fn scrub_provider_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars() {
        if is_separator(c) {
            scrub_word(&word, &mut out);
            word.clear();
            out.push(c);
        } else {
            word.push(c);
        }
    }
    scrub_word(&word, &mut out);
    out
}

/// Removes the known credential (our presigned URL and each of its query values, raw and decoded)
/// wherever it appears, then scrubs generically.
pub fn scrub_with_known_secret(text: &str, url: &str) -> String {
    let mut out = text.to_owned();
    let mut secrets: Vec<String> = vec![url.to_owned()];
    if let Some((_, query)) = url.split_once('?') {
        secrets.push(query.to_owned());
        for pair in query.split('&') {
            let value = pair.split_once('=').map_or(pair, |(_, v)| v);
            secrets.push(value.to_owned());
            secrets.push(percent_decode(value));
        }
    }
    // Longest first, so a value inside the URL does not leave the rest of the URL behind.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in secrets.iter().filter(|s| s.len() >= 8) {
        out = out.replace(secret.as_str(), REDACTED);
    }
    scrub_provider_text(&out)
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>' | '(' | ')' | '[' | ']' | '{' | '}' | ',' | ';')
}

fn scrub_word(word: &str, out: &mut String) {
    if word.is_empty() {
        return;
    }
    if unescape(word).contains("x-amz-") {
        out.push_str(REDACTED);
        return;
    }
    // A query string: everything after the first `?` that has something after it.
    let (base, query) = match word.find('?') {
        Some(i) if i + 1 < word.len() => (&word[..i], true),
        _ => (word, false),
    };
    push_without_opaque_runs(base, out);
    if query {
        out.push('?');
        out.push_str(REDACTED);
    }
}

/// Lower-cased, with HTML, JSON and (up to three layers of) percent escapes undone.
fn unescape(word: &str) -> String {
    let mut s = word.to_ascii_lowercase().replace("&amp;", "&").replace("\\u0026", "&").replace("\\u002d", "-");
    for _ in 0..3 {
        let decoded = percent_decode(&s);
        if decoded == s {
            break;
        }
        s = decoded.to_ascii_lowercase();
    }
    s
}

/// `%XX` escapes undone (a broken escape stays as it is; `+` stays `+`).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn push_without_opaque_runs(word: &str, out: &mut String) {
    let is_opaque = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-' | '%');
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() >= OPAQUE_RUN {
            out.push_str(REDACTED);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in word.chars() {
        if is_opaque(c) {
            run.push(c);
        } else {
            flush(&mut run, out);
            out.push(c);
        }
    }
    flush(&mut run, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNATURE: &str = "5f2b6c1b0f3a4e7d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d";
    const TOKEN: &str = "IQoJb3JpZ2luX2VjEHYaCXVzLWVhc3QtMSJHMEUCIQDvX1yZ2FuaXphdGlvbi10b2tlbg==";

    fn url() -> String {
        format!(
            "https://vinofy-uploads.s3.us-east-1.amazonaws.com/videos/a%20b.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=ASIAEXAMPLE%2F20261201%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261201T120000Z\
             &X-Amz-Expires=3600&X-Amz-Security-Token={}&X-Amz-SignedHeaders=host&X-Amz-Signature={SIGNATURE}",
            TOKEN.replace('=', "%3D").replace('/', "%2F").replace('+', "%2B")
        )
    }

    fn echo_forms() -> Vec<(&'static str, String)> {
        let u = url();
        let decoded = percent_decode(&u);
        let query = u.split_once('?').unwrap().1.to_owned();
        vec![
            ("exact", format!("Invalid URL: {u}")),
            ("percent-decoded", format!("could not fetch {decoded}")),
            ("percent-encoded", format!("url={}", u.replace('&', "%26").replace('=', "%3D").replace('?', "%3F"))),
            ("double-encoded", format!("url={}", u.replace('%', "%25").replace('&', "%26").replace('=', "%3D"))),
            ("html-escaped", format!("<a href=\"{}\">source</a>", u.replace('&', "&amp;"))),
            ("json-escaped", format!("{{\"url\":\"{}\"}}", u.replace('&', "\\u0026").replace('/', "\\/"))),
            ("query only", format!("bad query: {query}")),
            ("signature parameter only", format!("mismatch in X-Amz-Signature={SIGNATURE}")),
            ("signature value only", format!("the signature {SIGNATURE} does not match")),
            ("token value only", format!("token {TOKEN} expired")),
            ("upper-case", format!("URL {}", u.to_ascii_uppercase())),
            ("encoded hyphens", format!("X%2DAmz%2DSignature%3D{SIGNATURE}")),
        ]
    }

    #[test]
    fn every_echo_form_loses_the_credentials() {
        for (form, text) in echo_forms() {
            for scrubbed in [scrub_provider_text(&text), scrub_with_known_secret(&text, &url())] {
                let lower = scrubbed.to_ascii_lowercase();
                assert!(!lower.contains("x-amz-"), "{form}: {scrubbed}");
                assert!(!lower.contains("x%2damz"), "{form}: {scrubbed}");
                assert!(!scrubbed.contains(SIGNATURE) && !lower.contains(&SIGNATURE.to_ascii_lowercase()), "{form}");
                assert!(
                    !scrubbed.contains(&TOKEN[..30]) && !lower.contains(&TOKEN[..30].to_ascii_lowercase()),
                    "{form}"
                );
                assert!(scrubbed.contains(REDACTED), "{form}: {scrubbed}");
            }
        }
    }

    #[test]
    fn readable_text_stays_readable() {
        for text in [
            "10000: Authentication error",
            "Video 6b9e68b07dfee8cc2d116e4c51d6a957 not found",
            "ERR_FETCH_ORIGIN_ERROR: The video failed to download from the URL",
            "Is the origin reachable?",
            "account 0123456789abcdef0123456789abcdef has no Stream subscription",
        ] {
            assert_eq!(scrub_provider_text(text), text);
        }
        assert_eq!(
            scrub_provider_text("fetch of https://example.com/a.mp4?token=abc failed"),
            "fetch of https://example.com/a.mp4?<redacted> failed"
        );
    }

    #[test]
    fn scrubbing_never_panics_on_any_text() {
        proptest::proptest!(|(text in "\\PC{0,200}")| {
            let _ = scrub_provider_text(&text);
            let _ = scrub_with_known_secret(&text, &url());
        });
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%41%zz"), "A%zz");
    }
}
