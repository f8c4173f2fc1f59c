//! Fetching message bytes: sizes first, then bodies in groups bounded by bytes,
//! under a timeout that measures progress rather than the whole group.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_imap::types::Fetch;
use futures::TryStreamExt;

use super::{ImapSession, timed, uidset};
use crate::config::MailboxConfig;
use crate::source::SourceError;

pub(super) struct Fetched {
    pub raw: Vec<u8>,
    pub size: u64,
    pub truncated: bool,
}

/// The sizes of the messages, and which of them the mailbox already has as read
/// (`\Seen`): backlog that was read before loket came is history, not work.
pub(super) async fn fetch_sizes(
    mailbox: &MailboxConfig,
    session: &mut ImapSession,
    uids: &[u32],
    heard: &mut bool,
) -> Result<(BTreeMap<u32, u64>, BTreeSet<u32>), SourceError> {
    let set = uidset::format(uids);
    let fetches = timed(mailbox, "UID FETCH (RFC822.SIZE FLAGS)", async {
        let stream = session.uid_fetch(&set, "(UID RFC822.SIZE FLAGS)").await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await?;
    *heard |= drain_unsolicited(session);
    // An unsolicited FETCH of flags carries no size: it must not hide the real one.
    let sizes = fetches.iter().filter_map(|f| Some((f.uid?, u64::from(f.size?)))).collect();
    let seen = fetches
        .iter()
        .filter(|f| f.size.is_some() && f.flags().any(|flag| matches!(flag, async_imap::types::Flag::Seen)))
        .filter_map(|f| f.uid)
        .collect();
    Ok((sizes, seen))
}

/// Splits a chunk so that no fetch carries more than `limit` bytes (a single
/// message over the limit still goes alone). Oversized messages cost only their header.
pub(super) fn split_by_bytes(uids: &[u32], sizes: &BTreeMap<u32, u64>, limit: u64) -> Vec<Vec<u32>> {
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

/// Fetches the messages of `batch` whole, or only the header of those over
/// `max_message_bytes`. A set the server refuses (NO) is split in halves until
/// the refused message stands alone; that one is then simply missing from the
/// result, as is any message the server leaves out.
pub(super) async fn fetch_batch(
    mailbox: &MailboxConfig,
    session: &mut ImapSession,
    batch: &[u32],
    sizes: &BTreeMap<u32, u64>,
    max_message_bytes: u64,
    heard: &mut bool,
) -> Result<BTreeMap<u32, Fetched>, SourceError> {
    let (whole, headers_only): (Vec<u32>, Vec<u32>) =
        batch.iter().partition(|uid| sizes.get(uid).copied().unwrap_or(0) <= max_message_bytes);
    let mut out = BTreeMap::new();
    for (uids, query, truncated) in
        [(whole, "(UID BODY.PEEK[])", false), (headers_only, "(UID BODY.PEEK[HEADER])", true)]
    {
        let mut work = vec![uids];
        while let Some(uids) = work.pop() {
            if uids.is_empty() {
                continue;
            }
            let fetches = match fetch_with_progress(mailbox, session, &uidset::format(&uids), query).await {
                Ok(fetches) => fetches,
                Err(SourceError::Imap(async_imap::error::Error::No(reason))) => {
                    *heard |= drain_unsolicited(session);
                    if uids.len() > 1 {
                        let (left, right) = uids.split_at(uids.len() / 2);
                        work.push(right.to_vec());
                        work.push(left.to_vec());
                    } else {
                        tracing::debug!(mailbox = %mailbox.name, uid = uids[0], %reason, "the server refused to send a message");
                    }
                    continue;
                }
                Err(other) => return Err(other),
            };
            *heard |= drain_unsolicited(session);
            for fetch in &fetches {
                let Some(uid) = fetch.uid else { continue };
                let raw = if truncated { fetch.header() } else { fetch.body() };
                if let Some(raw) = raw {
                    let size = sizes.get(&uid).copied().unwrap_or(raw.len() as u64);
                    out.insert(uid, Fetched { raw: raw.to_vec(), size, truncated });
                }
            }
        }
    }
    Ok(out)
}

/// A FETCH whose timeout is renewed by every message that arrives: a group
/// larger than one command timeout's worth of bytes still completes, while a
/// server that stops sending is noticed within one timeout.
async fn fetch_with_progress(
    mailbox: &MailboxConfig,
    session: &mut ImapSession,
    set: &str,
    query: &str,
) -> Result<Vec<Fetch>, SourceError> {
    const WHAT: &str = "UID FETCH (BODY.PEEK[])";
    let limit = Duration::from_secs(mailbox.command_timeout_secs);
    let mut stream =
        tokio::time::timeout(limit, session.uid_fetch(set, query)).await.map_err(|_| SourceError::Timeout(WHAT))??;
    let mut fetches = Vec::new();
    loop {
        match tokio::time::timeout(limit, stream.try_next()).await {
            Err(_) => return Err(SourceError::Timeout(WHAT)),
            Ok(Ok(Some(fetch))) => fetches.push(fetch),
            Ok(Ok(None)) => return Ok(fetches),
            Ok(Err(error)) => return Err(error.into()),
        }
    }
}

/// Unsolicited responses (EXISTS, EXPUNGE, FETCH of flags) queue up in a channel;
/// loket re-reads state from the cursor, so they are discarded, and it is told
/// whether one announced new mail (EXISTS or RECENT): mail that arrived after a
/// search, which only the next search finds.
pub(super) fn drain_unsolicited(session: &mut ImapSession) -> bool {
    let mut announced = false;
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        announced |= matches!(
            response,
            async_imap::types::UnsolicitedResponse::Exists(_) | async_imap::types::UnsolicitedResponse::Recent(_)
        );
    }
    announced
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
