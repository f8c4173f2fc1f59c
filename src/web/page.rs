//! The status page. A wrong, missing, revoked or expired token answers exactly
//! like an unknown reference: the same 404 and body, after the same work for a
//! wrong token (one ticket lookup and one token check), so that neither reveals
//! whether a ticket exists.

use std::collections::HashMap;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::WebState;
use crate::clock;
use crate::domain::TicketRef;
use crate::sign::FIRST_LINK;
use crate::store::StoreError;
use crate::web::status;

/// Sent with every answer of the web server.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

const NOT_FOUND: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"robots\" content=\"noindex\">\
<title>Not found</title><link rel=\"stylesheet\" href=\"/static/status.css\"></head><body><main>\
<h1>Not found · Niet gevonden</h1><p>This link is not valid. Use the link from the service desk's e-mail.</p>\
<p lang=\"nl\">Deze link is niet geldig. Gebruik de link uit de e-mail van de servicedesk.</p></main></body></html>\n";

const UNAVAILABLE: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"robots\" content=\"noindex\">\
<title>Not available</title><link rel=\"stylesheet\" href=\"/static/status.css\"></head><body><main>\
<h1>Not available · Niet beschikbaar</h1><p>This page cannot be shown right now. Please try again later.</p>\
<p lang=\"nl\">Deze pagina kan nu niet worden getoond. Probeer het later opnieuw.</p></main></body></html>\n";

pub(super) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Html(NOT_FOUND)).into_response()
}

pub(super) async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("status.css")).into_response()
}

pub(super) async fn status(
    State(state): State<WebState>,
    reference: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Response {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    let token = query.get("k").map_or("", String::as_str);
    let parsed = reference.ok().and_then(|Path(reference)| TicketRef::parse(&reference).ok());
    // The same steps whatever is wrong: look a reference up, check a token against it.
    let looked_up = parsed.clone().unwrap_or_else(|| TicketRef::new("X", 0));
    let ticket = match state.store.public_ticket(looked_up.as_str(), false).await {
        Ok(ticket) => ticket,
        Err(error) => return unavailable(&error),
    };
    let generation = ticket.as_ref().map_or(FIRST_LINK, |t| t.link_generation);
    let token_ok = state.signer.token_matches(&looked_up, generation, token) && parsed.is_some() && ticket.is_some();
    if !token_ok {
        return not_found().await;
    }
    let ticket = match state.store.public_ticket(looked_up.as_str(), true).await {
        Ok(Some(ticket)) => ticket,
        Ok(None) => return not_found().await,
        Err(error) => return unavailable(&error),
    };
    let config = &state.config;
    // A link taken back in the meantime, or one that outlived its resolved ticket.
    if ticket.link_generation != generation
        || status::link_expired(&ticket, clock::now_ms(), config.web.link_lifetime_ms())
    {
        return not_found().await;
    }
    let view = status::view(&ticket, |id| state.directory.department_name(id).to_owned(), &state.directory.desk.name);
    match state.renderer.render("status.html", &view) {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "status page could not be rendered");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Marks a response as a page of its own (the web form's refusals), which
/// [`fixed_errors`] passes on as it is.
#[derive(Debug, Clone, Copy)]
pub struct OwnPage;

pub(super) fn unavailable(error: &StoreError) -> Response {
    tracing::error!(%error, "status page: the store did not answer");
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

/// Every error of the employees' listener, whatever made it (a handler, a
/// rejected request, a timeout, a body limit), answers with a fixed page: the
/// status page's 404, or a page that only says to try again. The web form's
/// own pages (a refused form says why, in the form's language) are kept. No error text,
/// host name or path ever reaches the employee; the log has the details.
pub(super) async fn fixed_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || response.extensions().get::<OwnPage>().is_some() {
        return response;
    }
    let page = if status == StatusCode::NOT_FOUND { NOT_FOUND } else { UNAVAILABLE };
    (status, Html(page)).into_response()
}

/// Headers for every answer: nothing cached, no referrer (the link holds the
/// token), no framing, no indexing, and nothing loaded from elsewhere. A page
/// that sets its own Content-Security-Policy keeps it.
pub(super) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |value: &'static str| HeaderValue::from_static(value);
    headers.insert(header::CACHE_CONTROL, set("no-store"));
    headers.insert(header::REFERRER_POLICY, set("no-referrer"));
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert_with(|| set(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, set("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, set("DENY"));
    headers.insert("x-robots-tag", set("noindex, nofollow"));
    response
}
