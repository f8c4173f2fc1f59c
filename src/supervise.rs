//! Supervision: every long-running task of the daemon (one per mailbox, the
//! outbox worker, the model watcher) runs under a supervisor that notices at
//! once when it panics or stops before shutdown, logs and counts it, shows it in
//! `/readyz`, and starts it again after a backoff.

use std::fmt;
use std::time::Instant;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::domain::MailboxName;
use crate::telemetry::health::Health;
use crate::telemetry::metrics::Metrics;

/// The tasks that are supervised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Task {
    Mailbox(MailboxName),
    Outbox,
    Learn,
    Retention,
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mailbox(name) => write!(f, "mailbox:{name}"),
            Self::Outbox => f.write_str("outbox"),
            Self::Learn => f.write_str("learn"),
            Self::Retention => f.write_str("retention"),
        }
    }
}

/// Starts and watches tasks; cheap to clone.
#[derive(Debug, Clone)]
pub struct Supervisor {
    health: Health,
    metrics: Metrics,
    shutdown: CancellationToken,
}

impl Supervisor {
    pub fn new(health: Health, metrics: Metrics, shutdown: CancellationToken) -> Self {
        Self { health, metrics, shutdown }
    }

    /// Spawns `task` into `tasks`: `start` makes one run of it, and is called
    /// again after every failure until shutdown.
    pub fn spawn<F, Fut>(&self, tasks: &mut JoinSet<()>, task: Task, start: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        tasks.spawn(self.clone().supervise(task, start));
    }

    async fn supervise<F, Fut>(self, task: Task, mut start: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = task.to_string();
        let mut backoff = Backoff::default();
        loop {
            self.health.task_running(&name);
            let started = Instant::now();
            let run = start();
            let fault = fault::trigger(&name);
            // A run of its own, so that its panic ends only the run; the set
            // aborts the run when the supervisor itself is aborted.
            let mut one = JoinSet::new();
            one.spawn(async move {
                tokio::select! {
                    () = run => {}
                    () = fault.notified() => panic!("a fault injected by a test"),
                }
            });
            let failure = match one.join_next().await {
                Some(Ok(())) if self.shutdown.is_cancelled() => return,
                Some(Ok(())) | None => "stopped before shutdown".to_owned(),
                Some(Err(error)) if error.is_panic() => format!("panicked: {}", panic_message(error.into_panic())),
                Some(Err(_)) => return,
            };
            if started.elapsed() >= backoff.max() {
                backoff.reset();
            }
            let delay = backoff.next_delay();
            tracing::error!(%task, %failure, retry_in_ms = delay.as_millis() as u64, "task failed; restarting it");
            self.metrics.task_restarted(&name);
            self.health.task_failed(&name, &failure);
            if let Task::Mailbox(mailbox) = &task {
                self.health.disconnected(mailbox.as_str(), &format!("the mailbox task {failure}"));
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(text) => *text,
        Err(payload) => payload.downcast_ref::<&str>().map_or_else(|| "(no message)".to_owned(), |s| (*s).to_owned()),
    }
}

/// For tests only: make a running supervised task panic, to see it restarted.
#[doc(hidden)]
pub mod fault {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock, PoisonError};

    use tokio::sync::Notify;

    static TRIGGERS: OnceLock<Mutex<HashMap<String, Arc<Notify>>>> = OnceLock::new();

    /// The task named `task` (as in `loket_task_restarts_total`) panics once:
    /// now if it runs, else as soon as it starts.
    pub fn panic_once(task: &str) {
        trigger(task).notify_one();
    }

    pub(super) fn trigger(task: &str) -> Arc<Notify> {
        let mut triggers = TRIGGERS.get_or_init(Mutex::default).lock().unwrap_or_else(PoisonError::into_inner);
        triggers.entry(task.to_owned()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_is_counted_shown_and_started_again() {
        let health = Health::new(["it-old"]);
        let metrics = Metrics::new();
        let shutdown = CancellationToken::new();
        let supervisor = Supervisor::new(health.clone(), metrics, shutdown.clone());
        let (runs, mut started) = tokio::sync::mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        let task = Task::Mailbox(MailboxName::parse("it-old").unwrap());
        supervisor.spawn(&mut tasks, task, move || {
            let runs = runs.clone();
            async move {
                let _ = runs.send(());
                std::future::pending::<()>().await;
            }
        });
        started.recv().await.unwrap();
        fault::panic_once("mailbox:it-old");
        started.recv().await.unwrap();
        let task = &health.tasks()["mailbox:it-old"];
        assert!(task.running);
        assert_eq!((task.restarts, task.error.as_deref()), (1, Some("panicked: a fault injected by a test")));
        let mailbox = &health.snapshot()["it-old"];
        assert_eq!(mailbox.error.as_deref(), Some("the mailbox task panicked: a fault injected by a test"));
        shutdown.cancel();
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }
}
