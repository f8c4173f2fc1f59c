//! The ingest's tickets: the state a conversation needs, new references, new
//! tickets and changes to them.

use super::{IngestTx, NewTicket, TicketChange};
use crate::domain::{AutoKind, DepartmentId, Language, MailboxName, Status, TicketRef, TicketState};
use crate::store::rows::{self, Value};
use crate::store::spelling::spelled;
use crate::store::{Backend, StoreError};

/// How far back a ticket's messages are given to the desk to recognise a loop.
const LOOP_WINDOW_MS: i64 = 10 * 60 * 1000;

impl IngestTx {
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
}
