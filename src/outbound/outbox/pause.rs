//! The queue's pause: entered when the server refuses the session, logged once,
//! shown in `/readyz` and the `loket_outbox_paused` gauge, probed with a growing
//! wait, and lifted by the first probe the server takes.

use std::time::{Duration, Instant};

use super::{PauseReason, jitter};
use crate::telemetry::health::Health;
use crate::telemetry::metrics::Metrics;

/// The longest wait between two probes.
const PROBE_MAX: Duration = Duration::from_secs(300);

/// The server's refusal of a whole session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: PauseReason,
    pub error: String,
}

pub(super) struct Pause {
    metrics: Metrics,
    health: Health,
    base: Duration,
    /// Since when, why, and the wait before the next probe.
    current: Option<(Instant, PauseReason, Duration)>,
}

impl Pause {
    pub(super) fn new(metrics: Metrics, health: Health, base: Duration) -> Self {
        Self { metrics, health, base, current: None }
    }

    pub(super) fn active(&self) -> bool {
        self.current.is_some()
    }

    /// Notes a refusal and returns the wait before the next probe.
    pub(super) fn refused(&mut self, refusal: Refusal) -> Duration {
        let Refusal { reason, error } = refusal;
        let wait = match self.current {
            Some((since, known, wait)) if known == reason => {
                tracing::debug!(reason = reason.as_str(), %error, "outbox still paused");
                self.current = Some((since, reason, (wait * 2).min(PROBE_MAX)));
                wait
            }
            _ => {
                tracing::error!(
                    reason = reason.as_str(),
                    %error,
                    "outbox paused: the mail server takes no mail; nothing is given up, sending resumes by itself"
                );
                self.metrics.outbox_paused(Some(reason));
                self.health.outbox_paused(reason.as_str(), &error);
                let since = self.current.map_or_else(Instant::now, |(since, ..)| since);
                self.current = Some((since, reason, (self.base * 2).min(PROBE_MAX)));
                self.base
            }
        };
        jitter(wait.max(Duration::from_millis(200)))
    }

    /// The server took a session again.
    pub(super) fn lifted(&mut self) {
        if let Some((since, reason, _)) = self.current.take() {
            tracing::info!(reason = reason.as_str(), paused_secs = since.elapsed().as_secs(), "outbox resumed");
            self.metrics.outbox_paused(None);
            self.health.outbox_sending();
        }
    }
}
