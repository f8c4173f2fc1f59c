//! A group's messages as the ingest step handles them: each planned message
//! with the ids it will be stored under and what it turned out to be, and the
//! outcome the source is told.

use crate::domain::Incoming;
use crate::domain::{Mailbox, Status, TicketRef, TicketState};
use crate::inbound::guard::Verdict;
use crate::inbound::intake::Normalised;
use crate::inbound::language::Language;
use crate::inbound::thread::{Hint, Role};
use crate::inbound::trust::Trust;
use crate::pipeline::plan::Plan;
use crate::routing::classify::Decision;
use crate::store::{BouncedMail, CopyKey, NewMessage, NewTicket};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    Created(TicketRef),
    /// A message that continues a ticket: a follow-up or a department's answer.
    Joined(TicketRef),
    /// A delivery failure of one of loket's own mails, stored on that mail's ticket.
    Bounced(TicketRef),
    Duplicate,
    Quarantined,
}

impl IngestOutcome {
    /// The outcome's name in metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Created(_) => "created",
            Self::Joined(_) => "joined",
            Self::Bounced(_) => "bounced",
            Self::Duplicate => "duplicate",
            Self::Quarantined => "quarantined",
        }
    }
}

/// What a message turned out to be, once the store was asked.
pub(super) enum Case {
    New,
    /// The same message (Message-ID and sender) is already on a ticket, or earlier
    /// in this group: it was also sent to another old address, or delivered twice.
    Copy,
    Bounce(BouncedMail),
    Joined(Box<TicketState>, Role),
}

/// A message planned to open or join a ticket, with the ids it will be stored under.
pub(super) struct Candidate<'a> {
    pub(super) index: usize,
    pub(super) incoming: &'a Incoming,
    pub(super) message: &'a Normalised,
    pub(super) verdict: &'a Verdict,
    pub(super) decision: &'a Decision,
    pub(super) language: Language,
    pub(super) trust: &'a Trust,
    pub(super) hint: Option<&'a Hint>,
    pub(super) case: Case,
    pub(super) message_row: String,
    pub(super) ticket_id: String,
    /// The key the message is stored under: the source's, or, when that key
    /// already holds other bytes, the source's with the sha256 added.
    pub(super) source_key: String,
    to: String,
    cc: String,
    reply_to: Option<String>,
    in_reply_to: String,
    references: String,
}

impl Candidate<'_> {
    /// The same Message-ID from the same sender is the same message, also when it
    /// arrives in another mailbox.
    pub(super) fn copy_key(&self) -> Option<CopyKey> {
        self.message.message_id.as_ref().map(|id| (id.clone(), self.message.from.address.clone()))
    }

    pub(super) fn row(&self) -> NewMessage<'_> {
        let m = self.message;
        NewMessage {
            row_id: &self.message_row,
            ticket_id: &self.ticket_id,
            mailbox: &self.incoming.mailbox,
            source_key: &self.source_key,
            uidvalidity: self.incoming.imap.map(|p| i64::from(p.uidvalidity)),
            uid: self.incoming.imap.map(|p| i64::from(p.uid)),
            message_id: m.message_id.as_deref(),
            sha256: &m.sha256,
            in_reply_to: &self.in_reply_to,
            references: &self.references,
            from_address: &m.from.address,
            from_name: m.from.name.as_deref(),
            reply_to: self.reply_to.as_deref(),
            to: &self.to,
            cc: &self.cc,
            subject: &m.subject,
            sent_at: m.date_ms,
            text: &m.text,
            html: m.html.as_deref(),
            automatic: match self.verdict {
                Verdict::Automatic { reason, .. } => Some(reason.to_string()),
                Verdict::Person => None,
            },
            raw: &self.incoming.raw,
            author_role: match &self.case {
                Case::Joined(_, role) => Some(*role),
                Case::New => Some(Role::Requester),
                Case::Copy | Case::Bounce(_) => None,
            },
        }
    }

    pub(super) fn ticket<'a>(&'a self, reference: &'a TicketRef, status: Status) -> NewTicket<'a> {
        let requester = self.message.requester();
        NewTicket {
            id: &self.ticket_id,
            reference,
            requester_address: &requester.address,
            requester_name: requester.name.as_deref(),
            subject: &self.message.subject,
            department: &self.decision.department,
            category: self.decision.category.as_deref(),
            decided_by: self.decision.decided_by,
            confidence: self.decision.confidence,
            reason: &self.decision.reason,
            origin_mailbox: &self.incoming.mailbox,
            automatic: match self.verdict {
                Verdict::Automatic { kind, .. } => Some(*kind),
                Verdict::Person => None,
            },
            opening_message_id: self.message.message_id.as_deref(),
            language: self.language,
            status,
        }
    }
}

pub(super) fn candidates<'a>(items: &[(&'a Incoming, &'a Plan)], outcomes: &mut [IngestOutcome]) -> Vec<Candidate<'a>> {
    let mut candidates = Vec::new();
    for (index, (incoming, plan)) in items.iter().enumerate() {
        match plan {
            Plan::Quarantine { .. } => outcomes[index] = IngestOutcome::Quarantined,
            Plan::Ticket { message, verdict, decision, language, thread, trust } => candidates.push(Candidate {
                index,
                incoming,
                message,
                verdict,
                decision,
                language: *language,
                trust,
                hint: thread.as_ref(),
                case: Case::New,
                message_row: crate::store::new_id(),
                ticket_id: crate::store::new_id(),
                source_key: incoming.source_key.clone(),
                to: serde_json::to_string(&message.to).unwrap_or_else(|_| "[]".into()),
                cc: serde_json::to_string(&message.cc).unwrap_or_else(|_| "[]".into()),
                reply_to: message.reply_to.as_ref().map(Mailbox::to_string),
                in_reply_to: message.in_reply_to.join(" "),
                references: message.references.join(" "),
            }),
        }
    }
    candidates
}
