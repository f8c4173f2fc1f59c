//! Quarantine kept up: the raw bytes of one entry for taking it in again, and
//! removing entries.

use super::{Store, StoreError};
use crate::domain::MailboxName;

/// A quarantined message as it is taken in again.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct QuarantineEntry {
    pub id: String,
    pub mailbox: MailboxName,
    pub source_key: String,
    pub reason: String,
    /// Only the message's header was kept (it was over the size limit).
    pub truncated: i64,
    pub size: i64,
    pub raw: Vec<u8>,
    pub at: i64,
}

impl Store {
    pub async fn quarantine_entry(&self, id: &str) -> Result<QuarantineEntry, StoreError> {
        sqlx::query_as("SELECT id, mailbox, source_key, reason, truncated, size, raw, at FROM quarantine WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.read)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("quarantined message {id}")))
    }

    /// Every quarantined message's id, oldest first.
    pub async fn quarantine_ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT id FROM quarantine ORDER BY at, id").fetch_all(&self.read).await?)
    }

    /// Removes one entry with its raw bytes; false when there was none.
    pub async fn delete_quarantine(&self, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM quarantine WHERE id = $1").bind(id).execute(&self.write).await?;
        Ok(done.rows_affected() > 0)
    }
}
