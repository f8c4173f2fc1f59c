//! A Google service account's JSON key, named by an OAuth client's `key_file`:
//! read and checked when the config is, used to sign the jwt_bearer assertion.

use std::path::Path;

use serde::Deserialize;

/// The fields of a service account's JSON key that loket uses; the private key is
/// not shown by `Debug`.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    pub client_email: String,
    pub(crate) private_key: String,
    #[serde(default)]
    pub(crate) private_key_id: Option<String>,
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
