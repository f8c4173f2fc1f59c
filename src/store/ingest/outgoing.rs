//! The ingest's mail to send and timeline entries, written with the rest.

use super::{IngestTx, new_id};
use crate::domain::{Entry, OutboxState, Outgoing};
use crate::store::events::Stored;
use crate::store::rows::{self, Value};
use crate::store::{Backend, StoreError};

impl IngestTx {
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
            sqlx::query(crate::store::outbox::NOTIFY).execute(&mut *self.tx).await?;
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
}
