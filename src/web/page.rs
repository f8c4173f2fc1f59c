//! The status page. A wrong or missing token answers exactly like an unknown
//! reference: the same 404 and body, after the same work (one token check and
//! one ticket lookup), so that neither reveals whether a ticket exists.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::WebState;
use crate::domain::TicketRef;
use crate::status;

/// Sent with every answer of the web server.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

const NOT_FOUND: &str = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"robots\" content=\"noindex\">\
<title>Not found</title><link rel=\"stylesheet\" href=\"/static/status.css\"></head><body><main>\
<h1>Not found · Niet gevonden</h1><p>This link is not valid. Use the link from the service desk's e-mail.</p>\
<p lang=\"nl\">Deze link is niet geldig. Gebruik de link uit de e-mail van de servicedesk.</p></main></body></html>\n";

pub(super) async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Html(NOT_FOUND)).into_response()
}

pub(super) async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("status.css")).into_response()
}

pub(super) async fn status(
    State(state): State<WebState>,
    Path(reference): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let token = query.get("k").map_or("", String::as_str);
    let parsed = TicketRef::parse(&reference).ok();
    // The same steps whatever is wrong: check a token against a reference, look one up.
    let looked_up = parsed.clone().unwrap_or_else(|| TicketRef::new("X", 0));
    let token_ok = state.signer.token_matches(&looked_up, token) && parsed.is_some();
    let ticket = match state.store.public_ticket(looked_up.as_str(), token_ok).await {
        Ok(ticket) => ticket,
        Err(error) => {
            tracing::error!(%error, "status page: the store did not answer");
            return (StatusCode::SERVICE_UNAVAILABLE, "The service desk cannot show this page right now.\n")
                .into_response();
        }
    };
    let Some(ticket) = ticket.filter(|_| token_ok) else {
        return not_found().await;
    };
    let config = &state.config;
    let view = status::view(&ticket, |id| config.department_name(id).to_owned(), &config.desk.name);
    match state.renderer.render("status.html", &view) {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "status page could not be rendered");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Headers for every answer: nothing cached, no referrer (the link holds the
/// token), no framing, no indexing, and nothing loaded from elsewhere.
pub(super) async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |value: &'static str| HeaderValue::from_static(value);
    headers.insert(header::CACHE_CONTROL, set("no-store"));
    headers.insert(header::REFERRER_POLICY, set("no-referrer"));
    headers.insert(header::CONTENT_SECURITY_POLICY, set(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, set("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, set("DENY"));
    headers.insert("x-robots-tag", set("noindex, nofollow"));
    response
}
