//! Operations: liveness, readiness and metrics.

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

/// Ready when the store answers and every mailbox is connected; 503 otherwise,
/// with what is not ready.
pub(super) async fn readyz(State(state): State<WebState>) -> Response {
    let store = state.store.ping().await;
    let mailboxes = state.health.snapshot();
    let ready = store && mailboxes.values().all(|m| m.connected);
    let body = json!({
        "ready": ready,
        "store": if store { "ok" } else { "unreachable" },
        "mailboxes": mailboxes,
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
