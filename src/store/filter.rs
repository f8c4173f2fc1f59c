//! `loket tickets list` with filters.

use super::query::SUMMARY_COLUMNS;
use super::{Store, StoreError, TicketSummary};
use crate::domain::{DepartmentId, MailboxName, Status};

/// Which tickets to list; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub status: Option<Status>,
    pub department: Option<DepartmentId>,
    pub mailbox: Option<MailboxName>,
    /// Opened at or after this time (milliseconds).
    pub since_ms: Option<i64>,
    pub limit: i64,
}

impl Store {
    /// Tickets matching `filter`, newest first.
    pub async fn find_tickets(&self, filter: &TicketFilter) -> Result<Vec<TicketSummary>, StoreError> {
        let mut conditions = Vec::new();
        let mut texts = Vec::new();
        for (column, value) in [
            ("status", filter.status.map(Status::as_str)),
            ("department", filter.department.as_ref().map(DepartmentId::as_str)),
            ("origin_mailbox", filter.mailbox.as_ref().map(MailboxName::as_str)),
        ] {
            if let Some(value) = value {
                texts.push(value);
                conditions.push(format!("{column} = ${}", texts.len()));
            }
        }
        let mut next = texts.len() + 1;
        if filter.since_ms.is_some() {
            conditions.push(format!("created_at >= ${next}"));
            next += 1;
        }
        let wheres = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM tickets {wheres} ORDER BY created_at DESC, reference DESC LIMIT ${next}"
        );
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for text in texts {
            query = query.bind(text);
        }
        if let Some(since) = filter.since_ms {
            query = query.bind(since);
        }
        Ok(query.bind(filter.limit).fetch_all(&self.read).await?)
    }
}
