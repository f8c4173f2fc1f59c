//! Health: what `/readyz` and `/metrics` report about the watched mailboxes,
//! the daemon's tasks and the outbox. Sources say when they connect and when
//! they lose the connection; the supervisor says when a task fails and when it
//! runs again; the outbox says when it pauses because the mail server takes no
//! mail, and when it resumes.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MailboxHealth {
    pub connected: bool,
    /// Why the last connection failed or ended, when it did.
    pub error: Option<String>,
    pub since_ms: i64,
    /// When a poll last read the mailbox to its end (milliseconds since the epoch).
    pub last_poll_ms: Option<i64>,
    /// Problems the mailbox works around while new mail still flows: what is wrong, and why.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub warnings: BTreeMap<Problem, String>,
    /// Another instance holds the mailbox's lease and reads it: this one waits,
    /// ready to take over.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub standby: bool,
}

/// A problem a source works around without stopping: shown in `/readyz` and counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The processed folder cannot be created or selected: mail stays where it is.
    ProcessedFolder,
    /// Moving or flagging stored mail keeps failing: the cursor goes on without it.
    AfterCommit,
    /// The server does not return a message's body.
    WithheldMessage,
    /// The fetch of a group timed out: groups are made smaller.
    SlowFetch,
    /// A Maildir file cannot be read: it is quarantined and left in place.
    UnreadableFile,
    /// The server hands out UIDs at or below ones already read, under the same UIDVALIDITY.
    UidsReused,
}

impl Problem {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProcessedFolder => "processed_folder",
            Self::AfterCommit => "after_commit",
            Self::WithheldMessage => "withheld_message",
            Self::SlowFetch => "slow_fetch",
            Self::UnreadableFile => "unreadable_file",
            Self::UidsReused => "uids_reused",
        }
    }
}

/// One supervised task (a mailbox's, the outbox worker, the model watcher).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TaskHealth {
    pub running: bool,
    /// Times the task failed (and was restarted) since loket started.
    pub restarts: u64,
    /// Why it last failed, when it did.
    pub error: Option<String>,
    pub since_ms: i64,
}

/// The outbox's state: sending, or paused with the server's reason.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct OutboxHealth {
    pub paused: bool,
    /// `connection`, `tls`, `authentication`, `sender` or `refused`, while paused.
    pub reason: Option<String>,
    pub error: Option<String>,
    pub since_ms: Option<i64>,
}

/// An OAuth client whose token endpoint refuses or cannot be reached.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OAuthHealth {
    /// The last token request's error (the provider's error and description).
    pub error: String,
    pub since_ms: i64,
}

/// Shared by the sources (which write) and the web server (which reads).
#[derive(Debug, Clone, Default)]
pub struct Health {
    mailboxes: Arc<RwLock<BTreeMap<String, MailboxHealth>>>,
    /// The OAuth clients that fail now.
    oauth: Arc<RwLock<BTreeMap<String, OAuthHealth>>>,
    tasks: Arc<RwLock<BTreeMap<String, TaskHealth>>>,
    outbox: Arc<RwLock<OutboxHealth>>,
}

