//! `loket quarantine retry` (also called `reingest`) and `delete`: quarantined mail taken in again once
//! the cause is fixed (a limit raised, a bug fixed), or removed.
//!
//! A message is taken in again under its own mailbox and source key, so the
//! store's unique keys make it one ticket however often it is tried: the entry is
//! removed only after its message is stored (or found stored already).

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::config::Config;
use crate::pipeline::IngestOutcome;
use crate::pipeline::plan::Incoming;
use crate::store::{QuarantineEntry, Store};

/// What to take in again.
#[derive(Debug, Clone)]
pub enum Which {
    One(String),
    All,
}

pub async fn reingest(which: Which, config: Arc<Config>, store: Store) -> Result<()> {
    let ids = match which {
        Which::One(id) => vec![id],
        Which::All => store.quarantine_ids().await?,
    };
    let mut out = super::terminal::stdout();
    if ids.is_empty() {
        writeln!(out, "quarantine is empty")?;
        return Ok(());
    }
    let pipeline = crate::app::pipeline(config.clone(), store.clone()).await.context("starting the pipeline")?;
    let mut still = 0;
    for id in &ids {
        let entry = store.quarantine_entry(id).await?;
        match reingest_one(&pipeline, &config, &store, &entry).await {
            Ok(line) => writeln!(out, "{id}: {line}")?,
            Err(reason) => {
                still += 1;
                writeln!(out, "{id}: still quarantined: {reason}")?;
            }
        }
    }
    if still > 0 {
        bail!("{still} of {} messages are still quarantined", ids.len());
    }
    Ok(())
}

async fn reingest_one(
    pipeline: &crate::pipeline::Pipeline,
    config: &Config,
    store: &Store,
    entry: &QuarantineEntry,
) -> Result<String, String> {
    let Some(mailbox) = crate::config::mailbox_named(&config.mailboxes, entry.mailbox.as_str()) else {
        return Err(format!("mailbox {} is no longer in the config", entry.mailbox));
    };
    let raw = if entry.truncated != 0 { whole(config, mailbox, entry).await? } else { entry.raw.clone() };
    let incoming = Incoming {
        mailbox: mailbox.name.clone(),
        source_key: entry.source_key.clone(),
        imap: None,
        size: raw.len() as u64,
        raw,
        truncated: false,
        backlog: false,
        received_at_ms: entry.at,
        seen: false,
    };
    let outcomes = pipeline.ingest_all(mailbox, &[incoming]).await.map_err(|e| e.to_string())?;
    let line = match outcomes.first() {
        Some(IngestOutcome::Created(reference)) => format!("ticket {reference} opened"),
        Some(IngestOutcome::Joined(reference)) => format!("joined ticket {reference}"),
        Some(IngestOutcome::Bounced(reference)) => format!("stored as a bounce on ticket {reference}"),
        Some(IngestOutcome::Duplicate) => "already taken in".to_owned(),
        Some(IngestOutcome::Quarantined) | None => {
            return Err("the cause remains (the log says why)".to_owned());
        }
    };
    store.delete_quarantine(&entry.id).await.map_err(|e| e.to_string())?;
    Ok(line)
}

/// The whole message of an entry that kept only its header (it was over
/// `ingest.max_message_bytes`): read again from its Maildir under today's limit.
async fn whole(
    config: &Config,
    mailbox: &crate::config::MailboxConfig,
    entry: &QuarantineEntry,
) -> Result<Vec<u8>, String> {
    let limit = config.ingest.max_message_bytes;
    if mailbox.maildir.is_none() {
        return Err(format!(
            "only the header of this {}-byte message was kept; the whole message is still in the IMAP \
             mailbox {} (key {}): take it from there",
            entry.size, mailbox.name, entry.source_key
        ));
    }
    match crate::source::maildir::reread(mailbox, &entry.source_key, limit).await {
        Ok(Some((raw, _, false))) => Ok(raw),
        Ok(Some((_, size, true))) => {
            Err(format!("the message is {size} bytes, still over the limit of {limit} (ingest.max_message_bytes)"))
        }
        Ok(None) => Err(format!(
            "only the header was kept, and the file {} is no longer in the Maildir of {}",
            entry.source_key, mailbox.name
        )),
        Err(error) => Err(error.to_string()),
    }
}

pub async fn delete(id: &str, store: &Store) -> Result<()> {
    if !store.delete_quarantine(id).await? {
        bail!("no quarantined message {id}");
    }
    writeln!(super::terminal::stdout(), "{id}: deleted")?;
    Ok(())
}
