//! What routing reads from the config, taken from it once: who the departments
//! and mailboxes are, the `[routing]` section, and the language a request is
//! read in when it does not show its own.

use std::sync::Arc;

use crate::config::{Config, Directory, RoutingConfig};
use crate::inbound::language::Language;

#[derive(Debug, Clone)]
pub struct Settings {
    pub directory: Arc<Directory>,
    pub routing: RoutingConfig,
    /// `ack.default_language`.
    pub default_language: Language,
}

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        Self::new(config, Arc::new(Directory::of(config)))
    }

    /// The same, with a directory already taken from the config and shared.
    pub fn new(config: &Config, directory: Arc<Directory>) -> Self {
        Self { directory, routing: config.routing.clone(), default_language: config.ack.default_language }
    }
}
