//! Instances and how the mailboxes spread over them: each running instance
//! beats its heart in `instances` on the database's clock; those seen within a
//! lease are live, and each takes at most its fair share of the mailboxes,
//! ceil(mailboxes / live instances). Also the read model of `loket status`.

use std::time::Duration;

use serde::Serialize;
use sqlx::FromRow;

use super::lease::{db_now, millis};
use super::{Store, StoreError};
use crate::domain::MailboxName;

/// A mailbox as `loket status` shows it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct MailboxStatus {
    pub mailbox: MailboxName,
    /// The instance holding its lease, while the lease runs.
    pub holder: Option<String>,
    /// Since when the holder holds it (database clock, milliseconds).
    pub since: Option<i64>,
    /// Until when the lease runs unless renewed.
    pub until: Option<i64>,
    pub lease: i64,
}

/// An instance as `loket status` shows it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct InstanceStatus {
    pub instance: String,
    pub started_at: i64,
    pub last_seen: i64,
    /// Seen within the lease length given to [`Store::status`].
    pub live: bool,
}

/// How many mailboxes an instance holds, and how many it should.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub held: i64,
    pub fair: i64,
}

impl Store {
    /// Records that `instance` is alive now, by the database's clock.
    pub async fn heartbeat(&self, instance: &str) -> Result<(), StoreError> {
        let now = db_now(self.backend);
        let sql = format!(
            "INSERT INTO instances (id, started_at, last_seen) VALUES ($1, {now}, {now})
             ON CONFLICT (id) DO UPDATE SET last_seen = {now}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(instance).execute(&self.write).await?;
        Ok(())
    }

    /// An instance that stops cleanly leaves at once, so that the others' shares grow.
    pub async fn leave(&self, instance: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM instances WHERE id = $1").bind(instance).execute(&self.write).await?;
        Ok(())
    }

    /// `instance`'s share of `mailboxes`: the leases it holds and ceil(mailboxes /
    /// instances seen within `lease`), counting itself even before its first heartbeat.
    pub async fn share(&self, instance: &str, mailboxes: usize, lease: Duration) -> Result<Share, StoreError> {
        let now = db_now(self.backend);
        let sql = format!(
            "SELECT
               (SELECT COUNT(*) FROM mailboxes WHERE lease_owner = $1 AND lease_until > {now}),
               (SELECT COUNT(*) FROM instances WHERE id <> $1 AND last_seen > {now} - $2)"
        );
        let (held, others): (i64, i64) =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(instance).bind(millis(lease)).fetch_one(&self.read).await?;
        let mailboxes = i64::try_from(mailboxes).unwrap_or(i64::MAX);
        let live = others + 1;
        Ok(Share { held, fair: (mailboxes + live - 1) / live })
    }

    /// Every mailbox's lease and every instance, as `loket status` shows them;
    /// instances seen within `lease` are live.
    pub async fn status(&self, lease: Duration) -> Result<(Vec<MailboxStatus>, Vec<InstanceStatus>), StoreError> {
        let now = db_now(self.backend);
        let sql = format!(
            "SELECT name AS mailbox,
               CASE WHEN lease_until > {now} THEN lease_owner END AS holder,
               CASE WHEN lease_until > {now} THEN lease_since END AS since,
               CASE WHEN lease_until > {now} THEN lease_until END AS until,
               lease_epoch AS lease
             FROM mailboxes ORDER BY name"
        );
        let mailboxes = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&self.read).await?;
        let sql = format!(
            "SELECT id AS instance, started_at, last_seen,
               CAST(CASE WHEN last_seen > {now} - $1 THEN 1 ELSE 0 END AS BIGINT) AS live
             FROM instances ORDER BY started_at, id"
        );
        let rows: Vec<(String, i64, i64, i64)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(millis(lease)).fetch_all(&self.read).await?;
        let instances = rows
            .into_iter()
            .map(|(instance, started_at, last_seen, live)| InstanceStatus {
                instance,
                started_at,
                last_seen,
                live: live == 1,
            })
            .collect();
        Ok((mailboxes, instances))
    }
}
