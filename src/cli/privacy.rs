//! `loket forget` and `loket export`: a person's right to erasure and to their data.

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
