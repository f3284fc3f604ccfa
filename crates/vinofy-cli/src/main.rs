//! `vinofy`: the operator CLI of Vinofy video ingest. It shares the function's library
//! (`vinofy_ingest`): the same configuration, the same clients, the same ingest use case.

mod batch;
mod cli;
mod cmd;
mod error;
mod interrupt;
mod outcome;
mod output;
mod ratelimit;
mod settings;
mod walk;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::output::Output;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vinofy: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = Output::new(cli.json);
    let result = runtime.block_on(async {
        match cli.command {
            Command::Backfill(args) => cmd::backfill::run(args, &out).await,
            Command::Reconcile(args) => cmd::reconcile::run(args, &out).await,
            Command::Status(args) => cmd::status::run(args, &out).await,
            Command::List(args) => cmd::list::run(args, &out).await,
            Command::Export(args) => cmd::export::run(args, &out).await,
            Command::Migrate(args) => cmd::migrate::run(args, &out).await,
            Command::Cost(args) => cmd::cost::run(args, &out).await,
            Command::Redrive(args) => cmd::redrive::run(args, &out).await,
            Command::SigningKey(cli::SigningKeyCommand::Create(args)) => cmd::signing_key::run(args, &out).await,
            Command::Webhook(cli::WebhookCommand::Register(args)) => cmd::webhook::run(args, &out).await,
            Command::Doctor(args) => cmd::doctor::run(args, &out).await,
        }
    });
    out.finish_progress();
    match result {
        Ok(code) => code,
        Err(e) => {
            if let Some(message) = e.message() {
                eprintln!("vinofy: {message}");
            }
            e.exit_code()
        }
    }
}

/// The library logs its decisions with `tracing`; shown on stderr with -v (or RUST_LOG).
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match (verbose, std::env::var("RUST_LOG")) {
        (0, Ok(spec)) if !spec.trim().is_empty() => EnvFilter::new(spec),
        (0, _) => return,
        (1, _) => EnvFilter::new("vinofy_ingest=info"),
        _ => EnvFilter::new("vinofy_ingest=debug,info"),
    };
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
