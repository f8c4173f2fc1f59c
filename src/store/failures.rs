//! Failed attempts to store a message, counted in the store so that the count
//! survives restarts and is shared by every instance.

use super::{Store, StoreError};

impl Store {
    /// Counts one more failed attempt to store the message `source_key` of
    /// `mailbox`, with its error; returns how many attempts have failed so far.
    pub async fn record_ingest_failure(
        &self,
        mailbox: &str,
        source_key: &str,
        error: &str,
        now: i64,
    ) -> Result<u32, StoreError> {
        let error = error.replace('\0', "\u{FFFD}");
        let attempts: i64 = sqlx::query_scalar(
            "INSERT INTO ingest_failures (mailbox, source_key, attempts, last_error, updated_at)
             VALUES ($1, $2, 1, $3, $4)
             ON CONFLICT (mailbox, source_key) DO UPDATE
             SET attempts = ingest_failures.attempts + 1, last_error = excluded.last_error,
                 updated_at = excluded.updated_at
             RETURNING attempts",
        )
        .bind(mailbox)
        .bind(source_key)
        .bind(error)
        .bind(now)
        .fetch_one(&self.write)
        .await?;
        Ok(u32::try_from(attempts).unwrap_or(u32::MAX))
    }

    /// Forgets the failed attempts of a message that has now been stored or quarantined.
    pub async fn forget_ingest_failure(&self, mailbox: &str, source_key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM ingest_failures WHERE mailbox = $1 AND source_key = $2")
            .bind(mailbox)
            .bind(source_key)
            .execute(&self.write)
            .await?;
        Ok(())
    }
}
