//! The outbox worker: claims queued mails, sends them, marks them sent, retries
//! passing failures with backoff and gives up on permanent ones (recorded on the
//! ticket). A crash after the server took a mail but before it was marked sent
//! sends it once more, with the same Message-ID.

mod transport;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use transport::{SendError, Transport, TransportError};

use crate::clock::now_ms;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Mails claimed per step.
const CLAIM: i64 = 16;

/// What one step did; the loop decides how long to wait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub retried: usize,
    pub given_up: usize,
}

impl Delivery {
    pub fn total(&self) -> usize {
        self.sent + self.retried + self.given_up
    }
}

/// How hard delivery is tried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
}

impl RetryPolicy {
    pub fn from_config(config: &crate::config::OutboxConfig) -> Self {
        Self { max_attempts: config.max_attempts.max(1), base: Duration::from_secs(config.retry_base_secs.max(1)) }
    }

    /// The wait before attempt `attempts + 1`: the base, doubling, an hour at most.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
        self.base.saturating_mul(1 << exponent).min(Duration::from_secs(3600))
    }
}

/// Claims and delivers one handful of due mails.
pub async fn step(
    store: &Store,
    transport: &Transport,
    worker: &str,
    policy: RetryPolicy,
    metrics: &Metrics,
) -> Result<Delivery, StoreError> {
    let mut delivery = Delivery::default();
    for due in store.claim_due(worker, CLAIM, now_ms()).await? {
        let result = transport.send(&due.sender, &due.recipient, &due.body).await;
        match &result {
            Ok(()) => metrics.sent(&due.kind, now_ms() - due.created_at),
            Err(_) => metrics.failed(&due.kind),
        }
        match result {
            Ok(()) => {
                store.mark_sent(&due, now_ms()).await?;
                delivery.sent += 1;
            }
            Err(SendError::Permanent(error)) => {
                tracing::warn!(recipient = %due.recipient, %error, "mail refused for good");
                store.give_up(&due, &error, now_ms()).await?;
                delivery.given_up += 1;
            }
            Err(SendError::Transient(error)) if due.attempts + 1 >= i64::from(policy.max_attempts) => {
                tracing::warn!(recipient = %due.recipient, %error, attempts = due.attempts + 1, "mail given up");
                store.give_up(&due, &format!("{error} (after {} attempts)", due.attempts + 1), now_ms()).await?;
                delivery.given_up += 1;
            }
            Err(SendError::Transient(error)) => {
                let wait = policy.backoff(due.attempts);
                tracing::info!(recipient = %due.recipient, %error, retry_in_secs = wait.as_secs(), "mail will be retried");
                let next = now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                store.retry_later(&due, &error, next).await?;
                delivery.retried += 1;
            }
        }
    }
    Ok(delivery)
}

/// Delivers until shutdown; the mail in hand is finished first.
pub async fn run(
    store: Store,
    transport: Transport,
    policy: RetryPolicy,
    metrics: Metrics,
    shutdown: CancellationToken,
) {
    let worker = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7());
    loop {
        let wait = match step(&store, &transport, &worker, policy, &metrics).await {
            Ok(delivery) if delivery.total() > 0 => continue,
            Ok(_) => Duration::from_millis(500),
            Err(error) => {
                tracing::warn!(%error, "outbox step failed");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    tracing::info!("outbox stopped");
}

/// Delivers everything due now, for one-shot tools like the demo.
pub async fn drain(store: &Store, transport: &Transport, policy: RetryPolicy) -> Result<Delivery, StoreError> {
    let mut total = Delivery::default();
    loop {
        let delivery = step(store, transport, "drain", policy, &Metrics::default()).await?;
        if delivery.total() == 0 {
            return Ok(total);
        }
        total.sent += delivery.sent;
        total.retried += delivery.retried;
        total.given_up += delivery.given_up;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_from_thirty_seconds_to_an_hour() {
        let policy = super::RetryPolicy { max_attempts: 12, base: std::time::Duration::from_secs(30) };
        let waits: Vec<u64> = (0..9).map(|a| policy.backoff(a).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
