//! Following the confirmation link shows one button; only posting it takes the
//! request in, through the same pipeline as a mail to the desk, under its id as
//! the key, so that confirming again (or twice at once) finds the one ticket it
//! opened. The link is fetched by mail scanners as well as by people, so the
//! fetch changes nothing; the post carries the link's own signed fields, which
//! no other site knows, as its proof.
//!
//! Only the post that opens the ticket is sent on to its status page: once the
//! ticket exists the link says so and hands out no status link, which stays in
//! the mails (and is taken back with `loket tickets revoke-link`).

use std::collections::HashMap;

use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{answer, fresh, language_of, view};
use crate::clock;
use crate::config::{FORM_CHANNEL, MailboxConfig};
use crate::domain::{Incoming, TicketRef};
use crate::pipeline::IngestOutcome;
use crate::sign::same_secret;
use crate::store::{FormRequest, StoreError};
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

/// The link's fields: the request's id, when the link expires, and the signature of both.
struct Link {
    id: String,
    expires_at: i64,
    signature: String,
}

impl Link {
    fn from(fields: &HashMap<String, String>) -> Self {
        let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
        Self { id: field("r"), expires_at: field("e").parse().unwrap_or(i64::MIN), signature: field("s") }
    }
}

/// The request a link stands for, while the link is signed and has not expired;
/// otherwise the page that says the link is not valid.
async fn request_of(
    state: &WebState,
    link: &Link,
    asked: Option<&str>,
    headers: &HeaderMap,
) -> Result<FormRequest, Response> {
    let now = clock::now_ms();
    let signed = same_secret(&state.signer.confirm_signature(&link.id, link.expires_at), &link.signature);
    let request = if signed && link.expires_at >= now {
        state.store.form_request(&link.id, now).await.map_err(|error| super::super::page::unavailable(&error))?
    } else {
        None
    };
    request.ok_or_else(|| {
        let language = language_of(state, asked, headers);
        let (page, cookie) = fresh(state, headers, language);
        answer(state, &view::link_refused(page, language), StatusCode::NOT_FOUND, cookie.as_deref())
    })
}

/// The page of a request in its own language: `make` fills it in.
fn request_page(
    state: &WebState,
    request: &FormRequest,
    headers: &HeaderMap,
    make: impl FnOnce(view::FormView) -> view::FormView,
) -> Response {
    let (page, cookie) = fresh(state, headers, request.language);
    answer(state, &make(page), StatusCode::OK, cookie.as_deref())
}

/// `GET /new/confirm?r=&e=&s=`: the link as mailed. Opens nothing.
pub async fn confirm(
    State(state): State<WebState>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let link = Link::from(&query);
    let request = match request_of(&state, &link, query.get("lang").map(String::as_str), &headers).await {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    match state.store.ticket_of_source(FORM_CHANNEL, &request.id).await {
        Ok(Some(_)) => request_page(&state, &request, &headers, |page| view::already_confirmed(page, request.language)),
        Ok(None) => request_page(&state, &request, &headers, |page| {
            view::confirm_page(page, request.language, (link.id, link.expires_at, link.signature))
        }),
        Err(error) => super::super::page::unavailable(&error),
    }
}

/// `POST /new/confirm` with the link's fields: takes the request in, once.
pub async fn confirmed(
    State(state): State<WebState>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let fields = form.map(|Form(f)| f).unwrap_or_default();
    let request = match request_of(&state, &Link::from(&fields), None, &headers).await {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    match take_in(&state, &request).await {
        Ok(Some(TakenIn::Now(reference, generation))) => {
            let Ok(reference) = TicketRef::parse(&reference) else {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            };
            let token = state.signer.tracking_token(&reference, generation);
            let mut response = Redirect::to(&format!("/t/{reference}?k={token}")).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
            response
        }
        Ok(Some(TakenIn::Before)) => {
            request_page(&state, &request, &headers, |page| view::already_confirmed(page, request.language))
        }
        Ok(None) => {
            tracing::warn!(request = %request.id, "a confirmed web form request was not opened as a ticket");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Err(error) => super::super::page::unavailable(&error),
    }
}

/// Whether this confirmation took the request in.
enum TakenIn {
    /// Now, on the ticket with this reference and link generation.
    Now(String, i64),
    /// Before (or at the same moment, by another confirmation).
    Before,
}

async fn take_in(state: &WebState, request: &FormRequest) -> Result<Option<TakenIn>, StoreError> {
    if state.store.ticket_of_source(FORM_CHANNEL, &request.id).await?.is_some() {
        return Ok(Some(TakenIn::Before));
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
    let outcomes = state.pipeline.ingest_all(&mailbox, &[incoming]).await?;
    let now = outcomes.iter().any(|o| matches!(o, IngestOutcome::Created(_) | IngestOutcome::Joined(_)));
    if now {
        tracing::info!(request = %request.id, "web form request confirmed");
    }
    Ok(state
        .store
        .ticket_of_source(FORM_CHANNEL, &request.id)
        .await?
        .map(|(reference, generation)| if now { TakenIn::Now(reference, generation) } else { TakenIn::Before }))
}
