//! What a watched mailbox remembers across reconnects (not across restarts):
//! the backoff, and the problems it works around, each reported once.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::{Duration, Instant};

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

/// Tries in which the server listed a UID but did not send the message (it
/// answered NO, left it out, or it did not arrive within the command timeout),
/// after which, once [`WITHHELD_FOR`] has also passed, the message is recorded
/// in quarantine and passed.
pub const WITHHELD_TRIES: u32 = 5;

/// How long a message the server holds back is tried again before it is given
/// up: a server's passing trouble (a file it cannot read for a while, a restore,
/// a slow link for one large message) must not cost a request its ticket.
pub const WITHHELD_FOR: Duration = Duration::from_secs(6 * 60 * 60);

/// The longest wait between two tries of a held-back message; the first is one
/// second, doubling from there.
const WITHHELD_RETRY_MAX: Duration = Duration::from_secs(5 * 60);

/// A message the server listed but did not send.
#[derive(Debug, Clone, Copy)]
pub struct Withheld {
    pub tries: u32,
    pub since: Instant,
    pub next_try: Instant,
}

#[derive(Debug, Default)]
pub struct Memory {
    pub backoff: Backoff,
    /// Failed moves or flags of stored mail in a row.
    pub after_commit_failures: u32,
    /// Under which UIDVALIDITY `withheld` was counted.
    pub withheld_validity: u32,
    /// UIDs the server listed without sending the message.
    pub withheld: BTreeMap<u32, Withheld>,
    /// UIDs above a held-back message that were stored while the cursor waits
    /// below it: not fetched again, and passed once nothing below them is held.
    pub stored_above_held: BTreeSet<u32>,
    /// Bytes one fetch may carry, when a timeout made it smaller than `ingest.batch_bytes`.
    pub fetch_bytes: Option<u64>,
    /// Maildir files recorded as unreadable in this run, by unique name.
    pub unreadable: HashSet<String>,
    /// The server announced new mail (EXISTS, RECENT) after this poll's
    /// search: only the next search finds it, and IDLE would not hear of it again.
    pub announced: bool,
    /// The number of the mailbox lease held now; cursor writes are fenced with it.
    pub lease: Option<i64>,
}

impl Memory {
    /// Whether a held-back message may be asked for again now.
    pub fn due(&self, uid: u32, now: Instant) -> bool {
        self.withheld.get(&uid).is_none_or(|w| w.next_try <= now && !w.given_up(now))
    }

    /// Counts one more try in which the server did not send `uid`.
    pub fn withheld_again(&mut self, uid: u32, now: Instant) {
        let held = self.withheld.entry(uid).or_insert(Withheld { tries: 0, since: now, next_try: now });
        held.tries = held.tries.saturating_add(1);
        let wait = Duration::from_secs(1u64 << (held.tries - 1).min(20)).min(WITHHELD_RETRY_MAX);
        held.next_try = now + wait;
    }

    /// Whether `uid` was tried [`WITHHELD_TRIES`] times over at least [`WITHHELD_FOR`].
    pub fn given_up(&self, uid: u32, now: Instant) -> bool {
        self.withheld.get(&uid).is_some_and(|w| w.given_up(now))
    }

    /// When the next held-back message is due to be tried again.
    pub fn next_retry(&self) -> Option<Instant> {
        self.withheld.values().map(|w| w.next_try).min()
    }

    /// Forgets held-back and stored UIDs that the folder no longer holds (`found`
    /// is what a search of it found); whether any held-back one was forgotten.
    pub fn keep_only(&mut self, found: &std::collections::HashSet<u32>) -> bool {
        let held = self.withheld.len();
        self.withheld.retain(|uid, _| found.contains(uid));
        self.stored_above_held.retain(|uid| found.contains(uid));
        self.withheld.len() < held
    }

    /// Forgets what was counted per UID, when the UIDs no longer name the same messages.
    pub fn forget_uids(&mut self) {
        self.withheld.clear();
        self.stored_above_held.clear();
    }
}

impl Withheld {
    fn given_up(&self, now: Instant) -> bool {
        self.tries >= WITHHELD_TRIES && now.duration_since(self.since) >= WITHHELD_FOR
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_back_message_that_left_the_folder_is_no_longer_waited_for() {
        let mut memory = Memory::default();
        let now = Instant::now();
        memory.withheld_again(5, now);
        memory.withheld_again(7, now);
        memory.stored_above_held.insert(6);
        assert!(memory.next_retry().is_some());
        let found: HashSet<u32> = [6, 7].into_iter().collect();
        assert!(memory.keep_only(&found), "5 was forgotten");
        assert_eq!(memory.withheld.keys().copied().collect::<Vec<_>>(), [7]);
        assert!(!memory.keep_only(&found), "nothing more to forget");
        let found: HashSet<u32> = HashSet::new();
        assert!(memory.keep_only(&found));
        assert!(memory.next_retry().is_none() && memory.stored_above_held.is_empty(), "nothing left to wait for");
    }
}
