//! OAuth 2.0 access tokens for signing in to IMAP and SMTP servers.
//!
//! Tokens are cached in memory per client and subject (the mailbox, for a
//! service account; the client itself otherwise) and fetched again ahead of
//! their expiry. One lock per cache entry means that many mailboxes sharing a
//! client ask the provider once, not once each. When a server refuses a token
//! that should still be valid, [`Tokens::refused`] drops it so that the next
//! sign-in fetches a fresh one. A refresh token the provider rotates is saved in
//! the store before the new access token is handed out, so a crash never leaves
//! loket holding only a refresh token the provider has already retired.
//! Tokens and secrets never appear in logs, errors or `Debug` output.
//!
//! The grants themselves are the `oauth2` crate's, over loket's reqwest client
//! on rustls ([`http`]); the service account's assertion is signed with
//! `jsonwebtoken` ([`jwt`]) and sent through the same client ([`request`]).

mod device;
mod http;
mod jwt;
mod request;
mod sasl;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use oauth2::TokenResponse as _;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

pub use device::DevicePrompt;
pub use sasl::{after_error, initial_response};

use crate::config::{Grant, OAuthConfig};
use crate::store::{Store, StoreError};
use crate::telemetry::health::Health;
use crate::telemetry::metrics::Metrics;

/// The longest a token is used before its expiry comes near: at most five minutes
/// before it, or a quarter of its lifetime for short-lived tokens.
const REFRESH_AHEAD: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("no [[oauth]] client named `{0}`")]
    UnknownClient(String),
    #[error("oauth client `{client}`: the token endpoint refused ({status}): {error}{}", description.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused { client: String, status: u16, error: String, description: Option<String> },
    #[error("oauth client `{client}`: the token endpoint could not be reached: {reason}")]
    Unreachable { client: String, reason: String },
    #[error("oauth client `{client}`: the token endpoint answered with {reason}")]
    BadAnswer { client: String, reason: String },
    #[error("oauth client `{client}`: {reason}")]
    Key { client: String, reason: String },
    #[error(
        "oauth client `{client}`: no refresh token yet: run `loket oauth login --oauth {client}`, or set `refresh_token_file` (or `refresh_token`, `refresh_token_env`) once"
    )]
    NoRefreshToken { client: String },
    #[error("oauth client `{client}`: {reason}")]
    Login { client: String, reason: String },
    #[error("oauth client `{client}`: `{key}` is not a URL: {reason}")]
    Url { client: String, key: &'static str, reason: String },
    #[error("oauth client `{client}`: saving the rotated refresh token failed: {source}")]
    Store { client: String, source: StoreError },
}

impl OAuthError {
    /// Worth trying again soon: the endpoint was unreachable or had a passing fault.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Refused { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// A bearer token; shown as `AccessToken(***)`.
#[derive(Clone)]
pub struct AccessToken(SecretString);

impl AccessToken {
    pub fn new(token: String) -> Self {
        Self(SecretString::from(token))
    }

    pub fn secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.secret() == other.secret()
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(***)")
    }
}

#[derive(Debug, Clone)]
struct Cached {
    token: AccessToken,
    /// When loket stops using it and fetches another.
    renew_at: Instant,
}

type Entry = Arc<Mutex<Option<Cached>>>;

/// The token source shared by every mailbox and the outbox.
#[derive(Clone)]
pub struct Tokens {
    inner: Arc<Inner>,
}

struct Inner {
    clients: HashMap<String, OAuthConfig>,
    /// Where failing clients are shown and counted, in the daemon.
    reports: std::sync::OnceLock<(Health, Metrics)>,
    http: Option<reqwest::Client>,
    store: Option<Store>,
    cache: std::sync::Mutex<HashMap<(String, String), Entry>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").field("clients", &self.inner.clients.keys().collect::<Vec<_>>()).finish()
    }
}

