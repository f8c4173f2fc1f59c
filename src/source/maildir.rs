//! The Maildir source, for the no-server demo and for mail delivered locally.
//!
//! Messages are taken from `new/` in name order (delivery names start with a
//! timestamp). Each is stored in its own transaction under the key of its
//! unique name; only after that commit is it renamed into `cur/` with the seen
//! flag. A crash in between leaves a file in `new/` that the key absorbs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::{Backoff, PollOutcome, SourceError};
use crate::clock::now_ms;
use crate::config::MailboxConfig;
use crate::pipeline::Pipeline;
use crate::plan::Incoming;

/// Messages stored in one group commit, at most.
const GROUP: usize = 100;

/// How much of an oversized message is kept: enough for its headers.
const HEADER_BYTES_OF_OVERSIZED: u64 = 64 * 1024;

pub(super) async fn watch(
    pipeline: &Pipeline,
    mailbox: &MailboxConfig,
    shutdown: &CancellationToken,
    backoff: &mut Backoff,
) -> Result<(), SourceError> {
    loop {
        let outcome = poll(pipeline, mailbox, shutdown).await?;
        backoff.reset();
        pipeline.health.connected(mailbox.name.as_str());
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

/// Takes in every message waiting in `new/`.
pub async fn poll(
    pipeline: &Pipeline,
    mailbox: &MailboxConfig,
    shutdown: &CancellationToken,
) -> Result<PollOutcome, SourceError> {
    let root = mailbox.maildir.clone().unwrap_or_default();
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| SourceError::Maildir { path, source }
    };
    let new = root.join("new");
    let cur = root.join("cur");
    tokio::fs::create_dir_all(&cur).await.map_err(io(&cur))?;
    tokio::fs::create_dir_all(root.join("tmp")).await.map_err(io(&root))?;
    let mut names = Vec::new();
    let mut entries = tokio::fs::read_dir(&new).await.map_err(io(&new))?;
    while let Some(entry) = entries.next_entry().await.map_err(io(&new))? {
        if entry.file_type().await.map_err(io(&new))?.is_file() {
            // The file is opened by its own name; the key and the name in cur/
            // use a lossless-enough text form (only odd bytes are replaced).
            let file = entry.file_name();
            names.push((file.to_string_lossy().into_owned(), file));
        }
    }
    names.sort();

    let mut outcome = PollOutcome::default();
    let limit = pipeline.config.ingest.max_message_bytes;
    let names: Vec<_> = names.into_iter().filter(|(name, _)| !name.starts_with('.')).collect();
    for group in names.chunks(GROUP) {
        if shutdown.is_cancelled() {
            break;
        }
        let mut incoming = Vec::with_capacity(group.len());
        for (name, file) in group {
            let path = new.join(file);
            let (raw, size, truncated) = read_message(&path, limit).await.map_err(io(&path))?;
            incoming.push(Incoming {
                mailbox: mailbox.name.clone(),
                source_key: unique_name(name).to_owned(),
                imap: None,
                raw,
                truncated,
                size,
                backlog: false,
                received_at_ms: now_ms(),
            });
        }
        for result in pipeline.ingest_all(mailbox, &incoming).await? {
            outcome.count(&result);
        }
        for (name, file) in group {
            let path = new.join(file);
            let target: PathBuf = cur.join(format!("{}:2,S", unique_name(name)));
            tokio::fs::rename(&path, &target).await.map_err(io(&path))?;
        }
    }
    Ok(outcome)
}

/// The part of a Maildir file name that stays when its flags change.
fn unique_name(name: &str) -> &str {
    name.split(':').next().unwrap_or(name)
}

/// Reads a whole message, or only its first part when it is over the limit.
async fn read_message(path: &Path, limit: u64) -> std::io::Result<(Vec<u8>, u64, bool)> {
    let mut file = tokio::fs::File::open(path).await?;
    let size = file.metadata().await?.len();
    if size > limit {
        let mut head = Vec::new();
        (&mut file).take(HEADER_BYTES_OF_OVERSIZED).read_to_end(&mut head).await?;
        let end = head
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| p + 4)
            .or_else(|| head.windows(2).position(|w| w == b"\n\n").map(|p| p + 2))
            .unwrap_or(head.len());
        head.truncate(end);
        return Ok((head, size, true));
    }
    let mut raw = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    file.read_to_end(&mut raw).await?;
    Ok((raw, size, false))
}
