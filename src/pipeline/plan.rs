//! Plan: the pure middle of the pipeline. One raw message in; out comes what the
//! store must do with it in one transaction: open a ticket (with the guard's
//! verdict and the routing decision) or quarantine the bytes with a reason.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, MailboxConfig};
use crate::domain::EmailAddress;
pub use crate::domain::{ImapPosition, Incoming};
use crate::inbound::guard::{self, Verdict};
use crate::inbound::intake::{self, Normalised};
use crate::inbound::language::{self, Language};
use crate::inbound::thread::{self, Hint};
use crate::inbound::trust::Domains;
pub use crate::inbound::trust::Trust;
use crate::routing::classify::{Decision, Routing};
use crate::sign::Signer;

/// What the store is to do with one message.
#[derive(Debug, Clone)]
pub enum Plan {
    Ticket {
        message: Box<Normalised>,
        verdict: Verdict,
        decision: Box<Decision>,
        language: Language,
        /// The ticket the message says it continues, for the store to check.
        thread: Option<Hint>,
        /// What the organisation's own mail server vouched for.
        trust: Trust,
    },
    Quarantine {
        reason: String,
    },
}

/// The settings the pure stages need, taken from the config once.
#[derive(Debug, Clone)]
pub struct Rules {
    pub max_message_bytes: u64,
    pub parse_timeout: Duration,
    pub own_addresses: Vec<EmailAddress>,
    pub default_language: Language,
    pub ticket_prefix: String,
    pub signer: Signer,
    pub routing: Arc<Routing>,
    /// The organisation's own receiving server, whose `Authentication-Results` count.
    pub authserv_id: Option<String>,
    pub internal_domains: Domains,
}

impl Rules {
    pub fn from_config(config: &Config, signer: Signer, routing: Arc<Routing>) -> Self {
        // Only the desk's own address: departments answer from their queue addresses
        // (shared mailboxes), and loket's forwards to a queue carry the loop header.
        let own_addresses = vec![config.desk.address.clone()];
        Self {
            max_message_bytes: config.ingest.max_message_bytes,
            parse_timeout: Duration::from_millis(config.ingest.parse_timeout_ms),
            own_addresses,
            default_language: config.ack.default_language,
            ticket_prefix: config.desk.ticket_prefix.clone(),
            signer,
            routing,
            authserv_id: config.trust.authserv_id.clone(),
            internal_domains: config.desk.domains(),
        }
    }
}

/// Plans one message whose bytes have already been parsed (or failed to parse).
pub fn plan_parsed(
    rules: &Rules,
    mailbox: &MailboxConfig,
    incoming: &Incoming,
    parsed: Result<Normalised, intake::IntakeError>,
) -> Plan {
    if let Some(plan) = oversized(rules, incoming) {
        return plan;
    }
    match parsed {
        Err(error) => Plan::Quarantine { reason: format!("cannot be parsed: {error}") },
        Ok(mut message) => {
            let trust = Trust::judge(&mut message, rules.authserv_id.as_deref(), &rules.internal_domains);
            let verdict = guard::assess(&message, &rules.own_addresses);
            let language = language::detect(&message.subject, &message.text, rules.default_language);
            let decision = rules.routing.get().decide(mailbox, &message, language);
            let thread = thread::hint(&message, &rules.signer, &rules.ticket_prefix);
            Plan::Ticket { message: Box::new(message), verdict, decision: Box::new(decision), language, thread, trust }
        }
    }
}

fn oversized(rules: &Rules, incoming: &Incoming) -> Option<Plan> {
    (incoming.truncated || incoming.size > rules.max_message_bytes).then(|| Plan::Quarantine {
        reason: format!(
            "the message is {} bytes, over the limit of {} (ingest.max_message_bytes); {}",
            incoming.size,
            rules.max_message_bytes,
            if incoming.truncated {
                "only its headers are kept here, the whole message stays in the mailbox"
            } else {
                "kept here whole"
            }
        ),
    })
}

/// Plans off the async threads, under the configured time limit, with panics
/// contained: parsing and every step that reads the content (guard, language,
/// routing, threading) run in the bounded pool, so hostile input ends in
/// quarantine, never in a crash or a stalled runtime. The deadline starts when a
/// place in the pool is free, so waiting behind other mail never counts against a
/// message; a step that overruns keeps its place until it ends, so overruns cannot
/// pile up threads.
pub async fn plan(rules: &Arc<Rules>, pool: &Pool, mailbox: &MailboxConfig, incoming: &Incoming) -> Plan {
    if let Some(plan) = oversized(rules, incoming) {
        return plan;
    }
    let Ok(permit) = pool.0.clone().acquire_owned().await else {
        return Plan::Quarantine { reason: "planning was cancelled".into() };
    };
    let task = {
        let (rules, mailbox, incoming) = (rules.clone(), mailbox.clone(), incoming.clone());
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let parsed = intake::parse(&incoming.raw);
            plan_parsed(&rules, &mailbox, &incoming, parsed)
        })
    };
    match tokio::time::timeout(rules.parse_timeout, task).await {
        Ok(Ok(plan)) => plan,
        Ok(Err(join)) if join.is_panic() => {
            Plan::Quarantine { reason: "reading this message failed (internal panic)".into() }
        }
        Ok(Err(_)) => Plan::Quarantine { reason: "planning was cancelled".into() },
        Err(_) => Plan::Quarantine {
            reason: format!(
                "reading the message took longer than {} ms (ingest.parse_timeout_ms)",
                rules.parse_timeout.as_millis()
            ),
        },
    }
}

/// The blocking pool for reading mail content: at most this many messages at once.
#[derive(Debug, Clone)]
pub struct Pool(Arc<tokio::sync::Semaphore>);

impl Pool {
    pub fn new(size: usize) -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(size.max(1))))
    }

    /// One place per core: reading mail is CPU work.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
    }
}
