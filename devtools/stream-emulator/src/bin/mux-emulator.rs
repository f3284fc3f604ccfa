//! `mux-emulator`: a local, dev-only emulator of the Mux Video API (assets from URLs, signed
//! webhooks, HLS playback), for integration tests and demos of the S3 -> Lambda -> Mux ->
//! DynamoDB pipeline. See devtools/stream-emulator/MUX.md.

use std::process::ExitCode;

use stream_emulator::boot;
use stream_emulator::mux::{self, cli};

fn main() -> ExitCode {
    boot::main("mux-emulator", cli::USAGE, cli::parse, |config| config.serving.transcode, mux::run)
}
