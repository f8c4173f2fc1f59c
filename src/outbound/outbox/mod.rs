//! The outbox worker: claims queued mails, sends them, marks them sent, retries
//! a mail's own passing failures with backoff for `outbox.retry_for_hours`, and
//! gives up on its permanent ones (recorded on the ticket; the body is kept for
//! `outbox.keep_failed_days` so that `loket outbox retry` can send it again).
//! When the server takes no mail at all (no connection, TLS, login, sender
//! refused) the whole queue pauses without charging any mail, and resumes by
//! itself once a probe goes through. A crash after the server took a mail but
//! before it was marked sent sends it once more, with the same Message-ID.

mod listen;
mod pause;
mod round;
mod smtp;
mod smtp_oauth;
mod socket;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use listen::listen;
pub use pause::Refusal;
pub use round::step;

/// Signs `session` in as `user` with a token from the `[[oauth]]` client `client`,
/// as the outbox does (a refused token is replaced once); for `loket check`.
pub async fn oauth_sign_in(
    session: &mut lettre::transport::smtp::client::AsyncSmtpConnection,
    method: crate::config::AuthMethod,
    client: &str,
    tokens: &crate::oauth::Tokens,
    (user, host, port): (&str, &str, u16),
) -> Result<(), String> {
    let login = smtp_oauth::OAuthLogin { method, client: client.to_owned(), tokens: tokens.clone() };
    login.sign_in(session, user, host, port).await.map_err(|error| match error {
        SendError::Server { error, .. } | SendError::Transient(error) | SendError::Permanent(error) => error,
    })
}
pub use transport::{PauseReason, SendError, Transport, TransportError};

use crate::clock::now_ms;
use crate::store::{Store, StoreError};
use crate::telemetry::health::Health;
use crate::telemetry::metrics::Metrics;

/// How often the queue is looked at without being woken: for mail queued by
/// another instance or the command line, and for retries coming due.
const POLL: Duration = Duration::from_millis(500);
/// How often given-up mails past `outbox.keep_failed_days` lose their body.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

/// What one step did; the loop decides how long to wait.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub retried: usize,
    pub given_up: usize,
    /// Set when the server refused the session: the step stopped and handed its mails back.
    pub paused: Option<Refusal>,
}

impl Delivery {
    pub fn total(&self) -> usize {
        self.sent + self.retried + self.given_up
    }
}

/// How hard delivery is tried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    /// A mail failing for its own sake is given up once it has failed for this long.
    pub retry_for: Duration,
    /// A given-up mail's body is kept this long.
    pub keep_failed: Duration,
}

impl RetryPolicy {
    pub fn from_config(config: &crate::config::OutboxConfig) -> Self {
        Self {
            base: Duration::from_secs(config.retry_base_secs.max(1)),
            retry_for: Duration::from_secs(config.retry_for_hours.saturating_mul(3600)),
            keep_failed: Duration::from_secs(config.keep_failed_days.saturating_mul(86_400)),
        }
    }

    /// The wait before attempt `attempts + 1`: the base, doubling, an hour at most.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let exponent = u32::try_from(attempts.clamp(0, 16)).unwrap_or(16);
        self.base.saturating_mul(1 << exponent).min(Duration::from_secs(3600))
    }

    /// True when a mail failing since `failing_since` has been retried long enough.
    pub fn exhausted(&self, failing_since: Option<i64>, now: i64) -> bool {
        let limit = i64::try_from(self.retry_for.as_millis()).unwrap_or(i64::MAX);
        failing_since.is_some_and(|since| now.saturating_sub(since) >= limit)
    }
}

/// How the worker sends: how hard, and how many mails at once.
#[derive(Debug, Clone, Copy)]
pub struct Sending {
    pub policy: RetryPolicy,
    /// Mails sent at once, each over its own SMTP session (`outbox.connections`).
    pub connections: usize,
    /// How long a claim holds by the database's clock before another worker may
    /// take its mails; renewed every third of it while they are sent.
    pub claim_lease: Duration,
}

impl Sending {
    pub fn from_config(config: &crate::config::Config) -> Self {
        let timeout = config.smtp.as_ref().map_or(0, |smtp| smtp.timeout_secs);
        Self {
            policy: RetryPolicy::from_config(&config.outbox),
            connections: config.outbox.connections.max(1) as usize,
            claim_lease: claim_lease(Duration::from_secs(timeout)),
        }
    }

    /// Mails claimed per round: enough to keep every session busy, few enough
    /// that a crash before they are marked sends only these again.
    fn claim(&self) -> i64 {
        i64::try_from(self.connections * 16).unwrap_or(16)
    }
}

