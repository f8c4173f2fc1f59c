//! The daemon: one store, one task per watched mailbox, the outbox worker, one shutdown.
//! Every long-running task is supervised (restarted with backoff when it panics
//! or stops), a database that is down at start is waited for, and shutdown gives
//! the work in hand `daemon.shutdown_timeout_secs` to finish.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::config::{Config, DeskConfig, StoreConfig};
use crate::desk::Respond;
use crate::outbound::outbox::{self, Transport, TransportError};
use crate::outbound::render::{RenderError, Renderer};
use crate::pipeline::Pipeline;
use crate::routing::classify::Routing;
use crate::routing::learn::{self, LearnError};
use crate::sign::Signer;
use crate::source;
use crate::store::{Store, StoreError};
use crate::supervise::{Supervisor, Task};
use crate::web::{self, WebError, WebState};

pub use crate::shutdown::cancel_on_signal;

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
pub async fn open_store(config: &StoreConfig) -> Result<Store, StoreError> {
    let store = Store::connect_with(&config.url, config.connect_options()).await?;
    store.migrate().await?;
    Ok(store)
}

/// [`open_store`], waiting with backoff (one second doubling to a minute) while
/// the database cannot be reached; `None` when shutdown comes first. Any other
/// failure (a wrong password, a failed migration) is returned at once.
pub async fn wait_for_store(config: &StoreConfig, shutdown: &CancellationToken) -> Result<Option<Store>, StoreError> {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
    loop {
        let error = tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            opened = open_store(config) => match opened {
                Ok(store) => return Ok(Some(store)),
                Err(error) if error.is_unreachable() => error,
                Err(error) => return Err(error),
            },
        };
        let delay = backoff.next_delay();
        tracing::warn!(%error, retry_in_secs = delay.as_secs(), "waiting for the database");
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// The signing secret: from the config, or made once and kept in the store.
pub async fn signer(config: &DeskConfig, store: &Store) -> Result<Signer, StoreError> {
    let secret = match &config.secret {
        Some(secret) => secret.expose_secret().to_owned(),
        None => store.signing_secret(&crate::sign::new_secret()).await?,
    };
    Ok(Signer::new(secret.as_bytes()))
}

/// The pipeline with everything it needs to respond: templates (checked now, not
/// at the first mail) and the signing secret.
pub async fn pipeline(config: Arc<Config>, store: Store) -> Result<Pipeline, AppError> {
    let renderer = Renderer::load(config.templates.dir.as_deref())?;
    let signer = signer(&config.desk, &store).await?;
    let directory = Arc::new(crate::config::Directory::of(&config));
    let responder = Respond::new(crate::desk::Settings::new(&config, directory.clone()), renderer, signer.clone());
    let (classifier, _) =
        learn::classifier(Arc::new(crate::routing::Settings::new(&config, directory)), &store).await?;
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
    let renderer = Renderer::load(config.templates.dir.as_deref())?;
    web::check_pages(&renderer)?;
    let state = WebState {
        renderer: Arc::new(renderer),
        directory: pipeline.routing().get().settings().directory.clone(),
        config,
        store: pipeline.store.clone(),
        signer,
        health: pipeline.health.clone(),
        metrics: pipeline.metrics.clone(),
        pipeline: pipeline.clone(),
        form_bodies: web::form::bodies(),
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
    // Before the listeners: a second daemon on the same SQLite file says so, not that a port is taken.
    let single = crate::store::InstanceLock::take(&config.store.url)?;
    let listeners = web::bind(&config.web).await?;
    serve(config, listeners, shutdown, single).await
}

/// [`run`] on web listeners bound beforehand.
pub async fn run_on(
    config: Arc<Config>,
    listeners: web::Listeners,
    shutdown: CancellationToken,
) -> Result<(), AppError> {
    let single = crate::store::InstanceLock::take(&config.store.url)?;
    serve(config, listeners, shutdown, single).await
}

/// The daemon, holding the SQLite store's instance lock (if any) until it stops.
async fn serve(
    config: Arc<Config>,
    listeners: web::Listeners,
    shutdown: CancellationToken,
    single: Option<crate::store::InstanceLock>,
) -> Result<(), AppError> {
    let mut transport = Transport::from_config(&config.outbox, config.smtp.as_ref(), &config.oauth)?;
    // Alive from the start, also while a database that is down is waited for.
    tokio::spawn(crate::notify::watchdog(shutdown.clone()));
    let Some(store) = wait_for_store(&config.store, &shutdown).await? else { return Ok(()) };
    if single.is_some() {
        let released = store.release_stale_claims().await?;
        if released > 0 {
            tracing::info!(mails = released, "mails claimed by a loket that stopped mid-round go out again");
        }
    }
    let pipeline = pipeline(config.clone(), store.clone()).await?;
    if let Some(transport) = transport.as_mut() {
        transport.share_tokens(&pipeline.oauth);
    }
    let mut tasks = JoinSet::new();
    spawn_web(&mut tasks, &pipeline, pipeline.signer().clone(), listeners, &shutdown)?;
    let supervisor = Supervisor::new(pipeline.health.clone(), pipeline.metrics.clone(), shutdown.clone());
    let model = store.latest_model_id().await?;
    let (learn_config, learn_store, routing, metrics, stop) = (
        pipeline.routing().get().settings().clone(),
        store.clone(),
        pipeline.routing().clone(),
        pipeline.metrics.clone(),
        shutdown.clone(),
    );
    supervisor.spawn(&mut tasks, Task::Learn, move || {
        learn::watch(
            learn_config.clone(),
            learn_store.clone(),
            routing.clone(),
            metrics.clone(),
            model.clone(),
            stop.clone(),
        )
    });
    let (retention_config, retention_store, stop) = (config.clone(), store.clone(), shutdown.clone());
    supervisor.spawn(&mut tasks, Task::Retention, move || {
        retention(retention_config.clone(), retention_store.clone(), stop.clone())
    });
    let instance = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7());
    let lease = Duration::from_secs(config.store.mailbox_lease_secs);
    tasks.spawn(heartbeat(store.clone(), instance.clone(), lease, shutdown.clone()));
    let spread = source::Spread::new(config.mailboxes.len(), store.backend() == crate::store::Backend::Postgres);
    for mailbox in &config.mailboxes {
        let (pipeline, mailbox, instance, spread, stop) =
            (pipeline.clone(), mailbox.clone(), instance.clone(), spread.clone(), shutdown.clone());
        let task = Task::Mailbox(mailbox.name.clone());
        supervisor.spawn(&mut tasks, task, move || {
            source::watch(pipeline.clone(), mailbox.clone(), instance.clone(), spread.clone(), stop.clone())
        });
    }
    match transport {
        Some(transport) => {
            tracing::info!(?transport, "outbox worker started");
            if store.backend() == crate::store::Backend::Postgres {
                let url = config.store.url.expose().to_owned();
                tasks.spawn(outbox::listen(url, pipeline.outbox.clone(), shutdown.clone()));
            }
            let sending = outbox::Sending::from_config(&config);
            let (store, metrics, health, wake, stop) = (
                store.clone(),
                pipeline.metrics.clone(),
                pipeline.health.clone(),
                pipeline.outbox.clone(),
                shutdown.clone(),
            );
            supervisor.spawn(&mut tasks, Task::Outbox, move || {
                let (store, transport, metrics, health) =
                    (store.clone(), transport.clone(), metrics.clone(), health.clone());
                outbox::run(store, transport, sending, metrics, health, wake.clone(), stop.clone())
            });
        }
        None => tracing::warn!("no [smtp] and no outbox.file_dir: mails wait in the outbox"),
    }
    tracing::info!(%instance, mailboxes = config.mailboxes.len(), store = %store_kind(&config.store.url), "loket running");
    crate::notify::notify("READY=1");
    shutdown.cancelled().await;
    crate::notify::notify("STOPPING=1");
    crate::shutdown::finish(tasks, Duration::from_secs(config.daemon.shutdown_timeout_secs)).await;
    if tokio::time::timeout(Duration::from_secs(5), store.close()).await.is_err() {
        tracing::warn!("the store's connections did not close in time");
    }
    Ok(())
}

/// Tells the other instances this one is alive, every third of a lease, on the
/// database's clock; leaves on a clean stop so that their shares grow at once.
async fn heartbeat(store: Store, instance: String, lease: Duration, shutdown: CancellationToken) {
    loop {
        if let Err(error) = store.heartbeat(&instance).await {
            tracing::warn!(%error, "cannot record that this instance is alive");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(lease / 3) => {}
        }
    }
    if let Err(error) = store.leave(&instance).await {
        tracing::warn!(%error, "cannot record that this instance stops");
    }
}

/// Applies `[retention]` at start and then every `retention.every_hours`.
async fn retention(config: Arc<Config>, store: Store, shutdown: CancellationToken) {
    let every = Duration::from_secs(u64::from(config.retention.every_hours.max(1)) * 3600);
    loop {
        match store.purge(config.retention.cutoffs(crate::clock::now_ms()), false).await {
            Ok(purged) if purged.is_empty() => {}
            Ok(purged) => tracing::info!(
                raw_messages = purged.raw_messages,
                anonymised_tickets = purged.anonymised_tickets,
                quarantined_messages = purged.quarantined_messages,
                "retention applied"
            ),
            Err(error) => tracing::warn!(%error, "retention could not be applied; tried again at the next run"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

fn store_kind(url: &str) -> &'static str {
    if url.starts_with("sqlite:") { "sqlite" } else { "postgres" }
}
