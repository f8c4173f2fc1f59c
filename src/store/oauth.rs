//! Refresh tokens of OAuth clients. The SQLite file is readable by loket's user
//! only; on PostgreSQL, the table is readable by whoever may read loket's database.

use super::{Store, StoreError};
use crate::clock::now_ms;

impl Store {
    /// The newest refresh token saved for client `name`.
    pub async fn oauth_refresh_token(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT refresh_token FROM oauth_tokens WHERE client = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        Ok(row.map(|(token,)| token))
    }

    /// Keeps `token` as client `name`'s refresh token, replacing the one before.
    pub async fn save_oauth_refresh_token(&self, name: &str, token: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO oauth_tokens (client, refresh_token, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (client) DO UPDATE SET refresh_token = $2, updated_at = $3",
        )
        .bind(name)
        .bind(token)
        .bind(now_ms())
        .execute(&self.write)
        .await?;
        Ok(())
    }
}
