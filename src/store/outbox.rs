//! The outbox: mails queued in the ingest transaction, claimed by workers,
//! marked sent, retried, handed back while the server refuses everything, or
//! given up.

use serde::Serialize;
use sqlx::FromRow;

use std::time::Duration;

use super::lease::{db_now, millis};
use super::spelling::spelled;
use super::{Backend, Store, StoreError, Stored, events};
use crate::domain::{Event, MailKind, OutboxState};

/// A mail claimed for delivery.
#[derive(Debug, Clone, FromRow)]
pub struct Due {
    pub id: String,
    /// Empty for a mail about no ticket (a web form's confirmation).
    pub ticket_id: String,
    pub kind: MailKind,
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
    pub kind: Stored<MailKind>,
    pub recipient: String,
    pub message_id: String,
    pub state: Stored<OutboxState>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub sent_at: Option<i64>,
}

/// Wakes the outbox workers of every instance (PostgreSQL); sent in the
/// transaction that queues mail, so it arrives with the commit.
pub(super) const NOTIFY: &str = "NOTIFY loket_outbox";
/// The channel [`NOTIFY`] sends on.
pub const OUTBOX_CHANNEL: &str = "loket_outbox";

/// A mail's claim still holds: the worker's claim token (bound as `$2`), and
/// not yet run out by the database's clock. A mail whose claim was lost is left
/// alone: another worker may hold it now.
pub(super) const HELD: &str = "lease_owner = $2 AND state = STATE_PENDING AND lease_until > DB_NOW";

/// `sql` with the database's clock in [`HELD`], and the vocabulary spelled.
pub(super) fn held(backend: Backend, sql: &str) -> String {
    spelled(&sql.replace("DB_NOW", db_now(backend)))
}

impl Store {
    /// The signing secret kept in the store: `fresh` on first use, and the
    /// one kept before ever after (every instance sharing the store signs alike).
    pub async fn signing_secret(&self, fresh: &str) -> Result<String, StoreError> {
        sqlx::query("INSERT INTO settings (name, value) VALUES ('signing_secret', $1) ON CONFLICT DO NOTHING")
            .bind(fresh)
            .execute(&self.write)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM settings WHERE name = 'signing_secret'")
            .fetch_one(&self.write)
            .await?)
    }

    /// Schedules another attempt `wait` from now by the database's clock, after a
    /// failure of this mail's own; only while the claim holds. The first such
    /// failure starts the time the mail is retried for.
    pub async fn retry_later(&self, due: &Due, error: &str, wait: Duration, now: i64) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = {db} + $4,
                failing_since = COALESCE(failing_since, $5), lease_owner = NULL, lease_until = NULL
             WHERE id = $3 AND {HELD}",
            db = db_now(self.backend)
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(held(self.backend, &sql)))
            .bind(error)
            .bind(&due.lease_owner)
            .bind(&due.id)
            .bind(millis(wait))
            .bind(now)
            .execute(&self.write)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// Hands claimed mails back untried while the server refuses every mail: no
    /// attempt is counted. The one that met the refusal (`tried`) notes why and goes
    /// behind the others due, so that the next probe tries another mail.
    pub async fn release(&self, claimed: &[Due], tried: &str, error: &str) -> Result<(), StoreError> {
        let (refused, others): (Vec<Due>, Vec<Due>) = claimed.iter().cloned().partition(|due| due.id == tried);
        for due in &refused {
            let sql = format!(
                "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, last_error = $3,
                    next_attempt_at = {} WHERE id = $1 AND {HELD}",
                db_now(self.backend)
            );
            sqlx::query(sqlx::AssertSqlSafe(held(self.backend, &sql)))
                .bind(&due.id)
                .bind(&due.lease_owner)
                .bind(error)
                .execute(&self.write)
                .await?;
        }
        self.hand_back(&others).await
    }

    /// Hands claimed mails back untried, as they were: no attempt is counted, and
    /// the next round (of any worker) takes them at once.
    pub async fn hand_back(&self, claimed: &[Due]) -> Result<(), StoreError> {
        let sql = format!("UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND {HELD}");
        let sql = held(self.backend, &sql);
        for due in claimed {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(&due.id)
                .bind(&due.lease_owner)
                .execute(&self.write)
                .await?;
        }
        Ok(())
    }

    /// Gives a mail up, then says so on the ticket's timeline. Its body stays until
    /// `outbox.keep_failed_days` have passed, for `loket outbox retry`.
    pub async fn give_up(&self, due: &Due, error: &str, now: i64) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE outbox SET state = STATE_FAILED, attempts = attempts + 1, last_error = $1, failed_at = $3,
                lease_owner = NULL, lease_until = NULL
             WHERE id = $4 AND {HELD}"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(held(self.backend, &sql)))
            .bind(error)
            .bind(&due.lease_owner)
            .bind(now)
            .bind(&due.id)
            .execute(&self.write)
            .await?
            .rows_affected();
        if done == 1 && !due.ticket_id.is_empty() {
            let event = Event::Failed { mail: due.kind, recipient: due.recipient.clone(), error: error.to_owned() };
            self.note(due, now, &event).await;
        }
        Ok(done == 1)
    }

    /// A timeline entry about a mail; the mail's state is already committed, so a
    /// failure here is logged and goes no further.
    async fn note(&self, due: &Due, now: i64, event: &Event) {
        let result: Result<(), StoreError> = async {
            let mut tx = self.write.begin().await?;
            events::insert(&mut tx, &due.ticket_id, now, event).await?;
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
        let sql = spelled("SELECT COUNT(*) FROM outbox WHERE state = STATE_PENDING");
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&self.read).await?)
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
