//! The ingest's writes of what arrived: messages, their attachments, quarantined
//! mail, and bounces of loket's own mail.

use std::collections::HashSet;

use sqlx::Row;

use super::{BouncedMail, IngestTx, NewAttachment, NewMessage, Quarantined, new_id, size};
use crate::domain::{MailKind, Role, TicketRef};
use crate::store::StoreError;
use crate::store::rows::{self, Value};
use crate::store::spelling::spelled;

impl IngestTx {
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
        sqlx::query(sqlx::AssertSqlSafe(spelled(
            "UPDATE outbox SET state = STATE_BOUNCED, last_error = $1 WHERE id = $2",
        )))
        .bind(report)
        .bind(outbox_id)
        .execute(&mut *self.tx)
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
}
