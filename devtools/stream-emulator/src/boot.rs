//! Start-up and shut-down shared by both binaries: which media tools to use, the listener, the
//! data directory, hls.js, the single stdout line, and serving until SIGTERM/Ctrl-C. Every
//! failure has already been reported on stderr when these return `Err(ExitCode)`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use tokio::net::TcpListener;

use crate::cli::{CliError, DEFAULT_PLAYER_DIR, Serving, Transcode};
use crate::elog;
use crate::envelope::Reply;
use crate::media::{Media, Tools};
use crate::server;

/// A binary's `main`: names the program in the log, parses the command line and environment
/// (`--help` prints `usage`, exit 0; a bad flag is reported with it, exit 2), finds the media tools
/// for the config's `--transcode`, and runs the emulator on a multi-threaded runtime.
pub fn main<C, F: Future<Output = ExitCode>>(
    program: &'static str,
    usage: &str,
    parse: impl FnOnce(std::iter::Skip<std::env::Args>, fn(&str) -> Option<String>) -> Result<C, CliError>,
    transcode: fn(&C) -> Transcode,
    run: impl FnOnce(C, Option<Tools>) -> F,
) -> ExitCode {
    crate::log::set_program(program);
    let config = match parse(std::env::args().skip(1), |name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(CliError::HelpRequested) => {
            println!("{usage}");
            return ExitCode::SUCCESS;
        }
        Err(CliError::Invalid(message)) => {
            elog!("{message}\n\n{usage}");
            return ExitCode::from(2);
        }
    };
    let tools = match tools(transcode(&config)) {
        Ok(tools) => tools,
        Err(code) => return code,
    };
    match runtime() {
        Ok(runtime) => runtime.block_on(run(config, tools)),
        Err(code) => code,
    }
}

/// ffmpeg/ffprobe for `--transcode`: `None` means off; `on` without them is exit 2.
pub fn tools(transcode: Transcode) -> Result<Option<Tools>, ExitCode> {
    match (transcode, Tools::find(std::env::var_os("PATH").as_deref())) {
        (Transcode::Off, _) | (Transcode::Auto, None) => Ok(None),
        (_, Some(tools)) => Ok(Some(tools)),
        (Transcode::On, None) => {
            elog!("--transcode on needs ffmpeg and ffprobe on PATH (apt-get install ffmpeg)");
            Err(ExitCode::from(2))
        }
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|error| {
        elog!("cannot start the async runtime: {error}");
        ExitCode::FAILURE
    })
}

/// A bound listener and the media set-up, before the app state exists.
pub struct Started {
    pub listener: TcpListener,
    /// `http://HOST:PORT` as bound.
    pub bound_url: String,
    pub media: Option<Media>,
    /// Absolute.
    pub player_dir: PathBuf,
}

/// Binds `listen`, opens the data directory when transcoding, and says what it found (`items`
/// names what becomes ready without media: "videos", "assets").
pub async fn start(
    listen: &str,
    tools: Option<Tools>,
    data_dir: Option<&Path>,
    player_dir: Option<&Path>,
    items: &str,
) -> Result<Started, ExitCode> {
    let listener = TcpListener::bind(listen).await.map_err(|error| {
        elog!("cannot listen on {listen}: {error}");
        ExitCode::FAILURE
    })?;
    let bound_url = match listener.local_addr() {
        Ok(address) => format!("http://{address}"),
        Err(error) => {
            elog!("cannot read the bound address: {error}");
            return Err(ExitCode::FAILURE);
        }
    };
    let media = tools.map(|tools| Media::open(data_dir, tools)).transpose().map_err(|error| {
        elog!("cannot create the data directory: {error}");
        ExitCode::FAILURE
    })?;
    let player_dir = player_dir.map_or_else(|| PathBuf::from(DEFAULT_PLAYER_DIR), Path::to_path_buf);
    let player_dir = std::path::absolute(&player_dir).unwrap_or(player_dir);
    match &media {
        Some(media) => elog!("transcoding with {} into {}", media.tools().ffmpeg.display(), media.root().display()),
        None => elog!("transcoding off: {items} become ready without media"),
    }
    if media.is_some() && !player_dir.join("hls.min.js").is_file() {
        elog!(
            "hls.js not found in {}: watch pages cannot play (npm ci --prefix devtools/player)",
            player_dir.display()
        );
    }
    Ok(Started { listener, bound_url, media, player_dir })
}

/// A binary's `run`: [`start`]s (`items` as there), builds the app state from the public base URL, the media set-up
/// and the player directory, then [`serve`]s `router` with it. Requests no route takes are
/// logged and answered with `no_route()`.
pub async fn launch<S: Send + Sync + 'static>(
    serving: &Serving,
    items: &str,
    tools: Option<Tools>,
    build: impl FnOnce(String, Option<Media>, PathBuf) -> reqwest::Result<S>,
    router: Router<Arc<S>>,
    no_route: fn() -> Reply,
) -> ExitCode {
    let (data_dir, player_dir) = (serving.data_dir.as_deref(), serving.player_dir.as_deref());
    let started = match start(&serving.listen, tools, data_dir, player_dir, items).await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let public_base_url = serving.public_base_url.clone().unwrap_or_else(|| started.bound_url.clone());
    let app = match build(public_base_url, started.media, started.player_dir) {
        Ok(app) => Arc::new(app),
        Err(error) => {
            elog!("cannot build the HTTP client: {error}");
            return ExitCode::FAILURE;
        }
    };
    let router = router
        .fallback(move |request: Request| async move {
            elog!("{} {} -> 404", request.method(), crate::log::redact_path(request.uri().path()));
            no_route().into_response()
        })
        .with_state(app);
    serve(started.listener, router, &started.bound_url).await
}

/// Prints `{program} listening on {bound_url}` (the one stdout line, which tests and scripts
/// parse), then serves until SIGTERM or Ctrl-C.
pub async fn serve(listener: TcpListener, router: Router, bound_url: &str) -> ExitCode {
    let shutdown = server::shutdown_signal();
    println!("{} listening on {bound_url}", crate::log::program());
    if let Err(error) = std::io::stdout().flush() {
        elog!("cannot write to stdout: {error}");
        return ExitCode::FAILURE;
    }
    server::serve(listener, router, shutdown).await;
    elog!("shutting down");
    ExitCode::SUCCESS
}
