//! Claiming due mails for a worker: a lease of the worker's own on each mail,
//! bounded by count and by bytes, renewed while the mails are sent and handed
//! back at a restart.

use sqlx::{FromRow, Row};

use std::time::Duration;

use super::lease::{db_now, millis};
use super::outbox::{HELD, held};
use super::spelling::spelled;
use super::{Backend, Due, Store, StoreError};

/// The composed mail one claim holds at most, so that a queue of large forwards
/// (a 32 MiB original forwarded is about 44 MiB) is not read into memory 64 at
/// a time: 128 MiB, two of the largest or many ordinary mails. The first mail
/// due is claimed whatever its size.
pub const CLAIM_BYTES: i64 = 128 * 1024 * 1024;

impl Store {
    /// Claims up to `limit` due mails for `worker`, for `lease` by the database's
    /// clock, holding at most [`CLAIM_BYTES`] of composed mail between them (and
    /// always the first due mail, however large): see [`Store::claim_due_within`].
    pub async fn claim_due(&self, worker: &str, limit: i64, lease: Duration) -> Result<Vec<Due>, StoreError> {
        self.claim_due_within(worker, limit, CLAIM_BYTES, lease).await
    }

    /// Claims up to `limit` due mails for `worker`, for `lease` by the database's
    /// clock, taking them in turn while their bodies add up to at most `max_bytes`
    /// (the first is always taken, so that a mail larger than that still goes
    /// out, alone): a claim is a lease of its own, under a token new for each claim, so
    /// that only this claim may record what became of its mails. A mail is due
    /// when it was just queued or its next attempt has come by the database's
    /// clock; an instance whose clock runs ahead takes nothing early.
    /// PostgreSQL skips rows other instances hold; SQLite has one writer.
    ///
    /// Each claimed row is read on its own: a mail the store holds in a form loket
    /// cannot read (a kind no version of it wrote) is given up unsent, with why as
    /// its last error, and the others go out as usual.
    pub async fn claim_due_within(
        &self,
        worker: &str,
        limit: i64,
        max_bytes: i64,
        lease: Duration,
    ) -> Result<Vec<Due>, StoreError> {
        let skip = match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        // The sizes are summed over the rows locked first: PostgreSQL takes no
        // row lock in a query with window functions, only in a subquery of it.
        let sql = held(
            self.backend,
            &format!(
                "UPDATE outbox SET lease_owner = $1, lease_until = DB_NOW + $2 WHERE id IN (
                SELECT id FROM (
                  SELECT id, ROW_NUMBER() OVER (ORDER BY next_attempt_at, id) AS turn,
                    SUM(size) OVER (ORDER BY next_attempt_at, id) AS bytes
                  FROM (SELECT id, next_attempt_at, COALESCE(LENGTH(body), 0) AS size FROM outbox
                    WHERE state = STATE_PENDING
                      AND (next_attempt_at = created_at OR next_attempt_at <= DB_NOW)
                      AND (lease_until IS NULL OR lease_until < DB_NOW)
                    ORDER BY next_attempt_at, id LIMIT $3{skip}) AS due) AS counted
                WHERE turn = 1 OR bytes <= $4)
             RETURNING id, COALESCE(ticket_id, '') AS ticket_id, kind, recipient, sender, message_id, body,
               attempts, created_at, failing_since, lease_owner"
            ),
        );
        let token = format!("{worker}/{}", uuid::Uuid::now_v7());
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&token)
            .bind(millis(lease))
            .bind(limit)
            .bind(max_bytes)
            .fetch_all(&self.write)
            .await?;
        let mut due = Vec::with_capacity(rows.len());
        for row in rows {
            match Due::from_row(&row).map_err(StoreError::from) {
                Ok(mail) => due.push(mail),
                Err(StoreError::Corrupt(why)) => {
                    let id: String = row.try_get("id")?;
                    self.give_up_unreadable(&id, &token, &why).await?;
                }
                Err(other) => return Err(other),
            }
        }
        Ok(due)
    }

    /// Gives up a claimed mail that loket cannot read, so that it is not claimed
    /// again and again; its last error and the log say why.
    async fn give_up_unreadable(&self, id: &str, token: &str, why: &str) -> Result<(), StoreError> {
        let error = format!("given up unsent: {}", StoreError::Corrupt(why.to_owned()));
        tracing::error!(mail = %id, %error, "an outbox row could not be read");
        let sql = format!(
            "UPDATE outbox SET state = STATE_FAILED, last_error = $1, failed_at = {db}, lease_owner = NULL,
                lease_until = NULL WHERE id = $3 AND {HELD}",
            db = db_now(self.backend)
        );
        sqlx::query(sqlx::AssertSqlSafe(held(self.backend, &sql)))
            .bind(error)
            .bind(token)
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    /// Hands back every claim on pending mail. Only for a store that one instance
    /// alone uses (SQLite under its instance lock), at its start: any claim then
    /// was left by a loket that stopped without finishing its round, and its mails
    /// go out now instead of when the claim runs out. Returns how many.
    pub async fn release_stale_claims(&self) -> Result<u64, StoreError> {
        let sql = spelled(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL
             WHERE state = STATE_PENDING AND lease_owner IS NOT NULL",
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.write).await?;
        Ok(done.rows_affected())
    }

    /// Extends the claim `token` while its mails are being sent; false once none
    /// of them is held under it any more.
    pub async fn renew_claim(&self, token: &str, lease: Duration) -> Result<bool, StoreError> {
        let sql = held(
            self.backend,
            "UPDATE outbox SET lease_until = DB_NOW + $2 WHERE lease_owner = $1 AND state = STATE_PENDING AND lease_until > DB_NOW",
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(token).bind(millis(lease)).execute(&self.write).await?;
        Ok(done.rows_affected() > 0)
    }
}
