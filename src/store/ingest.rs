//! The ingest transaction: whole messages, all or nothing.
//!
//! The raw bytes, the parsed message, its ticket, attachments, timeline events
//! and (when the source has nothing left to do on the server) the mailbox cursor
//! are written in one transaction. Several messages may share it (a group
//! commit); each is still stored completely or not at all. The unique keys
//! `(mailbox, source_key)` and `(Message-ID, sha256)` turn a repeat into a no-op
//! that still advances the cursor, so a crash at any point is safe to replay.

use std::collections::{HashMap, HashSet};

use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

use super::responder::{Entry, Joining, Opened, Reply, Responder, Response, TicketState, Turn};
use super::rows::{self, Value};
use super::{Backend, Store, StoreError};
use crate::classify::Decision;
use crate::domain::{Mailbox, TicketRef};
use crate::guard::Verdict;
use crate::intake::Normalised;
use crate::language::Language;
use crate::outbound::{OutKind, Outgoing};
use crate::plan::{Incoming, Plan};
use crate::thread::{Hint, Role};

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

/// One of loket's sent mails that a bounce quotes.
#[derive(Debug, Clone)]
struct Bounced {
    reference: String,
    outbox_id: String,
    kind: String,
    recipient: String,
}

pub(super) fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// A message planned to open a ticket, with the ids it will be stored under.
struct Candidate<'a> {
    index: usize,
    incoming: &'a Incoming,
    message: &'a Normalised,
    verdict: &'a Verdict,
    decision: &'a Decision,
    language: Language,
    hint: Option<&'a Hint>,
    /// Set when the message continues a stored ticket.
    joined: Option<(TicketState, Role)>,
    message_row: String,
    ticket_id: String,
    to: String,
    cc: String,
    reply_to: Option<String>,
    in_reply_to: String,
    references: String,
    /// Set when this message is a bounce of one of loket's own mails.
    bounced: Option<Bounced>,
    /// Set when the same message (Message-ID and sender) is already on a ticket:
    /// it was also sent to another old address, or delivered twice.
    copy_of: Option<String>,
}

impl Store {
    /// Stores one planned message in one transaction. `ticket_prefix` forms new references.
    pub async fn ingest(
        &self,
        incoming: &Incoming,
        plan: &Plan,
        ticket_prefix: &str,
        responder: &dyn Responder,
        now: i64,
    ) -> Result<IngestOutcome, StoreError> {
        let mut outcomes = self.ingest_all(&[(incoming, plan)], ticket_prefix, responder, now).await?;
        Ok(outcomes.remove(0))
    }

