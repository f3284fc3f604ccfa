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
