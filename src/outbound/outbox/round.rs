//! One round of the worker: claim due mails, send them over several sessions at
//! once, then record what happened, the mails sent in one transaction.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;

use super::{Delivery, Refusal, SendError, Sending, Transport, jitter};
use crate::clock::now_ms;
use crate::store::{Due, Sent, Store, StoreError};
use crate::web::metrics::Metrics;

/// What became of one claimed mail.
enum Attempt {
    Sent(i64),
    Failed(SendError),
    /// Not tried: the server had refused the session for another mail first.
    Untried,
}

/// Claims up to `limit` due mails and delivers them, `sending.connections` at a
/// time. When the server refuses the session, no further mail is started (those
/// under way finish) and the untried ones are handed back uncharged.
pub async fn step(
    store: &Store,
    transport: &Transport,
    worker: &str,
    limit: i64,
    sending: Sending,
    metrics: &Metrics,
) -> Result<Delivery, StoreError> {
    let started = std::time::Instant::now();
    let claimed = store.claim_due(worker, limit, sending.claim_lease).await?;
    let Some(token) = claimed.first().map(|due| due.lease_owner.clone()) else {
        return Ok(Delivery::default());
    };
    let claimed_in = started.elapsed();
    let refused = AtomicBool::new(false);
    // Collected first: a stream holding the closure would not be `Send` (rust-lang/rust#102211).
    let sends: Vec<_> = claimed.iter().map(|due| attempt(transport, &refused, due)).collect();
    let sending_all = futures::stream::iter(sends).buffer_unordered(sending.connections.max(1)).collect();
    let attempts: Vec<(&Due, Attempt)> = keep_claim(store, &token, sending, sending_all).await;

    let sent_in = started.elapsed();
    // What went out is recorded first: a failure to record anything else must
    // not leave sent mails to go out again when their claim runs out.
    let sent: Vec<Sent<'_>> = attempts
        .iter()
        .filter_map(|(due, attempt)| match attempt {
            Attempt::Sent(at) => Some(Sent { due, at: *at }),
            _ => None,
        })
        .collect();
    for (Sent { due, at }, ours) in sent.iter().zip(store.mark_all_sent(&sent).await?) {
        metrics.sent(&due.kind, at - due.created_at);
        if !ours {
            tracing::warn!(mail = %due.id, "mail sent after its claim had passed to another worker");
        }
    }
    let mut delivery = Delivery { sent: sent.len(), ..Delivery::default() };
    // Where a round's time goes: the claim and the marking wait for the store's writer.
    tracing::debug!(
        claimed = claimed.len(),
        claim_ms = claimed_in.as_millis(),
        send_ms = (sent_in - claimed_in).as_millis(),
        mark_ms = (started.elapsed() - sent_in).as_millis(),
        "outbox round"
    );
    let mut untried: Vec<Due> = Vec::new();
    let mut tried: Option<&str> = None;
    for (due, attempt) in &attempts {
        match attempt {
            Attempt::Sent(_) => {}
            Attempt::Untried => untried.push((*due).clone()),
            Attempt::Failed(SendError::Server { reason, error }) => {
                untried.push((*due).clone());
                if delivery.paused.is_none() {
                    delivery.paused = Some(Refusal { reason: *reason, error: error.clone() });
                    tried = Some(due.id.as_str());
                }
            }
            Attempt::Failed(SendError::Permanent(error)) => {
                metrics.failed(&due.kind);
                tracing::warn!(recipient = %due.recipient, %error, "mail refused for good");
                give_up(store, due, error).await?;
                delivery.given_up += 1;
            }
            Attempt::Failed(SendError::Transient(error)) if sending.policy.exhausted(due.failing_since, now_ms()) => {
                metrics.failed(&due.kind);
                let hours = sending.policy.retry_for.as_secs() / 3600;
                tracing::warn!(recipient = %due.recipient, %error, hours, "mail given up after retrying");
                give_up(store, due, &format!("{error} (retried for {hours} hours)")).await?;
                delivery.given_up += 1;
            }
            Attempt::Failed(SendError::Transient(error)) => {
                metrics.failed(&due.kind);
                let wait = jitter(sending.policy.backoff(due.attempts));
                tracing::info!(recipient = %due.recipient, %error, retry_in_secs = wait.as_secs(), "mail will be retried");
                store.retry_later(due, error, wait, now_ms()).await?;
                delivery.retried += 1;
            }
        }
    }
    // The mail that met the refusal notes why and goes behind the others.
    if let (Some(refusal), Some(tried)) = (&delivery.paused, tried) {
        store.release(&untried, tried, &refusal.error).await?;
    }
    Ok(delivery)
}

/// Runs `sends`, renewing the claim every third of its length meanwhile, so
/// that a claim outlives its slowest round and still runs out soon after an
/// instance dies. A claim that could not be renewed is not a reason to stop
/// sending: marking the mails checks the claim, and leaves those it lost alone.
async fn keep_claim<T>(store: &Store, token: &str, sending: Sending, sends: impl Future<Output = T>) -> T {
    tokio::pin!(sends);
    loop {
        tokio::select! {
            done = &mut sends => return done,
            _ = tokio::time::sleep(sending.claim_lease / 3) => {
                match store.renew_claim(token, sending.claim_lease).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!("the outbox claim ran out while sending; its mails are not marked"),
                    Err(error) => tracing::warn!(%error, "cannot renew the outbox claim"),
                }
            }
        }
    }
}

/// Sends one mail unless the server has refused the session meanwhile.
async fn attempt<'a>(transport: &Transport, refused: &AtomicBool, due: &'a Due) -> (&'a Due, Attempt) {
    if refused.load(Ordering::Relaxed) {
        return (due, Attempt::Untried);
    }
    match transport.send(&due.sender, &due.recipient, &due.body).await {
        Ok(()) => (due, Attempt::Sent(now_ms())),
        Err(error) => {
            if matches!(error, SendError::Server { .. }) {
                refused.store(true, Ordering::Relaxed);
            }
            (due, Attempt::Failed(error))
        }
    }
}

async fn give_up(store: &Store, due: &Due, error: &str) -> Result<(), StoreError> {
    if !store.give_up(due, error, now_ms()).await? {
        tracing::warn!(mail = %due.id, "mail not given up: another worker holds it now");
    }
    Ok(())
}
