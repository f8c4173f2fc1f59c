//! What the desk's rules read from the config: who the desk, its departments
//! and mailboxes are, the acknowledgements' and the conversation's limits.

use std::sync::Arc;

use crate::config::{AckConfig, Config, ConversationConfig, Directory};

/// What the desk's rules read from the config, taken from it once.
#[derive(Debug, Clone)]
pub struct Settings {
    pub directory: Arc<Directory>,
    pub ack: AckConfig,
    pub conversation: ConversationConfig,
    /// Whether the organisation's mail server vouches for senders (`trust.authserv_id`).
    pub server_checks: bool,
    /// Backlog older than this many days is history (`ingest.backlog_forward_days`).
    pub backlog_forward_days: u32,
    /// The largest original attached to a forward (`outbox.max_attachment_bytes`).
    pub max_attachment: usize,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        Self::new(config, Arc::new(Directory::of(config)))
    }

    /// The same, with a directory already taken from the config and shared.
    pub fn new(config: &Config, directory: Arc<Directory>) -> Self {
        Self {
            directory,
            ack: config.ack.clone(),
            conversation: config.conversation.clone(),
            server_checks: config.trust.authserv_id.is_some(),
            backlog_forward_days: config.ingest.backlog_forward_days,
            max_attachment: usize::try_from(config.outbox.max_attachment_bytes).unwrap_or(usize::MAX),
        }
    }
}
