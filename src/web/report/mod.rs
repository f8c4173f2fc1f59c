//! The counters' report: per old mailbox and for the desk's own inbox, how many
//! requests came in week by week, from people or automatic, how many belonged to
//! another department, and who still writes there; and for the desk as a whole,
//! the share of people's requests that already come to the one address.
//! Weeks are ISO weeks in UTC.

mod html;
mod quiet;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::Serialize;

use crate::config::{Directory, FORM_CHANNEL, ReportConfig};
use crate::store::{DayCount, ReportWindow, SenderCount, Store, StoreError};

pub use html::{html, html_csp};

/// How many people each mailbox lists as its most frequent senders.
const TOP_SENDERS: usize = 5;

/// The whole report, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub since: Option<String>,
    pub until: Option<String>,
    pub mailboxes: Vec<MailboxReport>,
    /// The desk as a whole, week by week.
    pub weeks: Vec<DeskWeek>,
    /// Quiet days are counted up to this time: now, or the end of `until` if earlier.
    pub quiet_as_of: String,
    /// Days without a request from a person after which an old address looks
    /// safe to switch off (`report.quiet_days`).
    pub safe_after_quiet_days: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct MailboxReport {
    pub name: String,
    pub address: String,
    /// The department the old address belonged to; none for the desk's own inbox.
    pub department: Option<String>,
    /// True for the desk's own inbox (a mailbox without a department).
    pub desk: bool,
    /// How the requests came: by mail, or on the web form (`/new`).
    pub channel: Channel,
    /// Requests from people.
    pub requests: i64,
    pub automatic: i64,
    /// People's requests that belonged to another department: placed elsewhere by a
    /// rule or the model, or moved by staff.
    pub rerouted: i64,
    /// Distinct people.
    pub senders: usize,
    pub last_request_at: Option<String>,
    pub top_senders: Vec<Sender>,
    pub weeks: Vec<MailboxWeek>,
    /// Whole days since the last request from a person (whatever `since`), or
    /// since loket first read the mailbox when it never had one; none when
    /// loket has not read it yet.
    pub quiet_days: Option<i64>,
    /// Not the desk's own address, and quiet for at least `report.quiet_days`.
    pub safe_to_switch_off: bool,
}

