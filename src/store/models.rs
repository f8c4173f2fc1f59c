//! Routing models and the corrections they learn from.

use sqlx::FromRow;

use super::spelling::spelled;
use super::{Store, StoreError, ingest::new_id};
use crate::domain::{DepartmentId, MailboxName, Status, TicketRef};

/// How much of a request's text is read to learn from: as much as routing reads.
pub const REQUEST_CHARS: usize = 20_000;

/// A model as `loket train` stored it (`body` is its JSON).
#[derive(Debug, Clone, FromRow)]
pub struct StoredModel {
    pub id: String,
    pub created_at: i64,
    pub examples: i64,
    pub corrections: i64,
    pub body: String,
}

/// A request that arrived in an old mailbox and was never rerouted by staff: its
/// opening mail, where it arrived, where it went, and whether it was backlog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxRequest {
    pub mailbox: MailboxName,
    pub department: DepartmentId,
    pub resolved: bool,
    /// It was already in the mailbox when loket first connected.
    pub backlog: bool,
    pub subject: String,
    pub body: String,
}

#[derive(FromRow)]
struct MailboxRow {
    reference: TicketRef,
    mailbox: MailboxName,
    department: DepartmentId,
    status: Status,
    subject: String,
    body: String,
    history: i64,
    below_backlog: i64,
}

/// A department's `#route`: the ticket's opening request and where it belonged.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Correction {
    pub reference: TicketRef,
    pub subject: String,
    pub body: String,
    pub department: DepartmentId,
}

impl Store {
    /// Stores a trained model; the daemon picks up the newest.
    pub async fn save_model(
        &self,
        body: &str,
        examples: i64,
        corrections: i64,
        now: i64,
    ) -> Result<String, StoreError> {
        let id = new_id();
        sqlx::query("INSERT INTO models (id, created_at, examples, corrections, body) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(now)
            .bind(examples)
            .bind(corrections)
            .bind(body)
            .execute(&self.write)
            .await?;
        Ok(id)
    }

    pub async fn latest_model(&self) -> Result<Option<StoredModel>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, created_at, examples, corrections, body FROM models ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?)
    }

    /// The id of the newest model, to see cheaply whether a new one arrived.
    pub async fn latest_model_id(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM models ORDER BY created_at DESC, id DESC LIMIT 1")
            .fetch_optional(&self.read)
            .await?)
    }

    /// Every reroute by a department, the last one per ticket: the ticket's opening
    /// request, labelled with the department it was rerouted to.
    pub async fn corrections(&self) -> Result<Vec<Correction>, StoreError> {
        let rows: Vec<(TicketRef, String, String, String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(spelled(
            "SELECT t.reference, m.subject, m.text_body, e.public_text, e.at
             FROM events e JOIN tickets t ON t.id = e.ticket_id
             JOIN messages m ON m.ticket_id = t.id AND m.message_id IS NOT DISTINCT FROM t.opening_message_id
                 AND m.author_role = ROLE_REQUESTER
             WHERE e.kind = EVENT_REROUTED AND e.public_text IS NOT NULL
             ORDER BY t.reference, e.at, e.id",
        )))
        .fetch_all(&self.read)
        .await?;
        let mut corrections: Vec<Correction> = Vec::new();
        for (reference, subject, body, department, _) in rows {
            // A reroute names a department id; anything else teaches nothing.
            let Ok(department) = DepartmentId::parse(&department) else { continue };
            if let Some(last) = corrections.last_mut().filter(|c| c.reference == reference) {
                last.department = department;
            } else {
                corrections.push(Correction { reference, subject, body, department });
            }
        }
        Ok(corrections)
    }

    /// The newest `newest` of every person's requests (no automatic mail) that no
    /// department rerouted with `#route`, with their opening mail's first
    /// [`REQUEST_CHARS`] characters: what `routing.learn_from_mailboxes` learns
    /// from. Backlog is what was kept as history, or fetched at or below the UID
    /// that was the mailbox's last at the first connection.
    pub async fn mailbox_requests(&self, newest: usize) -> Result<Vec<MailboxRequest>, StoreError> {
        let sql = format!(
            "SELECT t.reference, t.origin_mailbox AS mailbox, t.department, t.status, m.subject,
                 substr(m.text_body, 1, {REQUEST_CHARS}) AS body,
                 (SELECT COUNT(*) FROM events h WHERE h.ticket_id = t.id AND h.kind = EVENT_HISTORY) AS history,
                 (SELECT COUNT(*) FROM mailboxes b
                  WHERE b.name = m.mailbox AND b.uidvalidity = m.uidvalidity AND m.uid <= b.backlog_uid)
                 AS below_backlog
             FROM tickets t
             JOIN messages m ON m.ticket_id = t.id AND m.message_id IS NOT DISTINCT FROM t.opening_message_id
                 AND m.author_role = ROLE_REQUESTER
             WHERE t.automatic IS NULL
                 AND NOT EXISTS (SELECT 1 FROM events e WHERE e.ticket_id = t.id AND e.kind = EVENT_REROUTED)
             ORDER BY t.created_at DESC, t.reference, m.received_at, m.id LIMIT $1"
        );
        // A ticket has at most a few opening copies; twice as many rows leave room for them.
        let limit = i64::try_from(newest.saturating_mul(2)).unwrap_or(i64::MAX);
        let rows: Vec<MailboxRow> =
            sqlx::query_as(sqlx::AssertSqlSafe(spelled(&sql))).bind(limit).fetch_all(&self.read).await?;
        let mut requests = Vec::with_capacity(rows.len().min(newest));
        let mut last: Option<TicketRef> = None;
        // A mail sent to two old addresses is stored twice on one ticket: it counts once.
        for row in rows {
            if last.as_ref() == Some(&row.reference) {
                continue;
            }
            last = Some(row.reference);
            requests.push(MailboxRequest {
                mailbox: row.mailbox,
                department: row.department,
                resolved: row.status == Status::Resolved,
                backlog: row.history > 0 || row.below_backlog > 0,
                subject: row.subject,
                body: row.body,
            });
            if requests.len() == newest {
                break;
            }
        }
        Ok(requests)
    }
}
