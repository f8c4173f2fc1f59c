//! `loket forget` and `loket export`: a person's right to erasure and to their
//! data (as JSON, or a folder with the original messages); `loket purge`: the retention rules applied now.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::domain::TicketRef;
use crate::store::{PersonData, PersonMail};

pub async fn forget(address: &str, dry_run: bool, config: &Config) -> Result<()> {
    let store = crate::app::open_store(&config.store).await.context("opening the store")?;
    let mut out = super::terminal::stdout();
    let data = if dry_run { store.person_data(address).await? } else { store.forget_person(address).await? };
    let verb = if dry_run { "would erase" } else { "erased" };
    print(&mut out, address, verb, &data)?;
    // The models trained on their reroutes are gone: a fresh one from what remains
    // replaces them, and running instances pick it up.
    if !dry_run && data.models > 0 {
        let training = crate::routing::learn::train(&crate::routing::Settings::from_config(config), &store)
            .await
            .context("training a model without them")?;
        let body = serde_json::to_string(&training.model)?;
        let examples = i64::try_from(training.model.examples).unwrap_or(i64::MAX);
        let corrections = i64::try_from(training.corrections).unwrap_or(i64::MAX);
        store.save_model(&body, examples, corrections, crate::clock::now_ms()).await?;
        writeln!(out, "  routing retrained without them ({} corrections left)", training.corrections)?;
    }
    if dry_run {
        writeln!(out, "nothing was changed; run without --dry-run to erase")?;
    }
    store.close().await;
    Ok(())
}

fn print(out: &mut impl Write, address: &str, verb: &str, data: &PersonData) -> std::io::Result<()> {
    writeln!(out, "{address}: {verb}")?;
    writeln!(
        out,
        "  {} tickets they opened, whole: {}",
        data.tickets.len(),
        data.tickets.iter().map(TicketRef::as_str).collect::<Vec<_>>().join(", ")
    )?;
    writeln!(out, "  {} messages they wrote on other tickets", data.other_messages)?;
    writeln!(out, "  {} mails to them on other tickets", data.mails_to_them)?;
    writeln!(out, "  {} participant records", data.participant_records)?;
    writeln!(out, "  {} quarantined mails naming them", data.quarantined)?;
    writeln!(out, "  {} web form requests waiting for them to confirm", data.form_requests)?;
    writeln!(
        out,
        "  {} of their tickets learnt from by routing; {} stored models trained on them",
        data.learnt_examples, data.models
    )
}

/// Writes the JSON to standard output, or with `dir` the JSON as `data.json`
/// and every original message as an `.eml` file under `dir` (a new folder).
pub async fn export(address: &str, dir: Option<&Path>, config: &Config) -> Result<()> {
    let store = crate::app::open_store(&config.store).await.context("opening the store")?;
    let data = store.export_person(address).await;
    let mail = match (&data, dir) {
        (Ok(_), Some(_)) => Some(store.person_mail(address).await),
        _ => None,
    };
    store.close().await;
    let json = serde_json::to_string_pretty(&data?)?;
    let Some(dir) = dir else {
        // JSON escapes control characters, so this output is inert as it is.
        writeln!(std::io::stdout().lock(), "{json}")?;
        return Ok(());
    };
    let mail = mail.transpose()?.unwrap_or_default();
    write_folder(dir, &json, &mail).with_context(|| format!("writing {}", dir.display()))?;
    writeln!(
        super::terminal::stdout(),
        "{address}: data.json and {} original messages written to {}",
        mail.len(),
        dir.display()
    )?;
    Ok(())
}

/// A person's data is private: the folder and its files are loket's user's alone.
fn write_folder(dir: &Path, json: &str, mail: &[PersonMail]) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let mut folders = std::fs::DirBuilder::new();
    folders.mode(0o700);
    folders.create(dir)?;
    let write = |path: &Path, bytes: &[u8]| {
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(bytes)
    };
    write(&dir.join("data.json"), format!("{json}\n").as_bytes())?;
    for message in mail {
        let folder = dir.join(message.folder);
        if !folder.exists() {
            folders.create(&folder)?;
        }
        write(&folder.join(format!("{}.eml", message.name)), &message.raw)?;
    }
    Ok(())
}

pub async fn purge(dry_run: bool, config: &Config) -> Result<()> {
    let store = crate::app::open_store(&config.store).await.context("opening the store")?;
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
