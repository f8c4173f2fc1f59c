//! SMTP AUTH XOAUTH2 and OAUTHBEARER (RFC 7628) with a token from an OAuth client.
//! A token the server refuses is dropped and a fresh one is tried once on the same
//! session; a second refusal pauses the queue like a refused password.

use std::fmt;

use base64::Engine;
use lettre::transport::smtp::client::AsyncSmtpConnection;

use super::{PauseReason, SendError};
use crate::config::AuthMethod;
use crate::oauth::{self, Tokens};

#[derive(Clone)]
pub(super) struct OAuthLogin {
    pub method: AuthMethod,
    pub client: String,
    pub tokens: Tokens,
}

/// One line of the exchange, base64 already; never logged (lettre's tracing is off).
struct Line(String);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\r\n", self.0)
    }
}

impl OAuthLogin {
    pub async fn sign_in(
        &self,
        session: &mut AsyncSmtpConnection,
        user: &str,
        host: &str,
        port: u16,
    ) -> Result<(), SendError> {
        let failed = |error: String| SendError::Server { reason: PauseReason::Authentication, error };
        for attempt in 0..2 {
            let token = self.tokens.token(&self.client, user).await.map_err(|e| failed(e.to_string()))?;
            let initial = oauth::initial_response(self.method, user, host, port, &token);
            let encoded = base64::engine::general_purpose::STANDARD.encode(initial);
            let refusal = match session.command(Line(format!("AUTH {} {encoded}", self.method.mechanism()))).await {
                Ok(response) if response.has_code(334) => {
                    // The server's error challenge; the client ends the exchange to get the final reply.
                    let end = base64::engine::general_purpose::STANDARD.encode(oauth::after_error(self.method));
                    match session.command(Line(end)).await {
                        Ok(_) => "the server refused the token".to_owned(),
                        Err(error) => error.to_string(),
                    }
                }
                Ok(_) => return Ok(()),
                Err(error) if error.status().is_some() => error.to_string(),
                Err(error) => {
                    return Err(SendError::Server { reason: PauseReason::Connection, error: format!("AUTH: {error}") });
                }
            };
            if attempt == 1 {
                return Err(failed(format!("AUTH {}: {refusal}", self.method.mechanism())));
            }
            tracing::warn!(oauth = %self.client, reason = %refusal, "SMTP sign-in refused; trying once more with a new token");
            self.tokens.refused(&self.client, user, &token).await;
        }
        Err(failed("the server refused the token".into()))
    }
}
