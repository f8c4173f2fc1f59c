//! Web: the employee's status page (`/t/{reference}?k={token}`), `/healthz`,
//! `/readyz` and `/metrics` (on its own address when `web.metrics_listen` is set).

mod ops;
mod page;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::render::Renderer;
use crate::sign::Signer;
use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("config key `{key}`: cannot listen on {address}: {source}")]
    Bind { key: &'static str, address: SocketAddr, source: std::io::Error },
    #[error("the web server stopped: {0}")]
    Serve(std::io::Error),
}

/// What the handlers share.
#[derive(Clone)]
pub struct WebState {
    pub config: Arc<Config>,
    pub store: Store,
    pub signer: Signer,
    pub renderer: Arc<Renderer>,
    pub health: Health,
    pub metrics: Metrics,
}

/// The status page and health checks; `/metrics` too when `with_metrics`.
pub fn router(state: WebState, with_metrics: bool) -> Router {
    let router = Router::new()
        .route("/t/{reference}", get(page::status))
        .route("/static/status.css", get(page::stylesheet))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .fallback(page::not_found);
    let router = if with_metrics { router.route("/metrics", get(ops::metrics)) } else { router };
    router.layer(axum::middleware::map_response(page::security_headers)).with_state(state)
}

/// The metrics alone, for `web.metrics_listen`.
pub fn metrics_router(state: WebState) -> Router {
    Router::new().route("/metrics", get(ops::metrics)).with_state(state)
}

/// Binds the configured addresses now, so that a taken port stops loket at start.
pub async fn bind(config: &Config) -> Result<(TcpListener, Option<TcpListener>), WebError> {
    let listen = |key: &'static str, address: SocketAddr| async move {
        TcpListener::bind(address).await.map_err(|source| WebError::Bind { key, address, source })
    };
    let main = listen("web.listen", config.web.listen).await?;
    let metrics = match config.web.metrics_listen {
        Some(address) => Some(listen("web.metrics_listen", address).await?),
        None => None,
    };
    Ok((main, metrics))
}

/// Serves until shutdown.
pub async fn serve(listener: TcpListener, router: Router, shutdown: CancellationToken) -> Result<(), WebError> {
    let address = listener.local_addr().map_err(WebError::Serve)?;
    tracing::info!(%address, "web server listening");
    axum::serve(listener, router).with_graceful_shutdown(shutdown.cancelled_owned()).await.map_err(WebError::Serve)
}
