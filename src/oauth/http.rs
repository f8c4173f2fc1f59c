//! The HTTP client that every token request goes through, as the `oauth2`
//! crate's [`AsyncHttpClient`]: loket's reqwest client (rustls), each request
//! bounded by the client's `timeout_secs`, and tried again with backoff and
//! jitter while the endpoint is unreachable or has a passing fault (429, 5xx).
//! An answer that refuses the request (`invalid_client`, `invalid_grant`, …) is
//! never retried: it goes back to the crate, which reads the provider's error.

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use oauth2::http::StatusCode;
use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};
use rand::Rng;

use crate::config::OAuthConfig;

/// Tries per token request; the waits between them are about 1 and 2 seconds.
const TRIES: u32 = 3;

/// The endpoint could not be reached. Says why, never naming the URL or the
/// form, which holds the secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct Unreachable(pub String);

impl From<reqwest::Error> for Unreachable {
    /// reqwest's own words are general ("error sending request"); its causes say
    /// what happened: a refused connection, a name not found, a certificate.
    fn from(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            return Self("no answer in time (`timeout_secs`)".into());
        }
        let error = error.without_url();
        let mut reason = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(inner) = cause {
            reason = format!("{reason}: {inner}");
            cause = inner.source();
        }
        Self(reason)
    }
}

/// One client's way to its provider's endpoints.
pub(super) struct Http<'a> {
    client: &'a reqwest::Client,
    name: &'a str,
    timeout: Duration,
    /// The status of the last answer: the crate's errors do not carry it, and
    /// loket's name it (`refused (401): invalid_client`).
    status: Mutex<Option<StatusCode>>,
}

impl<'a> Http<'a> {
    pub fn new(client: &'a reqwest::Client, config: &'a OAuthConfig) -> Self {
        Self { client, name: &config.name, timeout: Duration::from_secs(config.timeout_secs), status: Mutex::new(None) }
    }

    /// The status of the last answer, if any came.
    pub fn status(&self) -> Option<StatusCode> {
        *self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, Unreachable> {
        let mut request = reqwest::Request::try_from(request)?;
        *request.timeout_mut() = Some(self.timeout);
        let mut attempt = 0;
        loop {
            attempt += 1;
            // A form body is bytes in memory, so the request can always be cloned.
            let Some(this_try) = request.try_clone() else { return self.send_once(request).await };
            let outcome = self.send_once(this_try).await;
            let fault = match &outcome {
                Err(error) => error.to_string(),
                Ok(response) if passing_fault(response.status()) => format!("HTTP {}", response.status()),
                Ok(_) => return outcome,
            };
            if attempt >= TRIES {
                return outcome;
            }
            let base = Duration::from_millis(500 << attempt);
            let wait = base / 2 + base.mul_f64(rand::rng().random_range(0.0..0.5));
            tracing::warn!(oauth = %self.name, error = %fault, retry_in_ms = wait.as_millis() as u64, "token request failed");
            tokio::time::sleep(wait).await;
        }
    }

    async fn send_once(&self, request: reqwest::Request) -> Result<HttpResponse, Unreachable> {
        let response = self.client.execute(request).await?;
        let status = response.status();
        *self.status.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(status);
        let mut answer = oauth2::http::Response::builder().status(status);
        for (name, value) in response.headers() {
            answer = answer.header(name, value);
        }
        let body = response.bytes().await?;
        answer.body(body.to_vec()).map_err(|e| Unreachable(e.to_string()))
    }
}

/// Worth asking again soon: the endpoint is overloaded or failed in passing.
fn passing_fault(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

impl<'c> AsyncHttpClient<'c> for Http<'_> {
    type Error = Unreachable;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Unreachable>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
