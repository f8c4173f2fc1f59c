//! The web form at `/new`: a counter for people who do not mail. Nothing is
//! opened when the form is sent: the request waits in the store, and a mail
//! with a signed link that expires goes to the typed address. Following the
//! link takes the request in exactly as a mail to the desk (routing, ticket,
//! acknowledgement, forward), once: the request's id is its key in the store,
//! so a second visit finds the same ticket.
//!
//! Sending needs the anti-forgery token of the page the browser was given
//! (bound to its cookie and signed with the desk's secret), an address in the
//! organisation's domains, and stays within the per-address and per-client
//! limits of an hour. A post without the page's cookie is refused before its
//! body is read, and at most [`BODIES_AT_ONCE`] bodies are read at a time.

mod confirm;
mod view;

use std::net::SocketAddr;
use std::time::SystemTime;

use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, Multipart, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use super::WebState;
use super::page::OwnPage;
use crate::clock;
use crate::domain::{Language, rate_key};
use crate::outbound::Desk;
use crate::outbound::form::{ConfirmView, FormAttachment, FormFields, confirmation_mail, request_mail};
use crate::store::{FormLimits, FormQueued, FormRequest};
pub use confirm::{confirm, confirmed};
pub use view::{FormView, Refusal, sample};

/// Posted forms read at the same time, at most; further posts wait for one to
/// finish (within `web.request_timeout_secs`). Each body may reach the form's
/// limit (the attachment and 64 KiB), so this bounds the memory that clients
/// sending large forms at once can take.
pub const BODIES_AT_ONCE: usize = 8;

/// The permits for reading posted forms, one per body read at a time.
pub fn bodies() -> std::sync::Arc<tokio::sync::Semaphore> {
    std::sync::Arc::new(tokio::sync::Semaphore::new(BODIES_AT_ONCE))
}

const COOKIE: &str = "loket_form";
/// How long a page's anti-forgery token stays good.
const TOKEN_LIFETIME_MS: i64 = 4 * 3_600_000;
/// The window of the rate limits.
const HOUR_MS: i64 = 3_600_000;
/// The form's own policy: its answers post back to itself, and nothing else.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'";

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

fn asked(query: &Result<Query<LangQuery>, QueryRejection>) -> Option<&str> {
    query.as_ref().ok().and_then(|Query(q)| q.lang.as_deref())
}

fn language_of(state: &WebState, asked: Option<&str>, headers: &HeaderMap) -> Language {
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let fallback = state.config.ack.default_language;
    view::language(asked, accept, fallback)
}

fn cookie_nonce(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == COOKIE && value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|(_, value)| value.to_owned())
}

/// Renders the page with `status`, its own policy and, when new, the browser's cookie.
fn answer(state: &WebState, view: &FormView, status: StatusCode, new_cookie: Option<&str>) -> Response {
    let html = match state.renderer.render("form.html", view) {
        Ok(html) => html,
        Err(error) => {
            tracing::error!(%error, "the form could not be rendered");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    if let Some(nonce) = new_cookie {
        let secure = if state.config.desk.base_url.starts_with("https://") { "; Secure" } else { "" };
        let cookie = format!("{COOKIE}={nonce}; Path=/new; HttpOnly; SameSite=Strict{secure}");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.insert(header::SET_COOKIE, value);
        }
    }
    response.extensions_mut().insert(OwnPage);
    response
}

/// A fresh page for this browser: its cookie (kept, or a new one) and a token bound to it.
fn fresh(state: &WebState, headers: &HeaderMap, language: Language) -> (FormView, Option<String>) {
    let (nonce, new) = match cookie_nonce(headers) {
        Some(nonce) => (nonce, false),
        None => (hex::encode(rand::random::<[u8; 16]>()), true),
    };
    let csrf = state.signer.form_token(&nonce, clock::now_ms());
    let view = view::page(language, &state.config.desk.name, state.config.form_attachment_limit(), csrf);
    (view, new.then_some(nonce))
}

pub async fn show(
    State(state): State<WebState>,
    query: Result<Query<LangQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    let language = language_of(&state, asked(&query), &headers);
    let (view, cookie) = fresh(&state, &headers, language);
    answer(&state, &view, StatusCode::OK, cookie.as_deref())
}

/// What came in a sent form.
#[derive(Default)]
struct Sent {
    csrf: String,
    fields: FormFields,
    too_large: bool,
}

async fn read_form(mut multipart: Multipart, max_attachment: usize) -> Option<Sent> {
    let mut sent = Sent::default();
    while let Some(mut field) = multipart.next_field().await.ok()? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "attachment" {
            let filename = field.file_name().map(str::to_owned).unwrap_or_default();
            let content_type = field.content_type().unwrap_or("application/octet-stream").to_owned();
            let mut bytes = Vec::new();
            while let Some(chunk) = field.chunk().await.ok()? {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > max_attachment {
                    sent.too_large = true;
                    return Some(sent);
                }
            }
            if !filename.is_empty() && !bytes.is_empty() {
                sent.fields.attachment = Some(FormAttachment { filename, content_type, bytes });
            }
            continue;
        }
        let value = field.text().await.ok()?;
        match name.as_str() {
            "csrf" => sent.csrf = value,
            "name" => sent.fields.name = value,
            "address" => sent.fields.address = value,
            "subject" => sent.fields.subject = value,
            "description" => sent.fields.description = value,
            _ => {}
        }
    }
    Some(sent)
}

