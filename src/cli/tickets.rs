//! `loket tickets` and `loket quarantine`: what is in the store, for people and scripts.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::json;

use crate::clock;
use crate::config::Config;
use crate::domain::{DepartmentId, Language, MailboxName};
use crate::store::{Store, TicketFilter, TicketSummary};

#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// One line per ticket, newest first.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        /// At most this many tickets.
        #[arg(long, default_value_t = 1000)]
        limit: i64,
        /// Only tickets with this status.
        #[arg(long, value_enum)]
        status: Option<StatusArg>,
        /// Only tickets of this department (its id).
        #[arg(long, value_parser = parse_department)]
        department: Option<DepartmentId>,
        /// Only tickets that came in through this mailbox (its name).
        #[arg(long, value_parser = parse_mailbox)]
        mailbox: Option<MailboxName>,
        /// Only tickets opened since this day (YYYY-MM-DD) or for this many days (7d).
        #[arg(long, value_parser = parse_since)]
        since: Option<i64>,
    },
    /// The whole ticket: messages, attachments and timeline.
    Show {
        reference: String,
        #[arg(long)]
        json: bool,
        /// The language of the timeline; the desk's default language (`ack.default_language`) when not given.
        #[arg(long, value_enum)]
        lang: Option<LangArg>,
    },
    /// Take a ticket's tracking link back: the old link stops working at once,
    /// other tickets keep theirs, and the next mail to the employee carries a new one.
    RevokeLink { reference: String },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// One line per quarantined message, newest first.
    List {
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
    /// Write the raw bytes of a quarantined message to standard output.
    Export { id: String },
    /// Take a quarantined message (or every one) in again, once the cause is fixed
    /// (a limit raised, a bug fixed); it becomes a ticket once, however often this
    /// runs. A message kept as its header only is read again from its Maildir.
    #[command(visible_alias = "reingest")]
    Retry {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Remove a quarantined message and its raw bytes.
    Delete { id: String },
}

/// A language, as `--lang` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LangArg {
    En,
    Nl,
}

impl LangArg {
    fn language(self) -> Language {
        match self {
            Self::En => Language::En,
            Self::Nl => Language::Nl,
        }
    }
}

/// A ticket's status, as `--status` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusArg {
    New,
    InProgress,
    Resolved,
}

impl StatusArg {
    fn status(self) -> crate::domain::Status {
        match self {
            Self::New => crate::domain::Status::New,
            Self::InProgress => crate::domain::Status::InProgress,
            Self::Resolved => crate::domain::Status::Resolved,
        }
    }
}

fn parse_department(text: &str) -> Result<DepartmentId, String> {
    DepartmentId::parse(text).map_err(|e| e.0)
}

fn parse_mailbox(text: &str) -> Result<MailboxName, String> {
    MailboxName::parse(text).map_err(|e| e.0)
}

/// `2026-11-01` (midnight, local time) or `7d` (seven days back from now), as milliseconds.
fn parse_since(text: &str) -> Result<i64, String> {
    if let Some(days) = text.strip_suffix('d') {
        let days: i64 = days.parse().map_err(|_| format!("`{text}`: a number of days like 7d"))?;
        return Ok(clock::now_ms() - days * 86_400_000);
    }
    let day = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| format!("`{text}`: YYYY-MM-DD or 7d"))?;
    day.and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(chrono::Local).earliest())
        .map(|t| t.timestamp_millis())
        .ok_or_else(|| format!("`{text}`: not a day in this time zone"))
}

/// The operators' language: the desk's default language.
fn operators_language(config: &Config) -> Language {
    config.ack.default_language
}

async fn open(config: &Config) -> Result<Store> {
    crate::app::open_store(&config.store).await.with_context(|| format!("opening the store {}", config.store.url))
}