/// How requests reach the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Mail,
    WebForm,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sender {
    pub address: String,
    pub requests: i64,
    pub last_request_at: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MailboxWeek {
    pub week: String,
    pub requests: i64,
    pub automatic: i64,
    pub rerouted: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeskWeek {
    pub week: String,
    /// People's requests through every mailbox.
    pub requests: i64,
    /// Of those, the ones sent to the desk's own address.
    pub desk_requests: i64,
    /// `desk_requests / requests`, 0 in a week without requests.
    pub desk_share: f64,
    /// Of those, the ones made on the web form.
    pub form_requests: i64,
    /// `form_requests / requests`, 0 in a week without requests.
    pub form_share: f64,
}

/// Reads the figures for `window` and lays them out per configured mailbox (and
/// any mailbox the store still names that the config no longer has).
pub async fn build(
    store: &Store,
    directory: &Directory,
    settings: &ReportConfig,
    window: ReportWindow,
) -> Result<Report, StoreError> {
    let days = store.report_days(window).await?;
    let senders = store.report_senders(window).await?;
    let as_of_ms = window.until_ms.min(crate::clock::now_ms());
    let quiet = store.report_quiet(as_of_ms).await?;
    let mut report = assemble(directory, window, &days, &senders);
    report.safe_after_quiet_days = settings.quiet_days;
    quiet::mark(&mut report.mailboxes, &quiet, as_of_ms, settings.quiet_days);
    report.quiet_as_of = time_text(as_of_ms);
    Ok(report)
}

fn assemble(directory: &Directory, window: ReportWindow, days: &[DayCount], senders: &[SenderCount]) -> Report {
    let weeks = week_span(window, days);
    let mut names: Vec<String> = directory.mailboxes.iter().map(|m| m.name.as_str().to_owned()).collect();
    let stored: BTreeSet<&str> = days.iter().map(|d| d.mailbox.as_str()).collect();
    names.extend(stored.into_iter().filter(|n| directory.mailbox(n).is_none()).map(str::to_owned));
    let mailboxes: Vec<MailboxReport> =
        names.iter().map(|name| mailbox_report(directory, name, &weeks, days, senders)).collect();
    let desk_weeks = weeks
        .iter()
        .enumerate()
        .map(|(i, week)| {
            let requests: i64 = mailboxes.iter().map(|m| m.weeks[i].requests).sum();
            let desk_requests: i64 = mailboxes.iter().filter(|m| m.desk).map(|m| m.weeks[i].requests).sum();
            let form_requests: i64 =
                mailboxes.iter().filter(|m| m.channel == Channel::WebForm).map(|m| m.weeks[i].requests).sum();
            let share = |part: i64| if requests > 0 { part as f64 / requests as f64 } else { 0.0 };
            DeskWeek {
                week: week.clone(),
                requests,
                desk_requests,
                desk_share: share(desk_requests),
                form_requests,
                form_share: share(form_requests),
            }
        })
        .collect();
    Report {
        since: (window.since_ms > i64::MIN).then(|| day_text(window.since_ms)),
        until: (window.until_ms < i64::MAX).then(|| day_text(window.until_ms - 1)),
        mailboxes,
        weeks: desk_weeks,
        quiet_as_of: String::new(),
        safe_after_quiet_days: 0,
    }
}

fn mailbox_report(
    directory: &Directory,
    name: &str,
    weeks: &[String],
    days: &[DayCount],
    senders: &[SenderCount],
) -> MailboxReport {
    let configured = directory.mailbox(name);
    let department = configured.and_then(|m| m.department.as_ref()).map(|d| d.as_str().to_owned());
    let mut by_week: BTreeMap<&str, MailboxWeek> = BTreeMap::new();
    for day in days.iter().filter(|d| d.mailbox == name) {
        let elsewhere = department.as_deref().is_some_and(|home| day.department != home);
        let entry = by_week.entry(weeks_of(day.day, weeks)).or_default();
        entry.requests += day.people;
        entry.automatic += day.automatic;
        entry.rerouted += if elsewhere { day.people } else { day.rerouted_by_staff };
    }
    let weeks: Vec<MailboxWeek> = weeks
        .iter()
        .map(|week| MailboxWeek { week: week.clone(), ..by_week.remove(week.as_str()).unwrap_or_default() })
        .collect();
    let people: Vec<&SenderCount> = senders.iter().filter(|s| s.mailbox == name).collect();
    let channel = if name == FORM_CHANNEL { Channel::WebForm } else { Channel::Mail };
    MailboxReport {
        name: name.to_owned(),
        address: match channel {
            Channel::WebForm => format!("{}/new", directory.desk.base_url),
            Channel::Mail => directory.mailbox_address(name),
        },
        desk: configured.is_some_and(|m| m.department.is_none()),
        channel,
        department,
        requests: weeks.iter().map(|w| w.requests).sum(),
        automatic: weeks.iter().map(|w| w.automatic).sum(),
        rerouted: weeks.iter().map(|w| w.rerouted).sum(),
        senders: people.len(),
        last_request_at: people.iter().map(|s| s.last_at).max().map(time_text),
        top_senders: people
            .iter()
            .take(TOP_SENDERS)
            .map(|s| Sender { address: s.address.clone(), requests: s.requests, last_request_at: time_text(s.last_at) })
            .collect(),
        weeks,
        quiet_days: None,
        safe_to_switch_off: false,
    }
}

/// The ISO week (`2026-W48`) a day since the epoch falls in.
fn iso_week(day: i64) -> String {
    let date = DateTime::<Utc>::from_timestamp(day * 86_400, 0).map_or(NaiveDate::MIN, |t| t.date_naive());
    let week = date.iso_week();
    format!("{}-W{:02}", week.year(), week.week())
}

/// The week label of `day`, as one of `weeks` (which holds every week with data).
fn weeks_of(day: i64, weeks: &[String]) -> &str {
    let label = iso_week(day);
    weeks.iter().find(|w| **w == label).map_or("", String::as_str)
}

/// Every week from the window's start (or the first request) to its end (or the last request).
fn week_span(window: ReportWindow, days: &[DayCount]) -> Vec<String> {
    let first = days.iter().map(|d| d.day).min();
    let last = days.iter().map(|d| d.day).max();
    let start = if window.since_ms > i64::MIN { Some(window.since_ms.div_euclid(86_400_000)) } else { first };
    let end = if window.until_ms < i64::MAX { Some((window.until_ms - 1).div_euclid(86_400_000)) } else { last };
    let (Some(start), Some(end)) = (start, end) else { return Vec::new() };
    let mut weeks: Vec<String> = Vec::new();
    let mut day = start;
    while day <= end {
        let label = iso_week(day);
        if weeks.last() != Some(&label) {
            weeks.push(label);
        }
        day += 1;
    }
    weeks
}

fn time_text(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

fn day_text(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d").to_string())
}

impl Report {
    /// The weekly series, one row per mailbox and week, with the desk's share that week.
    pub fn csv(&self) -> Result<String, csv::Error> {
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(["week", "mailbox", "department", "requests", "automatic", "rerouted", "desk_share"])?;
        for (i, desk) in self.weeks.iter().enumerate() {
            for mailbox in &self.mailboxes {
                let week = &mailbox.weeks[i];
                out.write_record([
                    week.week.as_str(),
                    mailbox.name.as_str(),
                    mailbox.department.as_deref().unwrap_or(""),
                    &week.requests.to_string(),
                    &week.automatic.to_string(),
                    &week.rerouted.to_string(),
                    &format!("{:.3}", desk.desk_share),
                ])?;
            }
        }
        let bytes = out.into_inner().map_err(|e| csv::Error::from(e.into_error()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
