//! `loket oauth login`: the device authorization grant (RFC 8628), on the
//! `oauth2` crate. loket asks for a code, the operator signs in with it in a
//! browser elsewhere, and the crate polls the token endpoint at the interval
//! the provider asks for (five seconds more after each `slow_down`) until the
//! sign-in is done, declined or the code expires; its loop is bounded by the
//! code's lifetime and ends when its future is dropped. The refresh token that
//! comes back is saved in the store, where the `refresh_token` grant finds it.

use std::time::Duration;

use oauth2::{
    DeviceAuthorizationUrl, DeviceCodeErrorResponseType, RequestTokenError, StandardDeviceAuthorizationResponse,
    TokenResponse,
};

use super::http::Http;
use super::{OAuthError, Tokens, request};
use crate::config::Grant;

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

impl Tokens {
    /// Runs the device flow for client `name`: `prompt` is shown the code, and the
    /// refresh token is saved in the store once the operator has signed in.
    pub async fn device_login(&self, name: &str, prompt: impl FnOnce(&DevicePrompt)) -> Result<(), OAuthError> {
        let config = self.client(name)?;
        let fail = |reason: &str| OAuthError::Login { client: name.to_owned(), reason: reason.to_owned() };
        if config.grant != Grant::RefreshToken {
            return Err(fail("a device sign-in needs `grant = \"refresh_token\"`"));
        }
        let url = config.device_authorization_url.clone().ok_or_else(|| fail("set `device_authorization_url`"))?;
        let store =
            self.inner.store.as_ref().ok_or_else(|| fail("the store, which keeps the refresh token, is not open"))?;
        let url = DeviceAuthorizationUrl::new(url).map_err(|e| OAuthError::Url {
            client: name.to_owned(),
            key: "device_authorization_url",
            reason: e.to_string(),
        })?;
        let client = request::client(config)?.set_device_authorization_url(url);
        let http = Http::new(self.http(config)?, config);

        let mut ask = client.exchange_device_code();
        if let Some(scope) = request::scope(config) {
            ask = ask.add_scope(scope);
        }
        let authorization: StandardDeviceAuthorizationResponse =
            ask.request_async(&http).await.map_err(|e| request::failure(config, http.status(), e))?;
        prompt(&DevicePrompt {
            verification_uri: authorization.verification_uri().to_string(),
            verification_uri_complete: authorization.verification_uri_complete().map(|u| u.secret().to_owned()),
            user_code: authorization.user_code().secret().to_owned(),
            expires_in: authorization.expires_in(),
        });
        // The operator cannot have signed in yet: the crate polls at once, so the
        // first poll waits one interval, as every later one does.
        let interval = authorization.interval();
        tokio::time::sleep(interval).await;
        let left = authorization.expires_in().saturating_sub(interval);
        let polled = client
            .exchange_device_access_token(&authorization)
            .request_async(&http, tokio::time::sleep, Some(left))
            .await;
        let answer = match polled {
            Ok(answer) => answer,
            Err(RequestTokenError::ServerResponse(refusal)) => match refusal.error() {
                DeviceCodeErrorResponseType::AccessDenied => return Err(fail("the sign-in was declined")),
                DeviceCodeErrorResponseType::ExpiredToken => {
                    return Err(fail("the code expired before the sign-in was done; run the command again"));
                }
                _ => return Err(request::failure(config, http.status(), RequestTokenError::ServerResponse(refusal))),
            },
            Err(error) => return Err(request::failure(config, http.status(), error)),
        };
        let refresh = answer
            .refresh_token()
            .ok_or_else(|| fail("the provider sent no refresh token (ask for the `offline_access` scope)"))?;
        store
            .save_oauth_refresh_token(name, refresh.secret())
            .await
            .map_err(|source| OAuthError::Store { client: name.to_owned(), source })?;
        self.forget(config);
        tracing::info!(oauth = %name, "device sign-in done; the refresh token is saved");
        Ok(())
    }
}
