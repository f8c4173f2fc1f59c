//! Routing models and the corrections they learn from.

use futures::TryStreamExt;
use sqlx::FromRow;

use super::spelling::spelled;
use super::{Store, StoreError, ingest::new_id};
use crate::domain::{DepartmentId, MailboxName, Status, Taken, TextBounds, TicketRef};

/// The row of a ticket's opening request: the first mail from its requester
/// that carries the opening Message-ID (a mail sent to two old addresses is
/// stored twice; a follow-up without a Message-ID is not its opening).
const OPENING: &str = "SELECT o.id FROM messages o
     WHERE o.ticket_id = t.id AND o.message_id IS NOT DISTINCT FROM t.opening_message_id
         AND o.author_role = ROLE_REQUESTER
     ORDER BY o.received_at, o.id LIMIT 1";

/// A character count as SQL's `substr` takes it.
fn sql_chars(chars: usize) -> i64 {
    i64::try_from(chars).unwrap_or(i64::MAX).min(i64::from(i32::MAX))
}

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
    /// request, labelled with the department it was rerouted to, read within
    /// `bounds` (newest ticket first).
    pub async fn corrections(&self, bounds: TextBounds) -> Result<(Vec<Correction>, Taken), StoreError> {
        let sql = format!(
            "SELECT t.reference, substr(m.subject, 1, {subject}), substr(m.text_body, 1, {body}), e.public_text, e.at
             FROM events e JOIN tickets t ON t.id = e.ticket_id
             JOIN messages m ON m.id = ({OPENING})
             WHERE e.kind = EVENT_REROUTED AND e.public_text IS NOT NULL
             ORDER BY t.created_at DESC, t.reference, e.at, e.id",
            subject = sql_chars(bounds.subject_chars),
            body = sql_chars(bounds.body_chars),
        );
        let mut rows =
            sqlx::query_as::<_, (TicketRef, String, String, String, i64)>(sqlx::AssertSqlSafe(spelled(&sql)))
                .fetch(&self.read);
        let mut corrections: Vec<Correction> = Vec::new();
        let mut taken = Taken::default();
        while let Some((reference, subject, body, department, _)) = rows.try_next().await? {
            // A reroute names a department id; anything else teaches nothing.
            let Ok(department) = DepartmentId::parse(&department) else { continue };
            if let Some(last) = corrections.last_mut().filter(|c| c.reference == reference) {
                last.department = department;
            } else if let Some((subject, body)) = bounds.take(&mut taken, subject, body) {
                corrections.push(Correction { reference, subject, body, department });
            } else {
                break;
            }
        }
        Ok((corrections, taken))
    }

    /// The requests that `routing.learn_from_mailboxes` learns from, newest
    /// first, read within `bounds`: every person's request (no automatic mail)
    /// that arrived in one of `homes` (an old mailbox and its department), that
    /// no department rerouted with `#route`, and that was backlog or was
    /// resolved in the mailbox's department. Backlog is what was kept as
    /// history, or fetched at or below the UID that was the mailbox's last at
    /// the first connection. Only these count against the bounds.
    pub async fn mailbox_requests(
        &self,
        homes: &[(MailboxName, DepartmentId)],
        bounds: TextBounds,
    ) -> Result<(Vec<MailboxRequest>, Taken), StoreError> {
        if homes.is_empty() {
            return Ok((Vec::new(), Taken::default()));
        }
        const HISTORY: &str = "(SELECT COUNT(*) FROM events h WHERE h.ticket_id = t.id AND h.kind = EVENT_HISTORY)";
        const BELOW_BACKLOG: &str = "(SELECT COUNT(*) FROM mailboxes b
             WHERE b.name = m.mailbox AND b.uidvalidity = m.uidvalidity AND m.uid <= b.backlog_uid)";
        let usable: Vec<String> = (0..homes.len())
            .map(|i| {
                format!(
                    "(t.origin_mailbox = ${} AND ({HISTORY} > 0 OR {BELOW_BACKLOG} > 0
                         OR (t.status = STATUS_RESOLVED AND t.department = ${})))",
                    2 * i + 1,
                    2 * i + 2
                )
            })
            .collect();
        let sql = format!(
            "SELECT t.origin_mailbox AS mailbox, t.department, t.status,
                 substr(m.subject, 1, {subject}) AS subject, substr(m.text_body, 1, {body}) AS body,
                 {HISTORY} AS history, {BELOW_BACKLOG} AS below_backlog
             FROM tickets t
             JOIN messages m ON m.id = ({OPENING})
             WHERE t.automatic IS NULL
                 AND NOT EXISTS (SELECT 1 FROM events e WHERE e.ticket_id = t.id AND e.kind = EVENT_REROUTED)
                 AND ({usable})
             ORDER BY t.created_at DESC, t.reference LIMIT {rows}",
            usable = usable.join(" OR "),
            subject = sql_chars(bounds.subject_chars),
            body = sql_chars(bounds.body_chars),
            // One more than may be taken tells whether there were more.
            rows = i64::try_from(bounds.requests.saturating_add(1)).unwrap_or(i64::MAX),
        );
        let spelled = spelled(&sql);
        let mut query = sqlx::query_as::<_, MailboxRow>(sqlx::AssertSqlSafe(spelled.as_str()));
        for (mailbox, department) in homes {
            query = query.bind(mailbox.as_str()).bind(department.as_str());
        }
        let mut rows = query.fetch(&self.read);
        let mut requests = Vec::new();
        let mut taken = Taken::default();
        while let Some(row) = rows.try_next().await? {
            let Some((subject, body)) = bounds.take(&mut taken, row.subject, row.body) else { break };
            requests.push(MailboxRequest {
                mailbox: row.mailbox,
                department: row.department,
                resolved: row.status == Status::Resolved,
                backlog: row.history > 0 || row.below_backlog > 0,
                subject,
                body,
            });
        }
        Ok((requests, taken))
    }
}
