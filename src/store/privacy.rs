//! A person's data: everything the store holds about one address, handed over
//! (`loket export`) or erased (`loket forget`).
//!
//! A person's data is: the tickets they opened (with every message, attachment,
//! timeline event and mail of those tickets), the messages they wrote on other
//! tickets, the mails sent to them, their participant records, their
//! quarantined mail, and what routing learnt from their tickets (a department's
//! reroute of one is a training example). Addresses compare without case.

use serde::Serialize;

use super::{Backend, Store, StoreError, TicketDetail};
use crate::domain::TicketRef;

/// What `forget` removes (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct PersonData {
    /// References of the tickets they opened.
    pub tickets: Vec<TicketRef>,
    /// Their messages on other people's tickets.
    pub other_messages: i64,
    /// Mails to them (acknowledgements, answers) outside their own tickets.
    pub mails_to_them: i64,
    pub participant_records: i64,
    /// Quarantined mail whose header names them.
    pub quarantined: i64,
    /// Reroutes of their tickets, which routing learns from as examples.
    pub learnt_examples: i64,
    /// Stored routing models trained on those examples (removed by `forget`).
    pub models: i64,
    /// Web form requests waiting for their address to be confirmed.
    pub form_requests: i64,
}

/// Their tickets that a department rerouted: each is a correction routing learns from.
const LEARNT: &str = "SELECT COUNT(DISTINCT ticket_id) FROM events WHERE kind = EVENT_REROUTED
     AND ticket_id IN (SELECT id FROM tickets WHERE LOWER(requester_address) = $1)";

const OWN_TICKETS: &str = "SELECT id FROM tickets WHERE LOWER(requester_address) = $1";

