//! The signed assertion of a Google service account (RFC 7523): RS256 over the
//! service account's address, the mailbox it acts for, the scope and the token
//! endpoint, valid for an hour.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::OAuthError;
use crate::config::OAuthConfig;

/// The fields of a service account's JSON key that loket uses; the private key is
/// not shown by `Debug`.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    pub client_email: String,
    private_key: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default = "google_token_uri")]
    pub token_uri: String,
}

fn google_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey").field("client_email", &self.client_email).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is not a service account key (JSON with client_email and private_key)")]
    Format { path: String },
    #[error("{path}: the private key is not an RSA key in PEM: {reason}")]
    Pem { path: String, reason: String },
}

impl ServiceAccountKey {
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|e| KeyError::Read { path: shown.clone(), reason: e.to_string() })?;
        let key: Self = serde_json::from_str(&text).map_err(|_| KeyError::Format { path: shown.clone() })?;
        jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes())
            .map_err(|e| KeyError::Pem { path: shown, reason: e.to_string() })?;
        Ok(key)
    }
}

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
