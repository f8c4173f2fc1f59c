//! The ingest step for a group of planned messages: look up in the store what the
//! desk needs, ask the desk, and write what it decided, in one transaction. Each
//! message is stored completely or not at all; the mailbox cursor moves once, to
//! the last message whose source has nothing left to do on the server.

use std::collections::HashMap;

use crate::desk::{self, Joining, Opened, RecentAcks, Responder, Turn};
use crate::domain::Incoming;
use crate::domain::{Mailbox, TicketRef, TicketState};
use crate::inbound::guard::{AutoKind, Verdict};
use crate::inbound::intake::Normalised;
use crate::inbound::language::Language;
use crate::inbound::thread::{Hint, Role};
use crate::inbound::trust::Trust;
use crate::pipeline::plan::Plan;
use crate::routing::classify::Decision;
use crate::store::{
    BouncedMail, IngestTx, NewAttachment, NewMessage, NewTicket, Quarantined, Store, StoreError, TicketChange,
};

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
enum Case {
    New,
    /// The same message (Message-ID and sender) is already on a ticket, or earlier
    /// in this group: it was also sent to another old address, or delivered twice.
    Copy,
    Bounce(BouncedMail),
    Joined(Box<TicketState>, Role),
}

/// A message planned to open or join a ticket, with the ids it will be stored under.
struct Candidate<'a> {
    index: usize,
    incoming: &'a Incoming,
    message: &'a Normalised,
    verdict: &'a Verdict,
    decision: &'a Decision,
    language: Language,
    trust: &'a Trust,
    hint: Option<&'a Hint>,
    case: Case,
    message_row: String,
    ticket_id: String,
    to: String,
    cc: String,
    reply_to: Option<String>,
    in_reply_to: String,
    references: String,
}

impl Candidate<'_> {
    fn copy_key(&self) -> Option<String> {
        self.message.message_id.as_deref().map(|id| format!("{id}\n{}", self.message.from.address))
    }

    fn row(&self) -> NewMessage<'_> {
        let m = self.message;
        NewMessage {
            row_id: &self.message_row,
            ticket_id: &self.ticket_id,
            mailbox: self.incoming.mailbox.as_str(),
            source_key: &self.incoming.source_key,
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
                Verdict::Automatic { reason, .. } => Some(reason.as_str()),
                Verdict::Person => None,
            },
            raw: &self.incoming.raw,
            author_role: match &self.case {
                Case::Joined(_, role) => Some(role.as_str()),
                Case::New => Some(Role::Requester.as_str()),
                Case::Copy | Case::Bounce(_) => None,
            },
        }
    }

    fn ticket<'a>(&'a self, reference: &'a TicketRef) -> NewTicket<'a> {
        let requester = self.message.requester();
        NewTicket {
            id: &self.ticket_id,
            reference,
            requester_address: &requester.address,
            requester_name: requester.name.as_deref(),
            subject: &self.message.subject,
            department: self.decision.department.as_str(),
            category: self.decision.category.as_deref(),
            decided_by: self.decision.decided_by.as_str(),
            confidence: self.decision.confidence,
            reason: &self.decision.reason,
            origin_mailbox: self.incoming.mailbox.as_str(),
            automatic: match self.verdict {
                Verdict::Automatic { kind, .. } => Some(kind.as_str()),
                Verdict::Person => None,
            },
            opening_message_id: self.message.message_id.as_deref(),
            language: self.language.code(),
        }
    }
}

