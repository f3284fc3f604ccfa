//! The program name in front of every stderr line: `stream-emulator: ...` or `mux-emulator: ...`.
//! The shared modules (accept loop, media, delivery, webhooks) log through [`elog!`](crate::elog),
//! so each binary's lines carry its own name.

use std::sync::OnceLock;

static PROGRAM: OnceLock<&'static str> = OnceLock::new();

/// Set once, first thing in `main`; later calls are ignored.
pub fn set_program(name: &'static str) {
    let _ = PROGRAM.set(name);
}

/// `stream-emulator` unless the binary said otherwise.
pub fn program() -> &'static str {
    PROGRAM.get().copied().unwrap_or("stream-emulator")
}

/// `eprintln!` with the program name in front: `elog!("video {uid}: fetched")`.
#[macro_export]
macro_rules! elog {
    ($($arg:tt)*) => {
        eprintln!("{}: {}", $crate::log::program(), format_args!($($arg)*))
    };
}

/// `path` with every segment that could be a signed playback token (a JWT) replaced by
/// `{token}`: tokens are bearer credentials and stay out of the log.
pub fn redact_path(path: &str) -> String {
    path.split('/')
        .map(|segment| if crate::signing::looks_like_jwt(segment) { "{token}" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_redacted_from_paths() {
        assert_eq!(super::redact_path("/eyJh.eyJz.c2ln/manifest/video.m3u8"), "/{token}/manifest/video.m3u8");
        assert_eq!(super::redact_path("/abc/manifest/seg_000.ts"), "/abc/manifest/seg_000.ts");
    }
}
