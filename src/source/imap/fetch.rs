//! One poll of one folder: the exactly-once part of the IMAP source.

use std::collections::BTreeMap;

use futures::TryStreamExt;
use tokio_util::sync::CancellationToken;

use super::{ImapSession, timed, uidset};
use crate::clock::now_ms;
use crate::config::MailboxConfig;
use crate::pipeline::Pipeline;
use crate::plan::{ImapPosition, Incoming};
use crate::source::{PollOutcome, SourceError};

/// Messages stored in one group commit, at most: the unit of work a shutdown
/// waits for.
const GROUP: usize = 100;

/// Stored messages moved or flagged on the server in one command, at most.
const ACK_BATCH: usize = 1000;

struct Fetched {
    raw: Vec<u8>,
    size: u64,
    truncated: bool,
}

/// Takes in everything above the stored cursor. Stops early (between messages)
/// when shutdown comes; the message in hand is always finished.
pub(super) async fn poll(
    pipeline: &Pipeline,
    mailbox: &MailboxConfig,
    session: &mut ImapSession,
    can_move: bool,
    shutdown: &CancellationToken,
) -> Result<PollOutcome, SourceError> {
    let selected = timed(mailbox, "SELECT", session.select(&mailbox.folder)).await?;
    let uidvalidity = selected
        .uid_validity
        .ok_or_else(|| SourceError::Protocol(format!("the server reports no UIDVALIDITY for {}", mailbox.folder)))?;
    let uid_next = selected.uid_next.unwrap_or(1);
    let cursor = pipeline.store.open_cursor(mailbox.name.as_str(), uidvalidity, uid_next).await?;
    if cursor.fresh {
        tracing::info!(mailbox = %mailbox.name, uidvalidity, backlog_up_to = cursor.backlog_uid, "first read of this folder");
    }
    let query = format!("UID {}:*", cursor.last_uid.saturating_add(1));
    let found = timed(mailbox, "UID SEARCH", session.uid_search(&query)).await?;
    drain_unsolicited(session);
    // `n:*` also matches the highest UID when it is below n, so filter again.
    let mut uids: Vec<u32> = found.into_iter().filter(|uid| *uid > cursor.last_uid).collect();
    uids.sort_unstable();

    let acts_after_commit = mailbox.processed_folder.is_some() || mailbox.processed_flag.is_some();
    let mut acks = Acknowledger { uidvalidity, can_move, pending: Vec::new(), last: None };
    let mut outcome = PollOutcome::default();
    let batch_size = pipeline.config.ingest.batch_size as usize;
    for chunk in uids.chunks(batch_size) {
        let sizes = fetch_sizes(mailbox, session, chunk).await?;
        for batch in split_by_bytes(chunk, &sizes, pipeline.config.ingest.batch_bytes) {
            let mut fetched = fetch_batch(pipeline, mailbox, session, &batch, &sizes).await?;
            let got = fetched.len();
            // A message the server did not send is never skipped: take what came
            // before the gap, then reconnect and search again from the cursor.
            let mut incoming = Vec::with_capacity(batch.len());
            for uid in &batch {
                let Some(message) = fetched.remove(uid) else { break };
                incoming.push(Incoming {
                    mailbox: mailbox.name.clone(),
                    source_key: format!("{uidvalidity}/{uid}"),
                    imap: Some(ImapPosition { uidvalidity, uid: *uid, advance_cursor: !acts_after_commit }),
                    raw: message.raw,
                    truncated: message.truncated,
                    size: message.size,
                    backlog: *uid <= cursor.backlog_uid,
                    received_at_ms: now_ms(),
                });
            }
            let short = incoming.len() < batch.len();
            for group in incoming.chunks(GROUP) {
                for result in pipeline.ingest_all(mailbox, group).await? {
                    outcome.count(&result);
                }
                if acts_after_commit {
                    acks.stored(group);
                    if acks.pending.len() >= ACK_BATCH || shutdown.is_cancelled() || short {
                        acks.flush(pipeline, mailbox, session).await?;
                    }
                }
                if shutdown.is_cancelled() {
                    return Ok(outcome);
                }
            }
            if short {
                return Err(SourceError::ShortBatch { expected: batch.len(), got });
            }
        }
    }
    acks.flush(pipeline, mailbox, session).await?;
    Ok(outcome)
}

/// Moves or flags stored messages on the server in sets of up to [`ACK_BATCH`]
/// (one MOVE per message set is far cheaper for the server than many small ones),
/// then advances the cursor past them. Until then the cursor stays put, so a crash
/// means those messages are fetched again, found stored, and moved after all.
struct Acknowledger {
    uidvalidity: u32,
    can_move: bool,
    pending: Vec<u32>,
    last: Option<u32>,
}

impl Acknowledger {
    fn stored(&mut self, group: &[Incoming]) {
        for incoming in group {
            let Some(position) = incoming.imap else { continue };
            self.last = Some(position.uid);
            // An oversized message was stored with its header only: the whole
            // message stays where it is, for a person to deal with.
            if !incoming.truncated {
                self.pending.push(position.uid);
            }
        }
    }

