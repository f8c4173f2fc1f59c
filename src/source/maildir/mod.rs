//! The Maildir source, for the no-server demo and for mail delivered locally.
//!
//! Messages are taken from `new/`, and from `cur/` when they lack loket's mark
//! ([`files::MARK`]: another client moved them there first), in name order
//! (delivery names start with a timestamp), in groups bounded by count and by
//! `ingest.batch_bytes`. Each group is stored in one transaction, each message
//! under the key of its unique name; only after that commit is each renamed
//! into `cur/` with the mark (and the seen flag, from `new/`). A crash in
//! between leaves a file unmarked that the key absorbs. A reused name never
//! overwrites a file in `cur/`. A file that vanished is skipped; one that
//! cannot be read is recorded in quarantine with the reason and left in place,
//! and the others go on.

mod files;

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::memory::{Memory, quarantine, report, resolved};
use super::{PollOutcome, SourceError};
use crate::clock::now_ms;
use crate::config::MailboxConfig;
use crate::pipeline::Pipeline;
use crate::pipeline::plan::Incoming;
use crate::telemetry::health::Problem;
use files::{Read, Waiting};

pub use files::MARK;

/// Messages stored in one group commit, at most.
const GROUP: usize = 100;

pub(super) async fn watch(
    pipeline: &Pipeline,
    mailbox: &MailboxConfig,
    shutdown: &CancellationToken,
    memory: &mut Memory,
) -> Result<(), SourceError> {
    loop {
        let outcome = poll_with(pipeline, mailbox, shutdown, memory).await?;
        memory.backoff.reset();
        pipeline.health.polled(mailbox.name.as_str());
        if outcome.total() > 0 {
            tracing::info!(mailbox = %mailbox.name, created = outcome.created, duplicates = outcome.duplicates,
                quarantined = outcome.quarantined, "maildir poll done");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_secs(mailbox.poll_interval_secs)) => {}
        }
    }
}

/// Takes in every message waiting in `new/` and every unmarked one in `cur/`.
pub async fn poll(
    pipeline: &Pipeline,
    mailbox: &MailboxConfig,
    shutdown: &CancellationToken,
) -> Result<PollOutcome, SourceError> {
    poll_with(pipeline, mailbox, shutdown, &mut Memory::default()).await
}

async fn poll_with(
    pipeline: &Pipeline,
    mailbox: &MailboxConfig,
    shutdown: &CancellationToken,
    memory: &mut Memory,
) -> Result<PollOutcome, SourceError> {
    let root = mailbox.maildir.clone().unwrap_or_default();
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| SourceError::Maildir { path, source }
    };
    let (new, cur) = (root.join("new"), root.join("cur"));
    tokio::fs::create_dir_all(&cur).await.map_err(io(&cur))?;
    tokio::fs::create_dir_all(root.join("tmp")).await.map_err(io(&root))?;
    let in_new = files::list(&new).await.map_err(io(&new))?;
    let in_cur = files::list(&cur).await.map_err(io(&cur))?;
    let taken = files::marked(&in_cur);
    let mut waiting: Vec<(bool, Waiting)> = Vec::new();
    for (from_new, dir, listing) in [(true, &new, in_new), (false, &cur, in_cur)] {
        for (file, name, size) in listing {
            let (unique, flags) = files::split_name(&name);
            if !from_new && flags.contains(MARK) {
                continue;
            }
            let reused = taken.contains(unique);
            let entry =
                Waiting { path: dir.join(&file), unique: unique.to_owned(), flags: flags.to_owned(), size, reused };
            waiting.push((from_new, entry));
        }
    }
    waiting.sort_by(|a, b| a.1.unique.cmp(&b.1.unique));

    let mut outcome = PollOutcome::default();
    for group in groups(&waiting, pipeline.config.ingest.batch_bytes) {
        if shutdown.is_cancelled() {
            break;
        }
        take_group(pipeline, mailbox, &cur, group, memory, &mut outcome).await?;
    }
    Ok(outcome)
}

