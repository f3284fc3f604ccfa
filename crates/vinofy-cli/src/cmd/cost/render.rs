//! How `vinofy cost` shows its estimate: a table and a bar chart in the terminal, or an HTML page
//! with an inline SVG chart.

use super::Report;
use super::estimate::{Bill, Delivery, LineItem, MONTHLY_ROWS, ONE_OFF_ROWS};

/// `1,234.5`, `0.021`, `12`: thousands separated, at most 3 decimals, no trailing zeros.
pub fn number(v: f64) -> String {
    let text = format!("{:.3}", v.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let frac = frac.trim_end_matches('0');
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') { "-" } else { "" };
    if frac.is_empty() { format!("{sign}{grouped}") } else { format!("{sign}{grouped}.{frac}") }
}

/// `$1,234.56`; an amount above zero that rounds to nothing reads `<$0.01`.
pub fn money(usd: f64) -> String {
    if usd > 0.0 && usd < 0.005 {
        return "<$0.01".into();
    }
    let cents = format!("{:.2}", usd);
    let (int, frac) = cents.split_once('.').unwrap_or((&cents, "00"));
    let int: f64 = int.parse().unwrap_or(0.0);
    format!("${}.{frac}", number(int))
}

/// `12.3 GB`, `512 MB`.
fn size(bytes: f64) -> String {
    let gb = bytes / super::estimate::GB;
    if gb >= 1.0 {
        format!("{} GB", number((gb * 10.0).round() / 10.0))
    } else {
        format!("{} MB", number((bytes / 1_048_576.0).round()))
    }
}

fn minutes(m: f64) -> String {
    number((m * 10.0).round() / 10.0)
}

/// The lines above the table: what was counted and on what basis.
pub fn summary_lines(report: &Report) -> Vec<String> {
    let lib = &report.library;
    let mut lines = vec![format!(
        "vinofy cost: table {}, prices {} ({}, {} of {} figures unconfirmed)",
        report.table,
        report.prices.version,
        report.prices.origin,
        report.prices.unconfirmed_count(),
        report.prices.figures.len()
    )];
    let statuses: Vec<String> = lib.by_status.iter().map(|(s, n)| format!("{s} {}", number(*n as f64))).collect();
    let statuses = if statuses.is_empty() { String::new() } else { format!(" ({})", statuses.join(", ")) };
    lines.push(format!(
        "library: {} live videos{statuses}, {} minutes stored, {} of sources",
        number(lib.live.videos as f64),
        minutes(lib.live.minutes()),
        size(lib.live.source_bytes as f64)
    ));
    for (provider, slice) in &lib.by_provider {
        lines.push(format!(
            "  at {provider}: {} videos, {} min, {}",
            number(slice.videos as f64),
            minutes(slice.minutes()),
            size(slice.source_bytes as f64)
        ));
    }
    if !lib.not_counted.is_empty() {
        let parts: Vec<String> = lib.not_counted.iter().map(|(s, n)| format!("{} {s}", number(*n as f64))).collect();
        lines.push(format!("  not counted (not ready or submitted): {}", parts.join(", ")));
    }
    if lib.live.without_duration > 0 {
        lines.push(format!(
            "  {} without a known duration: counted as 0 minutes, so storage and delivery are underestimated",
            plural_videos(lib.live.without_duration)
        ));
    }
    if lib.live.without_size > 0 {
        lines.push(format!("  {} without a known size: counted as 0 bytes", plural_videos(lib.live.without_size)));
    }
    let usage = &report.usage;
    let delivered = number(usage.delivered_minutes_per_month.round());
    lines.push(match usage.delivery {
        Delivery::Unspecified => {
            "delivery: 0 minutes a month (give --delivered-minutes N or --views-per-video N)".to_owned()
        }
        Delivery::DeliveredMinutes => format!("delivery: {delivered} minutes a month (--delivered-minutes)"),
        Delivery::ViewsPerVideo { views_per_video } => format!(
            "delivery: {delivered} minutes a month ({} views per video, each watching the whole video, × {} minutes)",
            number(views_per_video),
            minutes(lib.live.minutes())
        ),
    });
    lines.push(if usage.new_videos_per_month == 0 {
        "new uploads: none (give --new-videos-per-month N)".to_owned()
    } else {
        format!(
            "new uploads: {} videos a month ≈ {} min, {} (the library's averages)",
            number(usage.new_videos_per_month as f64),
            minutes(usage.new_minutes_per_month),
            size(usage.new_source_bytes_per_month)
        )
    });
    lines
}

fn plural_videos(n: u64) -> String {
    if n == 1 { "1 video".into() } else { format!("{} videos", number(n as f64)) }
}

fn cell(item: &LineItem) -> String {
    format!("{}{}", money(item.usd), if item.unconfirmed { "*" } else { " " })
}

/// The table: one column per alternative, a row per line item, the totals.
pub fn table(report: &Report) -> Vec<String> {
    let bills = &report.bills;
    let label_width = MONTHLY_ROWS.iter().chain(ONE_OFF_ROWS).map(|(_, l)| l.chars().count()).max().unwrap_or(0) + 2;
    let col = bills.iter().map(|b| b.name.chars().count()).max().unwrap_or(0).max(12) + 2;
    let row = |label: &str, cells: Vec<String>| {
        let mut line = format!("{label:<label_width$}");
        for c in cells {
            line.push_str(&format!("{c:>col$}"));
        }
        line.trim_end().to_owned()
    };
    let items = |rows: &[(&str, &str)], pick: fn(&Bill) -> &Vec<LineItem>| -> Vec<String> {
        rows.iter()
            .map(|(id, label)| {
                let cells = bills
                    .iter()
                    .map(|b| pick(b).iter().find(|i| i.id == *id).map_or_else(|| "-".into(), cell))
                    .collect();
                row(&format!("  {label}"), cells)
            })
            .collect()
    };
    let totals =
        |label: &str, f: fn(&Bill) -> f64| row(label, bills.iter().map(|b| format!("{} ", money(f(b)))).collect());
    let mut lines = vec![row("", bills.iter().map(|b| format!("{} ", b.name)).collect())];
    lines.push("Monthly".into());
    lines.extend(items(MONTHLY_ROWS, |b| &b.monthly));
    lines.push(totals("Monthly total", |b| b.monthly_total));
    lines.push(row(
        "One-off: move the library there",
        bills.iter().map(|b| format!("{} videos ", number(b.one_off_videos as f64))).collect(),
    ));
    lines.extend(items(ONE_OFF_ROWS, |b| &b.one_off));
    lines.push(totals("One-off total", |b| b.one_off_total));
    lines.push(totals("First 12 months", |b| b.first_year_total));
    lines
}

/// A horizontal bar per alternative (monthly totals), in Unicode blocks; ANSI colour only when asked.
pub fn bars(bills: &[Bill], width: usize, colour: bool) -> Vec<String> {
    const EIGHTHS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    const COLOURS: [&str; 3] = ["\x1b[33m", "\x1b[35m", "\x1b[36m"];
    let max = bills.iter().map(|b| b.monthly_total).fold(0.0, f64::max);
    let name_width = bills.iter().map(|b| b.name.chars().count()).max().unwrap_or(0);
    let mut lines = vec!["Monthly total".to_owned()];
    for (i, bill) in bills.iter().enumerate() {
        let eighths = if max > 0.0 { (bill.monthly_total / max * (width * 8) as f64).round() as usize } else { 0 };
        let mut bar = "█".repeat(eighths / 8);
        bar.push_str(EIGHTHS[eighths % 8]);
        if bar.is_empty() && bill.monthly_total > 0.0 {
            bar.push('▏');
        }
        let bar = if colour { format!("{}{bar}\x1b[0m", COLOURS[i % COLOURS.len()]) } else { bar };
        lines.push(format!("  {:<name_width$}  {bar} {}", bill.name, money(bill.monthly_total)));
    }
    lines
}

pub fn notes(report: &Report) -> Vec<String> {
    let mut notes = vec![
        "* rests on an UNCONFIRMED price or on an assumption (prices.toml: confirmed = false); `--json` shows every figure and its source.".to_owned(),
        "One-off: what bringing the current library to that alternative costs (its videos not there yet); paid once.".to_owned(),
        "S3 egress is the design's drawback of Stream and Mux: they fetch each source from S3 over the internet; the monthly free 100 GB is assumed unused by anything else. MediaConvert reads S3 in-region, free.".to_owned(),
        "Not modelled: volume tiers past the first price band, Mux plans' credits and its free plan's 10-video cap, Lambda's and DynamoDB's free tiers, the api function's playback reads.".to_owned(),
    ];
    if report.library.live.without_duration > 0 {
        notes.push(format!(
            "{} without a known duration count as 0 minutes (run `vinofy reconcile` to fill in durations).",
            plural_videos(report.library.live.without_duration)
        ));
    }
    notes
}

/// The whole terminal report.
pub fn terminal(report: &Report, colour: bool) -> String {
    let mut lines = summary_lines(report);
    lines.push(String::new());
    lines.extend(table(report));
    lines.push(String::new());
    lines.extend(bars(&report.bills, 40, colour));
    lines.push(String::new());
    lines.extend(notes(report).into_iter().map(|n| format!("note: {n}")));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// An inline SVG bar chart of the monthly totals.
pub fn svg(bills: &[Bill]) -> String {
    const COLOURS: [&str; 3] = ["#f38020", "#fa50b5", "#2a7ab9"];
    let (label_w, bar_w, row_h) = (150.0, 420.0, 34.0);
    let height = row_h * bills.len() as f64 + 40.0;
    let max = bills.iter().map(|b| b.monthly_total).fold(0.0, f64::max);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"Monthly total per alternative\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\" font-family=\"sans-serif\" font-size=\"13\">\n<title>Monthly total per alternative</title>\n<text x=\"0\" y=\"16\" font-weight=\"bold\">Monthly total</text>\n",
        label_w + bar_w + 110.0,
        label_w + bar_w + 110.0
    );
    for (i, bill) in bills.iter().enumerate() {
        let y = 30.0 + i as f64 * row_h;
        let w = if max > 0.0 { bill.monthly_total / max * bar_w } else { 0.0 };
        svg.push_str(&format!(
            "<g class=\"bar\" data-alternative=\"{}\"><text x=\"0\" y=\"{}\">{}</text><rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"><title>{}: {}</title></rect><text x=\"{:.1}\" y=\"{}\">{}</text></g>\n",
            bill.id,
            y + 17.0,
            esc(bill.name),
            row_h - 10.0,
            COLOURS[i % COLOURS.len()],
            esc(bill.name),
            money(bill.monthly_total),
            label_w + w + 6.0,
            y + 17.0,
            money(bill.monthly_total)
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// A self-contained HTML page: the summary, the table (with each line's arithmetic), the chart, the prices.
pub fn html(report: &Report) -> String {
    let mut page = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>vinofy cost</title>\n<style>\nbody{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}td.usd,th.usd{text-align:right;white-space:nowrap}tr.total td{font-weight:bold;background:#f4f4f4}tr.section td{background:#e8eef8;font-weight:bold}.u{color:#b00}small{color:#666}\n</style>\n</head>\n<body>\n<h1>vinofy cost</h1>\n",
    );
    page.push_str("<ul>\n");
    for line in summary_lines(report) {
        page.push_str(&format!("<li>{}</li>\n", esc(line.trim())));
    }
    page.push_str("</ul>\n<table>\n<tr><th></th>");
    for bill in &report.bills {
        page.push_str(&format!("<th class=\"usd\">{}</th>", esc(bill.name)));
    }
    page.push_str("</tr>\n");
    let bills = &report.bills;
    let section = |page: &mut String, title: &str| {
        page.push_str(&format!("<tr class=\"section\"><td colspan=\"{}\">{}</td></tr>\n", bills.len() + 1, esc(title)));
    };
    let rows = |page: &mut String, rows: &[(&str, &str)], pick: fn(&Bill) -> &Vec<LineItem>| {
        for (id, label) in rows {
            page.push_str(&format!("<tr><td>{}</td>", esc(label)));
            for bill in bills {
                let item = pick(bill).iter().find(|i| i.id == *id).expect("every bill has every row");
                page.push_str(&format!(
                    "<td class=\"usd\" title=\"{}\">{}{}<br><small>{}</small></td>",
                    esc(&item.detail),
                    money(item.usd),
                    if item.unconfirmed { "<span class=\"u\">*</span>" } else { "" },
                    esc(&item.detail)
                ));
            }
            page.push_str("</tr>\n");
        }
    };
    let total = |page: &mut String, label: &str, f: fn(&Bill) -> f64| {
        page.push_str(&format!("<tr class=\"total\"><td>{}</td>", esc(label)));
        for bill in bills {
            page.push_str(&format!("<td class=\"usd\">{}</td>", money(f(bill))));
        }
        page.push_str("</tr>\n");
    };
    section(&mut page, "Monthly");
    rows(&mut page, MONTHLY_ROWS, |b| &b.monthly);
    total(&mut page, "Monthly total", |b| b.monthly_total);
    section(&mut page, "One-off: move the library there (its videos not there yet)");
    rows(&mut page, ONE_OFF_ROWS, |b| &b.one_off);
    total(&mut page, "One-off total", |b| b.one_off_total);
    total(&mut page, "First 12 months", |b| b.first_year_total);
    page.push_str("</table>\n");
    page.push_str(&svg(bills));
    page.push_str("\n<h2>Notes</h2>\n<ul>\n");
    for note in notes(report) {
        page.push_str(&format!("<li>{}</li>\n", esc(&note)));
    }
    page.push_str(&format!(
        "</ul>\n<h2>Prices</h2>\n<p>{} {} ({}). <span class=\"u\">Unconfirmed</span> figures are marked.</p>\n<table>\n<tr><th>figure</th><th class=\"usd\">value</th><th>unit</th><th>source</th><th>as of</th></tr>\n",
        esc(&report.prices.currency),
        esc(&report.prices.version),
        esc(&report.prices.origin)
    ));
    for (key, f) in &report.prices.figures {
        page.push_str(&format!(
            "<tr{}><td>{}</td><td class=\"usd\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            if f.confirmed { "" } else { " class=\"u\"" },
            esc(key),
            f.value,
            esc(&f.unit),
            esc(&f.source),
            esc(&f.as_of)
        ));
    }
    page.push_str("</table>\n</body>\n</html>\n");
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_money_read_naturally() {
        assert_eq!(number(1234567.0), "1,234,567");
        assert_eq!(number(1000.5), "1,000.5");
        assert_eq!(number(0.021), "0.021");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(999.9999), "1,000");
        assert_eq!(money(1234.567), "$1,234.57");
        assert_eq!(money(0.0), "$0.00");
        assert_eq!(money(0.004), "<$0.01");
        assert_eq!(money(5.0), "$5.00");
    }

    #[test]
    fn bars_scale_to_the_largest_total_and_colour_only_when_asked() {
        let bill = |name: &'static str, total: f64| Bill {
            id: "x",
            name,
            monthly: vec![],
            monthly_total: total,
            one_off_videos: 0,
            one_off: vec![],
            one_off_total: 0.0,
            first_year_total: 0.0,
        };
        let bills = [bill("A", 100.0), bill("Bb", 50.0), bill("C", 0.001)];
        let lines = bars(&bills, 10, false);
        assert_eq!(lines[1], "  A   ██████████ $100.00");
        assert_eq!(lines[2], "  Bb  █████ $50.00");
        assert_eq!(lines[3], "  C   ▏ <$0.01");
        assert!(!lines.concat().contains('\x1b'));
        assert!(bars(&bills, 10, true)[1].contains("\x1b[33m"));
    }
}
