//! Tracking links: the generation mixed into each ticket's token, raised to take
//! a link back.

use super::{Store, StoreError};
use crate::domain::Event;

impl Store {
    /// The link generation of the ticket `reference`, or `None` when there is no such ticket.
    pub async fn link_generation(&self, reference: &str) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT link_generation FROM tickets WHERE reference = $1")
            .bind(reference)
            .fetch_optional(&self.read)
            .await?)
    }

    /// Takes the ticket's tracking link back: its generation goes up by one (so the
    /// old token no longer matches and the next mail carries a new link), and the
    /// timeline says so. Returns the new generation.
    pub async fn revoke_link(&self, reference: &str, now: i64) -> Result<i64, StoreError> {
        let mut tx = self.write.begin().await?;
        let row: Option<(String, i64)> = sqlx::query_as(
            "UPDATE tickets SET link_generation = link_generation + 1, updated_at = $1 WHERE reference = $2
             RETURNING id, link_generation",
        )
        .bind(now)
        .bind(reference)
        .fetch_optional(&mut *tx)
        .await?;
        let (ticket_id, generation) = row.ok_or_else(|| StoreError::NotFound(reference.to_owned()))?;
        super::events::insert(&mut tx, &ticket_id, now, &Event::LinkRevoked).await?;
        tx.commit().await?;
        Ok(generation)
    }
}
