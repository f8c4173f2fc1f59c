//! The ingest transaction: one message, all or nothing.
//!
//! The raw bytes, the parsed message, its ticket, attachments, timeline events
//! and (when the source has nothing left to do on the server) the mailbox cursor
//! are written together. The unique keys
//! `(mailbox, source_key)` and `(Message-ID, sha256)` turn a repeat into a no-op
//! that still advances the cursor, so a crash at any point is safe to replay.

use sqlx::{Any, Transaction};
use uuid::Uuid;

use super::{Store, StoreError};
use crate::domain::{Mailbox, TicketRef};
use crate::guard::Verdict;
use crate::intake::Normalised;
use crate::plan::{Incoming, Plan};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    Created(TicketRef),
    Duplicate,
    Quarantined,
}

fn new_id() -> String {
    Uuid::now_v7().to_string()
}

fn addresses_json(list: &[Mailbox]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

impl Store {
    /// Stores one planned message in one transaction. `ticket_prefix` forms new references.
    pub async fn ingest(
        &self,
        incoming: &Incoming,
        plan: &Plan,
        ticket_prefix: &str,
        now: i64,
    ) -> Result<IngestOutcome, StoreError> {
        let mut outcomes = self.ingest_all(&[(incoming, plan)], ticket_prefix, now).await?;
        Ok(outcomes.remove(0))
    }

    /// Stores several whole messages, in source order, in one transaction (a group
    /// commit): each message is stored completely or not at all, and the cursor moves
    /// once, to the last of them. A failure stores none of the group, so the source
    /// acknowledges none and fetches them again.
    pub async fn ingest_all(
        &self,
        items: &[(&Incoming, &Plan)],
        ticket_prefix: &str,
        now: i64,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let mut tx = self.write.begin().await?;
        let mut outcomes = Vec::with_capacity(items.len());
        for (incoming, plan) in items {
            outcomes.push(store_one(&mut tx, incoming, plan, ticket_prefix, now).await?);
        }
        if let Some(last) = items.iter().rev().find(|(incoming, _)| incoming.imap.is_some_and(|p| p.advance_cursor)) {
            advance_cursor(&mut tx, last.0, now).await?;
        }
        tx.commit().await?;
        Ok(outcomes)
    }
}

async fn store_one(
    tx: &mut Transaction<'_, Any>,
    incoming: &Incoming,
    plan: &Plan,
    ticket_prefix: &str,
    now: i64,
) -> Result<IngestOutcome, StoreError> {
    let (message, verdict, decision) = match plan {
        Plan::Quarantine { reason } => {
            insert_quarantine(tx, incoming, reason, now).await?;
            return Ok(IngestOutcome::Quarantined);
        }
        Plan::Ticket { message, verdict, decision } => (message, verdict, decision),
    };
    let message_row = new_id();
    let ticket_id = new_id();
    if !insert_message(tx, incoming, message, verdict, &message_row, &ticket_id, now).await? {
        return Ok(IngestOutcome::Duplicate);
    }
    let number: i64 = sqlx::query_scalar("UPDATE counters SET value = value + 1 WHERE name = 'ticket' RETURNING value")
        .fetch_one(&mut **tx)
        .await?;
    let reference = TicketRef::new(ticket_prefix, number);
    let automatic = match verdict {
        Verdict::Automatic { kind, .. } => Some(kind.as_str()),
        Verdict::Person => None,
    };
    sqlx::query(
        "INSERT INTO tickets (id, reference, requester_address, requester_name, subject, department, category,
            status, language, decided_by, route_confidence, route_reason, origin_mailbox, misdirected,
            automatic, opening_message_id, token_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'new', NULL, $8, $9, $10, $11, 0, $12, $13, NULL, $14, $14)",
    )
    .bind(&ticket_id)
    .bind(reference.as_str())
    .bind(requester(message).address.as_str())
    .bind(requester(message).name.as_deref())
    .bind(message.subject.as_str())
    .bind(decision.department.as_str())
    .bind(decision.category.as_deref())
    .bind(decision.decided_by.as_str())
    .bind(decision.confidence)
    .bind(decision.reason.as_str())
    .bind(incoming.mailbox.as_str())
    .bind(automatic)
    .bind(message.message_id.as_deref())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    insert_attachments(tx, message, &message_row).await?;
    let mut events = vec![
        ("received", format!("received in mailbox {}", incoming.mailbox)),
        ("routed", format!("routed to {}: {}", decision.department, decision.reason)),
    ];
    if let Verdict::Automatic { reason, .. } = verdict {
        events.push(("automatic", format!("automatic mail, no reply will be sent: {reason}")));
    }
    insert_events(tx, &ticket_id, now, &events, Some(&message_row)).await?;
    Ok(IngestOutcome::Created(reference))
}

/// The person a reply goes to: Reply-To when given, else From.
fn requester(message: &Normalised) -> &Mailbox {
    message.reply_to.as_ref().unwrap_or(&message.from)
}

