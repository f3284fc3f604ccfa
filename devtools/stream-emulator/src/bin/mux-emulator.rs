//! `mux-emulator`: a local, dev-only emulator of the Mux Video API (assets from URLs, signed
//! webhooks, HLS playback), for integration tests and demos of the S3 -> Lambda -> Mux ->
//! DynamoDB pipeline. See devtools/stream-emulator/MUX.md.

use std::process::ExitCode;

use stream_emulator::cli::CliError;
use stream_emulator::mux::{self, cli};
use stream_emulator::{boot, elog};

fn main() -> ExitCode {
    stream_emulator::log::set_program("mux-emulator");
    let config = match cli::parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(CliError::HelpRequested) => {
            println!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(CliError::Invalid(message)) => {
            elog!("{message}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    let tools = match boot::tools(config.transcode) {
        Ok(tools) => tools,
        Err(code) => return code,
    };
    match boot::runtime() {
        Ok(runtime) => runtime.block_on(mux::run(config, tools)),
        Err(code) => code,
    }
}
