//! One round of the worker: claim due mails, send them over several sessions at
//! once, and record what happened. A session marks the mail the server accepted
//! before it starts its next one (the marks of sessions that finish together
//! share one transaction), so a loket that dies mid-round sends again at most
//! one mail per session.

use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::{Delivery, Refusal, SendError, Sending, Transport, jitter};
use crate::clock::now_ms;
use crate::store::{Due, Sent, Store, StoreError};
use crate::telemetry::metrics::Metrics;

/// What became of one claimed mail.
enum Attempt {
    /// Accepted by the server at `at`; `ours` is false when the claim had passed
    /// to another worker, and the mark is `None` when the store could not be written.
    Sent {
        at: i64,
        ours: Option<bool>,
    },
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
    let (accepted, marks) = mpsc::unbounded_channel();
    // Collected first: a stream holding the closure would not be `Send` (rust-lang/rust#102211).
    let sends: Vec<_> = claimed
        .iter()
        .enumerate()
        .map(|(index, due)| attempt(transport, &refused, accepted.clone(), index, due))
        .collect();
    drop(accepted);
    let sending_all = futures::stream::iter(sends).buffer_unordered(sending.connections.max(1)).collect::<Vec<_>>();
    let (attempts, marking): (Vec<(usize, Attempt)>, Result<(), StoreError>) =
        keep_claim(store, &token, sending, async { tokio::join!(sending_all, mark(store, &claimed, marks)) }).await;
    let attempts: Vec<(&Due, Attempt)> = attempts.into_iter().map(|(index, a)| (&claimed[index], a)).collect();

    let sent_in = started.elapsed();
    let mut noted = Vec::new();
    for (due, attempt) in &attempts {
        if let Attempt::Sent { at, ours } = attempt {
            metrics.sent(due.kind, at - due.created_at);
            match ours {
                Some(true) => noted.push(Sent { due, at: *at }),
                Some(false) => tracing::warn!(mail = %due.id, "mail sent after its claim had passed to another worker"),
                None => {}
            }
        }
    }
    store.note_sent(&noted).await;
    marking?;
    let sent = attempts.iter().filter(|(_, a)| matches!(a, Attempt::Sent { .. })).count();
    let mut delivery = Delivery { sent, ..Delivery::default() };
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
            Attempt::Sent { .. } => {}
            Attempt::Untried => untried.push((*due).clone()),
            Attempt::Failed(SendError::Server { reason, error }) => {
                untried.push((*due).clone());
                if delivery.paused.is_none() {
                    delivery.paused = Some(Refusal { reason: *reason, error: error.clone() });
                    tried = Some(due.id.as_str());
                }
            }
            Attempt::Failed(SendError::Permanent(error)) => {
                metrics.failed(due.kind);
                tracing::warn!(recipient = %due.recipient, %error, "mail refused for good");
                give_up(store, due, error).await?;
                delivery.given_up += 1;
            }
            Attempt::Failed(SendError::Transient(error)) if sending.policy.exhausted(due.failing_since, now_ms()) => {
                metrics.failed(due.kind);
                let hours = sending.policy.retry_for.as_secs() / 3600;
                tracing::warn!(recipient = %due.recipient, %error, hours, "mail given up after retrying");
                give_up(store, due, &format!("{error} (retried for {hours} hours)")).await?;
                delivery.given_up += 1;
            }
            Attempt::Failed(SendError::Transient(error)) => {
                metrics.failed(due.kind);
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

/// A mail the server accepted: its index in the claim, when, and where to say
/// whether it was marked.
type Accepted = (usize, i64, oneshot::Sender<bool>);

/// Marks accepted mails as they come, those that arrive together in one
/// transaction, and answers each session. After a store error nothing more is
/// marked (the sessions learn it) and the error is returned at the end.
async fn mark(store: &Store, claimed: &[Due], mut marks: mpsc::UnboundedReceiver<Accepted>) -> Result<(), StoreError> {
    let mut failure = None;
    while let Some(first) = marks.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = marks.try_recv() {
            batch.push(more);
        }
        if failure.is_some() {
            continue;
        }
        let sent: Vec<Sent<'_>> = batch.iter().map(|(index, at, _)| Sent { due: &claimed[*index], at: *at }).collect();
        match store.mark_sent(&sent).await {
            Ok(ours) => {
                for ((_, _, answer), ours) in batch.into_iter().zip(ours) {
                    let _ = answer.send(ours);
                }
            }
            Err(error) => failure = Some(error),
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Sends one mail unless the server has refused the session meanwhile; once
/// the server accepted it, waits until it is marked before the session goes on.
async fn attempt(
    transport: &Transport,
    refused: &AtomicBool,
    accepted: mpsc::UnboundedSender<Accepted>,
    index: usize,
    due: &Due,
) -> (usize, Attempt) {
    if refused.load(Ordering::Relaxed) {
        return (index, Attempt::Untried);
    }
    match transport.send(&due.sender, &due.recipient, &due.body).await {
        Ok(()) => {
            let at = now_ms();
            let (answer, marked) = oneshot::channel();
            let ours = match accepted.send((index, at, answer)) {
                Ok(()) => marked.await.ok(),
                Err(_) => None,
            };
            (index, Attempt::Sent { at, ours })
        }
        Err(error) => {
            if matches!(error, SendError::Server { .. }) {
                refused.store(true, Ordering::Relaxed);
            }
            (index, Attempt::Failed(error))
        }
    }
}

async fn give_up(store: &Store, due: &Due, error: &str) -> Result<(), StoreError> {
    if !store.give_up(due, error, now_ms()).await? {
        tracing::warn!(mail = %due.id, "mail not given up: another worker holds it now");
    }
    Ok(())
}
