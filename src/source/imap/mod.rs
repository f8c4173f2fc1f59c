//! The IMAP source: exactly-once ingest from one folder.
//!
//! Per poll: SELECT (checking UIDVALIDITY against the stored cursor), UID SEARCH
//! for UIDs above the cursor, then bounded batches: sizes first, then
//! `BODY.PEEK[]` (nothing is marked read by fetching), or only the header of a
//! message over the size limit. Each message is stored in its own transaction;
//! only after that commit is it moved to the processed folder or flagged, and
//! only after that is the cursor advanced past it (without a move or flag, the
//! ingest transaction itself advances the cursor). A crash anywhere in between
//! means a re-fetch that the duplicate keys absorb, and the move still happens.
//!
//! Servers differ: without MOVE the message is copied (and expunged by UID with
//! UIDPLUS, or left marked deleted without it, copied once); a processed folder
//! that cannot be created, a flag the folder does not keep, a move that keeps
//! failing and a message the server never sends are each reported in `/readyz`
//! and worked around, so new mail always goes on becoming tickets.

mod after_commit;
mod connect;
mod fetch;
mod poll;
mod uidset;

use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use tokio_util::sync::CancellationToken;

use after_commit::AfterCommit;
pub use connect::{ImapSession, connect};

use super::memory::Memory;
use super::{PollOutcome, SourceError};
use crate::config::MailboxConfig;
use crate::pipeline::Pipeline;

/// Runs one connection until it fails or shutdown comes.
pub(super) async fn watch(
    pipeline: &Pipeline,
    mailbox: &MailboxConfig,
    shutdown: &CancellationToken,
    memory: &mut Memory,
) -> Result<(), SourceError> {
    let mut session = connect(mailbox, &pipeline.oauth).await?;
    let capabilities = timed(mailbox, "CAPABILITY", session.capabilities()).await?;
    let can_idle = mailbox.idle && capabilities.has_str("IDLE");
    let can_move = capabilities.has_str("MOVE");
    let has_uidplus = capabilities.has_str("UIDPLUS");
    let action = AfterCommit::prepare(pipeline, mailbox, &mut session, can_move, has_uidplus).await?;
    tracing::info!(mailbox = %mailbox.name, folder = %mailbox.folder, idle = can_idle, after_commit = ?action, "watching");
    loop {
        let outcome = poll::poll(pipeline, mailbox, &mut session, &action, memory, shutdown).await?;
        memory.backoff.reset();
        pipeline.health.polled(mailbox.name.as_str());
        if outcome.total() > 0 {
            tracing::info!(mailbox = %mailbox.name, created = outcome.created, duplicates = outcome.duplicates,
                quarantined = outcome.quarantined, "poll done");
        }
        if shutdown.is_cancelled() {
            let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
            return Ok(());
        }
        // More may have arrived while this batch was stored. Mail announced
        // after the search, or before IDLE starts, is announced only once: IDLE
        // would not hear of it again.
        if outcome.total() > outcome.duplicates || memory.announced || fetch::drain_unsolicited(&mut session) {
            continue;
        }
        let wait = next_wait(mailbox, can_idle, &outcome, memory);
        session = if can_idle {
            match idle(session, mailbox, shutdown, wait).await? {
                Some(session) => session,
                None => return Ok(()),
            }
        } else {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
                    return Ok(());
                }
                _ = tokio::time::sleep(wait) => session,
            }
        };
    }
}

/// How long to wait for the server before the next poll: an IDLE lasts
/// `idle_timeout_secs`, a sleep `poll_interval_secs`. A poll that found only
/// mail already stored waits too (it would find the same again), though no
/// longer than `poll_interval_secs`, since mail that arrived during it was
/// announced while it ran; and a message the server held back is tried again
/// when its wait is over.
fn next_wait(mailbox: &MailboxConfig, can_idle: bool, outcome: &PollOutcome, memory: &Memory) -> Duration {
    let interval = Duration::from_secs(mailbox.poll_interval_secs);
    let mut wait = if can_idle { Duration::from_secs(mailbox.idle_timeout_secs) } else { interval };
    if outcome.duplicates > 0 {
        wait = wait.min(interval);
    }
    if let Some(next) = memory.next_retry() {
        let until = next.saturating_duration_since(std::time::Instant::now());
        wait = wait.min(until.max(Duration::from_millis(100)));
    }
    wait
}

/// Waits in IDLE until the server reports a change, `wait` is over, or
/// shutdown comes (then `None`).
async fn idle(
    session: ImapSession,
    mailbox: &MailboxConfig,
    shutdown: &CancellationToken,
    wait: Duration,
) -> Result<Option<ImapSession>, SourceError> {
    let mut handle = session.idle();
    timed(mailbox, "IDLE", handle.init()).await?;
    let stopped = {
        let (wait, _stop) = handle.wait_with_timeout(wait);
        tokio::select! {
            _ = shutdown.cancelled() => true,
            response = wait => {
                if let IdleResponse::NewData(data) = response? {
                    tracing::debug!(mailbox = %mailbox.name, response = ?data.parsed(), "IDLE woke up");
                }
                false
            }
        }
    };
    let session = timed(mailbox, "DONE", handle.done()).await?;
    if stopped {
        let mut session = session;
        let _ = tokio::time::timeout(Duration::from_secs(5), session.logout()).await;
        return Ok(None);
    }
    Ok(Some(session))
}

/// Runs one IMAP command under the mailbox's command timeout.
pub(crate) async fn timed<T>(
    mailbox: &MailboxConfig,
    what: &'static str,
    command: impl Future<Output = Result<T, async_imap::error::Error>>,
) -> Result<T, SourceError> {
    tokio::time::timeout(Duration::from_secs(mailbox.command_timeout_secs), command)
        .await
        .map_err(|_| SourceError::Timeout(what))?
        .map_err(SourceError::from)
}

/// Logs in and selects the folder, for `loket check`: one line on what was found.
/// A mailbox that signs in with OAuth gets its token from `tokens`.
pub async fn check(mailbox: &MailboxConfig, tokens: &crate::oauth::Tokens) -> Result<String, SourceError> {
    let mut session = connect(mailbox, tokens).await?;
    let capabilities = timed(mailbox, "CAPABILITY", session.capabilities()).await?;
    let selected = timed(mailbox, "SELECT", session.select(&mailbox.folder)).await?;
    let _ = timed(mailbox, "LOGOUT", session.logout()).await;
    let signed_in = match mailbox.auth {
        crate::config::AuthMethod::Password => String::new(),
        method => format!(
            "token from `{}` obtained, signed in with {}; ",
            mailbox.oauth.as_deref().unwrap_or_default(),
            method.mechanism()
        ),
    };
    Ok(format!(
        "{signed_in}{} messages in {}, {}",
        selected.exists,
        mailbox.folder,
        if capabilities.has_str("IDLE") { "IDLE supported" } else { "no IDLE: polling" }
    ))
}
