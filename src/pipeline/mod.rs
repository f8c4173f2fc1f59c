//! The path of one message from a source to the store: plan it (pure, in the
//! bounded pool), then the ingest step (`group`): look up what the desk needs,
//! ask the desk, write what it decided, all in one transaction. Sources call
//! [`Pipeline::ingest_all`] and commit on their side only after it returns.

mod candidate;
mod group;
mod open;
pub mod plan;

pub use candidate::IngestOutcome;
pub use group::store_group;

use std::sync::Arc;

use self::plan::{Incoming, Plan, Pool, Rules};
use crate::clock::now_ms;
use crate::config::{Config, MailboxConfig};
use crate::desk::Responder;
use crate::outbound::outbox;
use crate::routing::classify::Routing;
use crate::sign::Signer;
use crate::store::{Store, StoreError};
use crate::telemetry::health::Health;
use crate::telemetry::metrics::Metrics;

/// How many times more tries a message gets when storing it failed on a
/// database that was only busy, locked or timed out.
const TRANSIENT_PATIENCE: u32 = 20;

#[derive(Clone)]
pub struct Pipeline {
    pub config: Arc<Config>,
    pub store: Store,
    pub health: Health,
    pub metrics: Metrics,
    /// Access tokens for the mailboxes that sign in with OAuth.
    pub oauth: crate::oauth::Tokens,
    /// Woken when a group committed mail to send.
    pub outbox: outbox::Wake,
    rules: Arc<Rules>,
    pool: Pool,
    responder: Arc<dyn Responder + Send + Sync>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("store", &self.store).finish_non_exhaustive()
    }
}

