//! The daemon: one store, one task per watched mailbox, one shutdown.

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::pipeline::Pipeline;
use crate::source;
use crate::store::{Store, StoreError};

/// Opens the store and applies migrations.
pub async fn open_store(config: &Config) -> Result<Store, StoreError> {
    let store = Store::connect(&config.store.url, config.store.max_connections).await?;
    store.migrate().await?;
    Ok(store)
}

/// Runs until `shutdown` is cancelled; every mailbox finishes the message in hand.
pub async fn run(config: Arc<Config>, shutdown: CancellationToken) -> Result<(), StoreError> {
    let store = open_store(&config).await?;
    let pipeline = Pipeline::new(config.clone(), store.clone());
    let mut tasks = JoinSet::new();
    for mailbox in &config.mailboxes {
        tasks.spawn(source::watch(pipeline.clone(), mailbox.clone(), shutdown.clone()));
    }
    tracing::info!(mailboxes = config.mailboxes.len(), store = %store_kind(&config.store.url), "loket running");
    shutdown.cancelled().await;
    tracing::info!("shutting down: finishing the messages in hand");
    while let Some(result) = tasks.join_next().await {
        if let Err(error) = result {
            tracing::error!(%error, "a mailbox task ended abnormally");
        }
    }
    store.close().await;
    Ok(())
}

fn store_kind(url: &str) -> &'static str {
    if url.starts_with("sqlite:") { "sqlite" } else { "postgres" }
}

/// Cancels the token on Ctrl-C or SIGTERM.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    token.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        token.cancel();
    });
}
