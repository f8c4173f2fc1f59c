//! Retention: what the store removes once it may no longer keep it. Runs are
//! idempotent, so the daemon's schedule and `loket purge` can both apply them.

use serde::Serialize;

use super::{Store, StoreError};

/// Before these times (milliseconds; `None`: never) data goes: the raw mail of
/// tickets resolved before `raw`, the personal data of tickets resolved before
/// `anonymise`, quarantined messages from before `quarantine`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCutoffs {
    pub raw: Option<i64>,
    pub anonymise: Option<i64>,
    pub quarantine: Option<i64>,
}

/// What a purge removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Purged {
    /// Messages whose raw bytes, attachments and HTML were removed.
    pub raw_messages: i64,
    pub anonymised_tickets: i64,
    pub quarantined_messages: i64,
}

impl Purged {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

const RESOLVED_BEFORE: &str = "SELECT id FROM tickets WHERE status = STATUS_RESOLVED AND updated_at < $1";
const NOT_ANONYMISED: &str = "requester_address <> 'anonymised'";

impl Store {
    /// Applies the cutoffs; with `dry_run`, only counts. SQLite overwrites what
    /// is removed (`secure_delete`), and after a real purge that removed anything
    /// its WAL is emptied, so the removed text is gone from the file's bytes
    /// without rewriting the file: the daemon runs this while it takes in mail.
    pub async fn purge(&self, cutoffs: PurgeCutoffs, dry_run: bool) -> Result<Purged, StoreError> {
        let mut purged = Purged::default();
        let mut tx = self.write.begin().await?;
        if let Some(before) = cutoffs.anonymise {
            let ids = format!(
                "SELECT id FROM tickets WHERE status = STATUS_RESOLVED AND updated_at < $1 AND {NOT_ANONYMISED}"
            );
            purged.anonymised_tickets = count(&mut tx, &format!("SELECT COUNT(*) FROM ({ids}) t"), before).await?;
            if !dry_run {
                // (statement, whether it also takes the empty raw bytes as $2)
                let statements = [
                    (
                        format!(
                            "DELETE FROM attachments WHERE message_id IN (SELECT id FROM messages WHERE ticket_id IN ({ids}))"
                        ),
                        false,
                    ),
                    (
                        format!(
                            "UPDATE messages SET from_address = 'anonymised', from_name = NULL, reply_to = NULL,
                             to_list = '[]', cc_list = '[]', subject = '', text_body = '', html_body = NULL, raw = $2
                             WHERE ticket_id IN ({ids})"
                        ),
                        true,
                    ),
                    (
                        format!(
                            "UPDATE events SET detail = '', data = NULL, public_text = NULL WHERE ticket_id IN ({ids})"
                        ),
                        false,
                    ),
                    (format!("DELETE FROM outbox WHERE ticket_id IN ({ids})"), false),
                    (format!("DELETE FROM participants WHERE ticket_id IN ({ids})"), false),
                    (
                        format!(
                            "UPDATE tickets SET requester_address = 'anonymised', requester_name = NULL,
                             subject = '(anonymised)' WHERE id IN ({ids})"
                        ),
                        false,
                    ),
                ];
                for (sql, raw) in statements {
                    let query = sqlx::query(sqlx::AssertSqlSafe(super::spelling::spelled(&sql))).bind(before);
                    let query = if raw { query.bind(Vec::<u8>::new()) } else { query };
                    query.execute(&mut *tx).await?;
                }
            }
        }
        if let Some(before) = cutoffs.raw {
            let which = format!("FROM messages WHERE ticket_id IN ({RESOLVED_BEFORE}) AND LENGTH(raw) > 0");
            purged.raw_messages = count(&mut tx, &format!("SELECT COUNT(*) {which}"), before).await?;
            if !dry_run {
                let attachments = format!("DELETE FROM attachments WHERE message_id IN (SELECT id {which})");
                sqlx::query(sqlx::AssertSqlSafe(super::spelling::spelled(&attachments)))
                    .bind(before)
                    .execute(&mut *tx)
                    .await?;
                let raw = format!(
                    "UPDATE messages SET raw = $2, html_body = NULL WHERE ticket_id IN ({RESOLVED_BEFORE}) AND LENGTH(raw) > 0"
                );
                sqlx::query(sqlx::AssertSqlSafe(super::spelling::spelled(&raw)))
                    .bind(before)
                    .bind(Vec::<u8>::new())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some(before) = cutoffs.quarantine {
            purged.quarantined_messages =
                count(&mut tx, "SELECT COUNT(*) FROM quarantine WHERE at < $1", before).await?;
            if !dry_run {
                sqlx::query("DELETE FROM quarantine WHERE at < $1").bind(before).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        if !dry_run && !purged.is_empty() {
            self.checkpoint().await?;
        }
        Ok(purged)
    }
}

async fn count(tx: &mut sqlx::Transaction<'_, sqlx::Any>, sql: &str, before: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(super::spelling::spelled(sql))).bind(before).fetch_one(&mut **tx).await?)
}