impl Pipeline {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        signer: Signer,
        routing: Arc<Routing>,
        responder: Arc<dyn Responder + Send + Sync>,
    ) -> Self {
        let rules = Arc::new(Rules::from_config(&config, signer, routing));
        let health = Health::new(config.mailboxes.iter().map(|m| m.name.as_str()));
        let metrics = Metrics::new();
        let oauth = crate::oauth::Tokens::new(&config.oauth, Some(store.clone()));
        oauth.report_to(health.clone(), metrics.clone());
        Self {
            config,
            store,
            health,
            metrics,
            oauth,
            outbox: outbox::Wake::default(),
            rules,
            pool: Pool::per_core(),
            responder,
        }
    }

    /// The signer of loket's Message-IDs and tracking tokens.
    pub fn signer(&self) -> &Signer {
        &self.rules.signer
    }

    /// The rules and model that decide departments; replaced when a new model arrives.
    pub fn routing(&self) -> &Arc<Routing> {
        &self.rules.routing
    }

    /// Plans several messages (reading them in parallel) and stores them whole, in
    /// order, in one group commit. When the group cannot be stored, each message is
    /// stored on its own, so one message that cannot be stored never holds back the
    /// others: its failure is counted in the store, and after
    /// `ingest.max_store_attempts` (twenty times as many when the database was
    /// only busy, locked or timed out) it is quarantined with the error. An error means
    /// the messages from the failing one on are not stored (the source fetches them
    /// again); those before it are.
    pub async fn ingest_all(
        &self,
        mailbox: &MailboxConfig,
        incoming: &[Incoming],
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let plans =
            futures::future::join_all(incoming.iter().map(|i| plan::plan(&self.rules, &self.pool, mailbox, i))).await;
        let items: Vec<(&Incoming, &Plan)> = incoming.iter().zip(plans.iter()).collect();
        let prefix = &self.config.desk.ticket_prefix;
        let outcomes = match guarded(store_group(&self.store, &items, prefix, self.responder.as_ref(), now_ms())).await
        {
            Ok(outcomes) => outcomes,
            // Another instance reads the mailbox now: nothing is blamed on the messages.
            Err(error @ StoreError::LeaseLost { .. }) => return Err(error),
            Err(error) => {
                tracing::warn!(mailbox = %mailbox.name, %error, count = items.len(), "messages could not be stored together; storing them one by one");
                self.ingest_one_by_one(mailbox, &items).await?
            }
        };
        if outcomes
            .iter()
            .any(|o| matches!(o, IngestOutcome::Created(_) | IngestOutcome::Joined(_) | IngestOutcome::Bounced(_)))
        {
            self.outbox.queued();
        }
        for outcome in &outcomes {
            self.metrics.ingested(mailbox.name.as_str(), outcome.label());
            match outcome {
                IngestOutcome::Created(reference) => {
                    tracing::info!(mailbox = %mailbox.name, %reference, "ticket opened")
                }
                IngestOutcome::Joined(reference) => {
                    tracing::info!(mailbox = %mailbox.name, %reference, "message joined its ticket")
                }
                IngestOutcome::Bounced(reference) => {
                    tracing::warn!(mailbox = %mailbox.name, %reference, "a mail of this ticket bounced")
                }
                IngestOutcome::Duplicate | IngestOutcome::Quarantined => {}
            }
        }
        Ok(outcomes)
    }

    async fn ingest_one_by_one(
        &self,
        mailbox: &MailboxConfig,
        items: &[(&Incoming, &Plan)],
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let mut outcomes = Vec::with_capacity(items.len());
        for (incoming, plan) in items {
            let key = incoming.source_key.as_str();
            let error = match self.store_one(incoming, plan).await {
                Ok(outcome) => {
                    outcomes.push(outcome);
                    continue;
                }
                Err(error @ StoreError::LeaseLost { .. }) => return Err(error),
                Err(error) => error,
            };
            // A store that cannot count the failure is itself failing: nothing is
            // blamed on the message, and the source tries again later.
            let attempts =
                self.store.record_ingest_failure(mailbox.name.as_str(), key, &error.to_string(), now_ms()).await?;
            // A database that is busy, locked or timed out is seldom the
            // message's fault, and may stay so for a while (a long lock, a
            // failover): such failures quarantine it only after many more tries,
            // so that one that recurs for this message alone still ends.
            let patience = if error.is_transient() { TRANSIENT_PATIENCE } else { 1 };
            let limit = self.config.ingest.max_store_attempts.saturating_mul(patience);
            if attempts < limit {
                tracing::warn!(mailbox = %mailbox.name, key, attempts, limit, %error, "a message could not be stored; it is tried again");
                return Err(error);
            }
            tracing::error!(mailbox = %mailbox.name, key, attempts, %error, "a message could not be stored; quarantined");
            let reason = Plan::Quarantine {
                reason: format!("storing the message failed {attempts} times (ingest.max_store_attempts): {error}"),
            };
            outcomes.push(self.store_one(incoming, &reason).await?);
            self.store.forget_ingest_failure(mailbox.name.as_str(), key).await?;
        }
        Ok(outcomes)
    }

    async fn store_one(&self, incoming: &Incoming, plan: &Plan) -> Result<IngestOutcome, StoreError> {
        let prefix = &self.config.desk.ticket_prefix;
        let outcomes =
            guarded(store_group(&self.store, &[(incoming, plan)], prefix, self.responder.as_ref(), now_ms())).await?;
        Ok(outcomes.into_iter().next().unwrap_or(IngestOutcome::Duplicate))
    }

    /// Stores a quarantine record for a message a source could not read whole,
    /// with the reason. A repeat (same key or same bytes) stores nothing.
    pub async fn quarantine(&self, incoming: &Incoming, reason: String) -> Result<IngestOutcome, StoreError> {
        let outcome = self.store_one(incoming, &Plan::Quarantine { reason }).await?;
        self.metrics.ingested(incoming.mailbox.as_str(), outcome.label());
        Ok(outcome)
    }
}

/// Runs the ingest step so that a panic in it (a bug met by one message) is an
/// error of that message, counted and in the end quarantined like any other,
/// instead of ending the mailbox's task, which would take the same message
/// again after its restart, forever. The step's transaction is dropped, so
/// rolled back, on the way out.
async fn guarded<F>(step: F) -> Result<Vec<IngestOutcome>, StoreError>
where
    F: std::future::Future<Output = Result<Vec<IngestOutcome>, StoreError>>,
{
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(step).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into())
                .chars()
                .take(500)
                .collect::<String>();
            tracing::error!(panic = %what, "storing a message panicked");
            Err(StoreError::Panicked(what))
        }
    }
}
