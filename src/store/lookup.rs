//! The lookups of a group's ingest, one statement each for the whole group: the
//! stored copies of its messages and the acknowledgements its requesters already
//! had. The ingest step reads them once before its write transaction (to prepare
//! the desk's answers without holding the writer) and once inside it (to check
//! that nothing changed in between).

use std::collections::HashMap;

use sqlx::AnyConnection;

use super::spelling::spelled;
use super::{IngestTx, Store, StoreError};
use crate::domain::TicketRef;

/// A message's copy key: its Message-ID and its sender's address.
pub type CopyKey = (String, String);

/// Where copies of messages are already stored: copy key to (ticket id, reference).
pub type Copies = HashMap<CopyKey, (String, TicketRef)>;

/// The tables that keep a message's bytes under a key unique per mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyedTable {
    Messages,
    Quarantine,
}

impl KeyedTable {
    fn query(self) -> &'static str {
        match self {
            Self::Messages => "SELECT source_key, sha256 FROM messages WHERE mailbox = $1 AND source_key IN",
            Self::Quarantine => "SELECT source_key, sha256 FROM quarantine WHERE mailbox = $1 AND source_key IN",
        }
    }
}

/// The acknowledgements since a moment, per recipient key and per recipient domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckCounts {
    pub recipients: HashMap<String, i64>,
    /// Read only when a group has a requester outside the organisation.
    pub domains: Option<HashMap<String, i64>>,
}

pub(super) fn placeholders(from: usize, count: usize) -> String {
    (from..from + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

async fn copies(conn: &mut AnyConnection, keys: &[CopyKey]) -> Result<Copies, StoreError> {
    let mut found = Copies::new();
    if keys.is_empty() {
        return Ok(found);
    }
    let mut ids: Vec<&str> = keys.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let sql = format!(
        "SELECT m.message_id, m.from_address, t.id, t.reference FROM messages m JOIN tickets t ON t.id = m.ticket_id
         WHERE m.message_id IN ({}) ORDER BY m.received_at, m.id",
        placeholders(1, ids.len())
    );
    // Only numbered placeholders are formatted into the statement; every value is bound.
    let mut query = sqlx::query_as::<_, (String, String, String, TicketRef)>(sqlx::AssertSqlSafe(sql));
    for id in &ids {
        query = query.bind(*id);
    }
    for (message_id, from, ticket_id, reference) in query.fetch_all(conn).await? {
        // The earliest stored message with the key holds the ticket.
        found.entry((message_id, from)).or_insert((ticket_id, reference));
    }
    found.retain(|key, _| keys.contains(key));
    Ok(found)
}

async fn ack_counts(
    conn: &mut AnyConnection,
    keys: &[String],
    with_domains: bool,
    since: i64,
) -> Result<AckCounts, StoreError> {
    let mut counts = AckCounts::default();
    let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    keys.sort_unstable();
    keys.dedup();
    if !keys.is_empty() {
        let sql = spelled(&format!(
            "SELECT recipient_key, COUNT(*) FROM outbox WHERE kind = MAIL_ACK AND created_at > $1
             AND recipient_key IN ({}) GROUP BY recipient_key",
            placeholders(2, keys.len())
        ));
        let mut query = sqlx::query_as::<_, (String, i64)>(sqlx::AssertSqlSafe(sql)).bind(since);
        for key in &keys {
            query = query.bind(*key);
        }
        counts.recipients = query.fetch_all(&mut *conn).await?.into_iter().collect();
    }
    if with_domains {
        let rows: Vec<(Option<String>, i64)> = sqlx::query_as(
            sqlx::AssertSqlSafe(spelled("SELECT recipient_domain, COUNT(*) FROM outbox WHERE kind = MAIL_ACK AND created_at > $1 GROUP BY recipient_domain")),
        )
        .bind(since)
        .fetch_all(&mut *conn)
        .await?;
        counts.domains = Some(rows.into_iter().filter_map(|(domain, n)| domain.map(|d| (d, n))).collect());
    }
    Ok(counts)
}

impl Store {
    /// Where copies of these messages are stored, read without the writer.
    pub async fn copies(&self, keys: &[CopyKey]) -> Result<Copies, StoreError> {
        let mut conn = self.read.acquire().await?;
        copies(&mut conn, keys).await
    }

    /// The acknowledgements to these recipient keys (and per domain, when asked)
    /// since `since`, read without the writer.
    pub async fn ack_counts(&self, keys: &[String], with_domains: bool, since: i64) -> Result<AckCounts, StoreError> {
        let mut conn = self.read.acquire().await?;
        ack_counts(&mut conn, keys, with_domains, since).await
    }

    /// Takes `count` ticket references in a short transaction of their own. A
    /// reference taken for a group that then fails or no longer needs it is not
    /// used again: the numbering may skip, it never repeats.
    pub async fn reserve_references(&self, prefix: &str, count: usize) -> Result<Vec<TicketRef>, StoreError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_ingest().await?;
        let references = tx.next_references(prefix, count).await?;
        tx.commit().await?;
        Ok(references)
    }
}

impl IngestTx {
    /// Where copies of these messages are stored, inside the transaction.
    pub async fn copies(&mut self, keys: &[CopyKey]) -> Result<Copies, StoreError> {
        copies(&mut self.tx, keys).await
    }

    /// The sha256 of the bytes already kept in `table` under these keys of
    /// `mailbox`, by key.
    pub async fn stored_hashes(
        &mut self,
        table: KeyedTable,
        mailbox: &str,
        keys: &[&str],
    ) -> Result<HashMap<String, String>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!("{} ({})", table.query(), placeholders(2, keys.len()));
        // Only numbered placeholders are formatted into the statement; every value is bound.
        let mut query = sqlx::query_as::<_, (String, String)>(sqlx::AssertSqlSafe(sql)).bind(mailbox);
        for key in keys {
            query = query.bind(*key);
        }
        Ok(query.fetch_all(&mut *self.tx).await?.into_iter().collect())
    }

    /// The acknowledgements since `since`, inside the transaction: with the
    /// mails this transaction queued itself.
    pub async fn ack_counts(
        &mut self,
        keys: &[String],
        with_domains: bool,
        since: i64,
    ) -> Result<AckCounts, StoreError> {
        ack_counts(&mut self.tx, keys, with_domains, since).await
    }
}
