//! Mailbox leases: an instance reads a mailbox only while it holds its lease.
//! Leases are timed by the database's clock, never an instance's, and each take
//! raises the mailbox's lease number; cursor writes carry the number they were
//! granted under and are refused once another instance has taken the mailbox.
//!
//! SQLite has one instance: there a take always succeeds.

use std::time::Duration;

use super::{Backend, Store, StoreError};
use crate::clock::now_ms;

/// The database's clock in milliseconds since the epoch.
pub(super) fn db_now(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "(extract(epoch from clock_timestamp()) * 1000)::bigint",
        Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
    }
}

/// Who holds a mailbox, as the store says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    pub owner: Option<String>,
    /// Milliseconds since the epoch by the database's clock.
    pub until: Option<i64>,
    pub epoch: i64,
}

impl Store {
    /// Takes the lease of `mailbox` for `owner` when nobody holds it or its holder's
    /// lease ran out; the new lease number, or `None` while another instance holds it.
    pub async fn take_mailbox_lease(
        &self,
        mailbox: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO mailboxes (name, last_uid, updated_at) VALUES ($1, 0, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(mailbox)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let now = db_now(self.backend);
        let free = match self.backend {
            Backend::Sqlite => String::new(),
            Backend::Postgres => {
                format!(" AND (lease_owner IS NULL OR lease_owner = $2 OR lease_until IS NULL OR lease_until < {now})")
            }
        };
        let sql = format!(
            "UPDATE mailboxes SET lease_owner = $2, lease_until = {now} + $3, lease_epoch = lease_epoch + 1,
               lease_since = {now} WHERE name = $1{free} RETURNING lease_epoch"
        );
        let epoch: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(mailbox)
            .bind(owner)
            .bind(millis(lease))
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(epoch.map(|(epoch,)| epoch))
    }

    /// Extends a lease held under `epoch`; false when it is no longer this owner's.
    pub async fn renew_mailbox_lease(
        &self,
        mailbox: &str,
        owner: &str,
        epoch: i64,
        lease: Duration,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE mailboxes SET lease_until = {} + $4 WHERE name = $1 AND lease_owner = $2 AND lease_epoch = $3",
            db_now(self.backend)
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(mailbox)
            .bind(owner)
            .bind(epoch)
            .bind(millis(lease))
            .execute(&self.write)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands a lease back, so that another instance may take the mailbox at once.
    /// Hands back the lease `epoch` of `owner`; false when it was no longer theirs
    /// (another instance took the mailbox).
    pub async fn release_mailbox_lease(&self, mailbox: &str, owner: &str, epoch: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE mailboxes SET lease_owner = NULL, lease_until = NULL
             WHERE name = $1 AND lease_owner = $2 AND lease_epoch = $3",
        )
        .bind(mailbox)
        .bind(owner)
        .bind(epoch)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Who holds `mailbox`, if it is known to the store.
    pub async fn mailbox_lease(&self, mailbox: &str) -> Result<Option<LeaseHolder>, StoreError> {
        let row: Option<(Option<String>, Option<i64>, i64)> =
            sqlx::query_as("SELECT lease_owner, lease_until, lease_epoch FROM mailboxes WHERE name = $1")
                .bind(mailbox)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.map(|(owner, until, epoch)| LeaseHolder { owner, until, epoch }))
    }
}

/// Refuses a cursor write made under a lease that another instance has taken since.
pub(super) async fn check_fence(
    tx: &mut sqlx::AnyConnection,
    mailbox: &str,
    lease: Option<i64>,
) -> Result<(), StoreError> {
    let Some(lease) = lease else { return Ok(()) };
    let current: Option<(i64,)> = sqlx::query_as("SELECT lease_epoch FROM mailboxes WHERE name = $1")
        .bind(mailbox)
        .fetch_optional(&mut *tx)
        .await?;
    match current {
        Some((current,)) if current != lease => Err(StoreError::LeaseLost { mailbox: mailbox.to_owned(), lease }),
        _ => Ok(()),
    }
}

pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
