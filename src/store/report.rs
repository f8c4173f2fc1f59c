//! Read side of `loket report`: how many requests each mailbox took in, per day,
//! and who sent them. Counts are of tickets (one request, however many old
//! addresses it was sent to), bounded by the ticket's creation time.

use sqlx::FromRow;

use super::spelling::spelled;
use super::{Store, StoreError};
use crate::domain::{DepartmentId, MailboxName};

/// The tickets opened at or after `since_ms` and before `until_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportWindow {
    pub since_ms: i64,
    pub until_ms: i64,
}

/// The tickets that came in through one mailbox on one day (UTC) and were placed
/// in one department.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct DayCount {
    pub mailbox: MailboxName,
    pub department: DepartmentId,
    /// Days since the epoch.
    pub day: i64,
    /// Opened by a person's mail.
    pub people: i64,
    /// Opened by automatic mail (auto-replies, bounces, lists, loops).
    pub automatic: i64,
    /// People's requests that staff moved to another department (`#route`).
    pub rerouted_by_staff: i64,
}

/// One person's requests through one mailbox.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SenderCount {
    pub mailbox: MailboxName,
    /// The requester's address in lower case.
    pub address: String,
    pub requests: i64,
    pub last_at: i64,
}

impl Store {
    /// Requests per mailbox, department and day within `window`.
    pub async fn report_days(&self, window: ReportWindow) -> Result<Vec<DayCount>, StoreError> {
        let rows = sqlx::query_as::<_, DayCount>(sqlx::AssertSqlSafe(spelled(
            "SELECT t.origin_mailbox AS mailbox, t.department AS department, t.created_at / 86400000 AS day,
                    CAST(SUM(CASE WHEN t.automatic IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS people,
                    CAST(SUM(CASE WHEN t.automatic IS NULL THEN 0 ELSE 1 END) AS BIGINT) AS automatic,
                    CAST(SUM(CASE WHEN t.automatic IS NULL AND EXISTS (
                        SELECT 1 FROM events e WHERE e.ticket_id = t.id AND e.kind = EVENT_REROUTED
                    ) THEN 1 ELSE 0 END) AS BIGINT) AS rerouted_by_staff
             FROM tickets t
             WHERE t.created_at >= $1 AND t.created_at < $2
             GROUP BY t.origin_mailbox, t.department, t.created_at / 86400000
             ORDER BY day",
        )))
        .bind(window.since_ms)
        .bind(window.until_ms)
        .fetch_all(&self.read)
        .await?;
        Ok(rows)
    }

    /// The people who sent requests through each mailbox within `window`, most requests first.
    pub async fn report_senders(&self, window: ReportWindow) -> Result<Vec<SenderCount>, StoreError> {
        let rows = sqlx::query_as::<_, SenderCount>(
            "SELECT origin_mailbox AS mailbox, LOWER(requester_address) AS address,
                    COUNT(*) AS requests, MAX(created_at) AS last_at
             FROM tickets
             WHERE automatic IS NULL AND created_at >= $1 AND created_at < $2
             GROUP BY origin_mailbox, LOWER(requester_address)
             ORDER BY requests DESC, last_at DESC, address",
        )
        .bind(window.since_ms)
        .bind(window.until_ms)
        .fetch_all(&self.read)
        .await?;
        Ok(rows)
    }
}

/// What the report needs to say how long each mailbox has been quiet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuietFacts {
    /// Per mailbox, its last request from a person.
    pub last_request: Vec<(MailboxName, i64)>,
    /// Per mailbox, when loket first read it.
    pub watched_since: Vec<(MailboxName, i64)>,
}

impl Store {
    /// Each mailbox's last request from a person before `before_ms` (whatever the
    /// report's window), and when loket first connected to it.
    pub async fn report_quiet(&self, before_ms: i64) -> Result<QuietFacts, StoreError> {
        let last_request = sqlx::query_as::<_, (MailboxName, i64)>(
            "SELECT origin_mailbox, MAX(created_at) FROM tickets
             WHERE automatic IS NULL AND created_at < $1
             GROUP BY origin_mailbox",
        )
        .bind(before_ms)
        .fetch_all(&self.read)
        .await?;
        let watched_since = sqlx::query_as::<_, (MailboxName, i64)>(
            "SELECT name, first_connected_at FROM mailboxes WHERE first_connected_at IS NOT NULL",
        )
        .fetch_all(&self.read)
        .await?;
        Ok(QuietFacts { last_request, watched_since })
    }
}
