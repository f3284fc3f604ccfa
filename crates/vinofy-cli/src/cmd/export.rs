//! `vinofy export`: every record as a JSON line: the starting point for a migration.

use std::process::ExitCode;

use vinofy_core::domain::record::RecordFilter;

use crate::cli::ExportArgs;
use crate::error::CliError;
use crate::output::{Output, plural, record_json};
use crate::settings;
use crate::walk::Walk;

pub async fn run(_args: ExportArgs, out: &Output) -> Result<ExitCode, CliError> {
    let table_name = settings::videos_table()?;
    let store = settings::store(&table_name).await;
    let mut walk = Walk::new(&store, RecordFilter::default());
    let (mut exported, mut unreadable) = (0u64, 0u64);
    while let Some(records) = walk.next_page().await? {
        for record in records {
            match record {
                // A record serialises without its claim token.
                Ok(record) => {
                    out.json_line(&record_json(&record))?;
                    exported += 1;
                }
                Err(e) => {
                    eprintln!("vinofy: {e}");
                    unreadable += 1;
                }
            }
        }
    }
    eprintln!("vinofy: exported {} from {table_name}", plural(exported, "record"));
    if unreadable > 0 {
        eprintln!("vinofy: {} could not be read", plural(unreadable, "item"));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