impl Health {
    /// Starts with every mailbox named and not yet connected.
    pub fn new<'a>(mailboxes: impl IntoIterator<Item = &'a str>) -> Self {
        let health = Self::default();
        for name in mailboxes {
            health.update(name, |h| h.since_ms = crate::clock::now_ms());
        }
        health
    }

    fn update<T>(&self, name: &str, change: impl FnOnce(&mut MailboxHealth) -> T) -> T {
        let mut map = self.mailboxes.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map.entry(name.to_owned()).or_insert_with(|| MailboxHealth {
            connected: false,
            error: None,
            since_ms: crate::clock::now_ms(),
            last_poll_ms: None,
            warnings: BTreeMap::new(),
            standby: false,
        });
        change(entry)
    }

    pub fn connected(&self, name: &str) {
        let already = self
            .mailboxes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .is_some_and(|h| h.connected);
        if !already {
            self.update(name, |h| {
                h.connected = true;
                h.standby = false;
                h.error = None;
                h.since_ms = crate::clock::now_ms();
            });
        }
    }

    /// A poll read the mailbox to its end: connected, and its last poll is now.
    pub fn polled(&self, name: &str) {
        self.connected(name);
        self.update(name, |h| h.last_poll_ms = Some(crate::clock::now_ms()));
    }

    pub fn disconnected(&self, name: &str, error: &str) {
        self.update(name, |h| {
            h.connected = false;
            h.standby = false;
            h.error = Some(error.to_owned());
            h.since_ms = crate::clock::now_ms();
        });
    }

    /// Another instance reads the mailbox; this one stands by for its lease.
    pub fn standby(&self, name: &str) {
        self.update(name, |h| {
            h.connected = false;
            h.standby = true;
            h.error = None;
            h.since_ms = crate::clock::now_ms();
        });
    }

    /// Records a problem the mailbox works around. True when it is new or its
    /// text changed: the caller logs it then, and only then.
    pub fn warn(&self, name: &str, problem: Problem, text: &str) -> bool {
        self.update(name, |h| match h.warnings.get(&problem) {
            Some(known) if known == text => false,
            _ => {
                h.warnings.insert(problem, text.to_owned());
                true
            }
        })
    }

    /// The problem is gone. True when it had been reported.
    pub fn resolved(&self, name: &str, problem: Problem) -> bool {
        self.update(name, |h| h.warnings.remove(&problem).is_some())
    }

    pub fn outbox_paused(&self, reason: &str, error: &str) {
        let mut outbox = self.outbox.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *outbox = OutboxHealth {
            paused: true,
            reason: Some(reason.to_owned()),
            error: Some(error.to_owned()),
            since_ms: outbox.since_ms.or(Some(crate::clock::now_ms())),
        };
    }

    pub fn outbox_sending(&self) {
        *self.outbox.write().unwrap_or_else(std::sync::PoisonError::into_inner) = OutboxHealth::default();
    }

    pub fn outbox(&self) -> OutboxHealth {
        self.outbox.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn snapshot(&self) -> BTreeMap<String, MailboxHealth> {
        self.mailboxes.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The task `name` is (again) running; its restart count and last failure stay.
    pub fn task_running(&self, name: &str) {
        let mut tasks = self.tasks.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = crate::clock::now_ms();
        let task = tasks.entry(name.to_owned()).or_insert(TaskHealth {
            running: true,
            restarts: 0,
            error: None,
            since_ms: now,
        });
        task.running = true;
        task.since_ms = now;
    }

    /// The task `name` failed and waits to be restarted.
    pub fn task_failed(&self, name: &str, error: &str) {
        let mut tasks = self.tasks.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let task = tasks.entry(name.to_owned()).or_insert(TaskHealth {
            running: false,
            restarts: 0,
            error: None,
            since_ms: 0,
        });
        task.running = false;
        task.restarts += 1;
        task.error = Some(error.to_owned());
        task.since_ms = crate::clock::now_ms();
    }

    pub fn tasks(&self) -> BTreeMap<String, TaskHealth> {
        self.tasks.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// OAuth client `name` failed to obtain a token. True when this is new or its
    /// error changed: the caller logs it then, and only then.
    pub fn oauth_failed(&self, name: &str, error: &str) -> bool {
        let mut clients = self.oauth.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        match clients.get_mut(name) {
            Some(known) if known.error == error => false,
            Some(known) => {
                known.error = error.to_owned();
                true
            }
            None => {
                clients
                    .insert(name.to_owned(), OAuthHealth { error: error.to_owned(), since_ms: crate::clock::now_ms() });
                true
            }
        }
    }

    /// OAuth client `name` obtained a token. True when it had been failing.
    pub fn oauth_ok(&self, name: &str) -> bool {
        let failing = self.oauth.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(name);
        failing && self.oauth.write().unwrap_or_else(std::sync::PoisonError::into_inner).remove(name).is_some()
    }

    /// The OAuth clients failing now, with why and since when.
    pub fn oauth(&self) -> BTreeMap<String, OAuthHealth> {
        self.oauth.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::{Health, Problem};

    #[test]
    fn mailboxes_start_unconnected_and_follow_what_sources_report() {
        let health = Health::new(["it", "hr"]);
        assert!(health.snapshot().values().all(|h| !h.connected));
        health.polled("it");
        health.disconnected("hr", "login refused");
        let snapshot = health.snapshot();
        assert!(snapshot["it"].connected);
        assert!(snapshot["it"].last_poll_ms.is_some() && snapshot["hr"].last_poll_ms.is_none());
        assert_eq!(snapshot["hr"].error.as_deref(), Some("login refused"));
    }

    #[test]
    fn a_failed_task_is_down_until_it_runs_again_and_keeps_its_count_and_reason() {
        let health = Health::new([]);
        health.task_running("outbox");
        health.task_failed("outbox", "panicked: boom");
        assert!(!health.tasks()["outbox"].running);
        health.task_running("outbox");
        let outbox = &health.tasks()["outbox"];
        assert!(outbox.running);
        assert_eq!((outbox.restarts, outbox.error.as_deref()), (1, Some("panicked: boom")));
    }

    #[test]
    fn a_warning_is_new_once_survives_reconnects_and_clears() {
        let health = Health::new(["it"]);
        assert!(health.warn("it", Problem::ProcessedFolder, "cannot be created"));
        assert!(!health.warn("it", Problem::ProcessedFolder, "cannot be created"));
        health.disconnected("it", "gone");
        health.connected("it");
        assert_eq!(health.snapshot()["it"].warnings[&Problem::ProcessedFolder], "cannot be created");
        let json = serde_json::to_value(health.snapshot()).unwrap();
        assert_eq!(json["it"]["warnings"]["processed_folder"], "cannot be created");
        assert!(health.resolved("it", Problem::ProcessedFolder));
        assert!(!health.resolved("it", Problem::ProcessedFolder));
    }
}
