//! The outbox as the operator sees it: `loket outbox list` and `loket outbox
//! retry`, and the wiping of given-up mails' bodies after `outbox.keep_failed_days`.

use serde::Serialize;
use sqlx::FromRow;

use super::spelling::spelled;
use super::{Store, StoreError, Stored, events};
use crate::domain::{Event, MailKind, OutboxState};

/// A mail still in the queue, or given up.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct QueuedMail {
    pub id: String,
    /// As stored: a kind no loket wrote is shown as it is rather than hiding the list.
    pub kind: Stored<MailKind>,
    pub recipient: String,
    /// The ticket's reference; empty for a mail about no ticket (a web form's confirmation).
    pub reference: String,
    pub state: Stored<OutboxState>,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub failed_at: Option<i64>,
    /// Zero once the mail was sent, or given up longer than the body is kept.
    pub body_bytes: i64,
}

/// What `loket outbox retry` did with one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requeue {
    /// Back in the queue, due now.
    Queued,
    NotFound,
    /// Only given-up mail is put back; this one is `pending`, `sent` or `bounced`.
    NotGivenUp(OutboxState),
    /// Given up longer ago than its body is kept: there is nothing left to send.
    BodyWiped,
}

const QUEUE: &str =
    "SELECT o.id, o.kind, o.recipient, COALESCE(t.reference, '') AS reference, o.state, o.attempts, o.next_attempt_at,
        o.last_error, o.created_at, o.failed_at, CAST(length(o.body) AS BIGINT) AS body_bytes
     FROM outbox o LEFT JOIN tickets t ON t.id = o.ticket_id
     WHERE o.state IN (STATE_PENDING, STATE_FAILED) ORDER BY o.created_at, o.id LIMIT $1";

const QUEUE_FAILED: &str =
    "SELECT o.id, o.kind, o.recipient, COALESCE(t.reference, '') AS reference, o.state, o.attempts, o.next_attempt_at,
        o.last_error, o.created_at, o.failed_at, CAST(length(o.body) AS BIGINT) AS body_bytes
     FROM outbox o LEFT JOIN tickets t ON t.id = o.ticket_id
     WHERE o.state = STATE_FAILED ORDER BY o.created_at, o.id LIMIT $1";

impl Store {
    /// Pending and given-up mails (or only the given-up ones), oldest first.
    pub async fn outbox_queue(&self, only_failed: bool, limit: i64) -> Result<Vec<QueuedMail>, StoreError> {
        let sql = if only_failed { QUEUE_FAILED } else { QUEUE };
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(spelled(sql))).bind(limit).fetch_all(&self.read).await?)
    }

    /// Puts a given-up mail back in the queue, due now, while its body is kept.
    pub async fn requeue(&self, id: &str, now: i64) -> Result<Requeue, StoreError> {
        let queued: Option<(String, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(spelled(
            "UPDATE outbox SET state = STATE_PENDING, next_attempt_at = $2, failing_since = NULL, failed_at = NULL,
                lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND state = STATE_FAILED AND length(body) > 0
             RETURNING COALESCE(ticket_id, '') AS ticket_id, kind, recipient",
        )))
        .bind(id)
        .bind(now)
        .fetch_optional(&self.write)
        .await?;
        if let Some((ticket_id, kind, recipient)) = queued {
            if ticket_id.is_empty() {
                return Ok(Requeue::Queued);
            }
            let mail = MailKind::try_from(kind).map_err(|e| StoreError::Corrupt(e.0))?;
            let event = Event::Requeued { mail, recipient };
            let mut tx = self.write.begin().await?;
            events::insert(&mut tx, &ticket_id, now, &event).await?;
            tx.commit().await?;
            return Ok(Requeue::Queued);
        }
        let found: Option<OutboxState> =
            sqlx::query_scalar("SELECT state FROM outbox WHERE id = $1").bind(id).fetch_optional(&self.read).await?;
        Ok(match found {
            None => Requeue::NotFound,
            Some(OutboxState::Failed) => Requeue::BodyWiped,
            Some(state) => Requeue::NotGivenUp(state),
        })
    }

    /// The ids of every given-up mail.
    pub async fn given_up_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(spelled(
            "SELECT id FROM outbox WHERE state = STATE_FAILED ORDER BY created_at, id",
        )))
        .fetch_all(&self.read)
        .await?)
    }

    /// Wipes the bodies of mails given up before `before`; returns how many.
    pub async fn wipe_failed_bodies(&self, before: i64) -> Result<u64, StoreError> {
        Ok(sqlx::query(sqlx::AssertSqlSafe(spelled(
            "UPDATE outbox SET body = $2 WHERE state = STATE_FAILED AND failed_at < $1 AND length(body) > 0",
        )))
        .bind(before)
        .bind(Vec::<u8>::new())
        .execute(&self.write)
        .await?
        .rows_affected())
    }
}
