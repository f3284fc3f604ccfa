//! `stream-emulator`: a local, dev-only emulator of the Cloudflare Stream API, for integration
//! tests and demos of the S3 -> Lambda -> Stream `/copy` -> DynamoDB pipeline. See README.md.

use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::any;

use stream_emulator::app::App;
use stream_emulator::cli::{self, Config};
use stream_emulator::envelope::{ApiError, Reply};
use stream_emulator::media::Tools;
use stream_emulator::{api, boot, control, delivery, elog};

fn main() -> ExitCode {
    boot::main("stream-emulator", cli::USAGE, cli::parse, |config| config.transcode, run)
}

async fn run(config: Config, tools: Option<Tools>) -> ExitCode {
    let started =
        match boot::start(&config.listen, tools, config.data_dir.as_deref(), config.player_dir.as_deref(), "videos")
            .await
        {
            Ok(started) => started,
            Err(code) => return code,
        };
    let public_base_url = config.public_base_url.clone().unwrap_or_else(|| started.bound_url.clone());
    let app = match App::new(&config, public_base_url, started.media, started.player_dir) {
        Ok(app) => Arc::new(app),
        Err(error) => {
            elog!("cannot build the HTTP client: {error}");
            return ExitCode::FAILURE;
        }
    };
    let router = Router::new()
        .route("/client/v4/{*rest}", any(api::handle))
        .merge(control::routes())
        .merge(delivery::routes())
        .fallback(no_route)
        .with_state(app);
    boot::serve(started.listener, router, &started.bound_url).await
}

async fn no_route(request: axum::extract::Request) -> Response {
    elog!("{} {} -> 404", request.method(), request.uri().path());
    Reply::from(ApiError::no_route()).into_response()
}
