//! Following the confirmation link: the request is taken in through the same
//! pipeline as a mail to the desk, under its id as the key, so that following
//! the link again (or twice at once) finds the one ticket it opened.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{answer, fresh, language_of, view};
use crate::clock;
use crate::config::{FORM_CHANNEL, MailboxConfig};
use crate::domain::{Incoming, TicketRef};
use crate::sign::same_secret;
use crate::store::StoreError;
use crate::web::WebState;

/// The form as the pipeline sees it: a mailbox without a department (like the
/// desk's own inbox), named after the channel.
fn form_mailbox(config: &crate::config::Config) -> Option<MailboxConfig> {
    serde_json::from_value(serde_json::json!({
        "name": FORM_CHANNEL,
        "address": format!("{}/new", config.desk.base_url),
    }))
    .ok()
}

pub async fn confirm(
    State(state): State<WebState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let field = |name: &str| query.get(name).map_or("", String::as_str);
    let (id, signature) = (field("r"), field("s"));
    let expires_at: i64 = field("e").parse().unwrap_or(i64::MIN);
    let now = clock::now_ms();
    let signed = same_secret(&state.signer.confirm_signature(id, expires_at), signature);
    let request = if signed && expires_at >= now {
        match state.store.form_request(id, now).await {
            Ok(request) => request,
            Err(error) => return super::super::page::unavailable(&error),
        }
    } else {
        None
    };
    let Some(request) = request else {
        let language = language_of(&state, query.get("lang").map(String::as_str), &headers);
        let (page, cookie) = fresh(&state, &headers, language);
        return answer(&state, &view::link_refused(page, language), StatusCode::NOT_FOUND, cookie.as_deref());
    };
    match take_in(&state, &request).await {
        Ok(Some((reference, generation))) => {
            let Ok(reference) = TicketRef::parse(&reference) else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            let token = state.signer.tracking_token(&reference, generation);
            let mut response = Redirect::to(&format!("/t/{reference}?k={token}")).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            response
        }
        Ok(None) => {
            tracing::warn!(request = %request.id, "a confirmed web form request was not opened as a ticket");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Err(error) => super::super::page::unavailable(&error),
    }
}

/// The ticket of the request: the one it opened before, or the one it opens now.
async fn take_in(state: &WebState, request: &crate::store::FormRequest) -> Result<Option<(String, i64)>, StoreError> {
    if let Some(found) = state.store.ticket_of_source(FORM_CHANNEL, &request.id).await? {
        return Ok(Some(found));
    }
    let Some(mailbox) = form_mailbox(&state.config) else {
        tracing::error!("the web form's mailbox could not be made");
        return Ok(None);
    };
    let incoming = Incoming {
        mailbox: mailbox.name.clone(),
        source_key: request.id.clone(),
        imap: None,
        size: request.raw.len() as u64,
        raw: request.raw.clone(),
        truncated: false,
        backlog: false,
        seen: false,
        received_at_ms: clock::now_ms(),
    };
    state.pipeline.ingest_all(&mailbox, &[incoming]).await?;
    tracing::info!(request = %request.id, "web form request confirmed");
    state.store.ticket_of_source(FORM_CHANNEL, &request.id).await
}
