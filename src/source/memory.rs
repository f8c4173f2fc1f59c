//! What a watched mailbox remembers across reconnects (not across restarts):
//! the backoff, and the problems it works around, each reported once.

use std::collections::{BTreeMap, HashSet};

use crate::backoff::Backoff;
use crate::config::MailboxConfig;
use crate::pipeline::IngestOutcome;
use crate::pipeline::Pipeline;
use crate::pipeline::plan::Incoming;
use crate::store::StoreError;
use crate::telemetry::health::Problem;

/// Failed attempts in a row after which a move or flag of stored mail is given up:
/// the cursor goes past those messages and they stay where they are.
pub const AFTER_COMMIT_TRIES: u32 = 3;

/// Polls in a row in which the server listed a UID but sent no body, after which
/// the message is recorded in quarantine and passed.
pub const WITHHELD_POLLS: u32 = 5;

#[derive(Debug, Default)]
pub struct Memory {
    pub backoff: Backoff,
    /// Failed moves or flags of stored mail in a row.
    pub after_commit_failures: u32,
    /// Under which UIDVALIDITY `withheld` was counted.
    pub withheld_validity: u32,
    /// UIDs the server listed without sending their body, and in how many polls in a row.
    pub withheld: BTreeMap<u32, u32>,
    /// Bytes one fetch may carry, when a timeout made it smaller than `ingest.batch_bytes`.
    pub fetch_bytes: Option<u64>,
    /// Maildir files recorded as unreadable in this run, by unique name.
    pub unreadable: HashSet<String>,
    /// The number of the mailbox lease held now; cursor writes are fenced with it.
    pub lease: Option<i64>,
}

/// Reports a problem the mailbox works around: in `/readyz`, and once in the
/// log and the metrics while its text stays the same.
pub fn report(pipeline: &Pipeline, mailbox: &MailboxConfig, problem: Problem, text: &str) {
    if pipeline.health.warn(mailbox.name.as_str(), problem, text) {
        pipeline.metrics.problem(mailbox.name.as_str(), problem);
        tracing::warn!(mailbox = %mailbox.name, problem = problem.as_str(), "{text}");
    }
}

/// The problem is gone.
pub fn resolved(pipeline: &Pipeline, mailbox: &MailboxConfig, problem: Problem) {
    if pipeline.health.resolved(mailbox.name.as_str(), problem) {
        tracing::info!(mailbox = %mailbox.name, problem = problem.as_str(), "resolved");
    }
}

/// Stores a quarantine record for a message the source could not read whole,
/// with the reason. A repeat (same key or same bytes) stores nothing.
pub async fn quarantine(pipeline: &Pipeline, incoming: &Incoming, reason: String) -> Result<IngestOutcome, StoreError> {
    pipeline.quarantine(incoming, reason).await
}
