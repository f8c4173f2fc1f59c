//! The outbox: mails queued in the ingest transaction, claimed by workers,
//! marked sent, retried, handed back while the server refuses everything, or
//! given up.

use serde::Serialize;
use sqlx::FromRow;

use super::{Backend, Store, StoreError, ingest::insert_event};
use crate::domain::{EventKind, MailKind};

/// A mail claimed for delivery.
#[derive(Debug, Clone, FromRow)]
pub struct Due {
    pub id: String,
    /// Empty for a mail about no ticket (a web form's confirmation).
    pub ticket_id: String,
    pub kind: String,
    pub recipient: String,
    pub sender: String,
    pub message_id: String,
    pub body: Vec<u8>,
    pub attempts: i64,
    /// When it was queued: with the ticket, so the time from arrival.
    pub created_at: i64,
    /// Since when this mail fails for its own sake, if it does.
    pub failing_since: Option<i64>,
    /// The worker that claimed it; only that worker may record the outcome.
    pub lease_owner: String,
}

/// An outbox row as `tickets show` presents it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct OutboxRow {
    pub kind: String,
    pub recipient: String,
    pub message_id: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// How long a claim holds before another worker may take the mail.
const LEASE_MS: i64 = 5 * 60 * 1000;

impl Store {
    /// The signing secret kept in the store, made on first use.
    pub async fn signing_secret(&self) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO settings (name, value) VALUES ('signing_secret', $1) ON CONFLICT DO NOTHING")
            .bind(crate::sign::new_secret())
            .execute(&self.write)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE name = 'signing_secret'")
            .fetch_one(&self.write)
            .await?)
    }

    /// Claims up to `limit` due mails for `worker`. PostgreSQL skips rows other
    /// instances hold; SQLite has one writer, so a plain claim is enough.
    pub async fn claim_due(&self, worker: &str, limit: i64, now: i64) -> Result<Vec<Due>, StoreError> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "UPDATE outbox SET lease_owner = $1, lease_until = $2 WHERE id IN (
                    SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $3
                      AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_attempt_at, id LIMIT $4)
                 RETURNING id, COALESCE(ticket_id, '') AS ticket_id, kind, recipient, sender, message_id, body,
                   attempts, created_at, failing_since, lease_owner"
            }
            Backend::Postgres => {
                "UPDATE outbox SET lease_owner = $1, lease_until = $2 WHERE id IN (
                    SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at <= $3
                      AND (lease_until IS NULL OR lease_until < $3) ORDER BY next_attempt_at, id LIMIT $4
                      FOR UPDATE SKIP LOCKED)
                 RETURNING id, COALESCE(ticket_id, '') AS ticket_id, kind, recipient, sender, message_id, body,
                   attempts, created_at, failing_since, lease_owner"
            }
        };
        Ok(sqlx::query_as(sql).bind(worker).bind(now + LEASE_MS).bind(now).bind(limit).fetch_all(&self.write).await?)
    }

    /// Schedules another attempt at `next_at` after a failure of this mail's own.
    /// The first such failure starts the time the mail is retried for.
    pub async fn retry_later(&self, due: &Due, error: &str, next_at: i64, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2,
                failing_since = COALESCE(failing_since, $5), lease_owner = NULL, lease_until = NULL
             WHERE id = $3 AND lease_owner = $4 AND state = 'pending'",
        )
        .bind(error)
        .bind(next_at)
        .bind(&due.id)
        .bind(&due.lease_owner)
        .bind(now)
        .execute(&self.write)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Hands claimed mails back untried while the server refuses every mail: no
    /// attempt is counted. The one that met the refusal (`tried`) notes why and goes
    /// behind the others due, so that the next probe tries another mail.
    pub async fn release(&self, claimed: &[Due], tried: &str, error: &str, now: i64) -> Result<(), StoreError> {
        for due in claimed {
            let query = if due.id == tried {
                sqlx::query(
                    "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, last_error = $3, next_attempt_at = $4
                     WHERE id = $1 AND lease_owner = $2 AND state = 'pending'",
                )
                .bind(&due.id)
                .bind(&due.lease_owner)
                .bind(error)
                .bind(now)
            } else {
                sqlx::query(
                    "UPDATE outbox SET lease_owner = NULL, lease_until = NULL
                     WHERE id = $1 AND lease_owner = $2 AND state = 'pending'",
                )
                .bind(&due.id)
                .bind(&due.lease_owner)
            };
            query.execute(&self.write).await?;
        }
        Ok(())
    }

    /// Gives a mail up, then says so on the ticket's timeline. Its body stays until
    /// `outbox.keep_failed_days` have passed, for `loket outbox retry`.
    pub async fn give_up(&self, due: &Due, error: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = $1, failed_at = $3,
                lease_owner = NULL, lease_until = NULL
             WHERE id = $2 AND lease_owner = $4 AND state = 'pending'",
        )
        .bind(error)
        .bind(&due.id)
        .bind(now)
        .bind(&due.lease_owner)
        .execute(&self.write)
        .await?
        .rows_affected();
        if done == 1 && !due.ticket_id.is_empty() {
            let what = MailKind::from_stored(&due.kind).noun();
            self.note(due, now, EventKind::Failed, &format!("{what} to {} failed: {error}", due.recipient)).await;
        }
        Ok(done == 1)
    }

    /// A timeline entry about a mail; the mail's state is already committed, so a
    /// failure here is logged and goes no further.
    async fn note(&self, due: &Due, now: i64, kind: EventKind, detail: &str) {
        let result: Result<(), StoreError> = async {
            let mut tx = self.write.begin().await?;
            insert_event(&mut tx, &due.ticket_id, now, kind, detail).await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(mail = %due.id, %error, "the ticket's timeline could not note the mail");
        }
    }

    /// Mails waiting to be sent.
    pub async fn outbox_depth(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetch_one(&self.read).await?)
    }

    pub(super) async fn ticket_outbox(&self, ticket_id: &str) -> Result<Vec<OutboxRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT kind, recipient, message_id, state, attempts, last_error, created_at, sent_at
             FROM outbox WHERE ticket_id = $1 ORDER BY created_at, id",
        )
        .bind(ticket_id)
        .fetch_all(&self.read)
        .await?)
    }
}
