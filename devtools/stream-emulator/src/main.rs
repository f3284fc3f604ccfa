//! `stream-emulator`: a local, dev-only emulator of the Cloudflare Stream API, for integration
//! tests and demos of the S3 -> Lambda -> Stream `/copy` -> DynamoDB pipeline. See README.md.

use std::process::ExitCode;

use axum::Router;
use axum::routing::any;

use stream_emulator::app::App;
use stream_emulator::cli::{self, Config};
use stream_emulator::envelope::{ApiError, Reply};
use stream_emulator::media::Tools;
use stream_emulator::{api, boot, control, delivery};

fn main() -> ExitCode {
    boot::main("stream-emulator", cli::USAGE, cli::parse, |config| config.serving.transcode, run)
}

async fn run(config: Config, tools: Option<Tools>) -> ExitCode {
    let router =
        Router::new().route("/client/v4/{*rest}", any(api::handle)).merge(control::routes()).merge(delivery::routes());
    let build = |public_base_url, media, player_dir| App::new(&config, public_base_url, media, player_dir);
    boot::launch(&config.serving, "videos", tools, build, router, || Reply::from(ApiError::no_route())).await
}
