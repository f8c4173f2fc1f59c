//! One poll of one folder: the exactly-once part of the IMAP source.

use tokio_util::sync::CancellationToken;

use super::after_commit::{Acknowledger, AfterCommit};
use super::fetch::{drain_unsolicited, fetch_batch, fetch_sizes, split_by_bytes};
use super::{ImapSession, timed};
use crate::clock::now_ms;
use crate::config::MailboxConfig;
use crate::pipeline::Pipeline;
use crate::pipeline::plan::{ImapPosition, Incoming};
use crate::source::memory::{Memory, WITHHELD_POLLS, quarantine, report, resolved};
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
    let cursor = pipeline.store.open_cursor(mailbox.name.as_str(), uidvalidity, uid_next, memory.lease).await?;
    if cursor.fresh {
        tracing::info!(mailbox = %mailbox.name, uidvalidity, backlog_up_to = cursor.backlog_uid, "first read of this folder");
    }
    if memory.withheld_validity != uidvalidity {
        memory.withheld.clear();
        memory.withheld_validity = uidvalidity;
    }
    // A server restored from a backup may hand out UIDs again without changing
    // UIDVALIDITY: new mail would sit below the cursor, so search the whole folder
    // (the keys absorb what is stored) until UIDNEXT is above the cursor again.
    let mut after = cursor.last_uid;
    if selected.uid_next.is_some_and(|next| next <= cursor.last_uid) {
        let text = format!(
            "the server's next UID ({uid_next}) is not above UID {after} already read under the same \
             UIDVALIDITY {uidvalidity}: it reuses UIDs; the whole folder is searched until it stops"
        );
        report(pipeline, mailbox, Problem::UidsReused, &text);
        after = 0;
    } else {
        resolved(pipeline, mailbox, Problem::UidsReused);
    }
    let mut query = format!("UID {}:*", after.saturating_add(1));
    if let Some(filter) = action.search_filter() {
        query = format!("{query} {filter}");
    }
    let found = timed(mailbox, "UID SEARCH", session.uid_search(&query)).await?;
    drain_unsolicited(session);
    // `n:*` also matches the highest UID when it is below n, so filter again.
    let mut uids: Vec<u32> = found.into_iter().filter(|uid| *uid > after).collect();
    uids.sort_unstable();

    let follows = action.cursor_follows();
    let acts = action != AfterCommit::Nothing;
    let mut acks = Acknowledger { uidvalidity, action, pending: Vec::new(), last: None };
    let mut outcome = PollOutcome::default();
    let ingest = &pipeline.config.ingest;
    for chunk in uids.chunks(ingest.batch_size as usize) {
        let (sizes, seen) = fetch_sizes(mailbox, session, chunk).await?;
        let limit = memory.fetch_bytes.unwrap_or(ingest.batch_bytes).min(ingest.batch_bytes);
        for batch in split_by_bytes(chunk, &sizes, limit) {
            // A message the server kept back in earlier polls is not asked for again.
            let wanted: Vec<u32> = batch
                .iter()
                .copied()
                .filter(|uid| memory.withheld.get(uid).copied().unwrap_or(0) < WITHHELD_POLLS)
                .collect();
            let mut fetched = match fetch_batch(mailbox, session, &wanted, &sizes, ingest.max_message_bytes).await {
                Ok(fetched) => fetched,
                Err(SourceError::Timeout(what)) => {
                    if let [uid] = wanted[..] {
                        *memory.withheld.entry(uid).or_default() += 1;
                    }
                    let smaller = (limit / 2).max(1);
                    memory.fetch_bytes = Some(smaller);
                    let text = format!(
                        "fetching {} messages did not progress within command_timeout_secs; \
                         groups are now at most {smaller} bytes",
                        wanted.len()
                    );
                    report(pipeline, mailbox, Problem::SlowFetch, &text);
                    return Err(SourceError::Timeout(what));
                }
                Err(error) => return Err(error),
            };
            if let Some(bytes) = memory.fetch_bytes {
                memory.fetch_bytes = bytes.checked_mul(2).filter(|b| *b < ingest.batch_bytes);
                if memory.fetch_bytes.is_none() {
                    resolved(pipeline, mailbox, Problem::SlowFetch);
                }
            }
            // A message the server did not send is not skipped at first: take what
            // came before the gap, then reconnect and search again from the cursor.
            // Only after WITHHELD_POLLS polls is it recorded in quarantine and passed.
            let mut incoming = Vec::with_capacity(batch.len());
            let mut withheld = Vec::with_capacity(batch.len());
            let mut short = false;
            for uid in &batch {
                let position = ImapPosition { uidvalidity, uid: *uid, advance_cursor: !follows, lease: memory.lease };
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
                    memory.withheld.remove(uid);
                    (message.raw, message.size, message.truncated) = (got.raw, got.size, got.truncated);
                    incoming.push(message);
                    withheld.push(None);
                    continue;
                }
                let polls = memory.withheld.entry(*uid).or_default();
                *polls = polls.saturating_add(1);
                if *polls < WITHHELD_POLLS {
                    short = true;
                    break;
                }
                memory.withheld.remove(uid);
                let reason = format!(
                    "the server listed UID {uid} of {} (UIDVALIDITY {uidvalidity}) but did not send it in \
                     {WITHHELD_POLLS} polls; it stays on the server and the mailbox goes on",
                    mailbox.folder
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
            if short {
                acks.flush(pipeline, mailbox, session, memory).await?;
                return Err(SourceError::ShortBatch { expected: batch.len(), got: incoming.len() });
            }
        }
    }
    acks.flush(pipeline, mailbox, session, memory).await?;
    Ok(outcome)
}
