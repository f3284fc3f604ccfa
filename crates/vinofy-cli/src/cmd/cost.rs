//! `vinofy cost`: the monthly bill of the library in the table, for each of the design's
//! alternatives (Cloudflare Stream, Mux, AWS-only), with the shared pipeline's costs.

mod estimate;
mod prices;
mod render;

use std::io::IsTerminal;
use std::process::ExitCode;

use serde::Serialize;
use vinofy_core::domain::record::RecordFilter;

use crate::cli::CostArgs;
use crate::error::CliError;
use crate::output::Output;
use crate::settings;
use crate::walk::Walk;

use estimate::{Bill, Library, Usage};
use prices::Prices;

/// Everything the outputs show.
#[derive(Debug, Serialize)]
pub struct Report {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub table: String,
    pub library: Library,
    pub usage: Usage,
    #[serde(rename = "alternatives")]
    pub bills: Vec<Bill>,
    pub notes: Vec<String>,
    pub prices: Prices,
}

/// Reads and merges the prices file (exit 2, naming the file and the key, when it cannot be used).
fn load_prices(args: &CostArgs) -> Result<Prices, CliError> {
    let Some(path) = &args.prices else {
        return Ok(Prices::built_in());
    };
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("--prices {name}: cannot read the prices file: {e}")))?;
    prices::load(Some((&name, &text))).map_err(|e| CliError::Usage(format!("--prices: {e}")))
}

pub async fn run(args: CostArgs, out: &Output) -> Result<ExitCode, CliError> {
    // The prices first: a bad file is a usage error before any AWS call.
    let prices = load_prices(&args)?;
    let table = settings::videos_table()?;
    let store = settings::store(&table).await;
    let mut walk = Walk::new(&store, RecordFilter::default());
    let mut library = Library::default();
    let mut unreadable = 0u64;
    while let Some(records) = walk.next_page().await? {
        for record in records {
            match record {
                Ok(r) => library.add(r.status, r.provider, r.duration, r.size),
                Err(e) => {
                    out.note(&format!("vinofy: {e}"));
                    unreadable += 1;
                }
            }
        }
    }
    let usage = Usage::new(&library, args.delivered_minutes, args.views_per_video, args.new_videos_per_month);
    let bills = estimate::estimate(&library, &usage, &prices);
    let mut report = Report { kind: "cost", table, library, usage, bills, notes: Vec::new(), prices };
    report.notes = render::notes(&report);

    if let Some(path) = &args.html {
        std::fs::write(path, render::html(&report))
            .map_err(|e| CliError::Fatal(format!("--html {}: cannot write the report: {e}", path.display())))?;
        out.note(&format!("vinofy: wrote the cost report to {}", path.display()));
    }
    if out.json {
        out.json_line(&report)?;
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        out.line(render::terminal(&report, colour).trim_end())?;
    }
    if unreadable > 0 {
        out.note(&format!("vinofy: {unreadable} item(s) could not be read and are not counted"));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
