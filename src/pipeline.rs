//! The path of one message from a source to the store: plan it, then store it.
//! Sources call [`Pipeline::ingest`] and commit on their side only after it returns.

use std::sync::Arc;

use crate::classify::Routing;
use crate::clock::now_ms;
use crate::config::{Config, MailboxConfig};
use crate::health::Health;
use crate::metrics::Metrics;
use crate::plan::{self, Incoming, Plan, Rules};
use crate::sign::Signer;
use crate::store::{IngestOutcome, Responder, Store, StoreError};

#[derive(Clone)]
pub struct Pipeline {
    pub config: Arc<Config>,
    pub store: Store,
    pub health: Health,
    pub metrics: Metrics,
    rules: Arc<Rules>,
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
        Self { config, store, health, metrics: Metrics::new(), rules, responder }
    }

    /// The signer of loket's Message-IDs and tracking tokens.
    pub fn signer(&self) -> &Signer {
        &self.rules.signer
    }

    /// The rules and model that decide departments; replaced when a new model arrives.
    pub fn routing(&self) -> &Arc<Routing> {
        &self.rules.routing
    }

    /// Plans several messages (parsing them in parallel) and stores them whole, in
    /// order, in one group commit. An error means none was stored.
    pub async fn ingest_all(
        &self,
        mailbox: &MailboxConfig,
        incoming: &[Incoming],
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let plans = futures::future::join_all(incoming.iter().map(|i| plan::plan(&self.rules, mailbox, i))).await;
        let items: Vec<(&Incoming, &Plan)> = incoming.iter().zip(plans.iter()).collect();
        let outcomes =
            self.store.ingest_all(&items, &self.config.desk.ticket_prefix, self.responder.as_ref(), now_ms()).await?;
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
}