/// Returns false when the message is already stored.
async fn insert_message(
    tx: &mut Transaction<'_, Any>,
    incoming: &Incoming,
    message: &Normalised,
    verdict: &Verdict,
    row_id: &str,
    ticket_id: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let automatic = match verdict {
        Verdict::Automatic { reason, .. } => Some(reason.as_str()),
        Verdict::Person => None,
    };
    let result = sqlx::query(
        "INSERT INTO messages (id, ticket_id, direction, mailbox, source_key, uidvalidity, uid, message_id, dedupe_id, sha256,
            in_reply_to, references_ids, from_address, from_name, reply_to, to_list, cc_list, subject, sent_at, received_at,
            text_body, html_body, automatic, size, raw)
         VALUES ($1, $2, 'in', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)
         ON CONFLICT DO NOTHING",
    )
    .bind(row_id)
    .bind(ticket_id)
    .bind(incoming.mailbox.as_str())
    .bind(incoming.source_key.as_str())
    .bind(incoming.imap.map(|p| i64::from(p.uidvalidity)))
    .bind(incoming.imap.map(|p| i64::from(p.uid)))
    .bind(message.message_id.as_deref())
    .bind(message.message_id.as_deref().unwrap_or(""))
    .bind(message.sha256.as_str())
    .bind(message.in_reply_to.join(" "))
    .bind(message.references.join(" "))
    .bind(message.from.address.as_str())
    .bind(message.from.name.as_deref())
    .bind(message.reply_to.as_ref().map(|m| m.to_string()))
    .bind(addresses_json(&message.to))
    .bind(addresses_json(&message.cc))
    .bind(message.subject.as_str())
    .bind(message.date_ms)
    .bind(now)
    .bind(message.text.as_str())
    .bind(message.html.as_deref())
    .bind(automatic)
    .bind(i64::try_from(incoming.raw.len()).unwrap_or(i64::MAX))
    .bind(incoming.raw.as_slice())
    .execute(&mut **tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

async fn insert_attachments(
    tx: &mut Transaction<'_, Any>,
    message: &Normalised,
    message_row: &str,
) -> Result<(), StoreError> {
    for (position, attachment) in message.attachments.iter().enumerate() {
        sqlx::query(
            "INSERT INTO attachments (id, message_id, position, filename, content_type, size) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new_id())
        .bind(message_row)
        .bind(i64::try_from(position).unwrap_or(i64::MAX))
        .bind(attachment.name.as_deref())
        .bind(attachment.content_type.as_str())
        .bind(i64::try_from(attachment.size).unwrap_or(i64::MAX))
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Adds timeline events in one statement.
pub(super) async fn insert_events(
    tx: &mut Transaction<'_, Any>,
    ticket_id: &str,
    at: i64,
    events: &[(&str, String)],
    message_row: Option<&str>,
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..events.len())
        .map(|i| {
            let b = i * 6;
            format!("(${}, ${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6)
        })
        .collect();
    let sql = format!("INSERT INTO events (id, ticket_id, at, kind, detail, message_id) VALUES {}", rows.join(", "));
    // Only placeholders are formatted into the statement; every value is bound.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (kind, detail) in events {
        query = query.bind(new_id()).bind(ticket_id).bind(at).bind(*kind).bind(detail.as_str()).bind(message_row);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

async fn insert_quarantine(
    tx: &mut Transaction<'_, Any>,
    incoming: &Incoming,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO quarantine (id, mailbox, source_key, reason, sha256, size, truncated, raw, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
    )
    .bind(new_id())
    .bind(incoming.mailbox.as_str())
    .bind(incoming.source_key.as_str())
    .bind(reason)
    .bind(crate::intake::sha256_hex(&incoming.raw))
    .bind(i64::try_from(incoming.size).unwrap_or(i64::MAX))
    .bind(i64::from(incoming.truncated))
    .bind(incoming.raw.as_slice())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    tracing::warn!(mailbox = %incoming.mailbox, key = %incoming.source_key, reason, "message quarantined");
    Ok(())
}

/// Moves the cursor forward to this message's UID, never backwards.
async fn advance_cursor(tx: &mut Transaction<'_, Any>, incoming: &Incoming, now: i64) -> Result<(), StoreError> {
    match incoming.imap {
        Some(position) if position.advance_cursor => {
            advance(&mut **tx, incoming.mailbox.as_str(), position.uidvalidity, position.uid, now).await
        }
        _ => Ok(()),
    }
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

impl Store {
    /// Moves a mailbox cursor forward to `uid` (never backwards), once the source has
    /// moved or flagged the messages up to it.
    pub async fn advance_cursor(&self, mailbox: &str, uidvalidity: u32, uid: u32) -> Result<(), StoreError> {
        advance(&self.write, mailbox, uidvalidity, uid, crate::clock::now_ms()).await
    }
}
