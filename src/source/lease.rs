//! The lease around a watched mailbox: taken before connecting, renewed every
//! third of its length while the mailbox is read, handed back on a clean stop.
//! An instance that cannot renew in time stops reading; its cursor writes are
//! refused by the lease number anyway.
//!
//! Work spreads: an instance takes a free mailbox only while it holds fewer
//! than its fair share (ceil(mailboxes / live instances)), and one above its
//! share hands back one mailbox per lease length, so that an instance joining
//! later gets its share without a storm of handovers.

use std::sync::{Arc, Mutex};
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
    pub health: crate::telemetry::health::Health,
    pub metrics: crate::telemetry::metrics::Metrics,
    pub spread: Spread,
}

/// How this instance's mailboxes spread over the instances; shared by all its mailbox tasks.
#[derive(Debug, Clone)]
pub struct Spread {
    /// The mailboxes every instance watches.
    pub mailboxes: usize,
    /// SQLite has one instance: there is nothing to spread.
    pub enabled: bool,
    /// When this instance last handed a mailbox back to make room for another.
    handed_back: Arc<Mutex<Option<Instant>>>,
}

impl Spread {
    pub fn new(mailboxes: usize, enabled: bool) -> Self {
        Self { mailboxes, enabled, handed_back: Arc::default() }
    }

    /// Claims this instance's one handover per `interval`; false when another
    /// of its mailboxes was handed back more recently.
    fn may_hand_back(&self, interval: Duration) -> bool {
        let Ok(mut last) = self.handed_back.lock() else { return false };
        if last.is_some_and(|at| at.elapsed() < interval) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
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
            let taken = if self.below_share().await { self.take_once().await } else { Ok(None) };
            match taken {
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

    /// Takes the lease if it is free, counting a takeover from an instance whose lease ran out.
    async fn take_once(&self) -> Result<Option<i64>, crate::store::StoreError> {
        let before = self.store.mailbox_lease(&self.mailbox).await?;
        let epoch = self.store.take_mailbox_lease(&self.mailbox, &self.owner, self.length).await?;
        let previous = before.and_then(|holder| holder.owner);
        if epoch.is_some() && previous.as_ref().is_some_and(|owner| *owner != self.owner) {
            self.metrics.lease_taken_over(&self.mailbox);
            tracing::info!(mailbox = %self.mailbox, instance = %self.owner, from = previous.as_deref().unwrap_or_default(),
                "mailbox taken over from an instance whose lease ran out");
        }
        Ok(epoch)
    }

    /// True while this instance holds fewer mailboxes than its fair share (and
    /// when the share cannot be read: reading the mail comes first).
    async fn below_share(&self) -> bool {
        if !self.spread.enabled {
            return true;
        }
        match self.store.share(&self.owner, self.spread.mailboxes, self.length).await {
            Ok(share) => share.held < share.fair,
            Err(error) => {
                tracing::warn!(mailbox = %self.mailbox, %error, "cannot read this instance's share of the mailboxes");
                true
            }
        }
    }

    /// True when this instance holds more than its fair share and no other of
    /// its mailboxes was handed back within the last lease: this one goes.
    async fn above_share(&self) -> bool {
        if !self.spread.enabled {
            return false;
        }
        match self.store.share(&self.owner, self.spread.mailboxes, self.length).await {
            Ok(share) if share.held > share.fair => self.spread.may_hand_back(self.length),
            _ => false,
        }
    }

    /// Renews the lease until `stop` is cancelled or the instance holds more
    /// than its share (false: the caller hands it back) or the lease is lost
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
                    if self.above_share().await {
                        tracing::info!(mailbox = %self.mailbox, instance = %self.owner, lease = epoch,
                            "more than this instance's share: handing the mailbox to another instance");
                        stop.cancel();
                        return false;
                    }
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
                self.metrics.lease_lost(&self.mailbox);
                stop.cancel();
                return true;
            }
        }
    }

    /// Hands the lease back so that another instance can take the mailbox at once.
    /// A lease that another instance took in the meantime (while this one was
    /// paused, say, and its reading ended before its renewal noticed) counts as lost.
    pub async fn release(&self, epoch: i64) {
        let release = self.store.release_mailbox_lease(&self.mailbox, &self.owner, epoch);
        match tokio::time::timeout(Duration::from_secs(5), release).await {
            Ok(Ok(true)) => {
                tracing::info!(mailbox = %self.mailbox, instance = %self.owner, lease = epoch, "mailbox lease handed back")
            }
            Ok(Ok(false)) => {
                tracing::warn!(mailbox = %self.mailbox, instance = %self.owner, lease = epoch,
                    "mailbox lease lost: another instance took the mailbox");
                self.metrics.lease_lost(&self.mailbox);
            }
            Ok(Err(error)) => tracing::warn!(mailbox = %self.mailbox, %error, "cannot hand the mailbox lease back"),
            Err(_) => tracing::warn!(mailbox = %self.mailbox, "handing the mailbox lease back took too long"),
        }
    }
}
