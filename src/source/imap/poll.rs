//! One poll of one folder: the exactly-once part of the IMAP source.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::after_commit::{Acknowledger, AfterCommit};
use super::fetch::{drain_unsolicited, fetch_batch, fetch_sizes, split_by_bytes};
use super::{ImapSession, timed};
use crate::clock::now_ms;
use crate::config::MailboxConfig;
use crate::pipeline::Pipeline;
use crate::pipeline::plan::{ImapPosition, Incoming};
use crate::source::memory::{Memory, WITHHELD_FOR, WITHHELD_TRIES, quarantine, report, resolved};
use crate::source::{PollOutcome, SourceError};
use crate::telemetry::health::Problem;

/// Messages stored in one group commit, at most: the unit of work a shutdown
/// waits for.
const GROUP: usize = 100;

/// Stored messages moved or flagged on the server in one command, at most.
const ACK_BATCH: usize = 1000;

/// Takes in everything above the stored cursor. Stops early (between messages)
/// when shutdown comes; the message in hand is always finished.
pub(super) async fn poll(
    pipeline: &Pipeline,
    mailbox: &MailboxConfig,
    session: &mut ImapSession,
    action: &AfterCommit,
    memory: &mut Memory,
    shutdown: &CancellationToken,
) -> Result<PollOutcome, SourceError> {
    let selected = timed(mailbox, "SELECT", session.select(&mailbox.folder)).await?;
    let uidvalidity = selected
        .uid_validity
        .ok_or_else(|| SourceError::Protocol(format!("the server reports no UIDVALIDITY for {}", mailbox.folder)))?;
    let action = action.for_selected(pipeline, mailbox, &selected);
    let uid_next = selected.uid_next.unwrap_or(1);
    let holds = action.folder_holds();
    let mut cursor =
        pipeline.store.open_cursor_of(mailbox.name.as_str(), uidvalidity, uid_next, memory.lease, holds).await?;
    if cursor.fresh {
        tracing::info!(mailbox = %mailbox.name, uidvalidity, backlog_up_to = cursor.backlog_uid, "first read of this folder");
    }
    if memory.withheld_validity != uidvalidity {
        memory.forget_uids();
        memory.withheld_validity = uidvalidity;
    }
    // A server restored from a backup may hand out UIDs again without changing
    // UIDVALIDITY: new mail would sit below the cursor. The folder is read once
    // more from UID 1 (the cursor is moved back, so this happens once): what
    // is stored with the same bytes is a duplicate, and new mail under a UID
    // already used is stored under a key of its own.
    if selected.uid_next.is_some_and(|next| next <= cursor.last_uid) {
        let text = format!(
            "the server's next UID ({uid_next}) is not above UID {} already read under the same \
             UIDVALIDITY {uidvalidity}: it reuses UIDs; the folder is read again from the start",
            cursor.last_uid
        );
        report(pipeline, mailbox, Problem::UidsReused, &text);
        pipeline.store.restart_cursor(mailbox.name.as_str(), uidvalidity, memory.lease).await?;
        (cursor.last_uid, cursor.backlog_uid) = (0, 0);
        memory.forget_uids();
    }
    let after = cursor.last_uid;
    let mut query = format!("UID {}:*", after.saturating_add(1));
    if let Some(filter) = action.search_filter() {
        query = format!("{query} {filter}");
    }
    let found = timed(mailbox, "UID SEARCH", session.uid_search(&query)).await?;
    memory.announced = drain_unsolicited(session);
    // A held-back message that left the folder (deleted or moved by a person)
    // is no longer waited for.
    if memory.keep_only(&found) && memory.withheld.is_empty() {
        resolved(pipeline, mailbox, Problem::WithheldMessage);
    }
    // `n:*` also matches the highest UID when it is below n, so filter again;
    // what was stored above a held-back message is not fetched again.
    let mut uids: Vec<u32> =
        found.into_iter().filter(|uid| *uid > after && !memory.stored_above_held.contains(uid)).collect();
    uids.sort_unstable();

    let follows = action.cursor_follows();
    let acts = action != AfterCommit::Nothing;
    let mut acks = Acknowledger { uidvalidity, action, pending: Vec::new(), last: None, held_from: None };
    let mut outcome = PollOutcome::default();
    let ingest = &pipeline.config.ingest;
    for chunk in uids.chunks(ingest.batch_size as usize) {
        let (sizes, seen) = fetch_sizes(mailbox, session, chunk, &mut memory.announced).await?;
        let limit = memory.fetch_bytes.unwrap_or(ingest.batch_bytes).min(ingest.batch_bytes);
        for batch in split_by_bytes(chunk, &sizes, limit) {
            // A message the server held back is asked for again only when its next
            // try is due, and alone, after the others: one the server cannot send,
            // or that breaks the connection, does not take the others with it.
            let now = Instant::now();
            let (retried, fresh): (Vec<u32>, Vec<u32>) = batch
                .iter()
                .copied()
                .filter(|uid| memory.due(*uid, now))
                .partition(|uid| memory.withheld.contains_key(uid));
            let mut fetched =
                match fetch_batch(mailbox, session, &fresh, &sizes, ingest.max_message_bytes, &mut memory.announced)
                    .await
                {
                    Ok(fetched) => fetched,
                    Err(SourceError::Timeout(what)) => {
                        if let [uid] = fresh[..] {
                            memory.withheld_again(uid, now);
                        }
                        let smaller = (limit / 2).max(1);
                        memory.fetch_bytes = Some(smaller);
                        let text = format!(
                            "fetching {} messages did not progress within command_timeout_secs; \
                         groups are now at most {smaller} bytes",
                            fresh.len()
                        );
                        report(pipeline, mailbox, Problem::SlowFetch, &text);
                        return Err(SourceError::Timeout(what));
                    }
                    Err(error) => return Err(error),
                };
            let mut asked = fresh.clone();
            let mut broken = None;
            for uid in retried {
                asked.push(uid);
                match fetch_batch(mailbox, session, &[uid], &sizes, ingest.max_message_bytes, &mut memory.announced)
                    .await
                {
                    Ok(got) => fetched.extend(got),
                    Err(error) => {
                        broken = Some(error);
                        break;
                    }
                }
            }
            if let Some(bytes) = memory.fetch_bytes {
                memory.fetch_bytes = bytes.checked_mul(2).filter(|b| *b < ingest.batch_bytes);
                if memory.fetch_bytes.is_none() {
                    resolved(pipeline, mailbox, Problem::SlowFetch);
                }
            }
            // A message the server did not send is not skipped: it is tried again
            // later, with a growing wait, while the mail after it goes on. The
            // cursor stays below it; only after WITHHELD_TRIES tries over
            // WITHHELD_FOR is it recorded in quarantine and passed.
            let mut incoming = Vec::with_capacity(batch.len());
            let mut withheld = Vec::with_capacity(batch.len());
            let mut blamed = false;
            for uid in &batch {
                let advance_cursor = !follows && acks.held_from.is_none();
                let position = ImapPosition { uidvalidity, uid: *uid, advance_cursor, lease: memory.lease };
                let mut message = Incoming {
                    mailbox: mailbox.name.clone(),
                    source_key: format!("{uidvalidity}/{uid}"),
                    imap: Some(position),
                    raw: Vec::new(),
                    truncated: false,
                    size: sizes.get(uid).copied().unwrap_or(0),
                    backlog: *uid <= cursor.backlog_uid,
                    received_at_ms: now_ms(),
                    seen: seen.contains(uid),
                };
                if let Some(got) = fetched.remove(uid) {
                    if memory.withheld.remove(uid).is_some() && memory.withheld.is_empty() {
                        resolved(pipeline, mailbox, Problem::WithheldMessage);
                    }
                    (message.raw, message.size, message.truncated) = (got.raw, got.size, got.truncated);
                    incoming.push(message);
                    withheld.push(None);
                    continue;
                }
                // Of the messages asked for together, the first one missing is where
                // the server stopped: that one is blamed, the ones after it are only
                // asked for again. A message asked for alone is blamed for itself.
                if asked.contains(uid) && (memory.withheld.contains_key(uid) || !blamed) {
                    blamed |= !memory.withheld.contains_key(uid);
                    memory.withheld_again(*uid, now);
                }
                if !memory.given_up(*uid, now) {
                    if acks.held_from.is_none() {
                        let text = format!(
                            "the server listed UID {uid} of {} but did not send it; it is tried again, \
                             and the mail after it goes on",
                            mailbox.folder
                        );
                        report(pipeline, mailbox, Problem::WithheldMessage, &text);
                    }
                    acks.held_from.get_or_insert(*uid);
                    continue;
                }
                memory.withheld.remove(uid);
                let reason = format!(
                    "the server listed UID {uid} of {} (UIDVALIDITY {uidvalidity}) but did not send it in \
                     {WITHHELD_TRIES} tries over {} hours; it stays on the server and the mailbox goes on",
                    mailbox.folder,
                    WITHHELD_FOR.as_secs() / 3600
                );
                report(pipeline, mailbox, Problem::WithheldMessage, &reason);
                // No bytes came: a note takes their place, and the message is not moved.
                message.raw = format!("{reason}\r\n").into_bytes();
                message.truncated = true;
                incoming.push(message);
                withheld.push(Some(reason));
            }
            let mut start = 0;
            while start < incoming.len() {
                let end = if let Some(reason) = &withheld[start] {
                    outcome.count(&quarantine(pipeline, &incoming[start], reason.clone()).await?);
                    start + 1
                } else {
                    let run = withheld[start..].iter().take_while(|r| r.is_none()).count().min(GROUP);
                    for result in pipeline.ingest_all(mailbox, &incoming[start..start + run]).await? {
                        outcome.count(&result);
                    }
                    start + run
                };
                let above = incoming[start..end].iter().filter_map(|i| i.imap).map(|p| p.uid);
                memory.stored_above_held.extend(above.filter(|uid| acks.held_from.is_some_and(|held| *uid > held)));
                if acts {
                    acks.stored(&incoming[start..end]);
                    if acks.pending.len() >= ACK_BATCH || shutdown.is_cancelled() {
                        acks.flush(pipeline, mailbox, session, memory).await?;
                    }
                }
                start = end;
                if shutdown.is_cancelled() {
                    return Ok(outcome);
                }
            }
            // The connection broke on a message held back before: what came before
            // it is stored; the session is opened again.
            if let Some(error) = broken {
                return Err(error);
            }
        }
    }
    acks.flush(pipeline, mailbox, session, memory).await?;
    // Nothing is held back any more: the cursor passes what was stored above it.
    if acks.held_from.is_none()
        && let Some(last) = memory.stored_above_held.last().copied()
    {
        pipeline.store.advance_cursor(mailbox.name.as_str(), uidvalidity, last, memory.lease).await?;
        memory.stored_above_held.clear();
    }
    Ok(outcome)
}
