//! `vinofy list`: what the table knows, one line per record.

use std::process::ExitCode;

use aws_sdk_dynamodb::types::AttributeValue;
use vinofy_ingest::adapters::dynamodb::attr;

use crate::cli::ListArgs;
use crate::error::CliError;
use crate::item::{get_s, to_json};
use crate::output::{Output, plural};
use crate::settings;
use crate::table::Scan;

pub async fn run(args: ListArgs, out: &Output) -> Result<ExitCode, CliError> {
    let table_name = settings::videos_table()?;
    let store = settings::store(&table_name).await;
    let mut scan = Scan::new(store.client().clone(), &table_name);
    if let Some(status) = args.status {
        scan = scan.filter(
            "#status = :status",
            &[attr::STATUS],
            &[(":status", AttributeValue::S(status.as_str().to_owned()))],
        );
    }
    let limit = args.limit.unwrap_or(u64::MAX);
    if !out.json {
        out.line(&format!("{:<9}  {:<32}  {}  {}", "STATUS", "VIDEO_UID", "SOURCE", "HLS_URL"))?;
    }
    let mut shown = 0u64;
    'pages: while let Some(items) = scan.next_page().await? {
        for item in &items {
            if shown == limit {
                break 'pages;
            }
            shown += 1;
            if out.json {
                out.json_line(&to_json(item))?;
            } else {
                out.line(&format!(
                    "{:<9}  {:<32}  {}  {}",
                    get_s(item, attr::STATUS).unwrap_or("?"),
                    get_s(item, attr::VIDEO_UID).unwrap_or("-"),
                    get_s(item, attr::SOURCE).unwrap_or("?"),
                    get_s(item, attr::HLS_URL).unwrap_or("-"),
                ))?;
            }
        }
    }
    if !out.json {
        let more = if shown == limit { " (--limit reached)" } else { "" };
        out.line(&format!("{}{more}", plural(shown, "record")))?;
    }
    Ok(ExitCode::SUCCESS)
}
