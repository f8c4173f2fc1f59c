//! Read side: what `loket tickets` and `loket quarantine` show.

use serde::Serialize;
use sqlx::FromRow;

use super::spelling::spelled;
use super::{Store, StoreError};
use crate::domain::{
    AutoKind, DecidedBy, DepartmentId, Event, EventKind, Language, MailboxName, OutboxState, PublicEvent, PublicTicket,
    Status, TicketRef,
};

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct TicketSummary {
    pub reference: TicketRef,
    pub department: DepartmentId,
    pub status: Status,
    pub requester: String,
    pub requester_name: Option<String>,
    pub subject: String,
    /// The old mailbox the opening message arrived in.
    pub mailbox: MailboxName,
    /// The Message-ID of the message that opened the ticket.
    pub message_id: Option<String>,
    /// Set when the opening message was automatic mail.
    pub automatic: Option<AutoKind>,
    pub decided_by: DecidedBy,
    pub route_reason: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct MessageRow {
    #[serde(skip)]
    pub id: String,
    pub direction: String,
    /// The mailbox an incoming message arrived in; none for mail loket sent.
    pub mailbox: Option<MailboxName>,
    pub message_id: Option<String>,
    pub from_address: String,
    pub from_name: Option<String>,
    pub to_list: String,
    pub cc_list: String,
    pub subject: String,
    pub sent_at: Option<i64>,
    pub received_at: i64,
    pub automatic: Option<String>,
    pub size: i64,
    pub text_body: String,
    #[sqlx(skip)]
    pub attachments: Vec<AttachmentRow>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct AttachmentRow {
    pub filename: Option<String>,
    pub content_type: String,
    pub size: i64,
}

/// How many tickets of one department stand at one status.
#[derive(Debug, Clone, FromRow)]
pub struct TicketCount {
    pub department: DepartmentId,
    pub status: Status,
    pub tickets: i64,
}

/// The store's counts for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Gauges {
    pub tickets: Vec<TicketCount>,
    pub outbox_pending: i64,
    pub outbox_failed: i64,
    pub quarantine: i64,
}

/// One timeline event as stored.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    pub at: i64,
    pub kind: EventKind,
    /// The English sentence kept with the event: all there is of rows written
    /// before events were typed.
    pub detail: String,
    /// The typed event, to be rendered in the reader's language.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Event>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub summary: TicketSummary,
    pub messages: Vec<MessageRow>,
    pub events: Vec<EventRow>,
    /// The mails the ticket sent or is sending.
    pub outbox: Vec<super::OutboxRow>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct QuarantineRow {
    pub id: String,
    pub mailbox: MailboxName,
    pub source_key: String,
    pub reason: String,
    pub size: i64,
    pub at: i64,
}

pub(super) const SUMMARY_COLUMNS: &str =
    "reference, department, status, requester_address AS requester, requester_name, subject,
    origin_mailbox AS mailbox, opening_message_id AS message_id, automatic, decided_by, route_reason, created_at";

impl Store {
    /// Tickets, newest first, at most `limit`.
    pub async fn list_tickets(&self, limit: i64) -> Result<Vec<TicketSummary>, StoreError> {
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM tickets ORDER BY created_at DESC, reference DESC LIMIT $1");
        Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(&self.read).await?)
    }

    pub async fn count_tickets(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM tickets").fetch_one(&self.read).await?)
    }

    pub async fn count_messages(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM messages").fetch_one(&self.read).await?)
    }

    /// One ticket with its messages (oldest first), their attachments and the timeline.
    pub async fn ticket(&self, reference: &str) -> Result<TicketDetail, StoreError> {
        let sql = format!("SELECT {SUMMARY_COLUMNS}, id FROM tickets WHERE reference = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(reference)
            .fetch_optional(&self.read)
            .await?
            .ok_or_else(|| StoreError::NotFound(reference.to_owned()))?;
        let summary = TicketSummary::from_row(&row)?;
        let ticket_id: String = sqlx::Row::try_get(&row, "id")?;
        let mut messages: Vec<MessageRow> = sqlx::query_as(
            "SELECT id, direction, mailbox, message_id, from_address, from_name, to_list, cc_list, subject, sent_at,
                    received_at, automatic, size, text_body
             FROM messages WHERE ticket_id = $1 ORDER BY received_at, id",
        )
        .bind(&ticket_id)
        .fetch_all(&self.read)
        .await?;
        for message in &mut messages {
            message.attachments = sqlx::query_as(
                "SELECT filename, content_type, size FROM attachments WHERE message_id = $1 ORDER BY position",
            )
            .bind(&message.id)
            .fetch_all(&self.read)
            .await?;
        }
        let events: Vec<(i64, EventKind, String, Option<String>)> =
            sqlx::query_as("SELECT at, kind, detail, data FROM events WHERE ticket_id = $1 ORDER BY at, id")
                .bind(&ticket_id)
                .fetch_all(&self.read)
                .await?;
        let events = events
            .into_iter()
            .map(|(at, kind, detail, data)| EventRow { at, kind, detail, data: super::events::read(data.as_deref()) })
            .collect();
        let outbox = self.ticket_outbox(&ticket_id).await?;
        Ok(TicketDetail { summary, messages, events, outbox })
    }

    /// What the status page may show of a ticket. With `timeline` false only the
    /// ticket is looked up (the status page does that when the token is wrong).
    pub async fn public_ticket(&self, reference: &str, timeline: bool) -> Result<Option<PublicTicket>, StoreError> {
        type Row = (String, TicketRef, String, DepartmentId, Status, Option<Language>, DecidedBy, Option<f64>, i64);
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, reference, subject, department, status, language, decided_by, route_confidence, link_generation
             FROM tickets WHERE reference = $1",
        )
        .bind(reference)
        .fetch_optional(&self.read)
        .await?;
        let Some((id, reference, subject, department, status, language, decided_by, confidence, link_generation)) = row
        else {
            return Ok(None);
        };
        let events: Vec<(i64, String, Option<String>)> = if timeline {
            sqlx::query_as("SELECT at, kind, public_text FROM events WHERE ticket_id = $1 ORDER BY at, id")
                .bind(&id)
                .fetch_all(&self.read)
                .await?
        } else {
            Vec::new()
        };
        Ok(Some(PublicTicket {
            reference,
            subject,
            department,
            status,
            // Tickets opened before languages were kept are in English.
            language: language.unwrap_or(Language::En),
            decided_by,
            confidence,
            link_generation,
            events: events
                .into_iter()
                .filter_map(|(at, kind, public_text)| {
                    Some(PublicEvent::from_stored(at, EventKind::from_stored(&kind)?, public_text))
                })
                .collect(),
        }))
    }

    /// The counts `/metrics` reports.
    pub async fn gauges(&self) -> Result<Gauges, StoreError> {
        let tickets = sqlx::query_as(
            "SELECT department, status, COUNT(*) AS tickets FROM tickets \
             GROUP BY department, status ORDER BY department, status",
        )
        .fetch_all(&self.read)
        .await?;
        let outbox: Vec<(OutboxState, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(spelled(
            "SELECT state, COUNT(*) FROM outbox WHERE state IN (STATE_PENDING, STATE_FAILED) GROUP BY state",
        )))
        .fetch_all(&self.read)
        .await?;
        let count = |state: OutboxState| outbox.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
        let quarantine = sqlx::query_scalar("SELECT COUNT(*) FROM quarantine").fetch_one(&self.read).await?;
        Ok(Gauges {
            tickets,
            outbox_pending: count(OutboxState::Pending),
            outbox_failed: count(OutboxState::Failed),
            quarantine,
        })
    }

    /// Whether any stored byte holds `needle` (for checking that secrets are not kept).
    pub async fn outbox_bodies_contain(&self, needle: &[u8]) -> Result<bool, StoreError> {
        let bodies: Vec<Vec<u8>> = sqlx::query_scalar("SELECT body FROM outbox").fetch_all(&self.read).await?;
        Ok(bodies.iter().any(|body| body.windows(needle.len().max(1)).any(|w| w == needle)))
    }

    pub async fn list_quarantine(&self, limit: i64) -> Result<Vec<QuarantineRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, mailbox, source_key, reason, size, at FROM quarantine ORDER BY at DESC, id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.read)
        .await?)
    }

    /// The raw bytes kept for a quarantined message.
    pub async fn quarantine_raw(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        sqlx::query_scalar("SELECT raw FROM quarantine WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_owned()))
    }
}
