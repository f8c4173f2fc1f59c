//! What an event on a ticket's timeline says, as facts: who, which mailbox, which
//! department, which mail. The sentence is written when the timeline is shown,
//! in the reader's language (`render`).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::EventKind;
use crate::domain::{AutoSign, DepartmentId, Doubt, MailKind, Mailbox, MailboxName, Role, RouteWhy};

/// One event on a ticket's timeline. Stored as JSON beside its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The message arrived in a mailbox.
    Received {
        mailbox: MailboxName,
    },
    /// The department was chosen, and why (the routing's own explanation).
    Routed {
        department: DepartmentId,
        reason: RouteWhy,
    },
    /// Automatic mail kept without an answer: the opening message (`from` is
    /// `None`) or a later one on the ticket. `reason` is what gave it away.
    Automatic {
        from: Option<Mailbox>,
        reason: AutoSign,
    },
    /// A mail was queued.
    Queued {
        mail: MailKind,
        recipient: String,
    },
    /// A mail was not sent.
    Withheld {
        reason: Withheld,
    },
    /// The same message arrived again, in `mailbox`; kept, nothing sent.
    Copy {
        mailbox: MailboxName,
    },
    /// A mail of the ticket's could not be delivered: `report` is the delivery
    /// report's subject, `reporter` who sent the report.
    Bounced {
        mail: MailKind,
        recipient: String,
        report: String,
        reporter: String,
    },
    /// The employee wrote again.
    Followup {
        from: Mailbox,
    },
    /// The ticket opened again: by a department member, or (`by` is `None`)
    /// because the employee wrote again.
    Reopened {
        by: Option<Mailbox>,
    },
    /// A department's answer went to the employee.
    Answered {
        from: Mailbox,
    },
    Resolved {
        by: Mailbox,
    },
    /// Another department took the ticket over. `from` is `None` only when the
    /// ticket's department was not a valid id.
    Rerouted {
        from: Option<DepartmentId>,
        to: DepartmentId,
        by: Mailbox,
    },
    /// An internal note (`#note`).
    Note {
        from: Mailbox,
        text: String,
    },
    /// A department member's answer held no text and no command: nothing relayed.
    EmptyAnswer {
        from: Mailbox,
    },
    /// Commands that were not carried out, each with its problem.
    Rejected {
        from: Mailbox,
        problems: Vec<Refusal>,
    },
    /// A mail that named the ticket without proving who wrote it.
    Unverified {
        from: Mailbox,
        doubt: Doubt,
    },
    /// The same text again within minutes: a mail loop, stopped.
    Loop {
        from: Mailbox,
    },
    /// A Reply-To outside the sender's own domain (unless sender and Reply-To are
    /// both the organisation's) was set aside; mail to the employee goes to `to`.
    ReplyToSetAside {
        reply_to: String,
        to: String,
    },
    /// A message joined the ticket (for tools that only store).
    Message {
        from: Mailbox,
        role: Role,
    },
    /// A queued mail went out.
    Sent {
        mail: MailKind,
        recipient: String,
    },
    /// A queued mail was given up; `error` is the server's or transport's word.
    Failed {
        mail: MailKind,
        recipient: String,
        error: String,
    },
    /// A given-up mail was put back in the queue.
    Requeued {
        mail: MailKind,
        recipient: String,
    },
    /// Backlog kept as history: nothing sent.
    History {
        why: History,
    },
    /// The ticket's tracking link was revoked.
    LinkRevoked,
}

/// Why a mail was not sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Withheld {
    /// Neither acknowledgement nor forward: automatic mail (RFC 3834).
    Automatic { reason: AutoSign },
    /// The department the mail was for is not configured.
    NoDepartment { mail: MailKind, department: DepartmentId },
    /// No acknowledgement: the organisation's mail server says the sender is forged.
    Forged,
    /// No acknowledgement: `ack.enabled` is off.
    AcksOff,
    /// No acknowledgement: the message was backlog and `ack.backlog` is off.
    Backlog,
    /// No acknowledgement: the requester had `count` automatic mails this hour.
    RecipientCap { address: String, count: i64 },
    /// No acknowledgement: `count` acknowledgements went to `domain` this hour.
    DomainCap { domain: String, count: i64 },
    /// No acknowledgement: `count` acknowledgements went outside the organisation this hour.
    OutsideCap { count: i64 },
    /// No acknowledgement: the old address closed after `after` and redirects;
    /// the employee gets only the notice that it closed.
    Closed {
        address: String,
        #[serde(with = "day")]
        after: NaiveDate,
    },
    /// Not sent: the ticket already sent `sent` mails this hour.
    TicketCap { mails: Vec<MailKind>, sent: i64 },
    /// The mail could not be composed (a template failed).
    NotComposed { mail: MailKind, error: String },
}

/// Why a command line at the top of a department's answer was not carried out.
/// `line` is the command line as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "refused", rename_all = "snake_case")]
pub enum Refusal {
    /// `#route` without a department.
    RouteWithoutDepartment {
        line: String,
    },
    /// A command followed by words it does not take.
    UnexpectedWords {
        line: String,
    },
    UnknownCommand {
        line: String,
    },
    /// `#resolve` and `#reopen` in one mail.
    ResolveAndReopen,
    /// `#route` to a department that is not configured.
    NoSuchDepartment {
        department: String,
    },
    /// `#route` to the department that has the ticket.
    AlreadyWith {
        department: DepartmentId,
    },
}

/// Why backlog was kept as history rather than handled as work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "because", rename_all = "snake_case")]
pub enum History {
    /// It was already read in the mailbox when loket first connected.
    Seen,
    /// It was `days` old, more than `ingest.backlog_forward_days` (`forward_days`).
    Old { days: i64, forward_days: u32 },
}

impl Event {
    /// The kind the store files the event under.
    pub fn kind(&self) -> EventKind {
        match self {
            Self::Received { .. } => EventKind::Received,
            Self::Routed { .. } => EventKind::Routed,
            Self::Automatic { .. } => EventKind::Automatic,
            Self::Queued { .. } => EventKind::Queued,
            Self::Withheld { .. } => EventKind::Withheld,
            Self::Copy { .. } => EventKind::Copy,
            Self::Bounced { .. } => EventKind::Bounced,
            Self::Followup { .. } => EventKind::Followup,
            Self::Reopened { .. } => EventKind::Reopened,
            Self::Answered { .. } => EventKind::Answered,
            Self::Resolved { .. } => EventKind::Resolved,
            Self::Rerouted { .. } => EventKind::Rerouted,
            Self::Note { .. } | Self::EmptyAnswer { .. } => EventKind::Note,
            Self::Rejected { .. } => EventKind::Rejected,
            Self::Unverified { .. } => EventKind::Unverified,
            Self::Loop { .. } => EventKind::Loop,
            Self::ReplyToSetAside { .. } => EventKind::Trust,
            Self::Message { .. } => EventKind::Message,
            Self::Sent { .. } => EventKind::Sent,
            Self::Failed { .. } => EventKind::Failed,
            Self::Requeued { .. } => EventKind::Requeued,
            Self::History { .. } => EventKind::History,
            Self::LinkRevoked => EventKind::LinkRevoked,
        }
    }
}

/// A day as `YYYY-MM-DD`.
mod day {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, Serializer};

    const FORMAT: &str = "%Y-%m-%d";

    pub fn serialize<S: Serializer>(day: &NaiveDate, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&day.format(FORMAT))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveDate, D::Error> {
        let text = String::deserialize(deserializer)?;
        NaiveDate::parse_from_str(&text, FORMAT).map_err(serde::de::Error::custom)
    }
}
