//! One round of the worker: claim due mails, send them over several sessions at
//! once, and record what happened. A session marks the mail the server accepted
//! before it starts its next one (the marks of sessions that finish together
//! share one transaction), so a loket that dies mid-round sends again at most
//! one mail per session. A mark that fails stops the round the same way: no
//! session starts another mail, the marks are tried again once the sessions
//! are done, and the mails not started are handed back for the next round.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};

use super::{Delivery, Refusal, SendError, Sending, Transport, jitter};
use crate::clock::now_ms;
use crate::store::{Due, Sent, Store, StoreError};
use crate::telemetry::metrics::Metrics;

/// The first wait before marking again mails whose mark failed; it doubles.
const MARK_AGAIN: Duration = Duration::from_secs(1);

/// What became of one claimed mail.
enum Attempt {
    /// Accepted by the server at `at`; `ours` is false when the claim had passed
    /// to another worker, and the mark is `None` when the store could not be written.
    Sent {
        at: i64,
        ours: Option<bool>,
    },
    Failed(SendError),
    /// Not tried: the server had refused the session for another mail first, or
    /// a mail the server accepted could not be marked sent.
    Untried,
}

/// Claims up to `limit` due mails and delivers them, `sending.connections` at a
/// time. When the server refuses the session, or a mail it accepted cannot be
/// marked sent, no further mail is started (those under way finish) and the
/// untried ones are handed back uncharged.
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
    let stopped = AtomicBool::new(false);
    let (accepted, marks) = mpsc::unbounded_channel();
    // Collected first: a stream holding the closure would not be `Send` (rust-lang/rust#102211).
    let sends: Vec<_> = claimed
        .iter()
        .enumerate()
        .map(|(index, due)| attempt(transport, &stopped, accepted.clone(), index, due))
        .collect();
    drop(accepted);
    let sending_all = futures::stream::iter(sends).buffer_unordered(sending.connections.max(1)).collect::<Vec<_>>();
    let marking = mark(store, &claimed, &stopped, sending.claim_lease, marks);
    let (attempts, marking): (Vec<(usize, Attempt)>, Result<LateMarks, StoreError>) =
        keep_claim(store, &token, sending, async { tokio::join!(sending_all, marking) }).await;
    let late = marking.as_ref().map_or(&[][..], Vec::as_slice);
    let attempts: Vec<(&Due, Attempt)> = attempts
        .into_iter()
        .map(|(index, attempt)| match attempt {
            Attempt::Sent { at, ours: None } => {
                let ours = late.iter().find(|(marked, _)| *marked == index).map(|(_, ours)| *ours);
                (&claimed[index], Attempt::Sent { at, ours })
            }
            attempt => (&claimed[index], attempt),
        })
        .collect();

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
    } else {
        store.hand_back(&untried).await?;
    }
    marking?;
    Ok(delivery)
}

/// Runs `sends`, renewing the claim every third of its length meanwhile, so
/// that a claim outlives its slowest round and still runs out soon after an
/// instance dies. A claim that could not be renewed is not a reason to stop
/// sending: marking the mails checks the claim, and leaves those it lost alone.
/// The renewal runs beside the sends, never instead of them: a renewal waiting
/// for a store that is busy must not hold up the marks it waits for.
async fn keep_claim<T>(store: &Store, token: &str, sending: Sending, sends: impl Future<Output = T>) -> T {
    let renew = async {
        loop {
            tokio::time::sleep(sending.claim_lease / 3).await;
            match store.renew_claim(token, sending.claim_lease).await {
                Ok(true) => {}
                Ok(false) => tracing::warn!("the outbox claim ran out while sending; its mails are not marked"),
                Err(error) => tracing::warn!(%error, "cannot renew the outbox claim"),
            }
        }
    };
    tokio::select! {
        done = sends => done,
        never = renew => never,
    }
}

/// A mail the server accepted: its index in the claim, when, and where to say
/// whether it was marked.
type Accepted = (usize, i64, oneshot::Sender<bool>);

/// Mails marked only after a failed mark: each one's index in the claim, and
/// whether it was still this worker's.
type LateMarks = Vec<(usize, bool)>;

/// Marks accepted mails as they come, those that arrive together in one
/// transaction, and answers each session. After a store error nothing more is
/// marked meanwhile and `stop` tells the sessions to start no other mail; once
/// they are done, the mails accepted but not marked are marked again, waiting
/// for the store for as long as the claim lasts. Returns those late marks (the
/// mail's index and whether it was still ours), or the error when the store did
/// not come back: then those mails go out again once their claim runs out, at
/// most one per session.
async fn mark(
    store: &Store,
    claimed: &[Due],
    stop: &AtomicBool,
    lease: Duration,
    mut marks: mpsc::UnboundedReceiver<Accepted>,
) -> Result<LateMarks, StoreError> {
    let mut unmarked: Vec<(usize, i64)> = Vec::new();
    while let Some(first) = marks.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = marks.try_recv() {
            batch.push(more);
        }
        if !unmarked.is_empty() {
            unmarked.extend(batch.into_iter().map(|(index, at, _)| (index, at)));
            continue;
        }
        let sent: Vec<Sent<'_>> = batch.iter().map(|(index, at, _)| Sent { due: &claimed[*index], at: *at }).collect();
        match store.mark_sent(&sent).await {
            Ok(ours) => {
                for ((_, _, answer), ours) in batch.into_iter().zip(ours) {
                    let _ = answer.send(ours);
                }
            }
            Err(error) => {
                // Set before the sessions hear that their mails are not marked.
                stop.store(true, Ordering::SeqCst);
                tracing::warn!(%error, "mails sent could not be marked; the round starts no other mail");
                unmarked.extend(batch.into_iter().map(|(index, at, _)| (index, at)));
            }
        }
    }
    if unmarked.is_empty() {
        return Ok(Vec::new());
    }
    let sent: Vec<Sent<'_>> = unmarked.iter().map(|(index, at)| Sent { due: &claimed[*index], at: *at }).collect();
    let until = tokio::time::Instant::now() + lease;
    let mut wait = MARK_AGAIN;
    loop {
        tokio::time::sleep(wait).await;
        match store.mark_sent(&sent).await {
            Ok(ours) => {
                tracing::info!(mails = sent.len(), "mails sent are marked after all");
                return Ok(unmarked.iter().map(|(index, _)| *index).zip(ours).collect());
            }
            Err(error) if tokio::time::Instant::now() + wait >= until => return Err(error),
            Err(error) => tracing::warn!(%error, "mails sent still cannot be marked"),
        }
        wait = (wait * 2).min(MARK_AGAIN * 8);
    }
}

/// Sends one mail unless the round was stopped meanwhile; once
/// the server accepted it, waits until it is marked before the session goes on.
async fn attempt(
    transport: &Transport,
    stopped: &AtomicBool,
    accepted: mpsc::UnboundedSender<Accepted>,
    index: usize,
    due: &Due,
) -> (usize, Attempt) {
    if stopped.load(Ordering::SeqCst) {
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
                stopped.store(true, Ordering::SeqCst);
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
