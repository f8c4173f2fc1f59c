//! The daemon: one store, one task per watched mailbox, the outbox worker, one shutdown.

use std::sync::Arc;

use secrecy::ExposeSecret;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::classify::Routing;
use crate::config::Config;
use crate::learn::{self, LearnError};
use crate::outbox::{self, Transport, TransportError};
use crate::pipeline::Pipeline;
use crate::render::{RenderError, Renderer};
use crate::respond::Respond;
use crate::sign::Signer;
use crate::source;
use crate::store::{Store, StoreError};
use crate::web::{self, WebError, WebState};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Web(#[from] WebError),
    #[error(transparent)]
    Learn(#[from] LearnError),
}

/// Opens the store and applies migrations.
pub async fn open_store(config: &Config) -> Result<Store, StoreError> {
    let store = Store::connect(&config.store.url, config.store.max_connections).await?;
    store.migrate().await?;
    Ok(store)
}

/// The signing secret: from the config, or made once and kept in the store.
pub async fn signer(config: &Config, store: &Store) -> Result<Signer, StoreError> {
    let secret = match &config.desk.secret {
        Some(secret) => secret.expose_secret().to_owned(),
        None => store.signing_secret().await?,
    };
    Ok(Signer::new(secret.as_bytes()))
}

/// The pipeline with everything it needs to respond: templates (checked now, not
/// at the first mail) and the signing secret.
pub async fn pipeline(config: Arc<Config>, store: Store) -> Result<Pipeline, AppError> {
    let renderer = Renderer::load(config.templates.dir.as_deref())?;
    let signer = signer(&config, &store).await?;
    let responder = Respond::new(config.clone(), renderer, signer.clone());
    let (classifier, _) = learn::classifier(config.clone(), &store).await?;
    let routing = Arc::new(Routing::new(classifier));
    Ok(Pipeline::new(config, store, signer, routing, Arc::new(responder)))
}

/// Starts the employees' and the operators' web servers on listeners bound beforehand.
pub fn spawn_web(
    tasks: &mut JoinSet<()>,
    pipeline: &Pipeline,
    signer: Signer,
    listeners: web::Listeners,
    shutdown: &CancellationToken,
) -> Result<(), AppError> {
    let config = pipeline.config.clone();
    let limits = web::Limits::from_config(&config.web);
    let state = WebState {
        renderer: Arc::new(Renderer::load(config.templates.dir.as_deref())?),
        config,
        store: pipeline.store.clone(),
        signer,
        health: pipeline.health.clone(),
        metrics: pipeline.metrics.clone(),
    };
    let servers = [
        ("web server", listeners.public, web::public_router(state.clone())),
        ("operations server", listeners.ops, web::ops_router(state)),
    ];
    for (name, listener, router) in servers {
        let stop = shutdown.clone();
        tasks.spawn(async move {
            if let Err(error) = web::serve(listener, router, limits, stop).await {
                tracing::error!(%error, "{name} failed");
            }
        });
    }
    Ok(())
}

/// Runs until `shutdown` is cancelled; every task finishes the work in hand.
pub async fn run(config: Arc<Config>, shutdown: CancellationToken) -> Result<(), AppError> {
    let listeners = web::bind(&config).await?;
    run_on(config, listeners, shutdown).await
}

/// [`run`] on web listeners bound beforehand.
pub async fn run_on(
    config: Arc<Config>,
    listeners: web::Listeners,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    let transport = Transport::from_config(&config)?;
    let store = open_store(&config).await?;
    let pipeline = pipeline(config.clone(), store.clone()).await?;
    let mut tasks = JoinSet::new();
    spawn_web(&mut tasks, &pipeline, pipeline.signer().clone(), listeners, &shutdown)?;
    let model = store.latest_model_id().await?;
    let routing = pipeline.routing().clone();
    tasks.spawn(learn::watch(
        config.clone(),
        store.clone(),
        routing,
        pipeline.metrics.clone(),
        model,
        shutdown.clone(),
    ));
    for mailbox in &config.mailboxes {
        tasks.spawn(source::watch(pipeline.clone(), mailbox.clone(), shutdown.clone()));
    }
    match transport {
        Some(transport) => {
            tracing::info!(?transport, "outbox worker started");
            let policy = outbox::RetryPolicy::from_config(&config.outbox);
            tasks.spawn(outbox::run(store.clone(), transport, policy, pipeline.metrics.clone(), shutdown.clone()));
        }
        None => tracing::warn!("no [smtp] and no outbox.file_dir: mails wait in the outbox"),
    }
    tracing::info!(mailboxes = config.mailboxes.len(), store = %store_kind(&config.store.url), "loket running");
    shutdown.cancelled().await;
    tracing::info!("shutting down: finishing the work in hand");
    while let Some(result) = tasks.join_next().await {
        if let Err(error) = result {
            tracing::error!(%error, "a task ended abnormally");
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