/// Groups of at most [`GROUP`] files and `limit` bytes (one larger file goes alone).
fn groups<T>(waiting: &[(T, Waiting)], limit: u64) -> Vec<&[(T, Waiting)]> {
    let mut groups = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, (_, entry)) in waiting.iter().enumerate() {
        if i > start && (i - start >= GROUP || bytes.saturating_add(entry.size) > limit) {
            groups.push(&waiting[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes = bytes.saturating_add(entry.size);
    }
    if start < waiting.len() {
        groups.push(&waiting[start..]);
    }
    groups
}

async fn take_group(
    pipeline: &Pipeline,
    mailbox: &MailboxConfig,
    cur: &Path,
    group: &[(bool, Waiting)],
    memory: &mut Memory,
    outcome: &mut PollOutcome,
) -> Result<(), SourceError> {
    let limit = pipeline.config.ingest.max_message_bytes;
    let mut incoming = Vec::with_capacity(group.len());
    let mut read = Vec::with_capacity(group.len());
    for (from_new, entry) in group {
        let message = |key: String, raw: Vec<u8>, size: u64, truncated: bool| Incoming {
            mailbox: mailbox.name.clone(),
            source_key: key,
            imap: None,
            raw,
            truncated,
            size,
            backlog: false,
            received_at_ms: now_ms(),
            seen: false,
        };
        match files::read(&entry.path, limit).await {
            Read::Message { raw, size, truncated } => {
                memory.unreadable.remove(&entry.unique);
                let key = entry.key(&raw);
                read.push((*from_new, entry, key.clone()));
                incoming.push(message(key, raw, size, truncated));
            }
            Read::Vanished => {
                memory.unreadable.remove(&entry.unique);
                tracing::debug!(mailbox = %mailbox.name, file = %entry.path.display(), "vanished before it was read");
            }
            // Recorded once per run; the file stays, and is read again when it can be.
            Read::Unreadable(error) => {
                if memory.unreadable.insert(entry.unique.clone()) {
                    let reason =
                        format!("the file {} cannot be read: {error}; it stays where it is", entry.path.display());
                    report(pipeline, mailbox, Problem::UnreadableFile, &reason);
                    let note = format!("{reason}\n").into_bytes();
                    let key = entry.key(&note);
                    outcome.count(&quarantine(pipeline, &message(key, note, entry.size, true), reason).await?);
                }
            }
        }
    }
    if memory.unreadable.is_empty() {
        resolved(pipeline, mailbox, Problem::UnreadableFile);
    }
    for result in pipeline.ingest_all(mailbox, &incoming).await? {
        outcome.count(&result);
    }
    for (from_new, entry, key) in read {
        let target = entry.target(cur, &key, from_new);
        match tokio::fs::rename(&entry.path, &target).await {
            Ok(()) => resolved(pipeline, mailbox, Problem::AfterCommit),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            // Stored already: it is found stored again next time, and nothing waits on it.
            Err(error) => {
                let text = format!("{} cannot be renamed into cur/: {error}", entry.path.display());
                report(pipeline, mailbox, Problem::AfterCommit, &text);
            }
        }
    }
    Ok(())
}

/// A stored message read again: its bytes, its full size, and whether it is
/// still over the limit (only its header read).
pub type Reread = (Vec<u8>, u64, bool);

/// Reads the file stored under `key` again (from `cur/`, or `new/` when it was
/// never moved), whole when it is within `limit`; `None` when no file has that key.
pub async fn reread(mailbox: &MailboxConfig, key: &str, limit: u64) -> Result<Option<Reread>, SourceError> {
    let Some(root) = &mailbox.maildir else { return Ok(None) };
    for sub in ["cur", "new"] {
        let dir = root.join(sub);
        let listing = files::list(&dir)
            .await
            .map_err(|source| SourceError::Maildir { path: dir.display().to_string(), source })?;
        // Stored as `KEY:2,flags`, or `KEY.N:2,flags` when that name was taken.
        let found = listing.iter().find(|(_, name, _)| {
            let unique = files::split_name(name).0;
            unique == key
                || unique
                    .strip_prefix(key)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        });
        if let Some((file, ..)) = found {
            let path = dir.join(file);
            return match files::read(&path, limit).await {
                Read::Message { raw, size, truncated } => Ok(Some((raw, size, truncated))),
                Read::Vanished => Ok(None),
                Read::Unreadable(source) => Err(SourceError::Maildir { path: path.display().to_string(), source }),
            };
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_bounded_by_bytes_and_count_and_keep_their_order() {
        let entry =
            |size| ((), Waiting { path: "x".into(), unique: String::new(), flags: String::new(), size, reused: false });
        let waiting: Vec<_> = [40, 40, 40, 500, 10].into_iter().map(entry).collect();
        let sizes: Vec<Vec<u64>> =
            groups(&waiting, 100).iter().map(|g| g.iter().map(|(_, w)| w.size).collect()).collect();
        assert_eq!(sizes, vec![vec![40, 40], vec![40], vec![500], vec![10]]);
        let many: Vec<_> = (0..250).map(|_| entry(1)).collect();
        let counts: Vec<usize> = groups(&many, u64::MAX).iter().map(|g| g.len()).collect();
        assert_eq!(counts, vec![100, 100, 50]);
    }
}
