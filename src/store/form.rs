//! The web form's requests while they wait for their address to be confirmed:
//! each stored with the mail that asks for the confirmation, in one
//! transaction; counted for the form's rate limits; removed when their link
//! has expired.

use super::{Backend, Store, StoreError, new_id};
use crate::domain::{Language, Outgoing};

/// A request made on the form, as it waits for confirmation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FormRequest {
    pub id: String,
    /// The typed address in lower case.
    pub address: String,
    /// The client (IP address) that sent the form.
    pub client: String,
    /// The language the form was filled in.
    pub language: Language,
    /// The request as a mail (RFC 5322), as it will be taken in.
    pub raw: Vec<u8>,
    pub created_at: i64,
    pub expires_at: i64,
}

/// How many requests one address, and one client, may make in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormLimits {
    /// Requests made at or after this moment count.
    pub since: i64,
    pub per_address: i64,
    pub per_client: i64,
}

/// What became of a request offered to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormQueued {
    /// Stored, and its confirmation mail queued.
    Queued,
    /// The address or the client reached its limit: nothing was stored.
    TooMany,
}

impl Store {
    /// Stores the request and queues its confirmation mail, together, unless its
    /// address or its client already made as many requests as `limits` allow;
    /// requests whose link has expired go at the same time.
    ///
    /// The count and the insert are one step, so that requests sent at the same
    /// moment cannot all pass the count: SQLite writes through one connection,
    /// and on PostgreSQL each transaction first takes the address's and the
    /// client's advisory locks (in order, so two never wait for each other),
    /// which the transaction that counted before it holds until its commit.
    pub async fn queue_form_request(
        &self,
        request: &FormRequest,
        confirmation: &Outgoing,
        limits: FormLimits,
        now: i64,
    ) -> Result<FormQueued, StoreError> {
        let mut tx = self.write.begin().await?;
        if self.backend == Backend::Postgres {
            let mut keys = [format!("form-address:{}", request.address), format!("form-client:{}", request.client)];
            keys.sort_unstable();
            for key in &keys {
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let (by_address, by_client): (i64, i64) = sqlx::query_as(
            "SELECT
                (SELECT COUNT(*) FROM form_requests WHERE address = $1 AND created_at >= $3),
                (SELECT COUNT(*) FROM form_requests WHERE client = $2 AND created_at >= $3)",
        )
        .bind(&request.address)
        .bind(&request.client)
        .bind(limits.since)
        .fetch_one(&mut *tx)
        .await?;
        if by_address >= limits.per_address || by_client >= limits.per_client {
            tx.rollback().await?;
            return Ok(FormQueued::TooMany);
        }
        sqlx::query("DELETE FROM form_requests WHERE expires_at < $1").bind(now).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO form_requests (id, address, client, language, raw, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&request.id)
        .bind(&request.address)
        .bind(&request.client)
        .bind(request.language.code())
        .bind(&request.raw)
        .bind(request.created_at)
        .bind(request.expires_at)
        .execute(&mut *tx)
        .await?;
        let domain = crate::domain::domain_of(&confirmation.recipient);
        sqlx::query(sqlx::AssertSqlSafe(super::spelling::spelled(
            "INSERT INTO outbox (id, ticket_id, kind, recipient, recipient_key, recipient_domain, sender, message_id,
                body, state, next_attempt_at, created_at)
             VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, $8, STATE_PENDING, $9, $9)",
        )))
        .bind(new_id())
        .bind(confirmation.kind.as_str())
        .bind(&confirmation.recipient)
        .bind(confirmation.recipient.to_lowercase())
        .bind(domain)
        .bind(&confirmation.sender)
        .bind(&confirmation.message_id)
        .bind(&confirmation.bytes)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(FormQueued::Queued)
    }

    /// A request waiting for confirmation, while its link has not expired.
    pub async fn form_request(&self, id: &str, now: i64) -> Result<Option<FormRequest>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, address, client, language, raw, created_at, expires_at
             FROM form_requests WHERE id = $1 AND expires_at >= $2",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.read)
        .await?)
    }

    /// The ticket a message from `mailbox` with `source_key` opened or joined:
    /// its reference and link generation.
    pub async fn ticket_of_source(&self, mailbox: &str, source_key: &str) -> Result<Option<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT t.reference, t.link_generation FROM messages m JOIN tickets t ON t.id = m.ticket_id
             WHERE m.mailbox = $1 AND m.source_key = $2",
        )
        .bind(mailbox)
        .bind(source_key)
        .fetch_optional(&self.read)
        .await?)
    }
}
