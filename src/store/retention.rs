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

/// At most this many tickets, messages or quarantined mails are purged in one
/// transaction: the daemon's own writes (mail coming in, the outbox) go on
/// between them, and no statement grows with the store.
const BATCH: usize = 100;

impl Store {
    /// Applies the cutoffs; with `dry_run`, only counts. The purge runs in small
    /// transactions, so the daemon can run it while it takes in mail. SQLite
    /// overwrites what is removed (`secure_delete`), and after a real purge that
    /// removed anything its WAL is emptied, so the removed text is gone from the
    /// file's bytes without rewriting the file.
    pub async fn purge(&self, cutoffs: PurgeCutoffs, dry_run: bool) -> Result<Purged, StoreError> {
        if dry_run {
            return self.count_purge(cutoffs).await;
        }
        let mut purged = Purged::default();
        if let Some(before) = cutoffs.anonymise {
            let ids = format!("{RESOLVED_BEFORE} AND {NOT_ANONYMISED} ORDER BY id LIMIT {BATCH}");
            // (statement over the batch's ticket ids, whether it also takes the empty raw bytes)
            let statements = [
                (
                    "DELETE FROM attachments WHERE message_id IN (SELECT id FROM messages WHERE ticket_id IN (IDS))",
                    false,
                ),
                (
                    "UPDATE messages SET from_address = 'anonymised', from_name = NULL, reply_to = NULL,
                     to_list = '[]', cc_list = '[]', subject = '', text_body = '', html_body = NULL, raw = $1
                     WHERE ticket_id IN (IDS)",
                    true,
                ),
                ("UPDATE events SET detail = '', data = NULL, public_text = NULL WHERE ticket_id IN (IDS)", false),
                ("DELETE FROM outbox WHERE ticket_id IN (IDS)", false),
                ("DELETE FROM participants WHERE ticket_id IN (IDS)", false),
                (
                    "UPDATE tickets SET requester_address = 'anonymised', requester_name = NULL,
                     subject = '(anonymised)' WHERE id IN (IDS)",
                    false,
                ),
            ];
            purged.anonymised_tickets = self.in_batches(&ids, before, &statements).await?;
        }
        if let Some(before) = cutoffs.raw {
            let ids = format!(
                "SELECT id FROM messages WHERE ticket_id IN ({RESOLVED_BEFORE}) AND LENGTH(raw) > 0 ORDER BY id LIMIT {BATCH}"
            );
            let statements = [
                ("DELETE FROM attachments WHERE message_id IN (IDS)", false),
                ("UPDATE messages SET raw = $1, html_body = NULL WHERE id IN (IDS)", true),
            ];
            purged.raw_messages = self.in_batches(&ids, before, &statements).await?;
        }
        if let Some(before) = cutoffs.quarantine {
            let ids = format!("SELECT id FROM quarantine WHERE at < $1 ORDER BY id LIMIT {BATCH}");
            purged.quarantined_messages =
                self.in_batches(&ids, before, &[("DELETE FROM quarantine WHERE id IN (IDS)", false)]).await?;
        }
        if !purged.is_empty() {
            self.checkpoint().await?;
        }
        Ok(purged)
    }

    /// Runs `statements` over the ids `select` finds (given `before` as $1), one
    /// batch per transaction, until it finds none; how many ids there were.
    /// `IDS` in a statement stands for the batch's ids; a statement marked
    /// `true` takes empty raw bytes as $1.
    async fn in_batches(&self, select: &str, before: i64, statements: &[(&str, bool)]) -> Result<i64, StoreError> {
        let select = super::spelling::spelled(select);
        let mut done = 0;
        loop {
            let mut tx = self.write.begin().await?;
            let ids: Vec<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(select.as_str())).bind(before).fetch_all(&mut *tx).await?;
            if ids.is_empty() {
                return Ok(done);
            }
            for (sql, raw) in statements {
                let first = if *raw { 2 } else { 1 };
                // Only numbered placeholders are formatted into the statement; every value is bound.
                let sql = sql.replace("IDS", &super::lookup::placeholders(first, ids.len()));
                let mut query = sqlx::query(sqlx::AssertSqlSafe(super::spelling::spelled(&sql)));
                if *raw {
                    query = query.bind(Vec::<u8>::new());
                }
                for id in &ids {
                    query = query.bind(id.as_str());
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;
            done += ids.len() as i64;
            if ids.len() < BATCH {
                return Ok(done);
            }
        }
    }

    /// What a purge would remove, counted in one read.
    async fn count_purge(&self, cutoffs: PurgeCutoffs) -> Result<Purged, StoreError> {
        let mut purged = Purged::default();
        let mut tx = self.write.begin().await?;
        if let Some(before) = cutoffs.anonymise {
            let sql = format!("SELECT COUNT(*) FROM tickets WHERE id IN ({RESOLVED_BEFORE}) AND {NOT_ANONYMISED}");
            purged.anonymised_tickets = count(&mut tx, &sql, before).await?;
        }
        if let Some(before) = cutoffs.raw {
            let sql =
                format!("SELECT COUNT(*) FROM messages WHERE ticket_id IN ({RESOLVED_BEFORE}) AND LENGTH(raw) > 0");
            purged.raw_messages = count(&mut tx, &sql, before).await?;
        }
        if let Some(before) = cutoffs.quarantine {
            purged.quarantined_messages =
                count(&mut tx, "SELECT COUNT(*) FROM quarantine WHERE at < $1", before).await?;
        }
        tx.rollback().await?;
        Ok(purged)
    }
}

async fn count(tx: &mut sqlx::Transaction<'_, sqlx::Any>, sql: &str, before: i64) -> Result<i64, StoreError> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(super::spelling::spelled(sql))).bind(before).fetch_one(&mut **tx).await?)
}