pub async fn tickets(command: TicketsCommand, config: &Config) -> Result<()> {
    let store = open(config).await?;
    let mut out = super::terminal::stdout();
    match command {
        TicketsCommand::List { json, limit, status, department, mailbox, since } => {
            let filter =
                TicketFilter { status: status.map(StatusArg::status), department, mailbox, since_ms: since, limit };
            let tickets = store.find_tickets(&filter).await?;
            if json {
                for ticket in &tickets {
                    writeln!(out, "{}", summary_json(ticket))?;
                }
            } else {
                print_table(&mut out, &tickets)?;
            }
        }
        TicketsCommand::Show { reference, json, lang } => {
            let reference = crate::domain::TicketRef::parse(&reference)?;
            let ticket = store.ticket(reference.as_str()).await?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&ticket)?)?;
            } else {
                let language = lang.map_or_else(|| operators_language(config), LangArg::language);
                super::show::print_ticket(&mut out, &ticket, language)?;
            }
        }
        TicketsCommand::RevokeLink { reference } => {
            let reference = crate::domain::TicketRef::parse(&reference)?;
            store.revoke_link(reference.as_str(), clock::now_ms()).await?;
            writeln!(
                out,
                "{reference}: the old tracking link no longer opens the status page; the next mail to the employee carries a new one"
            )?;
        }
    }
    Ok(())
}

fn summary_json(ticket: &TicketSummary) -> serde_json::Value {
    let mut value = serde_json::to_value(ticket).unwrap_or_else(|_| json!({}));
    value["received"] = json!(clock::rfc3339(ticket.created_at));
    value
}

fn print_table(out: &mut impl Write, tickets: &[TicketSummary]) -> std::io::Result<()> {
    if tickets.is_empty() {
        return writeln!(out, "no tickets yet");
    }
    writeln!(
        out,
        "{:<10} {:<10} {:<11} {:<32} {:<16} SUBJECT",
        "REFERENCE", "DEPARTMENT", "STATUS", "REQUESTER", "RECEIVED"
    )?;
    for t in tickets {
        let subject = match &t.automatic {
            Some(kind) => format!("{} [{kind}]", t.subject),
            None => t.subject.clone(),
        };
        writeln!(
            out,
            "{:<10} {:<10} {:<11} {:<32} {:<16} {}",
            t.reference,
            t.department,
            t.status,
            truncate(&t.requester, 32),
            clock::display(t.created_at),
            truncate(&subject, 60)
        )?;
    }
    Ok(())
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

pub async fn quarantine(command: QuarantineCommand, config: std::sync::Arc<Config>) -> Result<()> {
    let store = open(&config).await?;
    match command {
        QuarantineCommand::List { json, limit } => {
            let mut out = super::terminal::stdout();
            let rows = store.list_quarantine(limit).await?;
            if json {
                for row in &rows {
                    writeln!(out, "{}", serde_json::to_string(row)?)?;
                }
            } else if rows.is_empty() {
                writeln!(out, "quarantine is empty")?;
            } else {
                for row in &rows {
                    writeln!(
                        out,
                        "{}  {}  {}  {} bytes  {}",
                        row.id,
                        clock::display(row.at),
                        row.mailbox,
                        row.size,
                        row.reason
                    )?;
                }
            }
        }
        QuarantineCommand::Export { id } => {
            // The raw bytes as kept, for a file or a pipe: this is the one output
            // that is not made inert, so it is never written to a terminal, where
            // a hostile mail's escape sequences would act.
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                anyhow::bail!(
                    "the raw bytes of a quarantined mail go to a file or a pipe, not a terminal: \
                     loket quarantine export {id} > message.eml"
                );
            }
            let raw = store.quarantine_raw(&id).await?;
            std::io::stdout().lock().write_all(&raw)?;
        }
        QuarantineCommand::Retry { id, all } => {
            let which = match id {
                Some(id) if !all => super::quarantine::Which::One(id),
                _ => super::quarantine::Which::All,
            };
            super::quarantine::reingest(which, config.clone(), store.clone()).await?;
        }
        QuarantineCommand::Delete { id } => super::quarantine::delete(&id, &store).await?,
    }
    Ok(())
}