fn candidates<'a>(items: &[(&'a Incoming, &'a Plan)], outcomes: &mut [IngestOutcome]) -> Vec<Candidate<'a>> {
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

/// Stores several whole messages, in source order, in one transaction (a group
/// commit). A failure stores none of the group, so the source acknowledges none
/// and fetches them again.
pub async fn store_group(
    store: &Store,
    items: &[(&Incoming, &Plan)],
    ticket_prefix: &str,
    desk: &dyn Responder,
    now: i64,
) -> Result<Vec<IngestOutcome>, StoreError> {
    let mut outcomes = vec![IngestOutcome::Duplicate; items.len()];
    let mut candidates = candidates(items, &mut outcomes);
    let hashes: Vec<Option<String>> = items
        .iter()
        .map(|(incoming, plan)| {
            matches!(plan, Plan::Quarantine { .. }).then(|| crate::inbound::intake::sha256_hex(&incoming.raw))
        })
        .collect();
    let quarantined: Vec<Quarantined<'_>> = items
        .iter()
        .zip(&hashes)
        .filter_map(|((incoming, plan), hash)| match (plan, hash) {
            (Plan::Quarantine { reason }, Some(sha256)) => Some(Quarantined {
                mailbox: incoming.mailbox.as_str(),
                source_key: &incoming.source_key,
                reason,
                sha256,
                size: incoming.size,
                truncated: incoming.truncated,
                raw: &incoming.raw,
            }),
            _ => None,
        })
        .collect();
    let mut tx = store.begin_ingest().await?;
    tx.quarantine(&quarantined, now).await?;
    let keys: Vec<String> = candidates.iter().filter_map(Candidate::copy_key).collect();
    tx.lock_copy_keys(&keys).await?;
    find_cases(&mut tx, &mut candidates, desk, now).await?;
    let rows: Vec<NewMessage<'_>> = candidates.iter().map(Candidate::row).collect();
    let inserted = tx.insert_messages(&rows, now).await?;
    let stored = |c: &&Candidate<'_>| inserted.contains(&c.message_row);
    for c in candidates.iter().filter(stored) {
        match &c.case {
            Case::Copy => {
                let entry = desk::copy_entry(c.incoming.mailbox.as_str());
                tx.record(&[(&c.ticket_id, Some(&c.message_row), &entry)], now).await?;
            }
            Case::Bounce(bounced) => {
                tx.record_bounce(&bounced.outbox_id, &c.message.subject).await?;
                let entry = desk::bounce_entry(bounced.kind, &bounced.recipient, &c.message.subject, &c.message.from);
                tx.record(&[(&c.ticket_id, Some(&c.message_row), &entry)], now).await?;
                let reference = TicketRef::parse(&bounced.reference).map_err(|e| StoreError::Corrupt(e.0))?;
                outcomes[c.index] = IngestOutcome::Bounced(reference);
            }
            Case::Joined(..) | Case::New => {}
        }
    }
    converse(&mut tx, &candidates, &inserted, desk, &mut outcomes, now).await?;
    let new: Vec<&Candidate<'_>> = candidates.iter().filter(stored).filter(|c| matches!(c.case, Case::New)).collect();
    if !new.is_empty() {
        open_tickets(&mut tx, &new, ticket_prefix, desk, &mut outcomes, now).await?;
    }
    if let Some((incoming, _)) = items.iter().rev().find(|(i, _)| i.imap.is_some_and(|p| p.advance_cursor))
        && let Some(position) = incoming.imap
    {
        tx.advance_cursor(incoming.mailbox.as_str(), position.uidvalidity, position.uid, position.lease, now).await?;
    }
    tx.commit().await?;
    for q in &quarantined {
        tracing::warn!(mailbox = %q.mailbox, key = %q.source_key, reason = q.reason, "message quarantined");
    }
    Ok(outcomes)
}

/// Asks the store about each message and the desk what it means: a bounce of one
/// of loket's mails, a copy, a message that joins the ticket it names, or a new request.
async fn find_cases(
    tx: &mut IngestTx,
    candidates: &mut [Candidate<'_>],
    desk: &dyn Responder,
    now: i64,
) -> Result<(), StoreError> {
    // Copies earlier in this group that open a ticket: copy key to ticket id.
    let mut opened_here: HashMap<String, String> = HashMap::new();
    for c in candidates.iter_mut() {
        let key = c.copy_key();
        let is_bounce = matches!(c.verdict, Verdict::Automatic { kind: AutoKind::Bounce, .. });
        if is_bounce && let Some(bounced) = tx.bounced_mail(&c.message.markers.quoted_message_ids).await? {
            c.ticket_id.clone_from(&bounced.ticket_id);
            c.case = Case::Bounce(bounced);
        } else if let Some(id) = c.message.message_id.as_deref()
            && let Some((ticket_id, _)) = tx.copy_of(id, &c.message.from.address).await?
        {
            c.ticket_id = ticket_id;
            c.case = Case::Copy;
        } else if let Some(ticket_id) = key.as_ref().and_then(|k| opened_here.get(k)) {
            c.ticket_id.clone_from(ticket_id);
            c.case = Case::Copy;
        } else if let Some(hint) = c.hint
            && let Some(ticket) = tx.ticket(&hint.reference, now).await?
            && let Some(role) = desk.join(&Joining { ticket: &ticket, hint, message: c.message, trust: c.trust })
        {
            c.ticket_id.clone_from(&ticket.id);
            c.case = Case::Joined(Box::new(ticket), role);
        } else if let Some(key) = key {
            opened_here.insert(key, c.ticket_id.clone());
        }
    }
    Ok(())
}

/// Each message that joined a ticket: the desk says what it does, the store writes it.
async fn converse(
    tx: &mut IngestTx,
    candidates: &[Candidate<'_>],
    inserted: &std::collections::HashSet<String>,
    desk: &dyn Responder,
    outcomes: &mut [IngestOutcome],
    now: i64,
) -> Result<(), StoreError> {
    let mut conversed = std::collections::HashSet::new();
    for c in candidates.iter().filter(|c| inserted.contains(&c.message_row)) {
        let Case::Joined(ticket, role) = &c.case else { continue };
        // Read again only when an earlier message of this group changed it.
        let reloaded;
        let ticket: &TicketState = if conversed.insert(ticket.id.clone()) {
            ticket
        } else {
            reloaded = tx.ticket(&ticket.reference, now).await?.unwrap_or_else(|| (**ticket).clone());
            &reloaded
        };
        let turn =
            Turn { ticket, role: *role, incoming: c.incoming, message: c.message, verdict: c.verdict, trust: c.trust };
        let reply = desk.converse(&turn);
        let change = TicketChange {
            status: reply.status.unwrap_or(ticket.status),
            department: reply.department.as_deref().unwrap_or(&ticket.department),
            staff: reply.staff.as_deref(),
        };
        tx.change_ticket(&ticket.id, change, now).await?;
        let mails: Vec<(&str, &crate::domain::Outgoing)> =
            reply.mails.iter().map(|m| (ticket.id.as_str(), m)).collect();
        tx.queue(&mails, now).await?;
        let queued: Vec<crate::domain::Entry> = desk::queued(&reply.mails).collect();
        let entries: Vec<(&str, Option<&str>, &crate::domain::Entry)> = reply
            .entries
            .iter()
            .chain(&queued)
            .map(|e| (ticket.id.as_str(), Some(c.message_row.as_str()), e))
            .collect();
        tx.record(&entries, now).await?;
        outcomes[c.index] = IngestOutcome::Joined(ticket.reference.clone());
    }
    Ok(())
}

/// New requests: references, tickets, attachments, then what the desk sends for
/// each, counting the acknowledgements its requester already had this hour.
async fn open_tickets(
    tx: &mut IngestTx,
    new: &[&Candidate<'_>],
    prefix: &str,
    desk: &dyn Responder,
    outcomes: &mut [IngestOutcome],
    now: i64,
) -> Result<(), StoreError> {
    let references = tx.next_references(prefix, new.len()).await?;
    let tickets: Vec<NewTicket<'_>> = new.iter().zip(&references).map(|(c, r)| c.ticket(r)).collect();
    tx.insert_tickets(&tickets, now).await?;
    let attachments: Vec<NewAttachment<'_>> = new
        .iter()
        .flat_map(|c| {
            c.message.attachments.iter().enumerate().map(|(position, a)| NewAttachment {
                message_row: &c.message_row,
                position,
                filename: a.name.as_deref(),
                content_type: &a.content_type,
                size: a.size,
            })
        })
        .collect();
    tx.insert_attachments(&attachments).await?;
    let hour_ago = now - 3_600_000;
    // Acknowledgements per recipient domain in the last hour: read once, then
    // kept up to date as this group queues its own.
    let mut by_domain: HashMap<String, i64> = tx.acks_by_domain(hour_ago).await?.into_iter().collect();
    for (c, reference) in new.iter().zip(&references) {
        let address = &c.message.requester().address;
        // The mails queued for earlier tickets of this group are in the same
        // transaction, so this count includes them.
        let mut recent = RecentAcks {
            recipient: tx.acks_to(&crate::domain::rate_key(address), hour_ago).await?,
            ..Default::default()
        };
        if !desk.is_internal(address) {
            recent.domain = by_domain.get(&crate::domain::domain_of(address)).copied().unwrap_or(0);
            recent.outside =
                by_domain.iter().filter(|(d, _)| !desk.is_internal(&format!("postmaster@{d}"))).map(|(_, n)| n).sum();
        }
        let opened = Opened {
            reference,
            incoming: c.incoming,
            message: c.message,
            verdict: c.verdict,
            decision: c.decision,
            language: c.language,
            trust: c.trust,
            recent,
            today: crate::clock::local_day(now),
        };
        let response = desk.respond(&opened);
        if let Some(status) = response.status {
            let change = TicketChange { status, department: c.decision.department.as_str(), staff: None };
            tx.change_ticket(&c.ticket_id, change, now).await?;
        }
        let mails: Vec<(&str, &crate::domain::Outgoing)> =
            response.mails.iter().map(|m| (c.ticket_id.as_str(), m)).collect();
        tx.queue(&mails, now).await?;
        for mail in response.mails.iter().filter(|m| m.kind == crate::domain::MailKind::Ack) {
            *by_domain.entry(crate::domain::domain_of(&mail.recipient)).or_default() += 1;
        }
        let entries = desk::opening_entries(&opened, &response);
        let entries: Vec<(&str, Option<&str>, &crate::domain::Entry)> =
            entries.iter().map(|e| (c.ticket_id.as_str(), Some(c.message_row.as_str()), e)).collect();
        tx.record(&entries, now).await?;
        outcomes[c.index] = IngestOutcome::Created(reference.clone());
    }
    Ok(())
}
