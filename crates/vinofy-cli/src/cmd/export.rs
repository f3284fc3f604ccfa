//! `vinofy export`: every record as a JSON line: the starting point for a migration.

use std::process::ExitCode;

use crate::cli::ExportArgs;
use crate::error::CliError;
use crate::item::to_json;
use crate::output::{Output, plural};
use crate::settings;
use crate::table::Scan;

pub async fn run(_args: ExportArgs, out: &Output) -> Result<ExitCode, CliError> {
    let table_name = settings::videos_table()?;
    let store = settings::store(&table_name).await;
    let mut scan = Scan::new(store.client().clone(), &table_name);
    let mut exported = 0u64;
    while let Some(items) = scan.next_page().await? {
        for item in &items {
            // `to_json` leaves out the claim token.
            out.json_line(&to_json(item))?;
            exported += 1;
        }
    }
    eprintln!("vinofy: exported {} from {table_name}", plural(exported, "record"));
    Ok(ExitCode::SUCCESS)
}
