//! Sources: where raw messages come from. Each watched mailbox runs in its own
//! task; one that fails (login refused, server gone) retries with backoff and
//! never stops the others.

pub mod imap;
mod lease;
pub use lease::Spread;
pub mod maildir;
mod memory;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::MailboxConfig;
use crate::pipeline::Pipeline;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect { host: String, port: u16, source: std::io::Error },
    #[error("TLS with {host} failed: {reason}")]
    Tls { host: String, reason: String },
    #[error("login refused for {user}: {reason}")]
    Login { user: String, reason: String },
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("the server did not answer {0} in time")]
    Timeout(&'static str),
    #[error("{0}")]
    Protocol(String),
    #[error("maildir {path}: {source}")]
    Maildir { path: String, source: std::io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What one poll of a mailbox did; the caller decides how long to wait.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollOutcome {
    pub created: usize,
    /// Follow-ups and department answers that joined their ticket.
    pub joined: usize,
    /// Delivery failures of loket's own mails, stored on their tickets.
    pub bounced: usize,
    pub duplicates: usize,
    pub quarantined: usize,
}

impl PollOutcome {
    pub fn total(&self) -> usize {
        self.created + self.joined + self.bounced + self.duplicates + self.quarantined
    }

    fn count(&mut self, outcome: &crate::pipeline::IngestOutcome) {
        use crate::pipeline::IngestOutcome::*;
        match outcome {
            Created(_) => self.created += 1,
            Joined(_) => self.joined += 1,
            Bounced(_) => self.bounced += 1,
            Duplicate => self.duplicates += 1,
            Quarantined => self.quarantined += 1,
        }
    }
}

/// Watches one mailbox until shutdown while `instance` holds its lease, waiting
/// for the lease while another instance holds it, and reconnecting with
/// exponential backoff.
pub async fn watch(
    pipeline: Pipeline,
    mailbox: MailboxConfig,
    instance: String,
    spread: Spread,
    shutdown: CancellationToken,
) {
    let mut memory = memory::Memory::default();
    let lease = lease::MailboxLease {
        store: pipeline.store.clone(),
        mailbox: mailbox.name.as_str().to_owned(),
        owner: instance,
        length: Duration::from_secs(pipeline.config.store.mailbox_lease_secs),
        health: pipeline.health.clone(),
        metrics: pipeline.metrics.clone(),
        spread,
    };
    while let Some((epoch, taken)) = lease.take(&shutdown).await {
        memory.lease = Some(epoch);
        let stop = shutdown.child_token();
        // In the same task as the reading, so that both end together.
        let reading = async {
            read(&pipeline, &mailbox, &stop, &mut memory).await;
            stop.cancel();
        };
        let ((), lost) = tokio::join!(reading, lease.keep(epoch, taken, stop.clone()));
        memory.lease = None;
        if !lost {
            lease.release(epoch).await;
        }
        if shutdown.is_cancelled() {
            break;
        }
    }
    tracing::info!(mailbox = %mailbox.name, "mailbox stopped");
}

/// Reads the mailbox until `stop`, reconnecting with exponential backoff.
async fn read(pipeline: &Pipeline, mailbox: &MailboxConfig, stop: &CancellationToken, memory: &mut memory::Memory) {
    while !stop.is_cancelled() {
        let result = if mailbox.maildir.is_some() {
            maildir::watch(pipeline, mailbox, stop, memory).await
        } else {
            imap::watch(pipeline, mailbox, stop, memory).await
        };
        let Err(error) = result else { break };
        pipeline.health.disconnected(mailbox.name.as_str(), &error.to_string());
        if let SourceError::Store(StoreError::LeaseLost { .. }) = error {
            tracing::warn!(mailbox = %mailbox.name, %error, "this instance stops reading the mailbox");
            break;
        }
        if stop.is_cancelled() {
            break;
        }
        let delay = memory.backoff.next_delay();
        tracing::warn!(mailbox = %mailbox.name, %error, retry_in_secs = delay.as_secs(), "mailbox failed; the others go on");
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}
