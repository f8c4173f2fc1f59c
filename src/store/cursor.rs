//! Per-mailbox ingest state: which UIDVALIDITY we read under, and the last UID
//! we hold. Advanced only inside the transaction that stores the message.

use super::{Store, StoreError};
use crate::clock::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxCursor {
    pub uidvalidity: u32,
    pub last_uid: u32,
    /// The highest UID present when the mailbox was first connected (or resynced):
    /// mail up to it is backlog.
    pub backlog_uid: u32,
    /// True when this call found no state or a changed UIDVALIDITY.
    pub fresh: bool,
}

/// What a folder holds besides new mail, which decides what mail found in it
/// after its UIDVALIDITY changed is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FolderHolds {
    /// Mail already taken in stays in the folder (flagged, or not touched): what
    /// is there after a change is backlog, as at the first connection.
    ProcessedToo,
    /// Mail taken in is moved out: whatever is there after a change arrived
    /// since, and is new.
    OnlyUnprocessed,
}

impl Store {
    /// Loads the cursor of `mailbox` for the server's current `uidvalidity`, creating it
    /// on first connection. A changed UIDVALIDITY restarts from UID 1; the duplicate keys
    /// absorb what was already stored. With `lease`, refused once another instance has
    /// taken the mailbox.
    pub async fn open_cursor(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        uid_next: u32,
        lease: Option<i64>,
    ) -> Result<MailboxCursor, StoreError> {
        self.open_cursor_of(mailbox, uidvalidity, uid_next, lease, FolderHolds::ProcessedToo).await
    }

    /// As [`Store::open_cursor`], for a folder that holds what `holds` says: the
    /// mail in a folder that holds only unprocessed mail is new after a change of
    /// UIDVALIDITY (backlog only at the first connection).
    pub async fn open_cursor_of(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        uid_next: u32,
        lease: Option<i64>,
        holds: FolderHolds,
    ) -> Result<MailboxCursor, StoreError> {
        let now = now_ms();
        let present = i64::from(uid_next.saturating_sub(1));
        let mut tx = self.write.begin().await?;
        super::lease::check_fence(&mut tx, mailbox, lease).await?;
        let row: Option<(Option<i64>, i64, Option<i64>)> =
            sqlx::query_as("SELECT uidvalidity, last_uid, backlog_uid FROM mailboxes WHERE name = $1")
                .bind(mailbox)
                .fetch_optional(&mut *tx)
                .await?;
        let cursor = match row {
            Some((Some(stored), last_uid, backlog_uid)) if stored == i64::from(uidvalidity) => MailboxCursor {
                uidvalidity,
                last_uid: clamp_u32(last_uid),
                backlog_uid: clamp_u32(backlog_uid.unwrap_or(0)),
                fresh: false,
            },
            existing => {
                let changed = matches!(existing, Some((Some(_), ..)));
                if let Some((Some(stored), ..)) = existing {
                    tracing::warn!(
                        mailbox,
                        old = stored,
                        new = uidvalidity,
                        "UIDVALIDITY changed; reading the folder again from the start"
                    );
                }
                let backlog = if changed && holds == FolderHolds::OnlyUnprocessed { 0 } else { present };
                let done = sqlx::query(
                    "INSERT INTO mailboxes (name, uidvalidity, last_uid, backlog_uid, first_connected_at, updated_at)
                     VALUES ($1, $2, 0, $3, $4, $4)
                     ON CONFLICT (name) DO UPDATE SET uidvalidity = $2, last_uid = 0, backlog_uid = $3, updated_at = $4,
                         first_connected_at = COALESCE(mailboxes.first_connected_at, $4)
                     WHERE mailboxes.lease_epoch = COALESCE($5, mailboxes.lease_epoch)",
                )
                .bind(mailbox)
                .bind(i64::from(uidvalidity))
                .bind(backlog)
                .bind(now)
                .bind(lease)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::LeaseLost { mailbox: mailbox.to_owned(), lease: lease.unwrap_or(0) });
                }
                MailboxCursor { uidvalidity, last_uid: 0, backlog_uid: clamp_u32(backlog), fresh: true }
            }
        };
        tx.commit().await?;
        Ok(cursor)
    }

    /// Reads the folder again from UID 1 under the same `uidvalidity`, for a server
    /// that hands out UIDs again: nothing in it is backlog any more, since all that
    /// was there before was read. Fenced with `lease` like every cursor write.
    pub async fn restart_cursor(&self, mailbox: &str, uidvalidity: u32, lease: Option<i64>) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE mailboxes SET last_uid = 0, backlog_uid = 0, updated_at = $1
             WHERE name = $2 AND uidvalidity = $3 AND lease_epoch = COALESCE($4, lease_epoch)",
        )
        .bind(now_ms())
        .bind(mailbox)
        .bind(i64::from(uidvalidity))
        .bind(lease)
        .execute(&self.write)
        .await?;
        if let Some(lease) = lease
            && done.rows_affected() == 0
        {
            return Err(StoreError::LeaseLost { mailbox: mailbox.to_owned(), lease });
        }
        Ok(())
    }

    /// The stored cursor of a mailbox, if it was ever connected.
    pub async fn cursor(&self, mailbox: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let row: Option<(Option<i64>, i64)> =
            sqlx::query_as("SELECT uidvalidity, last_uid FROM mailboxes WHERE name = $1")
                .bind(mailbox)
                .fetch_optional(&self.read)
                .await?;
        // A row without UIDVALIDITY was only leased, never read.
        Ok(row.and_then(|(v, l)| v.map(|v| (v, l))))
    }
}

fn clamp_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}
