//! Serving one listener so that no client can hold it: hyper's HTTP/1 server
//! with a timer, so a client that has not sent a request's headers within
//! `web.header_read_timeout_secs` of connecting (or of its previous answer) is
//! disconnected; at most `web.max_connections` open connections, so idle clients
//! cannot use up the process's file descriptors (which the mailboxes and the
//! store need too); request timeouts and body limits come from the router.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::WebError;
use crate::config::WebConfig;

/// Bytes hyper buffers per connection, at most: far more than any request to
/// loket needs, far less than hyper's default of about 400 KiB.
const MAX_BUFFER: usize = 64 * 1024;

/// How long the accept loop rests after the system refused a connection (for
/// example when it is out of file descriptors), so it does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(200);

/// What one listener allows its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn from_config(web: &WebConfig) -> Self {
        Self { header_read_timeout: web.header_read_timeout(), max_connections: web.max_connections }
    }
}

/// Serves `router` on `listener` until shutdown, then lets every open
/// connection finish the request in hand.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> Result<(), WebError> {
    let address = listener.local_addr().map_err(WebError::Serve)?;
    tracing::info!(%address, max_connections = limits.max_connections, "web server listening");
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_BUFFER)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    loop {
        // A slot is taken before accepting: at the limit, new clients wait in the
        // system's accept queue (costing loket no descriptor) until one closes.
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_closed) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%address, %error, "cannot accept a connection");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(ACCEPT_PAUSE) => continue,
                    }
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // Each request knows its client, for the web form's per-client limit.
        let service = TowerToHyperService::new(router.clone().map_request(move |mut request: Request<_>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        }));
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let stop = shutdown.clone();
        connections.spawn(async move {
            let _slot = slot;
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                () = stop.cancelled() => {
                    // Idle connections close now; one with a request in hand
                    // answers it first (the request timeout bounds that).
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended");
            }
        });
    }
    connections.close();
    connections.wait().await;
    Ok(())
}