/// A claim outlives three sends of one mail (opening the session and the
/// transaction each within the SMTP timeout) and a minute at least, so that a
/// renewal missed under load does not lose it.
pub fn claim_lease(smtp_timeout: Duration) -> Duration {
    (smtp_timeout * 2 + Duration::from_secs(10)).saturating_mul(3).max(Duration::from_secs(60))
}

/// Wakes the worker when new mail is queued, so that it does not wait for its next look.
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Mail was queued (the transaction is committed). A wake while the worker is
    /// busy is kept, so none is lost.
    pub fn queued(&self) {
        self.0.notify_one();
    }
}

/// Between half and all of `wait`, so that many mails (or instances) do not retry in step.
pub fn jitter(wait: Duration) -> Duration {
    let half = wait / 2;
    half + half.mul_f64(rand::rng().random_range(0.0..=1.0))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Delivers until shutdown; the mails in hand are finished first. Woken by
/// [`Wake::queued`], and looks by itself every [`POLL`].
pub async fn run(
    store: Store,
    transport: Transport,
    sending: Sending,
    metrics: Metrics,
    health: Health,
    wake: Wake,
    shutdown: CancellationToken,
) {
    let worker = format!("{}-{}", std::process::id(), uuid::Uuid::now_v7());
    let mut pause = pause::Pause::new(metrics.clone(), health, sending.policy.base);
    let mut swept: Option<tokio::time::Instant> = None;
    loop {
        if swept.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
            sweep(&store, sending.policy).await;
            swept = Some(tokio::time::Instant::now());
        }
        // While paused, one mail at a time probes whether the server takes mail again.
        let limit = if pause.active() { 1 } else { sending.claim() };
        let wait = match step(&store, &transport, &worker, limit, sending, &metrics).await {
            Ok(Delivery { paused: Some(refusal), .. }) => pause.refused(refusal),
            Ok(delivery) => {
                pause.lifted();
                if delivery.total() > 0 {
                    continue;
                }
                POLL
            }
            Err(error) => {
                tracing::warn!(%error, "outbox step failed");
                Duration::from_secs(5)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
            // New mail does not cut a pause short: the probe keeps its pace.
            _ = wake.0.notified(), if !pause.active() => {}
        }
    }
    tracing::info!("outbox stopped");
}

/// Wipes the bodies of mails given up longer ago than they are kept.
async fn sweep(store: &Store, policy: RetryPolicy) {
    match store.wipe_failed_bodies(now_ms() - millis(policy.keep_failed)).await {
        Ok(0) => {}
        Ok(wiped) => tracing::info!(wiped, "bodies of long given-up mails wiped"),
        Err(error) => tracing::warn!(%error, "given-up mails could not be swept"),
    }
}

/// Delivers everything due now, for one-shot tools like the demo; stops when the
/// server takes no mail.
pub async fn drain(store: &Store, transport: &Transport, sending: Sending) -> Result<Delivery, StoreError> {
    let mut total = Delivery::default();
    loop {
        let delivery = step(store, transport, "drain", sending.claim(), sending, &Metrics::default()).await?;
        total.sent += delivery.sent;
        total.retried += delivery.retried;
        total.given_up += delivery.given_up;
        if delivery.total() == 0 || delivery.paused.is_some() {
            total.paused = delivery.paused;
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RetryPolicy;

    const POLICY: RetryPolicy = RetryPolicy {
        base: Duration::from_secs(30),
        retry_for: Duration::from_secs(5 * 24 * 3600),
        keep_failed: Duration::from_secs(14 * 24 * 3600),
    };

    #[test]
    fn backoff_doubles_from_thirty_seconds_to_an_hour() {
        let waits: Vec<u64> = (0..9).map(|a| POLICY.backoff(a).as_secs()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }

    #[test]
    fn jitter_stays_between_half_and_the_whole_wait() {
        for _ in 0..100 {
            let wait = super::jitter(Duration::from_secs(60));
            assert!(wait >= Duration::from_secs(30) && wait <= Duration::from_secs(60), "{wait:?}");
        }
    }

    #[test]
    fn a_failing_mail_is_given_up_after_five_days_of_failures_not_after_a_count() {
        let day = 24 * 3600 * 1000;
        assert!(!POLICY.exhausted(None, 100 * day), "a first failure is always retried");
        assert!(!POLICY.exhausted(Some(0), 5 * day - 1));
        assert!(POLICY.exhausted(Some(0), 5 * day));
    }
}
