//! Operations: liveness, readiness and metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::WebState;

/// The process is up and serving.
pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

/// How long readiness waits for the store to answer.
const STORE_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Ready when the store answers, every mailbox is connected and every task
/// (the outbox worker, the model watcher, each mailbox's) runs; 503 otherwise,
/// with what is not ready. A task shows how often it failed and why it last did.
pub(super) async fn readyz(State(state): State<WebState>) -> Response {
    let store = matches!(tokio::time::timeout(STORE_PING_TIMEOUT, state.store.ping()).await, Ok(true));
    let mailboxes = state.health.snapshot();
    let tasks = state.health.tasks();
    let ready = store && mailboxes.values().all(|m| m.connected) && tasks.values().all(|t| t.running);
    let body = json!({
        "ready": ready,
        "store": if store { "ok" } else { "unreachable" },
        "mailboxes": mailboxes,
        "tasks": tasks,
        "outbox": state.health.outbox(),
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

pub(super) async fn metrics(State(state): State<WebState>) -> Response {
    match state.metrics.render(&state.store, &state.health).await {
        Ok(text) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "metrics could not be read");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response()
        }
    }
}
