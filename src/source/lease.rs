//! The lease around a watched mailbox: taken before connecting, renewed every
//! third of its length while the mailbox is read, handed back on a clean stop.
//! An instance that cannot renew in time stops reading; its cursor writes are
//! refused by the lease number anyway.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// One instance's claim on one mailbox.
#[derive(Debug, Clone)]
pub struct MailboxLease {
    pub store: Store,
    pub mailbox: String,
    pub owner: String,
    pub length: Duration,
    pub health: crate::web::health::Health,
}

impl MailboxLease {
    /// Waits until this instance holds the lease, trying again at a jittered
    /// interval of a quarter to half a lease; `None` when shutdown comes first.
    /// Returns the lease number and when the take was sent (by the local
    /// monotonic clock, from which the lease is counted here).
    pub async fn take(&self, shutdown: &CancellationToken) -> Option<(i64, Instant)> {
        let mut told = false;
        loop {
            let sent = Instant::now();
            match self.store.take_mailbox_lease(&self.mailbox, &self.owner, self.length).await {
                Ok(Some(epoch)) => {
                    tracing::info!(mailbox = %self.mailbox, instance = %self.owner, lease = epoch, "mailbox lease taken");
                    return Some((epoch, sent));
                }
                Ok(None) if !told => {
                    told = true;
                    self.health.standby(&self.mailbox);
                    tracing::info!(mailbox = %self.mailbox, instance = %self.owner,
                        "another instance reads this mailbox; waiting for its lease");
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(mailbox = %self.mailbox, %error, "cannot take the mailbox lease"),
            }
            let quarter = self.length / 4;
            let wait = quarter + quarter.mul_f64(rand::rng().random_range(0.0..=1.0));
            tokio::select! {
                _ = shutdown.cancelled() => return None,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Renews the lease until `stop` is cancelled (false) or the lease is lost
    /// (true: another instance took it, or no renewal succeeded before it ran
    /// out); then `stop` is cancelled, so that the mailbox is no longer read.
    pub async fn keep(&self, epoch: i64, taken: Instant, stop: CancellationToken) -> bool {
        let mut valid_until = taken + self.length;
        let mut failed = false;
        loop {
            let pause = if failed { self.length / 6 } else { self.length / 3 };
            tokio::select! {
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep(pause) => {}
            }
            let sent = Instant::now();
            let left = valid_until.saturating_duration_since(sent);
            let renewal = self.store.renew_mailbox_lease(&self.mailbox, &self.owner, epoch, self.length);
            let lost = match tokio::time::timeout(left, renewal).await {
                Ok(Ok(true)) => {
                    valid_until = sent + self.length;
                    failed = false;
                    None
                }
                Ok(Ok(false)) => Some("another instance took the mailbox"),
                Ok(Err(error)) if Instant::now() < valid_until => {
                    tracing::warn!(mailbox = %self.mailbox, %error, "cannot renew the mailbox lease; trying again");
                    failed = true;
                    None
                }
                Ok(Err(_)) | Err(_) => Some("no renewal succeeded before it ran out"),
            };
            if let Some(reason) = lost {
                tracing::warn!(mailbox = %self.mailbox, instance = %self.owner, lease = epoch, reason,
                    "mailbox lease lost; this instance stops reading the mailbox");
                stop.cancel();
                return true;
            }
        }
    }

    /// Hands the lease back so that another instance can take the mailbox at once.
    pub async fn release(&self, epoch: i64) {
        let release = self.store.release_mailbox_lease(&self.mailbox, &self.owner, epoch);
        match tokio::time::timeout(Duration::from_secs(5), release).await {
            Ok(Ok(())) => {
                tracing::info!(mailbox = %self.mailbox, instance = %self.owner, lease = epoch, "mailbox lease handed back")
            }
            Ok(Err(error)) => tracing::warn!(mailbox = %self.mailbox, %error, "cannot hand the mailbox lease back"),
            Err(_) => tracing::warn!(mailbox = %self.mailbox, "handing the mailbox lease back took too long"),
        }
    }
}