pub async fn send(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    query: Result<Query<LangQuery>, QueryRejection>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Response {
    let language = language_of(&state, asked(&query), &headers);
    let form = &state.config.form;
    let (mut page, cookie) = fresh(&state, &headers, language);
    let max_mib = state.config.form_attachment_limit().div_ceil(1024 * 1024).max(1);
    let refuse = |mut page: FormView, refusal: Refusal, status: StatusCode| {
        page.error = Some(refusal.text(language, max_mib));
        answer(&state, &page, status, cookie.as_deref())
    };
    // The token is in the body, but it is bound to the page's cookie: a post
    // without one cannot hold a good token and is refused before its body is read.
    let Some(nonce) = cookie_nonce(&headers) else {
        tracing::info!(client = %peer.ip(), "web form refused: no cookie of the form's page");
        return refuse(page, Refusal::Forged, StatusCode::FORBIDDEN);
    };
    // Held until the request is stored, so that the copies made of the body are counted too.
    let Ok(_reading) = state.form_bodies.acquire().await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let Some(sent) = read_form(multipart, state.config.form_attachment_limit()).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let now = clock::now_ms();
    let issued = state.signer.form_token_issued(&nonce, &sent.csrf);
    if !issued.is_some_and(|at| at <= now && now - at < TOKEN_LIFETIME_MS) {
        tracing::info!(client = %peer.ip(), "web form refused: no valid anti-forgery token");
        return refuse(page, Refusal::Forged, StatusCode::FORBIDDEN);
    }
    page.values = view::Values {
        name: sent.fields.name.clone(),
        address: sent.fields.address.clone(),
        subject: sent.fields.subject.clone(),
        description: sent.fields.description.clone(),
    };
    if sent.too_large {
        return refuse(page, Refusal::TooLarge, StatusCode::PAYLOAD_TOO_LARGE);
    }
    let fields = match view::checked(sent.fields) {
        Ok(fields) => fields,
        Err(refusal) => return refuse(page, refusal, StatusCode::UNPROCESSABLE_ENTITY),
    };
    if !state.config.form_accepts(&fields.address) {
        return refuse(page, Refusal::OutsideDomain, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let client = peer.ip().to_string();
    let address = rate_key(&fields.address);
    match queue(&state, &fields, language, address, client.clone(), now).await {
        Ok(FormQueued::Queued) => {
            state.pipeline.outbox.queued();
            let page = view::sent(page, language, &fields.address, form.link_hours);
            answer(&state, &page, StatusCode::OK, cookie.as_deref())
        }
        Ok(FormQueued::TooMany) => {
            tracing::info!(%client, "web form refused: rate limit");
            refuse(page, Refusal::TooMany, StatusCode::TOO_MANY_REQUESTS)
        }
        Err(response) => response,
    }
}

/// Stores the request and queues the mail that asks to confirm it, unless the
/// address or the client reached the limit of an hour.
async fn queue(
    state: &WebState,
    fields: &FormFields,
    language: Language,
    address: String,
    client: String,
    now: i64,
) -> Result<FormQueued, Response> {
    let config = &state.config;
    let desk = Desk { name: &config.desk.name, address: &config.desk.address, base_url: &config.desk.base_url };
    let id = crate::store::new_id();
    let expires_at = now + config.form.link_lifetime_ms();
    let date = SystemTime::now();
    let failed = |error: crate::outbound::OutboundError| {
        tracing::warn!(%error, "web form: the mails could not be composed");
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    };
    let raw = request_mail(&desk, fields, &id, date).map_err(failed)?;
    let signature = state.signer.confirm_signature(&id, expires_at);
    let view = ConfirmView {
        name: fields.name.clone(),
        subject: crate::inbound::intake::one_line(&fields.subject),
        link: format!("{}/new/confirm?r={id}&e={expires_at}&s={signature}", config.desk.base_url),
        hours: config.form.link_hours,
        desk: config.desk.name.clone(),
    };
    let mail = confirmation_mail(&desk, &state.renderer, language, &fields.address, &view, date).map_err(failed)?;
    let request = FormRequest { id, address, client, language, raw, created_at: now, expires_at };
    let limits = FormLimits {
        since: now - HOUR_MS,
        per_address: i64::from(config.form.max_per_address_per_hour),
        per_client: i64::from(config.form.max_per_client_per_hour),
    };
    state.store.queue_form_request(&request, &mail, limits, now).await.map_err(|error| super::page::unavailable(&error))
}
