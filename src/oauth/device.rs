//! `loket oauth login`: the device authorization grant (RFC 8628). loket asks
//! for a code, the operator signs in with it in a browser elsewhere, and loket
//! polls the token endpoint at the interval the provider asks for (longer after
//! each `slow_down`) until the sign-in is done, declined or the code expires.
//! The refresh token that comes back is saved in the store, where the
//! `refresh_token` grant finds it.

use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{OAuthError, Tokens, request};
use crate::config::{Grant, OAuthConfig};

/// The interval RFC 8628 prescribes when the provider names none.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// What each `slow_down` adds to the interval (RFC 8628 section 3.5).
const SLOW_DOWN: Duration = Duration::from_secs(5);

/// What the operator is asked to do: open the page and enter the code.
#[derive(Debug, Clone)]
pub struct DevicePrompt {
    pub verification_uri: String,
    /// The page with the code filled in, when the provider offers one.
    pub verification_uri_complete: Option<String>,
    pub user_code: String,
    /// How long the code stays valid.
    pub expires_in: Duration,
}

/// The device authorization answer. The device code is a credential: no `Debug`.
#[derive(Deserialize)]
struct Authorization {
    device_code: String,
    user_code: String,
    /// Google names it `verification_url`.
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    #[serde(default, deserialize_with = "request::seconds")]
    expires_in: Option<u64>,
    #[serde(default, deserialize_with = "request::seconds")]
    interval: Option<u64>,
}

impl Tokens {
    /// Runs the device flow for client `name`: `prompt` is shown the code, and the
    /// refresh token is saved in the store once the operator has signed in.
    pub async fn device_login(&self, name: &str, prompt: impl FnOnce(&DevicePrompt)) -> Result<(), OAuthError> {
        let client = self.client(name)?;
        let fail = |reason: &str| OAuthError::Login { client: name.to_owned(), reason: reason.to_owned() };
        if client.grant != Grant::RefreshToken {
            return Err(fail("a device sign-in needs `grant = \"refresh_token\"`"));
        }
        let url = client.device_authorization_url.as_deref().ok_or_else(|| fail("set `device_authorization_url`"))?;
        let store =
            self.inner.store.as_ref().ok_or_else(|| fail("the store, which keeps the refresh token, is not open"))?;
        let http = self.http(client)?;

        let mut form = Vec::new();
        request::with_client(&mut form, client);
        let authorization: Authorization = request::post_to(http, client, url, &form).await?;
        let expires_in = Duration::from_secs(authorization.expires_in.unwrap_or(900));
        prompt(&DevicePrompt {
            verification_uri: authorization.verification_uri.clone(),
            verification_uri_complete: authorization.verification_uri_complete.clone(),
            user_code: authorization.user_code.clone(),
            expires_in,
        });
        let deadline = Instant::now() + expires_in;
        let mut interval = authorization.interval.map_or(DEFAULT_INTERVAL, Duration::from_secs);
        loop {
            tokio::time::sleep(interval).await;
            if Instant::now() >= deadline {
                return Err(fail("the code expired before the sign-in was done; run the command again"));
            }
            match request::post(http, client, &poll_form(client, &authorization.device_code)).await {
                Ok(answer) => {
                    let refresh = answer.refresh_token.ok_or_else(|| {
                        fail("the provider sent no refresh token (ask for the `offline_access` scope)")
                    })?;
                    store
                        .save_oauth_refresh_token(name, &refresh)
                        .await
                        .map_err(|source| OAuthError::Store { client: name.to_owned(), source })?;
                    self.forget(client);
                    tracing::info!(oauth = %name, "device sign-in done; the refresh token is saved");
                    return Ok(());
                }
                Err(OAuthError::Refused { error, .. }) if error == "authorization_pending" => {}
                Err(OAuthError::Refused { error, .. }) if error == "slow_down" => interval += SLOW_DOWN,
                Err(OAuthError::Refused { error, .. }) if error == "access_denied" => {
                    return Err(fail("the sign-in was declined"));
                }
                Err(OAuthError::Refused { error, .. }) if error == "expired_token" => {
                    return Err(fail("the code expired before the sign-in was done; run the command again"));
                }
                Err(error) => return Err(error),
            }
        }
    }
}

fn poll_form(client: &OAuthConfig, device_code: &str) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code".to_owned()),
        ("device_code", device_code.to_owned()),
    ];
    if let Some(id) = &client.client_id {
        form.push(("client_id", id.clone()));
    }
    if let Some(secret) = &client.client_secret {
        form.push(("client_secret", secret.expose_secret().to_owned()));
    }
    form
}
