//! The report as one self-contained page: inline stylesheet, charts as inline
//! SVG, no JavaScript, printable. Every value goes through handlebars' HTML escaping.

use std::sync::LazyLock;

use base64::Engine;
use handlebars::{Handlebars, handlebars_helper};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Report;

const TEMPLATE: &str = include_str!("report.hbs");
const STYLE: &str = include_str!("report.css");

/// The Content-Security-Policy that lets the page's own stylesheet, and nothing else, apply.
pub fn html_csp() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

static REGISTRY: LazyLock<Result<Handlebars<'static>, String>> = LazyLock::new(|| {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    handlebars_helper!(percent: |share: f64| format!("{:.0}%", share * 100.0));
    registry.register_helper("percent", Box::new(percent));
    registry.register_template_string("report", TEMPLATE).map_err(|e| e.to_string())?;
    Ok(registry)
});

const CHART_WIDTH: f64 = 640.0;
const CHART_HEIGHT: f64 = 160.0;

#[derive(Serialize)]
struct Bar {
    x: String,
    y: String,
    width: String,
    height: String,
    title: String,
}

#[derive(Serialize)]
struct Chart {
    width: f64,
    /// The bars' area; the labels go below it.
    height: f64,
    /// The whole drawing, labels included.
    full_height: f64,
    label: String,
    bars: Vec<Bar>,
    /// The first and last week, under the bars' ends, and the top of the scale.
    first: String,
    last: String,
    top: String,
}

/// Bars of `values` (label, value, title) scaled to `max`.
fn chart(label: String, values: &[(String, String, f64)], max: f64, top: String) -> Chart {
    let step = CHART_WIDTH / values.len().max(1) as f64;
    let bars = values
        .iter()
        .enumerate()
        .map(|(i, (_, title, value))| {
            let height = if max > 0.0 { value / max * (CHART_HEIGHT - 20.0) } else { 0.0 };
            Bar {
                x: format!("{:.1}", i as f64 * step + step * 0.1),
                y: format!("{:.1}", CHART_HEIGHT - height),
                width: format!("{:.1}", step * 0.8),
                height: format!("{height:.1}"),
                title: title.clone(),
            }
        })
        .collect();
    let week = |v: Option<&(String, String, f64)>| v.map(|(week, _, _)| week.clone()).unwrap_or_default();
    Chart {
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
        full_height: CHART_HEIGHT + 20.0,
        label,
        bars,
        first: week(values.first()),
        last: if values.len() > 1 { week(values.last()) } else { String::new() },
        top,
    }
}

#[derive(Serialize)]
struct Page<'a> {
    report: &'a Report,
    style: &'static str,
    share: Chart,
    mailboxes: Vec<MailboxPage<'a>>,
}

#[derive(Serialize)]
struct MailboxPage<'a> {
    mailbox: &'a super::MailboxReport,
    chart: Chart,
    /// How long it has been quiet, in words.
    quiet: String,
    /// Whether it looks safe to switch off, in words.
    verdict: String,
}

fn quiet(mailbox: &super::MailboxReport) -> String {
    match mailbox.quiet_days {
        Some(1) => "1 day".into(),
        Some(days) => format!("{days} days"),
        None => "not read yet".into(),
    }
}

fn verdict(mailbox: &super::MailboxReport, threshold: u32) -> String {
    if mailbox.desk {
        "No: this is the desk's own address".into()
    } else if mailbox.safe_to_switch_off {
        format!("Looks safe to switch off: no request from a person for {threshold} days or more")
    } else {
        format!("Not yet: it is safe after {threshold} days without a request from a person")
    }
}

/// The page, or why the template could not be rendered.
pub fn html(report: &Report) -> Result<String, String> {
    let registry = REGISTRY.as_ref().map_err(Clone::clone)?;
    let shares: Vec<(String, String, f64)> = report
        .weeks
        .iter()
        .map(|w| {
            let percent = w.desk_share * 100.0;
            (w.week.clone(), format!("{}: {percent:.0}% ({} of {})", w.week, w.desk_requests, w.requests), percent)
        })
        .collect();
    let label = "Share of requests sent to the desk's address, per week".into();
    let share = chart(label, &shares, 100.0, "100%".into());
    let max = report.mailboxes.iter().flat_map(|m| m.weeks.iter().map(|w| w.requests)).max().unwrap_or(0) as f64;
    let mailboxes = report
        .mailboxes
        .iter()
        .map(|mailbox| {
            let values: Vec<(String, String, f64)> = mailbox
                .weeks
                .iter()
                .map(|w| (w.week.clone(), format!("{}: {} requests", w.week, w.requests), w.requests as f64))
                .collect();
            let label = format!("Requests per week to {}", mailbox.address);
            let chart = chart(label, &values, max, format!("{max} a week"));
            let (quiet, verdict) = (quiet(mailbox), verdict(mailbox, report.safe_after_quiet_days));
            MailboxPage { mailbox, chart, quiet, verdict }
        })
        .collect();
    let page = Page { report, style: STYLE, share, mailboxes };
    registry.render("report", &page).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::super::{DeskWeek, MailboxReport, MailboxWeek, Report, Sender};
    use super::*;

    #[test]
    fn every_value_on_the_page_is_escaped_and_the_policy_admits_only_its_own_stylesheet() {
        let hostile = "<script>alert(1)</script>";
        let week = MailboxWeek { week: "2026-W48".into(), requests: 3, automatic: 0, rerouted: 0 };
        let report = Report {
            since: None,
            until: None,
            mailboxes: vec![MailboxReport {
                name: hostile.into(),
                address: format!("\"{hostile}\"@example.org"),
                department: Some(hostile.into()),
                desk: false,
                channel: super::super::Channel::Mail,
                requests: 3,
                automatic: 0,
                rerouted: 0,
                senders: 1,
                last_request_at: Some(hostile.into()),
                top_senders: vec![Sender { address: hostile.into(), requests: 3, last_request_at: hostile.into() }],
                weeks: vec![week],
                quiet_days: Some(31),
                safe_to_switch_off: true,
            }],
            weeks: vec![DeskWeek {
                week: hostile.into(),
                requests: 3,
                desk_requests: 0,
                desk_share: 0.0,
                form_requests: 0,
                form_share: 0.0,
            }],
            quiet_as_of: hostile.into(),
            safe_after_quiet_days: 30,
        };
        let page = html(&report).unwrap();
        assert!(!page.contains("<script"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
        assert!(page.contains("<svg"), "{page}");
        assert!(page.contains("31 days") && page.contains("Looks safe to switch off"), "{page}");
        let style = page.split_once("<style>").and_then(|(_, rest)| rest.split_once("</style>")).unwrap().0;
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style.as_bytes()));
        assert!(html_csp().contains(&format!("style-src 'sha256-{hash}'")));
    }
}
