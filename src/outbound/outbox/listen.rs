//! On PostgreSQL the transaction that queues mail also sends a notification;
//! every instance listens on its own connection (sqlx's `Any` driver has no
//! listener) and wakes its worker, so mail queued by another instance goes out
//! at once. Polling stays as the fallback for a notification missed while the
//! connection was down.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::Wake;
use crate::backoff::Backoff;
use crate::store::OUTBOX_CHANNEL;

/// Listens until shutdown, reconnecting with backoff.
pub async fn listen(url: String, wake: Wake, shutdown: CancellationToken) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        let error = tokio::select! {
            _ = shutdown.cancelled() => return,
            error = listen_once(&url, &wake, &mut backoff) => error,
        };
        let delay = backoff.next_delay();
        tracing::warn!(%error, retry_in_secs = delay.as_secs(), "outbox notifications stopped; polling meanwhile");
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

async fn listen_once(url: &str, wake: &Wake, backoff: &mut Backoff) -> sqlx::Error {
    let mut listener = match PgListener::connect(url).await {
        Ok(listener) => listener,
        Err(error) => return error,
    };
    if let Err(error) = listener.listen(OUTBOX_CHANNEL).await {
        return error;
    }
    backoff.reset();
    tracing::debug!("listening for mail queued by any instance");
    // Whatever was queued while nobody listened.
    wake.queued();
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => wake.queued(),
            // The connection was lost: sqlx reconnects at the next call.
            Ok(None) => wake.queued(),
            Err(error) => return error,
        }
    }
}