    /// Stores several whole messages, in source order, in one transaction (a group
    /// commit), and moves the cursor once, to the last of them. A failure stores none
    /// of the group, so the source acknowledges none and fetches them again.
    pub async fn ingest_all(
        &self,
        items: &[(&Incoming, &Plan)],
        ticket_prefix: &str,
        responder: &dyn Responder,
        now: i64,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let mut outcomes = vec![IngestOutcome::Duplicate; items.len()];
        let mut quarantined = Vec::new();
        let mut candidates = Vec::new();
        for (index, (incoming, plan)) in items.iter().enumerate() {
            match plan {
                Plan::Quarantine { reason } => {
                    outcomes[index] = IngestOutcome::Quarantined;
                    quarantined.push((*incoming, reason.as_str(), crate::intake::sha256_hex(&incoming.raw)));
                }
                Plan::Ticket { message, verdict, decision, language, thread } => candidates.push(Candidate {
                    index,
                    incoming,
                    message,
                    verdict,
                    decision,
                    language: *language,
                    hint: thread.as_ref(),
                    joined: None,
                    bounced: None,
                    copy_of: None,
                    message_row: new_id(),
                    ticket_id: new_id(),
                    to: serde_json::to_string(&message.to).unwrap_or_else(|_| "[]".into()),
                    cc: serde_json::to_string(&message.cc).unwrap_or_else(|_| "[]".into()),
                    reply_to: message.reply_to.as_ref().map(Mailbox::to_string),
                    in_reply_to: message.in_reply_to.join(" "),
                    references: message.references.join(" "),
                }),
            }
        }

        let mut tx = self.write.begin().await?;
        insert_quarantine(self.backend, &mut tx, &quarantined, now).await?;
        lock_copy_keys(self.backend, &mut tx, &candidates).await?;
        // Copies earlier in this group that open a ticket: (Message-ID, sender) to ticket id.
        let mut opened_here: HashMap<(&str, &str), String> = HashMap::new();
        for candidate in &mut candidates {
            let copy_key =
                candidate.message.message_id.as_deref().map(|id| (id, candidate.message.from.address.as_str()));
            if let Some(bounced) = find_bounced(&mut tx, candidate).await? {
                candidate.ticket_id = bounced_ticket(&mut tx, &bounced).await?;
                candidate.bounced = Some(bounced);
            } else if let Some((ticket_id, reference)) = find_copy(&mut tx, candidate.message).await? {
                candidate.ticket_id = ticket_id;
                candidate.copy_of = Some(reference);
            } else if let Some(ticket_id) = copy_key.and_then(|key| opened_here.get(&key)) {
                candidate.ticket_id = ticket_id.clone();
                candidate.copy_of = Some(String::new());
            } else if let Some(hint) = candidate.hint
                && let Some(ticket) = load_ticket(self.backend, &mut tx, &hint.reference).await?
                && let Some(role) = responder.join(&Joining { ticket: &ticket, hint, message: candidate.message })
            {
                candidate.ticket_id = ticket.id.clone();
                candidate.joined = Some((ticket, role));
            } else if let Some(key) = copy_key {
                opened_here.insert(key, candidate.ticket_id.clone());
            }
        }
        let inserted = insert_messages(self.backend, &mut tx, &candidates, now).await?;
        for candidate in candidates.iter().filter(|c| inserted.contains(&c.message_row)) {
            if candidate.copy_of.is_some() {
                let detail = format!(
                    "the same message arrived again, in mailbox {}; kept, nothing sent",
                    candidate.incoming.mailbox
                );
                let entry = Entry::new("copy", detail);
                insert_entries(
                    self.backend,
                    &mut tx,
                    &[(&candidate.ticket_id, Some(&candidate.message_row), &entry)],
                    now,
                )
                .await?;
            }
            if let Some(bounced) = &candidate.bounced {
                record_bounce(&mut tx, candidate, bounced, now).await?;
                outcomes[candidate.index] =
                    IngestOutcome::Bounced(TicketRef::parse(&bounced.reference).map_err(|e| StoreError::Corrupt(e.0))?);
            }
        }
        let mut conversed: HashSet<String> = HashSet::new();
        for candidate in candidates.iter().filter(|c| inserted.contains(&c.message_row)) {
            if let Some((ticket, role)) = &candidate.joined {
                // Read again only when an earlier message of this group changed it.
                let reloaded;
                let ticket = if conversed.insert(ticket.id.clone()) {
                    ticket
                } else {
                    reloaded =
                        load_ticket(self.backend, &mut tx, &ticket.reference).await?.unwrap_or_else(|| ticket.clone());
                    &reloaded
                };
                let turn = Turn {
                    ticket,
                    role: *role,
                    incoming: candidate.incoming,
                    message: candidate.message,
                    verdict: candidate.verdict,
                };
                let reply = responder.converse(&turn);
                apply_reply(self.backend, &mut tx, ticket, &candidate.message_row, &reply, now).await?;
                outcomes[candidate.index] = IngestOutcome::Joined(ticket.reference.clone());
            }
        }
        let new: Vec<&Candidate<'_>> = candidates
            .iter()
            .filter(|c| {
                c.bounced.is_none() && c.joined.is_none() && c.copy_of.is_none() && inserted.contains(&c.message_row)
            })
            .collect();
        if !new.is_empty() {
            let count = i64::try_from(new.len()).unwrap_or(i64::MAX);
            let last: i64 =
                sqlx::query_scalar("UPDATE counters SET value = value + $1 WHERE name = 'ticket' RETURNING value")
                    .bind(count)
                    .fetch_one(&mut *tx)
                    .await?;
            let references: Vec<TicketRef> =
                (last - count + 1..=last).map(|n| TicketRef::new(ticket_prefix, n)).collect();
            insert_tickets(self.backend, &mut tx, &new, &references, now).await?;
            insert_attachments(self.backend, &mut tx, &new).await?;
            let responses = respond(&mut tx, &new, &references, responder, now).await?;
            let mails: Vec<(&str, &Outgoing)> = new
                .iter()
                .zip(&responses)
                .flat_map(|(c, r)| r.mails.iter().map(move |m| (c.ticket_id.as_str(), m)))
                .collect();
            insert_outbox(self.backend, &mut tx, &mails, now).await?;
            let entries: Vec<(&Candidate<'_>, Entry)> = new
                .iter()
                .zip(&responses)
                .flat_map(|(c, response)| opening_entries(c, response).into_iter().map(move |e| (*c, e)))
                .collect();
            let entries: Vec<(&str, Option<&str>, &Entry)> =
                entries.iter().map(|(c, e)| (c.ticket_id.as_str(), Some(c.message_row.as_str()), e)).collect();
            insert_entries(self.backend, &mut tx, &entries, now).await?;
            for (candidate, reference) in new.iter().zip(references) {
                outcomes[candidate.index] = IngestOutcome::Created(reference);
            }
        }
        if let Some((incoming, _)) = items.iter().rev().find(|(i, _)| i.imap.is_some_and(|p| p.advance_cursor))
            && let Some(position) = incoming.imap
        {
            advance(&mut *tx, incoming.mailbox.as_str(), position.uidvalidity, position.uid, now).await?;
        }
        tx.commit().await?;
        for (incoming, reason, _) in &quarantined {
            tracing::warn!(mailbox = %incoming.mailbox, key = %incoming.source_key, reason, "message quarantined");
        }
        Ok(outcomes)
    }

    /// Moves a mailbox cursor forward to `uid` (never backwards), once the source has
    /// moved or flagged the messages up to it.
    pub async fn advance_cursor(&self, mailbox: &str, uidvalidity: u32, uid: u32) -> Result<(), StoreError> {
        advance(&self.write, mailbox, uidvalidity, uid, crate::clock::now_ms()).await
    }
}

fn size(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Inserts the messages; returns the row ids of those that were not already stored.
async fn insert_messages(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    candidates: &[Candidate<'_>],
    now: i64,
) -> Result<HashSet<String>, StoreError> {
    let rows: Vec<Vec<Value<'_>>> = candidates
        .iter()
        .map(|c| {
            let m = c.message;
            vec![
                Value::Text(&c.message_row),
                Value::Text(&c.ticket_id),
                Value::Text("in"),
                Value::Text(c.incoming.mailbox.as_str()),
                Value::Text(&c.incoming.source_key),
                Value::MaybeInt(c.incoming.imap.map(|p| i64::from(p.uidvalidity))),
                Value::MaybeInt(c.incoming.imap.map(|p| i64::from(p.uid))),
                Value::MaybeText(m.message_id.as_deref()),
                Value::Text(m.message_id.as_deref().unwrap_or("")),
                Value::Text(&m.sha256),
                Value::Text(&c.in_reply_to),
                Value::Text(&c.references),
                Value::Text(&m.from.address),
                Value::MaybeText(m.from.name.as_deref()),
                Value::MaybeText(c.reply_to.as_deref()),
                Value::Text(&c.to),
                Value::Text(&c.cc),
                Value::Text(&m.subject),
                Value::MaybeInt(m.date_ms),
                Value::Int(now),
                Value::Text(&m.text),
                Value::MaybeText(m.html.as_deref()),
                Value::MaybeText(match c.verdict {
                    Verdict::Automatic { reason, .. } => Some(reason.as_str()),
                    Verdict::Person => None,
                }),
                Value::Int(size(c.incoming.raw.len())),
                Value::Bytes(&c.incoming.raw),
                Value::MaybeText(match (&c.joined, &c.bounced, &c.copy_of) {
                    (Some((_, role)), _, _) => Some(role.as_str()),
                    (None, None, None) => Some(Role::Requester.as_str()),
                    _ => None,
                }),
            ]
        })
        .collect();
    let returned = rows::insert(
        backend,
        tx,
        "INSERT INTO messages (id, ticket_id, direction, mailbox, source_key, uidvalidity, uid, message_id, dedupe_id, sha256,
            in_reply_to, references_ids, from_address, from_name, reply_to, to_list, cc_list, subject, sent_at,
            received_at, text_body, html_body, automatic, size, raw, author_role)",
        " ON CONFLICT DO NOTHING RETURNING id",
        &rows,
    )
    .await?;
    returned.iter().map(|row| row.try_get::<String, _>(0).map_err(StoreError::from)).collect()
}

async fn insert_tickets(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    new: &[&Candidate<'_>],
    references: &[TicketRef],
    now: i64,
) -> Result<(), StoreError> {
    let rows: Vec<Vec<Value<'_>>> = new
        .iter()
        .zip(references)
        .map(|(c, reference)| {
            let requester = c.message.requester();
            vec![
                Value::Text(&c.ticket_id),
                Value::Text(reference.as_str()),
                Value::Text(&requester.address),
                Value::MaybeText(requester.name.as_deref()),
                Value::Text(&c.message.subject),
                Value::Text(c.decision.department.as_str()),
                Value::MaybeText(c.decision.category.as_deref()),
                Value::Text("new"),
                Value::Text(c.decision.decided_by.as_str()),
                Value::MaybeFloat(c.decision.confidence),
                Value::Text(&c.decision.reason),
                Value::Text(c.incoming.mailbox.as_str()),
                Value::MaybeText(match c.verdict {
                    Verdict::Automatic { kind, .. } => Some(kind.as_str()),
                    Verdict::Person => None,
                }),
                Value::MaybeText(c.message.message_id.as_deref()),
                Value::Text(c.language.code()),
                Value::Int(now),
                Value::Int(now),
            ]
        })
        .collect();
    rows::insert(
        backend,
        tx,
        "INSERT INTO tickets (id, reference, requester_address, requester_name, subject, department, category,
            status, decided_by, route_confidence, route_reason, origin_mailbox, automatic, opening_message_id,
            language, created_at, updated_at)",
        "",
        &rows,
    )
    .await?;
    Ok(())
}

async fn insert_attachments(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    new: &[&Candidate<'_>],
) -> Result<(), StoreError> {
    let ids: Vec<Vec<String>> = new.iter().map(|c| c.message.attachments.iter().map(|_| new_id()).collect()).collect();
    let rows: Vec<Vec<Value<'_>>> = new
        .iter()
        .zip(&ids)
        .flat_map(|(c, ids)| {
            c.message.attachments.iter().zip(ids).enumerate().map(|(position, (a, id))| {
                vec![
                    Value::Text(id),
                    Value::Text(&c.message_row),
                    Value::Int(size(position)),
                    Value::MaybeText(a.name.as_deref()),
                    Value::Text(&a.content_type),
                    Value::Int(i64::try_from(a.size).unwrap_or(i64::MAX)),
                ]
            })
        })
        .collect();
    rows::insert(
        backend,
        tx,
        "INSERT INTO attachments (id, message_id, position, filename, content_type, size)",
        "",
        &rows,
    )
    .await?;
    Ok(())
}

/// The timeline a new ticket starts with.
fn opening_entries(c: &Candidate<'_>, response: &Response) -> Vec<Entry> {
    let mut entries = vec![
        Entry::new("received", format!("received in mailbox {}", c.incoming.mailbox)),
        Entry::new("routed", format!("routed to {}: {}", c.decision.department, c.decision.reason))
            .public(c.decision.department.as_str()),
    ];
    if let Verdict::Automatic { reason, .. } = c.verdict {
        entries.push(Entry::new("automatic", format!("automatic mail, no reply will be sent: {reason}")));
    }
    entries.extend(queued(&response.mails));
    entries.extend(response.withheld.iter().map(|reason| Entry::new("withheld", reason.clone())));
    entries
}

/// One "queued" entry per mail.
pub(super) fn queued(mails: &[Outgoing]) -> impl Iterator<Item = Entry> + '_ {
    mails.iter().map(|mail| Entry::new("queued", format!("{} to {} queued", mail.kind.noun(), mail.recipient)))
}

/// Adds entries to the timelines of tickets: (ticket id, message row, entry).
async fn insert_entries(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    entries: &[(&str, Option<&str>, &Entry)],
    now: i64,
) -> Result<(), StoreError> {
    let ids: Vec<String> = entries.iter().map(|_| new_id()).collect();
    let rows: Vec<Vec<Value<'_>>> = entries
        .iter()
        .zip(&ids)
        .map(|((ticket_id, message_row, entry), id)| {
            vec![
                Value::Text(id),
                Value::Text(ticket_id),
                Value::Int(now),
                Value::Text(entry.kind),
                Value::Text(&entry.detail),
                Value::MaybeText(*message_row),
                Value::MaybeText(entry.public.as_deref()),
            ]
        })
        .collect();
    rows::insert(
        backend,
        tx,
        "INSERT INTO events (id, ticket_id, at, kind, detail, message_id, public_text)",
        "",
        &rows,
    )
    .await?;
    Ok(())
}

/// The stored ticket with this reference, with what a conversation needs of it.
/// On PostgreSQL the ticket's row stays locked until the transaction ends, so a
/// concurrent command or reply waits and then sees this one's change instead of
/// writing back what it read before (SQLite has one writer, which does the same).
async fn load_ticket(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    reference: &TicketRef,
) -> Result<Option<TicketState>, StoreError> {
    type TicketRow = (String, String, String, Option<String>, String, String, String, Option<String>, String, i64);
    let select = match backend {
        Backend::Sqlite => {
            "SELECT id, reference, requester_address, requester_name, subject, department, status, language,
                origin_mailbox, created_at FROM tickets WHERE reference = $1"
        }
        Backend::Postgres => {
            "SELECT id, reference, requester_address, requester_name, subject, department, status, language,
                origin_mailbox, created_at FROM tickets WHERE reference = $1 FOR UPDATE"
        }
    };
    let row: Option<TicketRow> = sqlx::query_as(select).bind(reference.as_str()).fetch_optional(&mut **tx).await?;
    let Some((id, reference, requester_address, requester_name, subject, department, status, language, origin, at)) =
        row
    else {
        return Ok(None);
    };
    let opening: Option<(String, Option<String>, String, Vec<u8>)> = sqlx::query_as(
        "SELECT from_address, message_id, text_body, raw FROM messages WHERE ticket_id = $1
         ORDER BY received_at, id LIMIT 1",
    )
    .bind(&id)
    .fetch_optional(&mut **tx)
    .await?;
    let (opening_from, opening_message_id, opening_text, opening_raw) = opening.unwrap_or_default();
    let staff: Vec<String> =
        sqlx::query_scalar("SELECT address FROM participants WHERE ticket_id = $1 AND role = 'staff' ORDER BY address")
            .bind(&id)
            .fetch_all(&mut **tx)
            .await?;
    let link_generation: i64 =
        sqlx::query_scalar("SELECT link_generation FROM tickets WHERE id = $1").bind(&id).fetch_one(&mut **tx).await?;
    Ok(Some(TicketState {
        id,
        reference: TicketRef::parse(&reference).map_err(|e| StoreError::Corrupt(e.0))?,
        requester_address,
        requester_name,
        opening_from,
        subject,
        department,
        status: crate::domain::Status::from_stored(&status),
        language: language.as_deref().and_then(Language::from_code).unwrap_or(Language::En),
        origin_mailbox: origin,
        opening_message_id,
        opening_text,
        opening_raw,
        received_at: at,
        staff,
        link_generation,
    }))
}

/// Applies what a message joining a ticket does: the ticket's new status or
/// department, its staff, the mails it queues and its timeline.
async fn apply_reply(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    ticket: &TicketState,
    message_row: &str,
    reply: &Reply,
    now: i64,
) -> Result<(), StoreError> {
    let status = reply.status.unwrap_or(ticket.status);
    let department = reply.department.as_deref().unwrap_or(&ticket.department);
    sqlx::query("UPDATE tickets SET status = $1, department = $2, updated_at = $3 WHERE id = $4")
        .bind(status.as_str())
        .bind(department)
        .bind(now)
        .bind(&ticket.id)
        .execute(&mut **tx)
        .await?;
    if let Some(address) = &reply.staff {
        sqlx::query(
            "INSERT INTO participants (ticket_id, address, role, added_at) VALUES ($1, $2, 'staff', $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(&ticket.id)
        .bind(address.to_ascii_lowercase())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    let mails: Vec<(&str, &Outgoing)> = reply.mails.iter().map(|m| (ticket.id.as_str(), m)).collect();
    insert_outbox(backend, tx, &mails, now).await?;
    let queued: Vec<Entry> = queued(&reply.mails).collect();
    let entries: Vec<(&str, Option<&str>, &Entry)> =
        reply.entries.iter().chain(&queued).map(|e| (ticket.id.as_str(), Some(message_row), e)).collect();
    insert_entries(backend, tx, &entries, now).await
}

/// Asks the responder what each new ticket sends, counting the automatic mails its
/// requester already had this hour (in the store and earlier in this group).
/// The sent mail a delivery report quotes, when it is one of loket's.
async fn find_bounced(tx: &mut Transaction<'_, Any>, candidate: &Candidate<'_>) -> Result<Option<Bounced>, StoreError> {
    if !matches!(candidate.verdict, Verdict::Automatic { kind: crate::guard::AutoKind::Bounce, .. }) {
        return Ok(None);
    }
    for quoted in &candidate.message.markers.quoted_message_ids {
        let row: Option<(String, String, String, String)> = sqlx::query_as(
            "SELECT t.reference, o.id, o.kind, o.recipient FROM outbox o JOIN tickets t ON t.id = o.ticket_id
             WHERE o.message_id = $1",
        )
        .bind(quoted)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some((reference, outbox_id, kind, recipient)) = row {
            return Ok(Some(Bounced { reference, outbox_id, kind, recipient }));
        }
    }
    Ok(None)
}

/// The ticket (id, reference) that already holds this message: the same
/// Message-ID from the same sender.
/// On PostgreSQL, two mailbox tasks (or instances) may take in copies of one mail
/// at the same moment: each waits here for the other's transaction, so the second
/// finds the first's ticket instead of opening its own. Keys are locked in order,
/// so two groups never wait for each other in a circle.
async fn lock_copy_keys(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    candidates: &[Candidate<'_>],
) -> Result<(), StoreError> {
    if backend != Backend::Postgres {
        return Ok(());
    }
    let mut keys: Vec<String> = candidates
        .iter()
        .filter_map(|c| c.message.message_id.as_deref().map(|id| format!("{id}\n{}", c.message.from.address)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))").bind(key).execute(&mut **tx).await?;
    }
    Ok(())
}

async fn find_copy(
    tx: &mut Transaction<'_, Any>,
    message: &Normalised,
) -> Result<Option<(String, String)>, StoreError> {
    let Some(message_id) = message.message_id.as_deref() else { return Ok(None) };
    Ok(sqlx::query_as(
        "SELECT t.id, t.reference FROM messages m JOIN tickets t ON t.id = m.ticket_id
         WHERE m.message_id = $1 AND m.from_address = $2 ORDER BY m.received_at, m.id LIMIT 1",
    )
    .bind(message_id)
    .bind(&message.from.address)
    .fetch_optional(&mut **tx)
    .await?)
}

async fn bounced_ticket(tx: &mut Transaction<'_, Any>, bounced: &Bounced) -> Result<String, StoreError> {
    Ok(sqlx::query_scalar("SELECT ticket_id FROM outbox WHERE id = $1")
        .bind(&bounced.outbox_id)
        .fetch_one(&mut **tx)
        .await?)
}

/// Marks the bounced mail and says on its ticket that it did not arrive.
async fn record_bounce(
    tx: &mut Transaction<'_, Any>,
    candidate: &Candidate<'_>,
    bounced: &Bounced,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE outbox SET state = 'bounced', last_error = $1 WHERE id = $2")
        .bind(&candidate.message.subject)
        .bind(&bounced.outbox_id)
        .execute(&mut **tx)
        .await?;
    let detail = format!(
        "the {} to {} could not be delivered: {} (report from {})",
        OutKind::from_stored(&bounced.kind).noun(),
        bounced.recipient,
        candidate.message.subject,
        candidate.message.from.address
    );
    sqlx::query(
        "INSERT INTO events (id, ticket_id, at, kind, detail, message_id) VALUES ($1, $2, $3, 'bounced', $4, $5)",
    )
    .bind(new_id())
    .bind(&candidate.ticket_id)
    .bind(now)
    .bind(detail)
    .bind(&candidate.message_row)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Adds one event to a ticket's timeline.
pub(super) async fn insert_event(
    tx: &mut Transaction<'_, Any>,
    ticket_id: &str,
    at: i64,
    kind: &str,
    detail: &str,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO events (id, ticket_id, at, kind, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(new_id())
        .bind(ticket_id)
        .bind(at)
        .bind(kind)
        .bind(detail)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn respond(
    tx: &mut Transaction<'_, Any>,
    new: &[&Candidate<'_>],
    references: &[TicketRef],
    responder: &dyn Responder,
    now: i64,
) -> Result<Vec<Response>, StoreError> {
    let hour_ago = now - 3_600_000;
    let mut queued_here: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    let mut responses = Vec::with_capacity(new.len());
    for (c, reference) in new.iter().zip(references) {
        let recipient = c.message.requester().address.to_ascii_lowercase();
        let stored: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE recipient = $1 AND kind = 'ack' AND created_at > $2")
                .bind(&recipient)
                .bind(hour_ago)
                .fetch_one(&mut **tx)
                .await?;
        let opened = Opened {
            reference,
            incoming: c.incoming,
            message: c.message,
            verdict: c.verdict,
            decision: c.decision,
            language: c.language,
            recent_acks: stored + queued_here.get(&recipient).copied().unwrap_or(0),
        };
        let response = responder.respond(&opened);
        let acks = response.mails.iter().filter(|m| m.kind == OutKind::Ack).count();
        *queued_here.entry(recipient).or_default() += i64::try_from(acks).unwrap_or(i64::MAX);
        responses.push(response);
    }
    Ok(responses)
}

/// Queues composed mails: (ticket id, mail).
async fn insert_outbox(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    mails: &[(&str, &Outgoing)],
    now: i64,
) -> Result<(), StoreError> {
    let mails: Vec<(&str, String, String, &Outgoing)> =
        mails.iter().map(|(ticket_id, m)| (*ticket_id, new_id(), m.recipient.to_ascii_lowercase(), *m)).collect();
    let rows: Vec<Vec<Value<'_>>> = mails
        .iter()
        .map(|(ticket_id, id, recipient, mail)| {
            vec![
                Value::Text(id),
                Value::Text(ticket_id),
                Value::Text(mail.kind.as_str()),
                Value::Text(recipient),
                Value::Text(&mail.sender),
                Value::Text(&mail.message_id),
                Value::Bytes(&mail.bytes),
                Value::Text("pending"),
                Value::Int(now),
                Value::Int(now),
            ]
        })
        .collect();
    rows::insert(
        backend,
        tx,
        "INSERT INTO outbox (id, ticket_id, kind, recipient, sender, message_id, body, state, next_attempt_at, created_at)",
        "",
        &rows,
    )
    .await?;
    Ok(())
}

async fn insert_quarantine(
    backend: Backend,
    tx: &mut Transaction<'_, Any>,
    items: &[(&Incoming, &str, String)],
    now: i64,
) -> Result<(), StoreError> {
    let ids: Vec<String> = items.iter().map(|_| new_id()).collect();
    let rows: Vec<Vec<Value<'_>>> = items
        .iter()
        .zip(&ids)
        .map(|((incoming, reason, sha256), id)| {
            vec![
                Value::Text(id),
                Value::Text(incoming.mailbox.as_str()),
                Value::Text(&incoming.source_key),
                Value::Text(reason),
                Value::Text(sha256),
                Value::Int(i64::try_from(incoming.size).unwrap_or(i64::MAX)),
                Value::Int(i64::from(incoming.truncated)),
                Value::Bytes(&incoming.raw),
                Value::Int(now),
            ]
        })
        .collect();
    rows::insert(
        backend,
        tx,
        "INSERT INTO quarantine (id, mailbox, source_key, reason, sha256, size, truncated, raw, at)",
        " ON CONFLICT DO NOTHING",
        &rows,
    )
    .await?;
    Ok(())
}

async fn advance<'e>(
    executor: impl sqlx::Executor<'e, Database = Any>,
    mailbox: &str,
    uidvalidity: u32,
    uid: u32,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE mailboxes SET last_uid = $1, updated_at = $2 WHERE name = $3 AND uidvalidity = $4 AND last_uid < $1",
    )
    .bind(i64::from(uid))
    .bind(now)
    .bind(mailbox)
    .bind(i64::from(uidvalidity))
    .execute(executor)
    .await?;
    Ok(())
}
