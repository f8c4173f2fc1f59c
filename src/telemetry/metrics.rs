//! Metrics: counters and the arrival-to-acknowledgement histogram that the
//! pipeline and the outbox worker update, exposed with the store's own counts in
//! Prometheus text format.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::domain::{MailKind, PauseReason};
use crate::store::Gauges;
use crate::telemetry::health::{Health, Problem};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IngestLabels {
    mailbox: String,
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TicketLabels {
    department: String,
    status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MailboxLabels {
    mailbox: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabels {
    client: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProblemLabels {
    mailbox: String,
    problem: String,
}

/// The process's metrics; cheap to clone, shared by every task.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    ingested: Family<IngestLabels, Counter>,
    sent: Family<KindLabels, Counter>,
    failures: Family<KindLabels, Counter>,
    ack_latency: Histogram,
    tickets: Family<TicketLabels, Gauge>,
    outbox_depth: Gauge,
    outbox_failed: Gauge,
    quarantine: Gauge,
    mailbox_up: Family<MailboxLabels, Gauge>,
    last_poll: Family<MailboxLabels, Gauge>,
    model_examples: Gauge,
    task_restarts: Family<TaskLabels, Counter>,
    outbox_paused: Family<ReasonLabels, Gauge>,
    problems: Family<ProblemLabels, Counter>,
    warnings: Family<ProblemLabels, Gauge>,
    lease_takeovers: Family<MailboxLabels, Counter>,
    lease_losses: Family<MailboxLabels, Counter>,
    oauth_failures: Family<ClientLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("loket");
        let ingested = Family::<IngestLabels, Counter>::default();
        registry.register(
            "messages_ingested",
            "Messages read from a mailbox, by what became of them",
            ingested.clone(),
        );
        let sent = Family::<KindLabels, Counter>::default();
        registry.register("mails_sent", "Mails handed to the mail server, by kind", sent.clone());
        let failures = Family::<KindLabels, Counter>::default();
        registry.register("mail_failures", "Failed delivery attempts, by kind (retried or given up)", failures.clone());
        let buckets = [1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];
        let ack_latency = Histogram::new(buckets);
        registry.register(
            "ack_latency_seconds",
            "Time from a message's arrival to its acknowledgement being sent",
            ack_latency.clone(),
        );
        let tickets = Family::<TicketLabels, Gauge>::default();
        registry.register("tickets", "Tickets in the store, by department and status", tickets.clone());
        let outbox_depth = Gauge::default();
        registry.register("outbox_depth", "Mails waiting to be sent", outbox_depth.clone());
        let outbox_failed = Gauge::default();
        registry.register("outbox_failed", "Mails given up on", outbox_failed.clone());
        let quarantine = Gauge::default();
        registry.register("quarantine_messages", "Messages kept in quarantine", quarantine.clone());
        let mailbox_up = Family::<MailboxLabels, Gauge>::default();
        registry.register("mailbox_connected", "1 when the mailbox's source is connected", mailbox_up.clone());
        let last_poll = Family::<MailboxLabels, Gauge>::default();
        registry.register(
            "mailbox_last_poll_timestamp_seconds",
            "When a poll last read the mailbox to its end, in seconds since the epoch (absent before the first)",
            last_poll.clone(),
        );
        let build = Family::<VersionLabels, Gauge>::default();
        registry.register("build_info", "Always 1; the running loket's version as a label", build.clone());
        build.get_or_create(&VersionLabels { version: env!("CARGO_PKG_VERSION").to_owned() }).set(1);
        let model_examples = Gauge::default();
        registry.register("model_examples", "Examples the routing model in use was trained on", model_examples.clone());
        let task_restarts = Family::<TaskLabels, Counter>::default();
        registry.register(
            "task_restarts",
            "Times a task (a mailbox's, the outbox worker, the model watcher) failed and was restarted",
            task_restarts.clone(),
        );
        let outbox_paused = Family::<ReasonLabels, Gauge>::default();
        registry.register(
            "outbox_paused",
            "1 while the outbox is paused because the mail server takes no mail, by reason",
            outbox_paused.clone(),
        );
        for reason in crate::domain::PauseReason::ALL {
            outbox_paused.get_or_create(&ReasonLabels { reason: reason.as_str().to_owned() }).set(0);
        }
        let problems = Family::<ProblemLabels, Counter>::default();
        registry.register(
            "mailbox_problems",
            "Problems a mailbox worked around (each reported once when it begins), by kind",
            problems.clone(),
        );
        let warnings = Family::<ProblemLabels, Gauge>::default();
        registry.register("mailbox_warning", "1 while a mailbox works around a problem of this kind", warnings.clone());
        let lease_takeovers = Family::<MailboxLabels, Counter>::default();
        registry.register(
            "mailbox_lease_takeovers",
            "Mailbox leases this instance took over from another instance whose lease ran out",
            lease_takeovers.clone(),
        );
        let lease_losses = Family::<MailboxLabels, Counter>::default();
        registry.register(
            "mailbox_lease_losses",
            "Mailbox leases this instance lost (taken over, or not renewed in time)",
            lease_losses.clone(),
        );
        let oauth_failures = Family::<ClientLabels, Counter>::default();
        registry.register(
            "oauth_token_failures",
            "Token requests of an OAuth client that failed (refused or unreachable endpoint)",
            oauth_failures.clone(),
        );
        Self {
            registry: Arc::new(registry),
            ingested,
            sent,
            failures,
            ack_latency,
            tickets,
            outbox_depth,
            outbox_failed,
            quarantine,
            mailbox_up,
            last_poll,
            model_examples,
            task_restarts,
            outbox_paused,
            problems,
            warnings,
            lease_takeovers,
            lease_losses,
            oauth_failures,
        }
    }

    /// This instance took `mailbox` over from an instance whose lease ran out.
    pub fn lease_taken_over(&self, mailbox: &str) {
        self.lease_takeovers.get_or_create(&MailboxLabels { mailbox: mailbox.to_owned() }).inc();
    }

    /// This instance lost its lease of `mailbox`.
    pub fn lease_lost(&self, mailbox: &str) {
        self.lease_losses.get_or_create(&MailboxLabels { mailbox: mailbox.to_owned() }).inc();
    }

    /// The task `task` failed and will be restarted.
    pub fn task_restarted(&self, task: &str) {
        self.task_restarts.get_or_create(&TaskLabels { task: task.to_owned() }).inc();
    }

    /// A mailbox began to work around a problem.
    pub fn problem(&self, mailbox: &str, problem: Problem) {
        self.problems
            .get_or_create(&ProblemLabels { mailbox: mailbox.to_owned(), problem: problem.as_str().to_owned() })
            .inc();
    }

    /// A token request of OAuth client `client` failed.
    pub fn oauth_failure(&self, client: &str) {
        self.oauth_failures.get_or_create(&ClientLabels { client: client.to_owned() }).inc();
    }

    /// The routing model in use was trained on `examples` examples.
    pub fn model(&self, examples: usize) {
        self.model_examples.set(i64::try_from(examples).unwrap_or(i64::MAX));
    }

    pub fn ingested(&self, mailbox: &str, outcome: &str) {
        self.ingested.get_or_create(&IngestLabels { mailbox: mailbox.to_owned(), outcome: outcome.to_owned() }).inc();
    }

    /// A mail of `kind` went out; for an acknowledgement, `waited_ms` since the
    /// message arrived is recorded.
    pub fn sent(&self, kind: MailKind, waited_ms: i64) {
        self.sent.get_or_create(&KindLabels { kind: kind.as_str().to_owned() }).inc();
        if kind == MailKind::Ack {
            self.ack_latency.observe(waited_ms.max(0) as f64 / 1000.0);
        }
    }

    /// The outbox paused for `reason`, or (`None`) sends again.
    pub fn outbox_paused(&self, reason: Option<PauseReason>) {
        for known in PauseReason::ALL {
            let on = reason == Some(known);
            self.outbox_paused.get_or_create(&ReasonLabels { reason: known.as_str().to_owned() }).set(i64::from(on));
        }
    }

    pub fn failed(&self, kind: MailKind) {
        self.failures.get_or_create(&KindLabels { kind: kind.as_str().to_owned() }).inc();
    }

    /// The text exposition, with the store's counts and the mailboxes' state as read now.
    pub fn render(&self, counts: &Gauges, health: &Health) -> Result<String, std::fmt::Error> {
        self.tickets.clear();
        for count in &counts.tickets {
            let labels =
                TicketLabels { department: count.department.to_string(), status: count.status.as_str().to_owned() };
            self.tickets.get_or_create(&labels).set(count.tickets);
        }
        self.outbox_depth.set(counts.outbox_pending);
        self.outbox_failed.set(counts.outbox_failed);
        self.quarantine.set(counts.quarantine);
        self.mailbox_up.clear();
        self.last_poll.clear();
        self.warnings.clear();
        for (mailbox, state) in health.snapshot() {
            for problem in state.warnings.keys() {
                let labels = ProblemLabels { mailbox: mailbox.clone(), problem: problem.as_str().to_owned() };
                self.warnings.get_or_create(&labels).set(1);
            }
            if let Some(ms) = state.last_poll_ms {
                self.last_poll.get_or_create(&MailboxLabels { mailbox: mailbox.clone() }).set(ms.div_euclid(1000));
            }
            self.mailbox_up.get_or_create(&MailboxLabels { mailbox }).set(i64::from(state.connected));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
