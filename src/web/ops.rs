//! Operations: liveness, readiness, metrics and the counters' report.

use std::time::Duration;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::WebState;

/// The process is up and serving: `ok`, and one more line for each OAuth
/// client that cannot obtain tokens now (the process stays live: other mailboxes
/// go on). With `?detail`, the same as JSON with loket's version, each
/// mailbox's state and last successful poll, the tasks, the outbox and the
/// OAuth clients; still 200 whatever they say (liveness, not readiness).
pub(super) async fn healthz(State(state): State<WebState>, RawQuery(query): RawQuery) -> Response {
    let detail = query.is_some_and(|q| q.split('&').any(|p| p == "detail" || p.starts_with("detail=")));
    if !detail {
        let mut text = String::from("ok\n");
        for (name, failing) in state.health.oauth() {
            let since = chrono::DateTime::from_timestamp_millis(failing.since_ms).unwrap_or_default();
            text.push_str(&format!("oauth client `{name}` failing since {}: {}\n", since.to_rfc3339(), failing.error));
        }
        return text.into_response();
    }
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "mailboxes": state.health.snapshot(),
        "tasks": state.health.tasks(),
        "outbox": state.health.outbox(),
        "oauth": state.health.oauth(),
    }))
    .into_response()
}

/// How long readiness waits for the store to answer.
const STORE_PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Ready when loket can do its job: the store answers, the outbox worker and the
/// model watcher run, the outbox is not paused (its mail server takes mail), and
/// at least one mailbox is taken in (when any is configured). One mailbox that fails while others work leaves loket ready and
/// `degraded`, with the reason under `mailboxes` and `tasks`: a load balancer
/// in front of the status page must not take it offline for one old mailbox.
/// 503 otherwise, with what is not ready.
pub(super) async fn readyz(State(state): State<WebState>) -> Response {
    let store = matches!(tokio::time::timeout(STORE_PING_TIMEOUT, state.store.ping()).await, Ok(true));
    let mailboxes = state.health.snapshot();
    let tasks = state.health.tasks();
    let task_runs = |name: &str| tasks.get(name).is_none_or(|t| t.running);
    // A mailbox another instance reads (this one stands by for its lease) is
    // not a failure: a standby instance is ready to take over.
    let working = |name: &str, m: &crate::telemetry::health::MailboxHealth| {
        (m.connected || m.standby) && task_runs(&format!("mailbox:{name}"))
    };
    let some_mailbox = mailboxes.is_empty() || mailboxes.iter().any(|(name, m)| working(name, m));
    let other_tasks = tasks.iter().filter(|(name, _)| !name.starts_with("mailbox:")).all(|(_, t)| t.running);
    let outbox = state.health.outbox();
    let ready = store && some_mailbox && other_tasks && !outbox.paused;
    let degraded = ready && !mailboxes.iter().all(|(name, m)| working(name, m));
    let body = json!({
        "ready": ready,
        "degraded": degraded,
        "store": if store { "ok" } else { "unreachable" },
        "mailboxes": mailboxes,
        "tasks": tasks,
        "outbox": outbox,
        "oauth": state.health.oauth(),
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

pub(super) async fn metrics(State(state): State<WebState>) -> Response {
    let counts = match state.store.gauges().await {
        Ok(counts) => counts,
        Err(error) => {
            tracing::error!(%error, "metrics could not be read");
            return (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response();
        }
    };
    match state.metrics.render(&counts, &state.health) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "metrics could not be written");
            (StatusCode::SERVICE_UNAVAILABLE, "metrics could not be written\n").into_response()
        }
    }
}

/// The counters' report over every request in the store, as the page `loket report --html` writes.
pub(super) async fn report(State(state): State<WebState>) -> Response {
    let window = crate::store::ReportWindow { since_ms: i64::MIN, until_ms: i64::MAX };
    let page = match super::report::build(&state.store, &state.directory, &state.config.report, window).await {
        Ok(report) => super::report::html(&report),
        Err(error) => Err(error.to_string()),
    };
    match page {
        Ok(page) => {
            let csp = header::HeaderValue::from_str(&super::report::html_csp());
            let mut response = axum::response::Html(page).into_response();
            if let Ok(csp) = csp {
                response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            response
        }
        Err(error) => {
            tracing::error!(%error, "the report could not be made");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response()
        }
    }
}

/// Which instance reads which mailbox and when each instance was last seen, as `loket status --json`.
pub(super) async fn status(State(state): State<WebState>) -> Response {
    let lease = Duration::from_secs(state.config.store.mailbox_lease_secs);
    match state.store.status(lease).await {
        Ok((mailboxes, instances)) => Json(status_json(&mailboxes, &instances)).into_response(),
        Err(error) => {
            tracing::error!(%error, "the status could not be read");
            (StatusCode::SERVICE_UNAVAILABLE, format!("{error}\n")).into_response()
        }
    }
}

/// The status as one JSON document, as `loket status --json` and the operators' `/status` give it.
pub fn status_json(
    mailboxes: &[crate::store::MailboxStatus],
    instances: &[crate::store::InstanceStatus],
) -> serde_json::Value {
    let mailboxes: Vec<_> = mailboxes
        .iter()
        .map(|m| {
            serde_json::json!({
                "mailbox": m.mailbox,
                "holder": m.holder,
                "since": m.since.map(crate::clock::rfc3339),
                "until": m.until.map(crate::clock::rfc3339),
                "lease": m.lease,
            })
        })
        .collect();
    let instances: Vec<_> = instances
        .iter()
        .map(|i| {
            serde_json::json!({
                "instance": i.instance,
                "started_at": crate::clock::rfc3339(i.started_at),
                "last_seen": crate::clock::rfc3339(i.last_seen),
                "live": i.live,
            })
        })
        .collect();
    serde_json::json!({ "mailboxes": mailboxes, "instances": instances })
}
