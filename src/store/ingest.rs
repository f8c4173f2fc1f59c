//! The ingest transaction: what the desk needs to look up, and the writes of
//! what it decided, all in one transaction. The store decides nothing here: the
//! ingest step (`pipeline`) looks the state up, asks the desk, and hands back
//! rows, mails and timeline entries to write.
//!
//! The unique keys `(mailbox, source_key)` and `(Message-ID, sha256)` turn a
//! repeated message into a no-op (`insert_messages` returns only the rows it
//! inserted), so a crash at any point is safe to replay.

use std::collections::HashSet;

use sqlx::{Any, Row, Transaction};
use uuid::Uuid;

use super::events::Stored;
use super::rows::{self, Value};
use super::spelling::spelled;
use super::{Backend, Store, StoreError};
use crate::domain::{
    AutoKind, DecidedBy, DepartmentId, Entry, Language, MailKind, MailboxName, OutboxState, Outgoing, Role, Status,
    TicketRef, TicketState,
};

/// How far back a ticket's messages are given to the desk to recognise a loop.
const LOOP_WINDOW_MS: i64 = 10 * 60 * 1000;

/// A new row id: time-ordered, unique across instances.
pub fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// A message to store, as its row.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub row_id: &'a str,
    pub ticket_id: &'a str,
    pub mailbox: &'a MailboxName,
    pub source_key: &'a str,
    pub uidvalidity: Option<i64>,
    pub uid: Option<i64>,
    pub message_id: Option<&'a str>,
    pub sha256: &'a str,
    pub in_reply_to: &'a str,
    pub references: &'a str,
    pub from_address: &'a str,
    pub from_name: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    /// JSON lists of the addressees.
    pub to: &'a str,
    pub cc: &'a str,
    pub subject: &'a str,
    pub sent_at: Option<i64>,
    pub text: &'a str,
    pub html: Option<&'a str>,
    /// Why it is automatic mail, when it is.
    pub automatic: Option<String>,
    pub raw: &'a [u8],
    /// Who wrote it; `None` for copies and bounces.
    pub author_role: Option<Role>,
}

/// A ticket to open, as its row.
#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    pub id: &'a str,
    pub reference: &'a TicketRef,
    pub requester_address: &'a str,
    pub requester_name: Option<&'a str>,
    pub subject: &'a str,
    pub department: &'a DepartmentId,
    pub category: Option<&'a str>,
    pub decided_by: DecidedBy,
    pub confidence: Option<f64>,
    pub reason: &'a str,
    pub origin_mailbox: &'a MailboxName,
    /// The kind of automatic mail that opened it, when it was.
    pub automatic: Option<AutoKind>,
    pub opening_message_id: Option<&'a str>,
    pub language: Language,
    pub status: Status,
}

/// An attachment's description (the bytes stay in the raw message).
#[derive(Debug, Clone)]
pub struct NewAttachment<'a> {
    pub message_row: &'a str,
    pub position: usize,
    pub filename: Option<&'a str>,
    pub content_type: &'a str,
    pub size: u64,
}

/// A message that could not be taken in, with why.
#[derive(Debug, Clone)]
pub struct Quarantined<'a> {
    pub mailbox: &'a MailboxName,
    pub source_key: &'a str,
    pub reason: &'a str,
    pub sha256: &'a str,
    pub size: u64,
    pub truncated: bool,
    pub raw: &'a [u8],
}

/// One of loket's sent mails that a delivery report quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BouncedMail {
    pub reference: TicketRef,
    pub ticket_id: String,
    pub outbox_id: String,
    pub kind: MailKind,
    pub recipient: String,
}

/// What a message changes on the ticket it joined.
#[derive(Debug, Clone, Copy)]
pub struct TicketChange<'a> {
    pub status: Status,
    pub department: &'a DepartmentId,
    /// An address to remember as the ticket's staff.
    pub staff: Option<&'a str>,
}

/// The one write transaction of a group of messages.
pub struct IngestTx {
    pub(super) tx: Transaction<'static, Any>,
    backend: Backend,
}

