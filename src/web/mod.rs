//! Web: two listeners. The employees' one (`web.listen`) serves the status page
//! (`/t/{reference}?k={token}`) and the web form (`/new`, see [`form`]), and its errors say nothing
//! internal; the operators' one (`web.ops_listen`, on loopback by default) serves
//! `/healthz`, `/readyz`, `/metrics` and the counters' `/report`. Both hold against idle and slow clients
//! (see [`serve`]).

pub mod form;
mod ops;
mod page;
pub mod report;
mod serve;
pub mod status;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use crate::config::{Config, Directory, WebConfig};
use crate::outbound::render::{RenderError, Renderer};
use crate::sign::Signer;
use crate::store::Store;
use crate::telemetry::health::Health;
use crate::telemetry::metrics::Metrics;

pub use ops::status_json;
pub use serve::{Limits, serve};

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
    /// Who the desk, its departments and mailboxes are, for the pages.
    pub directory: Arc<Directory>,
    pub store: Store,
    pub signer: Signer,
    pub renderer: Arc<Renderer>,
    pub health: Health,
    pub metrics: Metrics,
    /// Takes confirmed web form requests in, as a source does mail.
    pub pipeline: crate::pipeline::Pipeline,
    /// The web form's bodies read at a time (see [`form::bodies`]).
    pub form_bodies: Arc<tokio::sync::Semaphore>,
}

/// The listeners, bound before anything else starts.
#[derive(Debug)]
pub struct Listeners {
    /// `web.listen`: the employees' status page.
    pub public: TcpListener,
    /// `web.ops_listen`: health, readiness and metrics.
    pub ops: TcpListener,
}

/// The employees' listener: the status page and its stylesheet. Every other
/// path is the status page's 404, and every error answers with a fixed page.
/// Renders the web's pages once with sample values, so that a template of the
/// operator's own that does not fit stops loket at start-up (and fails
/// `loket check`), not at the first visitor.
pub fn check_pages(renderer: &Renderer) -> Result<(), RenderError> {
    renderer.render("status.html", &status::sample())?;
    let form = renderer.render("form.html", &form::sample())?;
    if !form.contains("action=\"/new/confirm\"") {
        return Err(RenderError::Template {
            name: "form.html".into(),
            reason: "it has no Confirm button: the page of a confirmation link needs `{{#if confirm}}` with a form \
                     that posts r, e and s to /new/confirm (see the shipped template)"
                .into(),
        });
    }
    Ok(())
}

pub fn public_router(state: WebState) -> Router {
    let web = &state.config.web;
    let router = Router::new()
        .route("/t/{reference}", get(page::status))
        .route("/static/status.css", get(page::stylesheet))
        .fallback(page::not_found);
    let router = limited(router, web);
    let router = if state.config.form.enabled {
        // The form's body holds an attachment: its own, larger limit.
        let limit = state.config.form_max_body_bytes();
        let form = Router::new()
            .route("/new", get(form::show).post(form::send))
            .layer(DefaultBodyLimit::max(limit))
            .layer(RequestBodyLimitLayer::new(limit))
            .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, web.request_timeout()));
        // Confirming posts only the link's fields: the listener's own small limit.
        let confirm = limited(Router::new().route("/new/confirm", get(form::confirm).post(form::confirmed)), web);
        router.merge(form).merge(confirm)
    } else {
        router
    };
    router
        .layer(axum::middleware::map_response(page::fixed_errors))
        .layer(axum::middleware::map_response(page::security_headers))
        .with_state(state)
}

/// The operators' listener: liveness, readiness and metrics.
pub fn ops_router(state: WebState) -> Router {
    let web = &state.config.web;
    let router = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/report", get(ops::report))
        .route("/status", get(ops::status));
    limited(router, web).layer(axum::middleware::map_response(page::security_headers)).with_state(state)
}

/// A request's body beyond `web.max_body_bytes` is refused with 413; a request
/// not answered within `web.request_timeout_secs` gets 503.
fn limited(router: Router<WebState>, web: &WebConfig) -> Router<WebState> {
    router
        .layer(RequestBodyLimitLayer::new(web.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, web.request_timeout()))
}

/// Binds the configured addresses now, so that a taken port stops loket at start.
pub async fn bind(config: &WebConfig) -> Result<Listeners, WebError> {
    let listen = |key: &'static str, address: SocketAddr| async move {
        TcpListener::bind(address).await.map_err(|source| WebError::Bind { key, address, source })
    };
    let public = listen("web.listen", config.listen).await?;
    let ops = listen(config.ops_key(), config.ops_address()).await?;
    if config.ops_listen.is_none() && config.metrics_listen.is_some() {
        tracing::warn!("web.metrics_listen is the former name of web.ops_listen: rename it");
    }
    Ok(Listeners { public, ops })
}

#[cfg(test)]
mod tests {
    use super::check_pages;
    use crate::outbound::render::Renderer;

    #[test]
    fn a_page_template_that_does_not_fit_its_page_fails_the_check_with_its_name() {
        assert!(check_pages(&Renderer::load(None).expect("shipped templates")).is_ok());
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("status.html.hbs"), "<p>{{referense}}</p>").expect("write");
        let renderer = Renderer::load(Some(dir.path())).expect("mail templates still fit");
        let error = check_pages(&renderer).expect_err("a misspelt variable").to_string();
        assert!(error.contains("status.html"), "{error}");
    }
}
