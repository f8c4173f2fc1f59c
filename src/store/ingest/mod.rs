//! The ingest transaction: what the desk needs to look up, and the writes of
//! what it decided, all in one transaction. The store decides nothing here: the
//! ingest step (`pipeline`) looks the state up, asks the desk, and hands back
//! rows, mails and timeline entries to write.
//!
//! The unique keys `(mailbox, source_key)` and `(Message-ID, sha256)` turn a
//! repeated message into a no-op (`insert_messages` returns only the rows it
//! inserted), so a crash at any point is safe to replay.

mod messages;
mod outgoing;
mod tickets;

use sqlx::{Any, Transaction};
use uuid::Uuid;

use super::{Backend, Store, StoreError};
use crate::domain::{AutoKind, DecidedBy, DepartmentId, Language, MailKind, MailboxName, Role, Status, TicketRef};

/// A new row id: time-ordered, unique across instances.
pub fn new_id() -> String {
    Uuid::now_v7().to_string()
}

/// A message to store, as its row.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub row_id: &'a str,
    pub ticket_id: &'a str,
    pub mailbox: &'a MailboxName,
    pub source_key: &'a str,
    pub uidvalidity: Option<i64>,
    pub uid: Option<i64>,
    pub message_id: Option<&'a str>,
    pub sha256: &'a str,
    pub in_reply_to: &'a str,
    pub references: &'a str,
    pub from_address: &'a str,
    pub from_name: Option<&'a str>,
    pub reply_to: Option<&'a str>,
    /// JSON lists of the addressees.
    pub to: &'a str,
    pub cc: &'a str,
    pub subject: &'a str,
    pub sent_at: Option<i64>,
    pub text: &'a str,
    pub html: Option<&'a str>,
    /// Why it is automatic mail, when it is.
    pub automatic: Option<String>,
    pub raw: &'a [u8],
    /// Who wrote it; `None` for copies and bounces.
    pub author_role: Option<Role>,
}

/// A ticket to open, as its row.
#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    pub id: &'a str,
    pub reference: &'a TicketRef,
    pub requester_address: &'a str,
    pub requester_name: Option<&'a str>,
    pub subject: &'a str,
    pub department: &'a DepartmentId,
    pub category: Option<&'a str>,
    pub decided_by: DecidedBy,
    pub confidence: Option<f64>,
    pub reason: &'a str,
    pub origin_mailbox: &'a MailboxName,
    /// The kind of automatic mail that opened it, when it was.
    pub automatic: Option<AutoKind>,
    pub opening_message_id: Option<&'a str>,
    pub language: Language,
    pub status: Status,
}

/// An attachment's description (the bytes stay in the raw message).
#[derive(Debug, Clone)]
pub struct NewAttachment<'a> {
    pub message_row: &'a str,
    pub position: usize,
    pub filename: Option<&'a str>,
    pub content_type: &'a str,
    pub size: u64,
}

/// A message that could not be taken in, with why.
#[derive(Debug, Clone)]
pub struct Quarantined<'a> {
    pub mailbox: &'a MailboxName,
    pub source_key: &'a str,
    pub reason: &'a str,
    pub sha256: &'a str,
    pub size: u64,
    pub truncated: bool,
    pub raw: &'a [u8],
}

/// One of loket's sent mails that a delivery report quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BouncedMail {
    pub reference: TicketRef,
    pub ticket_id: String,
    pub outbox_id: String,
    pub kind: MailKind,
    pub recipient: String,
}

/// What a message changes on the ticket it joined.
#[derive(Debug, Clone, Copy)]
pub struct TicketChange<'a> {
    pub status: Status,
    pub department: &'a DepartmentId,
    /// An address to remember as the ticket's staff.
    pub staff: Option<&'a str>,
}

/// The one write transaction of a group of messages.
pub struct IngestTx {
    pub(super) tx: Transaction<'static, Any>,
    backend: Backend,
}

impl Store {
    pub async fn begin_ingest(&self) -> Result<IngestTx, StoreError> {
        Ok(IngestTx { tx: self.write.begin().await?, backend: self.backend })
    }

    /// Moves a mailbox cursor forward to `uid` (never backwards), once the source has
    /// moved or flagged the messages up to it.
    /// With `lease`, the write is refused once another instance has taken the mailbox.
    pub async fn advance_cursor(
        &self,
        mailbox: &str,
        uidvalidity: u32,
        uid: u32,
        lease: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut conn = self.write.acquire().await?;
        advance(&mut conn, mailbox, (uidvalidity, uid), lease, crate::clock::now_ms()).await
    }
}

fn size(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl IngestTx {
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// On PostgreSQL, two mailbox tasks (or instances) may take in copies of one
    /// mail at the same moment: each waits here for the other's transaction, so
    /// the second finds the first's ticket instead of opening its own. Keys are
    /// locked in order, so two groups never wait for each other in a circle.
    /// SQLite has one writer, which does the same.
    pub async fn lock_copy_keys(&mut self, keys: &[String]) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        let mut keys: Vec<&String> = keys.iter().collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    pub async fn advance_cursor(
        &mut self,
        mailbox: &str,
        uidvalidity: u32,
        uid: u32,
        lease: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        advance(&mut self.tx, mailbox, (uidvalidity, uid), lease, now).await
    }
}

/// Moves the cursor to `uid` under `uidvalidity`, never backwards; with `lease`, only
/// while the mailbox's lease number is still that one.
async fn advance(
    conn: &mut sqlx::AnyConnection,
    mailbox: &str,
    (uidvalidity, uid): (u32, u32),
    lease: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE mailboxes SET last_uid = $1, updated_at = $2
         WHERE name = $3 AND uidvalidity = $4 AND last_uid < $1 AND lease_epoch = COALESCE($5, lease_epoch)",
    )
    .bind(i64::from(uid))
    .bind(now)
    .bind(mailbox)
    .bind(i64::from(uidvalidity))
    .bind(lease)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        super::lease::check_fence(conn, mailbox, lease).await?;
    }
    Ok(())
}
