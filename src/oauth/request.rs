//! Token requests (RFC 6749 section 4.4 and 6, RFC 7523): a form POST to the
//! token endpoint, with a timeout, retried with backoff and jitter when the
//! endpoint is unreachable or has a passing fault.

use std::time::Duration;

use rand::Rng;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::OAuthError;
use crate::config::OAuthConfig;

/// Tries per token request; the waits between them are about 1 and 2 seconds.
const TRIES: u32 = 3;

/// A successful answer. Holds secrets, so it has no `Debug`.
#[derive(Deserialize)]
pub(super) struct Answer {
    pub access_token: String,
    #[serde(default, deserialize_with = "seconds")]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Failure {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// `expires_in` as a number or, as some providers send it, a string.
pub(super) fn seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    })
}

pub(super) async fn client_credentials(http: &reqwest::Client, client: &OAuthConfig) -> Result<Answer, OAuthError> {
    let mut form = vec![("grant_type", "client_credentials".to_owned())];
    with_client(&mut form, client);
    post(http, client, &form).await
}

pub(super) async fn refresh_token(
    http: &reqwest::Client,
    client: &OAuthConfig,
    refresh_token: &str,
) -> Result<Answer, OAuthError> {
    let mut form = vec![("grant_type", "refresh_token".to_owned()), ("refresh_token", refresh_token.to_owned())];
    with_client(&mut form, client);
    post(http, client, &form).await
}

pub(super) async fn jwt_bearer(
    http: &reqwest::Client,
    client: &OAuthConfig,
    subject: &str,
) -> Result<Answer, OAuthError> {
    let assertion = super::jwt::assertion(client, subject)?;
    let form = vec![("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()), ("assertion", assertion)];
    post(http, client, &form).await
}

pub(super) fn with_client(form: &mut Vec<(&'static str, String)>, client: &OAuthConfig) {
    if let Some(id) = &client.client_id {
        form.push(("client_id", id.clone()));
    }
    if let Some(secret) = &client.client_secret {
        form.push(("client_secret", secret.expose_secret().to_owned()));
    }
    if let Some(scope) = &client.scope {
        form.push(("scope", scope.clone()));
    }
}

/// A token request to the client's token endpoint.
pub(super) async fn post(
    http: &reqwest::Client,
    client: &OAuthConfig,
    form: &[(&str, String)],
) -> Result<Answer, OAuthError> {
    post_to(http, client, client.token_url.as_deref().unwrap_or_default(), form).await
}

/// A form POST to one of the provider's endpoints, answered with `T` in JSON.
pub(super) async fn post_to<T: DeserializeOwned>(
    http: &reqwest::Client,
    client: &OAuthConfig,
    url: &str,
    form: &[(&str, String)],
) -> Result<T, OAuthError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match post_once(http, client, url, form).await {
            Err(error) if error.is_transient() && attempt < TRIES => {
                let base = Duration::from_millis(500 << attempt);
                let wait = base / 2 + base.mul_f64(rand::rng().random_range(0.0..0.5));
                tracing::warn!(oauth = %client.name, %error, retry_in_ms = wait.as_millis() as u64, "token request failed");
                tokio::time::sleep(wait).await;
            }
            result => return result,
        }
    }
}

async fn post_once<T: DeserializeOwned>(
    http: &reqwest::Client,
    client: &OAuthConfig,
    url: &str,
    form: &[(&str, String)],
) -> Result<T, OAuthError> {
    let name = || client.name.clone();
    let response = http
        .post(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .form(form)
        .timeout(Duration::from_secs(client.timeout_secs))
        // reqwest's errors name the URL only; never the form, which holds the secret.
        .send()
        .await
        .map_err(|e| OAuthError::Unreachable { client: name(), reason: e.without_url().to_string() })?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| OAuthError::Unreachable { client: name(), reason: e.to_string() })?;
    if status.is_success() {
        return serde_json::from_slice::<T>(&body).map_err(|_| OAuthError::BadAnswer {
            client: name(),
            reason: format!("HTTP {status} but not the JSON fields of OAuth 2.0"),
        });
    }
    match serde_json::from_slice::<Failure>(&body) {
        Ok(failure) => Err(OAuthError::Refused {
            client: name(),
            status: status.as_u16(),
            error: failure.error,
            description: failure.error_description.map(|d| d.lines().next().unwrap_or_default().to_owned()),
        }),
        Err(_) => Err(OAuthError::Refused {
            client: name(),
            status: status.as_u16(),
            error: status.canonical_reason().unwrap_or("error").to_owned(),
            description: None,
        }),
    }
}