impl Store {
    /// What the store holds about `address`.
    pub async fn person_data(&self, address: &str) -> Result<PersonData, StoreError> {
        let address = address.to_lowercase();
        let tickets = sqlx::query_scalar(
            "SELECT reference FROM tickets WHERE LOWER(requester_address) = $1 ORDER BY created_at, reference",
        )
        .bind(&address)
        .fetch_all(&self.read)
        .await?;
        let count = |sql: &'static str| {
            let address = address.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(super::spelling::spelled(sql)))
                    .bind(address)
                    .fetch_one(&self.read)
                    .await
            }
        };
        let learnt_examples = count(LEARNT).await?;
        let models = if learnt_examples > 0 {
            sqlx::query_scalar("SELECT COUNT(*) FROM models WHERE corrections > 0").fetch_one(&self.read).await?
        } else {
            0
        };
        Ok(PersonData {
            tickets,
            other_messages: count(
                "SELECT COUNT(*) FROM messages WHERE LOWER(from_address) = $1
                 AND (ticket_id IS NULL OR ticket_id NOT IN (SELECT id FROM tickets WHERE LOWER(requester_address) = $1))",
            )
            .await?,
            mails_to_them: count(
                "SELECT COUNT(*) FROM outbox WHERE LOWER(recipient) = $1
                 AND (ticket_id IS NULL OR ticket_id NOT IN (SELECT id FROM tickets WHERE LOWER(requester_address) = $1))",
            )
            .await?,
            participant_records: count("SELECT COUNT(*) FROM participants WHERE LOWER(address) = $1").await?,
            quarantined: self.quarantine_of(&address).await?.len() as i64,
            learnt_examples,
            models,
            form_requests: count("SELECT COUNT(*) FROM form_requests WHERE LOWER(address) = $1").await?,
        })
    }

    /// Everything about `address`: their tickets whole, and their messages on others'.
    pub async fn export_person(&self, address: &str) -> Result<serde_json::Value, StoreError> {
        let data = self.person_data(address).await?;
        let mut tickets: Vec<TicketDetail> = Vec::new();
        for reference in &data.tickets {
            tickets.push(self.ticket(reference.as_str()).await?);
        }
        type Row = (Option<String>, String, String, i64, String);
        let others: Vec<Row> = sqlx::query_as(
            "SELECT message_id, subject, from_address, received_at, text_body FROM messages
             WHERE LOWER(from_address) = $1
             AND (ticket_id IS NULL OR ticket_id NOT IN (SELECT id FROM tickets WHERE LOWER(requester_address) = $1))
             ORDER BY received_at, id",
        )
        .bind(address.to_lowercase())
        .fetch_all(&self.read)
        .await?;
        let others: Vec<serde_json::Value> = others
            .into_iter()
            .map(|(message_id, subject, from, at, text)| {
                serde_json::json!({"message_id": message_id, "subject": subject, "from": from,
                    "received": crate::clock::rfc3339(at), "text": text})
            })
            .collect();
        let mut quarantined = Vec::new();
        for id in self.quarantine_of(address).await? {
            let entry = self.quarantine_entry(&id).await?;
            quarantined.push(serde_json::json!({"id": entry.id, "mailbox": entry.mailbox, "reason": entry.reason,
                "received": crate::clock::rfc3339(entry.at), "size": entry.size}));
        }
        Ok(serde_json::json!({
            "address": address,
            "exported": crate::clock::rfc3339(crate::clock::now_ms()),
            "tickets": tickets,
            "messages_on_other_tickets": others,
            "quarantined": quarantined,
        }))
    }

    /// Erases everything about `address` in one transaction; SQLite overwrites
    /// what is removed (`secure_delete`) and its WAL is then emptied, so that the
    /// removed text is gone from the file's bytes too.
    pub async fn forget_person(&self, address: &str) -> Result<PersonData, StoreError> {
        let data = self.person_data(address).await?;
        let address = address.to_lowercase();
        let own = |table: &str| format!("DELETE FROM {table} WHERE ticket_id IN ({OWN_TICKETS})");
        let statements = [
            format!(
                "DELETE FROM attachments WHERE message_id IN (SELECT id FROM messages WHERE ticket_id IN ({OWN_TICKETS}) OR LOWER(from_address) = $1)"
            ),
            format!("DELETE FROM messages WHERE ticket_id IN ({OWN_TICKETS}) OR LOWER(from_address) = $1"),
            own("events"),
            format!("DELETE FROM outbox WHERE ticket_id IN ({OWN_TICKETS}) OR LOWER(recipient) = $1"),
            format!("DELETE FROM participants WHERE ticket_id IN ({OWN_TICKETS}) OR LOWER(address) = $1"),
            "DELETE FROM tickets WHERE LOWER(requester_address) = $1".to_owned(),
            "DELETE FROM form_requests WHERE LOWER(address) = $1".to_owned(),
        ];
        let quarantined = self.quarantine_of(&address).await?;
        let mut tx = self.write.begin().await?;
        // Models trained on their reroutes hold words of their requests.
        if data.learnt_examples > 0 {
            sqlx::query("DELETE FROM models WHERE corrections > 0").execute(&mut *tx).await?;
        }
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(&address).execute(&mut *tx).await?;
        }
        for id in &quarantined {
            sqlx::query("DELETE FROM quarantine WHERE id = $1").bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        self.checkpoint().await?;
        Ok(data)
    }

    /// Empties SQLite's WAL into the file, where removed text was already
    /// overwritten (`secure_delete`): quick, unlike rewriting the file. A reader
    /// in the middle of a read (the status page, a command) keeps the WAL from
    /// being emptied: SQLite waits for it up to the busy timeout, and it is
    /// tried a few times; after that the next checkpoint empties it, and a
    /// warning says so.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        for _ in 0..CHECKPOINT_TRIES {
            let (busy, _, _): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&self.write).await?;
            if busy == 0 {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        tracing::warn!(
            "readers kept SQLite's WAL from being emptied: removed text stays in it until the next checkpoint"
        );
        Ok(())
    }
}

/// How many times emptying SQLite's WAL is tried.
const CHECKPOINT_TRIES: usize = 3;