impl Store {
    pub async fn begin_ingest(&self) -> Result<IngestTx, StoreError> {
        Ok(IngestTx { tx: self.write.begin().await?, backend: self.backend })
    }

    /// Moves a mailbox cursor forward to `uid` (never backwards), once the source has
    /// moved or flagged the messages up to it.
    /// With `lease`, the write is refused once another instance has taken the mailbox.
    pub async fn advance_cursor(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        uid: u32,
        lease: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut conn = self.write.acquire().await?;
        advance(&mut conn, mailbox, (uidvalidity, uid), lease, crate::clock::now_ms()).await
    }
}

fn size(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl IngestTx {
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    pub async fn quarantine(&mut self, items: &[Quarantined<'_>], now: i64) -> Result<(), StoreError> {
        let ids: Vec<String> = items.iter().map(|_| new_id()).collect();
        let rows: Vec<Vec<Value<'_>>> = items
            .iter()
            .zip(&ids)
            .map(|(q, id)| {
                vec![
                    Value::Text(id),
                    Value::Text(q.mailbox.as_str()),
                    Value::Text(q.source_key),
                    Value::Text(q.reason),
                    Value::Text(q.sha256),
                    Value::Int(size(q.size)),
                    Value::Int(i64::from(q.truncated)),
                    Value::Bytes(q.raw),
                    Value::Int(now),
                ]
            })
            .collect();
        rows::insert(
            self.backend,
            &mut self.tx,
            "INSERT INTO quarantine (id, mailbox, source_key, reason, sha256, size, truncated, raw, at)",
            " ON CONFLICT DO NOTHING",
            &rows,
        )
        .await?;
        Ok(())
    }

    /// On PostgreSQL, two mailbox tasks (or instances) may take in copies of one
    /// mail at the same moment: each waits here for the other's transaction, so
    /// the second finds the first's ticket instead of opening its own. Keys are
    /// locked in order, so two groups never wait for each other in a circle.
    /// SQLite has one writer, which does the same.
    pub async fn lock_copy_keys(&mut self, keys: &[String]) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let mut keys: Vec<&String> = keys.iter().collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// The sent mail one of `quoted` Message-IDs names, when it is one of loket's.
    pub async fn bounced_mail(&mut self, quoted: &[String]) -> Result<Option<BouncedMail>, StoreError> {
        for id in quoted {
            let row: Option<(TicketRef, String, String, MailKind, String)> = sqlx::query_as(
                "SELECT t.reference, t.id, o.id, o.kind, o.recipient FROM outbox o JOIN tickets t ON t.id = o.ticket_id
                 WHERE o.message_id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
            if let Some((reference, ticket_id, outbox_id, kind, recipient)) = row {
                return Ok(Some(BouncedMail { reference, ticket_id, outbox_id, kind, recipient }));
            }
        }
        Ok(None)
    }

    /// The stored ticket with this reference, with what a conversation needs of it.
    /// On PostgreSQL its row stays locked until the transaction ends, so a
    /// concurrent command or reply waits and then sees this one's change instead of
    /// writing back what it read before.
    pub async fn ticket(&mut self, reference: &TicketRef, now: i64) -> Result<Option<TicketState>, StoreError> {
        type TicketRow = (
            String,
            TicketRef,
            String,
            Option<String>,
            String,
            DepartmentId,
            Status,
            Option<Language>,
            MailboxName,
            i64,
            i64,
        );
        let select = match self.backend {
            Backend::Sqlite => {
                "SELECT id, reference, requester_address, requester_name, subject, department, status, language,
                    origin_mailbox, created_at, link_generation FROM tickets WHERE reference = $1"
            }
            Backend::Postgres => {
                "SELECT id, reference, requester_address, requester_name, subject, department, status, language,
                    origin_mailbox, created_at, link_generation FROM tickets WHERE reference = $1 FOR UPDATE"
            }
        };
        let row: Option<TicketRow> =
            sqlx::query_as(select).bind(reference.as_str()).fetch_optional(&mut *self.tx).await?;
        let Some((
            id,
            reference,
            requester_address,
            requester_name,
            subject,
            department,
            status,
            language,
            origin,
            at,
            link_generation,
        )) = row
        else {
            return Ok(None);
        };
        let tx = &mut *self.tx;
        let opening: Option<(String, Option<String>, String, Vec<u8>)> = sqlx::query_as(
            "SELECT from_address, message_id, text_body, raw FROM messages WHERE ticket_id = $1
             ORDER BY received_at, id LIMIT 1",
        )
        .bind(&id)
        .fetch_optional(&mut *tx)
        .await?;
        let (opening_from, opening_message_id, opening_text, opening_raw) = opening.unwrap_or_default();
        let staff: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(spelled(
            "SELECT address FROM participants WHERE ticket_id = $1 AND role = ROLE_STAFF ORDER BY address",
        )))
        .bind(&id)
        .fetch_all(&mut *tx)
        .await?;
        let recent_mails: i64 = sqlx::query_scalar(
            sqlx::AssertSqlSafe(spelled("SELECT COUNT(*) FROM outbox WHERE ticket_id = $1 AND kind IN (MAIL_RELAY, MAIL_UPDATE, MAIL_MOVED, MAIL_NOTICE)
             AND created_at > $2")),
        )
        .bind(&id)
        .bind(now - 3_600_000)
        .fetch_one(&mut *tx)
        .await?;
        let recent_messages: Vec<(String, String)> = sqlx::query_as(
            "SELECT from_address, SUBSTR(text_body, 1, 2000) FROM messages
             WHERE ticket_id = $1 AND direction = 'in' AND received_at > $2 ORDER BY received_at DESC, id DESC LIMIT 10",
        )
        .bind(&id)
        .bind(now - LOOP_WINDOW_MS)
        .fetch_all(&mut *tx)
        .await?;
        Ok(Some(TicketState {
            id,
            reference,
            requester_address,
            requester_name,
            opening_from,
            subject,
            department,
            status,
            // Tickets opened before languages were kept are in English.
            language: language.unwrap_or(Language::En),
            origin_mailbox: origin,
            opening_message_id,
            opening_text,
            opening_raw,
            received_at: at,
            staff,
            link_generation,
            recent_mails,
            recent_messages,
        }))
    }

    /// Inserts the messages; returns the row ids of those that were not already stored.
    pub async fn insert_messages(
        &mut self,
        messages: &[NewMessage<'_>],
        now: i64,
    ) -> Result<HashSet<String>, StoreError> {
        let rows: Vec<Vec<Value<'_>>> = messages
            .iter()
            .map(|m| {
                vec![
                    Value::Text(m.row_id),
                    Value::Text(m.ticket_id),
                    Value::Text("in"),
                    Value::Text(m.mailbox.as_str()),
                    Value::Text(m.source_key),
                    Value::MaybeInt(m.uidvalidity),
                    Value::MaybeInt(m.uid),
                    Value::MaybeText(m.message_id),
                    Value::Text(m.message_id.unwrap_or("")),
                    Value::Text(m.sha256),
                    Value::Text(m.in_reply_to),
                    Value::Text(m.references),
                    Value::Text(m.from_address),
                    Value::MaybeText(m.from_name),
                    Value::MaybeText(m.reply_to),
                    Value::Text(m.to),
                    Value::Text(m.cc),
                    Value::Text(m.subject),
                    Value::MaybeInt(m.sent_at),
                    Value::Int(now),
                    Value::Text(m.text),
                    Value::MaybeText(m.html),
                    Value::MaybeText(m.automatic.as_deref()),
                    Value::Int(size(m.raw.len() as u64)),
                    Value::Bytes(m.raw),
                    Value::MaybeText(m.author_role.map(Role::as_str)),
                ]
            })
            .collect();
        let returned = rows::insert(
            self.backend,
            &mut self.tx,
            "INSERT INTO messages (id, ticket_id, direction, mailbox, source_key, uidvalidity, uid, message_id, dedupe_id, sha256,
                in_reply_to, references_ids, from_address, from_name, reply_to, to_list, cc_list, subject, sent_at,
                received_at, text_body, html_body, automatic, size, raw, author_role)",
            " ON CONFLICT DO NOTHING RETURNING id",
            &rows,
        )
        .await?;
        returned.iter().map(|row| row.try_get::<String, _>(0).map_err(StoreError::from)).collect()
    }

    /// Marks a sent mail as bounced, with the report's subject as its error.
    pub async fn record_bounce(&mut self, outbox_id: &str, report: &str) -> Result<(), StoreError> {
        sqlx::query(sqlx::AssertSqlSafe(super::spelling::spelled(
            "UPDATE outbox SET state = STATE_BOUNCED, last_error = $1 WHERE id = $2",
        )))
        .bind(report)
        .bind(outbox_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The next `count` ticket references, gap-free.
    pub async fn next_references(&mut self, prefix: &str, count: usize) -> Result<Vec<TicketRef>, StoreError> {
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        let last: i64 =
            sqlx::query_scalar("UPDATE counters SET value = value + $1 WHERE name = 'ticket' RETURNING value")
                .bind(count)
                .fetch_one(&mut *self.tx)
                .await?;
        Ok((last - count + 1..=last).map(|n| TicketRef::new(prefix, n)).collect())
    }

    pub async fn insert_tickets(&mut self, tickets: &[NewTicket<'_>], now: i64) -> Result<(), StoreError> {
        let rows: Vec<Vec<Value<'_>>> = tickets
            .iter()
            .map(|t| {
                vec![
                    Value::Text(t.id),
                    Value::Text(t.reference.as_str()),
                    Value::Text(t.requester_address),
                    Value::MaybeText(t.requester_name),
                    Value::Text(t.subject),
                    Value::Text(t.department.as_str()),
                    Value::MaybeText(t.category),
                    Value::Text(t.status.as_str()),
                    Value::Text(t.decided_by.as_str()),
                    Value::MaybeFloat(t.confidence),
                    Value::Text(t.reason),
                    Value::Text(t.origin_mailbox.as_str()),
                    Value::MaybeText(t.automatic.map(AutoKind::as_str)),
                    Value::MaybeText(t.opening_message_id),
                    Value::Text(t.language.code()),
                    Value::Int(now),
                    Value::Int(now),
                ]
            })
            .collect();
        rows::insert(
            self.backend,
            &mut self.tx,
            "INSERT INTO tickets (id, reference, requester_address, requester_name, subject, department, category,
                status, decided_by, route_confidence, route_reason, origin_mailbox, automatic, opening_message_id,
                language, created_at, updated_at)",
            "",
            &rows,
        )
        .await?;
        Ok(())
    }

    pub async fn insert_attachments(&mut self, attachments: &[NewAttachment<'_>]) -> Result<(), StoreError> {
        let ids: Vec<String> = attachments.iter().map(|_| new_id()).collect();
        let rows: Vec<Vec<Value<'_>>> = attachments
            .iter()
            .zip(&ids)
            .map(|(a, id)| {
                vec![
                    Value::Text(id),
                    Value::Text(a.message_row),
                    Value::Int(size(a.position as u64)),
                    Value::MaybeText(a.filename),
                    Value::Text(a.content_type),
                    Value::Int(size(a.size)),
                ]
            })
            .collect();
        rows::insert(
            self.backend,
            &mut self.tx,
            "INSERT INTO attachments (id, message_id, position, filename, content_type, size)",
            "",
            &rows,
        )
        .await?;
        Ok(())
    }

    /// Writes a ticket's new status and department, and remembers its staff.
    pub async fn change_ticket(
        &mut self,
        ticket_id: &str,
        change: TicketChange<'_>,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE tickets SET status = $1, department = $2, updated_at = $3 WHERE id = $4")
            .bind(change.status.as_str())
            .bind(change.department.as_str())
            .bind(now)
            .bind(ticket_id)
            .execute(&mut *self.tx)
            .await?;
        if let Some(address) = change.staff {
            sqlx::query(sqlx::AssertSqlSafe(spelled(
                "INSERT INTO participants (ticket_id, address, role, added_at) VALUES ($1, $2, ROLE_STAFF, $3)
                 ON CONFLICT DO NOTHING",
            )))
            .bind(ticket_id)
            .bind(address.to_ascii_lowercase())
            .bind(now)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// Queues composed mails: (ticket id, mail).
    pub async fn queue(&mut self, mails: &[(&str, &Outgoing)], now: i64) -> Result<(), StoreError> {
        let mails: Vec<(&str, String, String, String, String, &Outgoing)> = mails
            .iter()
            .map(|(ticket_id, m)| {
                let key = crate::domain::rate_key(&m.recipient);
                let domain = crate::domain::domain_of(&m.recipient);
                (*ticket_id, new_id(), m.recipient.to_ascii_lowercase(), key, domain, *m)
            })
            .collect();
        let rows: Vec<Vec<Value<'_>>> = mails
            .iter()
            .map(|(ticket_id, id, recipient, key, domain, mail)| {
                vec![
                    Value::Text(id),
                    Value::Text(ticket_id),
                    Value::Text(mail.kind.as_str()),
                    Value::Text(recipient),
                    Value::Text(key),
                    Value::Text(domain),
                    Value::Text(&mail.sender),
                    Value::Text(&mail.message_id),
                    Value::Bytes(&mail.bytes),
                    Value::Text(OutboxState::Pending.as_str()),
                    Value::Int(now),
                    Value::Int(now),
                ]
            })
            .collect();
        rows::insert(
            self.backend,
            &mut self.tx,
            "INSERT INTO outbox (id, ticket_id, kind, recipient, recipient_key, recipient_domain, sender, message_id, body,
                state, next_attempt_at, created_at)",
            "",
            &rows,
        )
        .await?;
        if self.backend == Backend::Postgres && !rows.is_empty() {
            // Delivered at commit, to the outbox workers of every instance.
            sqlx::query(super::outbox::NOTIFY).execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Adds entries to the timelines of tickets: (ticket id, message row, entry).
    pub async fn record(&mut self, entries: &[(&str, Option<&str>, &Entry)], now: i64) -> Result<(), StoreError> {
        let ids: Vec<String> = entries.iter().map(|_| new_id()).collect();
        let stored: Vec<Stored> =
            entries.iter().map(|(_, _, entry)| Stored::of(&entry.event)).collect::<Result<_, _>>()?;
        let rows: Vec<Vec<Value<'_>>> = entries
            .iter()
            .zip(&ids)
            .zip(&stored)
            .map(|(((ticket_id, message_row, entry), id), stored)| {
                vec![
                    Value::Text(id),
                    Value::Text(ticket_id),
                    Value::Int(now),
                    Value::Text(stored.kind),
                    Value::Text(&stored.detail),
                    Value::Text(&stored.data),
                    Value::MaybeText(*message_row),
                    Value::MaybeText(entry.public.as_deref()),
                ]
            })
            .collect();
        rows::insert(
            self.backend,
            &mut self.tx,
            "INSERT INTO events (id, ticket_id, at, kind, detail, data, message_id, public_text)",
            "",
            &rows,
        )
        .await?;
        Ok(())
    }

    pub async fn advance_cursor(
        &mut self,
        mailbox: &str,
        uidvalidity: u32,
        uid: u32,
        lease: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        advance(&mut self.tx, mailbox, (uidvalidity, uid), lease, now).await
    }
}

/// Moves the cursor to `uid` under `uidvalidity`, never backwards; with `lease`, only
/// while the mailbox's lease number is still that one.
async fn advance(
    conn: &mut sqlx::AnyConnection,
    mailbox: &str,
    (uidvalidity, uid): (u32, u32),
    lease: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE mailboxes SET last_uid = $1, updated_at = $2
         WHERE name = $3 AND uidvalidity = $4 AND last_uid < $1 AND lease_epoch = COALESCE($5, lease_epoch)",
    )
    .bind(i64::from(uid))
    .bind(now)
    .bind(mailbox)
    .bind(i64::from(uidvalidity))
    .bind(lease)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        super::lease::check_fence(conn, mailbox, lease).await?;
    }
    Ok(())
}
