//! The signed assertion of a Google service account (RFC 7523): RS256 over the
//! service account's address, the mailbox it acts for, the scope and the token
//! endpoint, valid for an hour.

use serde::Serialize;

use super::OAuthError;
use crate::config::{OAuthConfig, ServiceAccountKey};

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// A fresh assertion for `subject`, signed with the client's key file.
pub(super) fn assertion(client: &OAuthConfig, subject: &str) -> Result<String, OAuthError> {
    let fail = |reason: String| OAuthError::Key { client: client.name.clone(), reason };
    let path = client.key_file.as_deref().ok_or_else(|| fail("no key_file".into()))?;
    let key = ServiceAccountKey::read(path).map_err(|e| fail(e.to_string()))?;
    let signing =
        jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes()).map_err(|e| fail(e.to_string()))?;
    let now = u64::try_from(crate::clock::now_ms() / 1000).unwrap_or_default();
    let claims = Claims {
        iss: &key.client_email,
        sub: subject,
        scope: client.scope.as_deref().unwrap_or("https://mail.google.com/"),
        aud: client.token_url.as_deref().unwrap_or(&key.token_uri),
        iat: now,
        exp: now + 3600,
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = key.private_key_id.clone();
    jsonwebtoken::encode(&header, &claims, &signing).map_err(|e| fail(format!("signing the assertion: {e}")))
}