    async fn flush(
        &mut self,
        pipeline: &Pipeline,
        mailbox: &MailboxConfig,
        session: &mut ImapSession,
    ) -> Result<(), SourceError> {
        commit_on_server(mailbox, session, self.can_move, &self.pending).await?;
        self.pending.clear();
        if let Some(last) = self.last.take() {
            pipeline.store.advance_cursor(mailbox.name.as_str(), self.uidvalidity, last).await?;
        }
        Ok(())
    }
}

async fn fetch_sizes(
    mailbox: &MailboxConfig,
    session: &mut ImapSession,
    uids: &[u32],
) -> Result<BTreeMap<u32, u64>, SourceError> {
    let set = uidset::format(uids);
    let fetches = timed(mailbox, "UID FETCH (RFC822.SIZE)", async {
        let stream = session.uid_fetch(&set, "(UID RFC822.SIZE)").await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await?;
    drain_unsolicited(session);
    Ok(fetches.iter().filter_map(|f| Some((f.uid?, u64::from(f.size.unwrap_or(0))))).collect())
}

/// Splits a chunk so that no fetch carries more than `limit` bytes (a single
/// message over the limit still goes alone). Oversized messages cost only their header.
fn split_by_bytes(uids: &[u32], sizes: &BTreeMap<u32, u64>, limit: u64) -> Vec<Vec<u32>> {
    let mut batches = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0u64;
    for uid in uids {
        let size = sizes.get(uid).copied().unwrap_or(0);
        if !current.is_empty() && bytes.saturating_add(size) > limit {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes = bytes.saturating_add(size);
        current.push(*uid);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

async fn fetch_batch(
    pipeline: &Pipeline,
    mailbox: &MailboxConfig,
    session: &mut ImapSession,
    batch: &[u32],
    sizes: &BTreeMap<u32, u64>,
) -> Result<BTreeMap<u32, Fetched>, SourceError> {
    let limit = pipeline.config.ingest.max_message_bytes;
    let (whole, headers_only): (Vec<u32>, Vec<u32>) =
        batch.iter().partition(|uid| sizes.get(uid).copied().unwrap_or(0) <= limit);
    let mut out = BTreeMap::new();
    for (uids, query, truncated) in
        [(whole, "(UID BODY.PEEK[])", false), (headers_only, "(UID BODY.PEEK[HEADER])", true)]
    {
        if uids.is_empty() {
            continue;
        }
        let set = uidset::format(&uids);
        let fetches = timed(mailbox, "UID FETCH (BODY.PEEK[])", async {
            let stream = session.uid_fetch(&set, query).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        drain_unsolicited(session);
        for fetch in &fetches {
            let Some(uid) = fetch.uid else { continue };
            let raw = if truncated { fetch.header() } else { fetch.body() };
            if let Some(raw) = raw {
                let size = sizes.get(&uid).copied().unwrap_or(raw.len() as u64);
                out.insert(uid, Fetched { raw: raw.to_vec(), size, truncated });
            }
        }
    }
    Ok(out)
}

/// After the commit: move the stored messages to the processed folder, or flag them.
async fn commit_on_server(
    mailbox: &MailboxConfig,
    session: &mut ImapSession,
    can_move: bool,
    uids: &[u32],
) -> Result<(), SourceError> {
    if uids.is_empty() {
        return Ok(());
    }
    let set = uidset::format(uids);
    if let Some(folder) = &mailbox.processed_folder {
        if can_move {
            timed(mailbox, "UID MOVE", session.uid_mv(&set, folder)).await?;
        } else {
            timed(mailbox, "UID COPY", session.uid_copy(&set, folder)).await?;
            timed(mailbox, "UID STORE", async {
                let stream = session.uid_store(&set, "+FLAGS.SILENT (\\Deleted)").await?;
                stream.try_collect::<Vec<_>>().await
            })
            .await?;
            timed(mailbox, "UID EXPUNGE", async {
                let stream = session.uid_expunge(&set).await?;
                stream.try_collect::<Vec<_>>().await
            })
            .await?;
        }
    } else if let Some(flag) = &mailbox.processed_flag {
        let query = format!("+FLAGS.SILENT ({flag})");
        timed(mailbox, "UID STORE", async {
            let stream = session.uid_store(&set, &query).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
    }
    drain_unsolicited(session);
    Ok(())
}

/// Unsolicited responses (EXISTS, EXPUNGE, FETCH of flags) queue up in a channel;
/// loket re-reads state from the cursor, so they are only discarded.
fn drain_unsolicited(session: &mut ImapSession) {
    while session.unsolicited_responses.try_recv().is_ok() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_split_by_bytes_and_keep_their_order() {
        let sizes: BTreeMap<u32, u64> = [(1, 40), (2, 40), (3, 40), (4, 500), (5, 10)].into_iter().collect();
        let batches = split_by_bytes(&[1, 2, 3, 4, 5], &sizes, 100);
        assert_eq!(batches, vec![vec![1, 2], vec![3], vec![4], vec![5]]);
    }
}
