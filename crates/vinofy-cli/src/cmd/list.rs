//! `vinofy list`: what the table knows, one line per record.

use std::process::ExitCode;

use vinofy_core::domain::record::RecordFilter;

use crate::cli::ListArgs;
use crate::error::CliError;
use crate::output::{Output, plural, record_json};
use crate::settings;
use crate::walk::Walk;

pub async fn run(args: ListArgs, out: &Output) -> Result<ExitCode, CliError> {
    let table_name = settings::videos_table()?;
    let store = settings::store(&table_name).await;
    let filter = RecordFilter { statuses: args.status.into_iter().collect(), ..RecordFilter::default() };
    let mut walk = Walk::new(&store, filter);
    let limit = args.limit.unwrap_or(u64::MAX);
    if !out.json {
        out.line(&format!("{:<9}  {:<32}  {}  {}", "STATUS", "VIDEO_UID", "SOURCE", "HLS_URL"))?;
    }
    let (mut shown, mut unreadable) = (0u64, 0u64);
    'pages: while let Some(records) = walk.next_page().await? {
        for record in records {
            if shown == limit {
                break 'pages;
            }
            shown += 1;
            let record = match record {
                Ok(record) => record,
                Err(e) => {
                    eprintln!("vinofy: {e}");
                    unreadable += 1;
                    continue;
                }
            };
            if out.json {
                out.json_line(&record_json(&record))?;
            } else {
                out.line(&format!(
                    "{:<9}  {:<32}  {}  {}",
                    record.status.as_str(),
                    record.video_uid.as_ref().map_or("-", |uid| uid.as_str()),
                    record.source,
                    record.hls_url.as_deref().unwrap_or("-"),
                ))?;
            }
        }
    }
    if !out.json {
        let more = if shown == limit { " (--limit reached)" } else { "" };
        out.line(&format!("{}{more}", plural(shown, "record")))?;
    }
    Ok(if unreadable > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