impl Tokens {
    /// The configured clients (`[[oauth]]`); rotated refresh tokens are kept in
    /// `store` when given.
    pub fn new(clients: &[OAuthConfig], store: Option<Store>) -> Self {
        let http = if clients.is_empty() {
            None
        } else {
            let _ = rustls::crypto::ring::default_provider().install_default();
            match reqwest::Client::builder().user_agent(concat!("loket/", env!("CARGO_PKG_VERSION"))).build() {
                Ok(client) => Some(client),
                Err(error) => {
                    tracing::error!(%error, "the HTTP client for OAuth could not be set up");
                    None
                }
            }
        };
        let clients = clients.iter().map(|c| (c.name.clone(), c.clone())).collect();
        Self {
            inner: Arc::new(Inner {
                clients,
                http,
                store,
                cache: Default::default(),
                reports: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Shows a client whose token requests fail in `/healthz` and `/readyz`, and
    /// counts its failures in `metrics`.
    pub fn report_to(&self, health: Health, metrics: Metrics) {
        let _ = self.inner.reports.set((health, metrics));
    }

    /// A token for `subject` (the account signing in) from client `name`: the cached
    /// one while it is fresh, else a new one from the provider.
    pub async fn token(&self, name: &str, subject: &str) -> Result<AccessToken, OAuthError> {
        let client = self.client(name)?;
        let entry = self.entry(client, subject);
        let mut cached = entry.lock().await;
        if let Some(token) = cached.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(token.token.clone());
        }
        let answer = match self.fetch(client, subject).await {
            Ok(answer) => answer,
            Err(error) => {
                self.failed(name, &error);
                return Err(error);
            }
        };
        if let Some((health, _)) = self.inner.reports.get()
            && health.oauth_ok(name)
        {
            tracing::info!(oauth = %name, "the client obtains tokens again");
        }
        let lifetime = answer.expires_in().unwrap_or(Duration::from_secs(3600));
        let ahead = REFRESH_AHEAD.min(lifetime / 4);
        tracing::info!(oauth = %name, subject, expires_in_secs = lifetime.as_secs(), "access token obtained");
        let token = AccessToken::new(answer.access_token().secret().to_owned());
        *cached = Some(Cached { token: token.clone(), renew_at: Instant::now() + lifetime - ahead });
        Ok(token)
    }

    /// The server refused `token`: forget it (unless another task already replaced it),
    /// so that the next [`Tokens::token`] asks the provider again.
    pub async fn refused(&self, name: &str, subject: &str, token: &AccessToken) {
        let Ok(client) = self.client(name) else { return };
        let entry = self.entry(client, subject);
        let mut cached = entry.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == token) {
            tracing::warn!(oauth = %name, subject, "the server refused the access token; fetching a new one");
            *cached = None;
        }
    }

    /// Logs a failing client once per distinct error, and counts every failure.
    fn failed(&self, name: &str, error: &OAuthError) {
        let Some((health, metrics)) = self.inner.reports.get() else { return };
        metrics.oauth_failure(name);
        if health.oauth_failed(name, &error.to_string()) {
            tracing::error!(oauth = %name, %error, "no token: the mailboxes signing in with this client wait and retry");
        }
    }

    fn client(&self, name: &str) -> Result<&OAuthConfig, OAuthError> {
        self.inner.clients.get(name).ok_or_else(|| OAuthError::UnknownClient(name.to_owned()))
    }

    /// A service account's token is the subject's own; other grants give one token
    /// for the client, whichever mailbox uses it.
    fn entry(&self, client: &OAuthConfig, subject: &str) -> Entry {
        let subject = if client.grant == Grant::JwtBearer { subject } else { "" };
        let mut cache = self.inner.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.entry((client.name.clone(), subject.to_owned())).or_default().clone()
    }

    /// Forgets every cached token of `client`, so that the next sign-in asks again.
    fn forget(&self, client: &OAuthConfig) {
        let mut cache = self.inner.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.retain(|(name, _), _| *name != client.name);
    }

    fn http(&self, client: &OAuthConfig) -> Result<&reqwest::Client, OAuthError> {
        self.inner.http.as_ref().ok_or_else(|| OAuthError::Unreachable {
            client: client.name.clone(),
            reason: "the HTTP client could not be set up".into(),
        })
    }

    async fn fetch(&self, client: &OAuthConfig, subject: &str) -> Result<request::Answer, OAuthError> {
        let http = self.http(client)?;
        match client.grant {
            Grant::ClientCredentials => request::client_credentials(http, client).await,
            Grant::JwtBearer => request::jwt_bearer(http, client, subject).await,
            Grant::RefreshToken => self.refresh(http, client).await,
        }
    }

    /// Uses the stored refresh token (or the configured first one) and saves the
    /// provider's replacement, when it sends one, before the access token is used.
    async fn refresh(&self, http: &reqwest::Client, client: &OAuthConfig) -> Result<request::Answer, OAuthError> {
        let store_error = |source| OAuthError::Store { client: client.name.clone(), source };
        let stored = match &self.inner.store {
            Some(store) => store.oauth_refresh_token(&client.name).await.map_err(store_error)?,
            None => None,
        };
        let current = stored
            .or_else(|| client.refresh_token.as_ref().map(|t| t.expose_secret().to_owned()))
            .ok_or_else(|| OAuthError::NoRefreshToken { client: client.name.clone() })?;
        let answer = request::refresh_token(http, client, &current).await?;
        if let Some(rotated) = answer.refresh_token().map(|t| t.secret().as_str()).filter(|t| *t != current) {
            match &self.inner.store {
                Some(store) => {
                    store.save_oauth_refresh_token(&client.name, rotated).await.map_err(store_error)?;
                    tracing::info!(oauth = %client.name, "the provider rotated the refresh token; the new one is saved");
                }
                None => {
                    tracing::warn!(oauth = %client.name, "the provider rotated the refresh token, and no store is open to keep it")
                }
            }
        }
        Ok(answer)
    }
}
