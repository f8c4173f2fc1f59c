//! `loket forget` and `loket export`: a person's right to erasure and to their
//! data; `loket purge`: the retention rules applied now.

use std::io::Write;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::store::PersonData;

pub async fn forget(address: &str, dry_run: bool, config: &Config) -> Result<()> {
    let store = crate::app::open_store(config).await.context("opening the store")?;
    let mut out = super::terminal::stdout();
    let data = if dry_run { store.person_data(address).await? } else { store.forget_person(address).await? };
    let verb = if dry_run { "would erase" } else { "erased" };
    print(&mut out, address, verb, &data)?;
    if dry_run {
        writeln!(out, "nothing was changed; run without --dry-run to erase")?;
    }
    store.close().await;
    Ok(())
}

fn print(out: &mut impl Write, address: &str, verb: &str, data: &PersonData) -> std::io::Result<()> {
    writeln!(out, "{address}: {verb}")?;
    writeln!(out, "  {} tickets they opened, whole: {}", data.tickets.len(), data.tickets.join(", "))?;
    writeln!(out, "  {} messages they wrote on other tickets", data.other_messages)?;
    writeln!(out, "  {} mails to them on other tickets", data.mails_to_them)?;
    writeln!(out, "  {} participant records", data.participant_records)
}

pub async fn export(address: &str, config: &Config) -> Result<()> {
    let store = crate::app::open_store(config).await.context("opening the store")?;
    let data = store.export_person(address).await?;
    store.close().await;
    // JSON escapes control characters, so this output is inert as it is.
    writeln!(std::io::stdout().lock(), "{}", serde_json::to_string_pretty(&data)?)?;
    Ok(())
}

pub async fn purge(dry_run: bool, config: &Config) -> Result<()> {
    let store = crate::app::open_store(config).await.context("opening the store")?;
    let cutoffs = config.retention.cutoffs(crate::clock::now_ms());
    let purged = store.purge(cutoffs, dry_run).await?;
    store.close().await;
    let mut out = super::terminal::stdout();
    let verb = if dry_run { "would be" } else { "were" };
    let r = &config.retention;
    writeln!(
        out,
        "{} messages {verb} stripped of their raw mail (tickets resolved over {} days ago)",
        purged.raw_messages, r.raw_days
    )?;
    writeln!(
        out,
        "{} tickets {verb} anonymised (resolved over {} days ago)",
        purged.anonymised_tickets, r.anonymise_days
    )?;
    writeln!(
        out,
        "{} quarantined messages {verb} removed (over {} days old)",
        purged.quarantined_messages, r.quarantine_days
    )?;
    if dry_run {
        writeln!(out, "nothing was changed; run without --dry-run to remove it")?;
    }
    Ok(())
}
