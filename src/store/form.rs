//! The web form's requests while they wait for their address to be confirmed:
//! each stored with the mail that asks for the confirmation, in one
//! transaction; counted for the form's rate limits; removed when their link
//! has expired.

use super::{Store, StoreError, new_id};
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

/// How many requests an address and a client made since a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormCounts {
    pub address: i64,
    pub client: i64,
}

impl Store {
    /// Requests made by `address` and by `client` at or after `since`.
    pub async fn form_counts(&self, address: &str, client: &str, since: i64) -> Result<FormCounts, StoreError> {
        let (by_address, by_client): (i64, i64) = sqlx::query_as(
            "SELECT
                (SELECT COUNT(*) FROM form_requests WHERE address = $1 AND created_at >= $3),
                (SELECT COUNT(*) FROM form_requests WHERE client = $2 AND created_at >= $3)",
        )
        .bind(address)
        .bind(client)
        .bind(since)
        .fetch_one(&self.read)
        .await?;
        Ok(FormCounts { address: by_address, client: by_client })
    }

    /// Stores the request and queues its confirmation mail, together; requests
    /// whose link has expired go at the same time.
    pub async fn queue_form_request(
        &self,
        request: &FormRequest,
        confirmation: &Outgoing,
        now: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write.begin().await?;
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
        Ok(())
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
