//! Timeline events as rows: the kind, the typed event as JSON, and for one
//! release the English sentence in `detail`, so that older loket and SQL users
//! still read something. The sentence is the event's own `Display`; the store
//! only writes what it is given.

use sqlx::{Any, Transaction};

use super::{StoreError, new_id};
use crate::domain::Event;

/// An event as its columns.
pub(super) struct Stored {
    pub kind: &'static str,
    pub detail: String,
    pub data: String,
}

impl Stored {
    pub fn of(event: &Event) -> Result<Self, StoreError> {
        Ok(Self { kind: event.kind().as_str(), detail: event.to_string(), data: serde_json::to_string(event)? })
    }
}

/// The typed event of a row; `None` for rows written before events were typed,
/// and for data this build cannot read (written by a newer loket), which then
/// shows its stored sentence.
pub(super) fn read(data: Option<&str>) -> Option<Event> {
    let data = data?;
    match serde_json::from_str(data) {
        Ok(event) => Some(event),
        Err(error) => {
            tracing::debug!(%error, "a timeline event's data is not one this build knows; its sentence is shown");
            None
        }
    }
}

/// Adds one event to a ticket's timeline.
pub(super) async fn insert(
    tx: &mut Transaction<'_, Any>,
    ticket_id: &str,
    at: i64,
    event: &Event,
) -> Result<(), StoreError> {
    let stored = Stored::of(event)?;
    sqlx::query("INSERT INTO events (id, ticket_id, at, kind, detail, data) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(new_id())
        .bind(ticket_id)
        .bind(at)
        .bind(stored.kind)
        .bind(stored.detail)
        .bind(stored.data)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
