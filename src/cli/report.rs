//! `loket report`: who still uses which old address, week by week.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::config::Config;
use crate::store::ReportWindow;
use crate::web::report;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Only requests from this day on (YYYY-MM-DD, UTC).
    #[arg(long, value_parser = parse_day)]
    since: Option<i64>,
    /// Only requests up to and including this day (YYYY-MM-DD, UTC).
    #[arg(long, value_parser = parse_day)]
    until: Option<i64>,
    /// The whole report as one JSON document.
    #[arg(long, conflicts_with_all = ["csv", "html"])]
    json: bool,
    /// The weekly series as CSV.
    #[arg(long, conflicts_with = "html")]
    csv: bool,
    /// Write the report as one self-contained HTML page to this file.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

const DAY_MS: i64 = 86_400_000;

/// Midnight UTC at the start of the day, in milliseconds.
fn parse_day(text: &str) -> Result<i64, String> {
    let day =
        chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| format!("`{text}`: a day like 2026-11-30"))?;
    day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()).ok_or_else(|| format!("`{text}`: not a day"))
}

pub async fn run(args: ReportArgs, config: &Config) -> Result<()> {
    let since_ms = args.since.unwrap_or(i64::MIN);
    let until_ms = args.until.map_or(i64::MAX, |day| day + DAY_MS);
    anyhow::ensure!(since_ms < until_ms, "--until must not be before --since");
    let store = crate::app::open_store(&config.store)
        .await
        .with_context(|| format!("opening the store {}", config.store.url))?;
    let report = report::build(
        &store,
        &crate::config::Directory::of(config),
        &config.report,
        ReportWindow { since_ms, until_ms },
    )
    .await
    .context("reading the report")?;
    store.close().await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if args.csv {
        print!("{}", report.csv().context("writing the CSV")?);
    } else if let Some(path) = args.html {
        let page = report::html(&report).map_err(anyhow::Error::msg).context("rendering the page")?;
        std::fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
        println!("report written to {}", path.display());
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

/// The report for people at a terminal.
fn text(report: &report::Report) -> String {
    let mut out = String::new();
    if report.mailboxes.is_empty() {
        return "no mailboxes and no requests yet\n".into();
    }
    out.push_str(&format!(
        "{:<20} {:<10} {:>8} {:>9} {:>8} {:>7}  LAST REQUEST\n",
        "MAILBOX", "DEPT", "REQUESTS", "AUTOMATIC", "REROUTED", "PEOPLE"
    ));
    for m in &report.mailboxes {
        out.push_str(&format!(
            "{:<20} {:<10} {:>8} {:>9} {:>8} {:>7}  {}\n",
            super::terminal::inert(&m.name),
            super::terminal::inert(m.department.as_deref().unwrap_or("(desk)")),
            m.requests,
            m.automatic,
            m.rerouted,
            m.senders,
            m.last_request_at.as_deref().unwrap_or("-"),
        ));
        for sender in &m.top_senders {
            out.push_str(&format!(
                "    {:<40} {:>4}  {}\n",
                super::terminal::inert(&sender.address),
                sender.requests,
                sender.last_request_at
            ));
        }
    }
    out.push_str(&format!(
        "\nQUIET DAYS: without a request from a person, to {}; safe to switch off after {}\n",
        report.quiet_as_of, report.safe_after_quiet_days
    ));
    for m in &report.mailboxes {
        let days = m.quiet_days.map_or_else(|| "-".to_owned(), |d| d.to_string());
        let verdict = match (m.desk, m.safe_to_switch_off, m.quiet_days) {
            (true, _, _) => "the desk's own address",
            (false, true, _) => "looks safe to switch off",
            (false, false, None) => "not read yet",
            (false, false, Some(_)) => "not yet",
        };
        out.push_str(&format!("{:<20} {days:>5}  {verdict}\n", super::terminal::inert(&m.name)));
    }
    out.push_str("\nWEEK      REQUESTS  TO THE DESK  SHARE  WEB FORM\n");
    for week in &report.weeks {
        out.push_str(&format!(
            "{:<9} {:>8} {:>12} {:>5.0}% {:>9}\n",
            week.week,
            week.requests,
            week.desk_requests,
            week.desk_share * 100.0,
            week.form_requests
        ));
    }
    out
}
