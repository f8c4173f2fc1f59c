//! `loket backup FILE`: a consistent copy of the SQLite store, taken while the
//! daemon runs. A PostgreSQL store is backed up with PostgreSQL's own tools.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::store::BackupError;

/// What to use instead on PostgreSQL (also in the README).
pub const PG_DUMP_ADVICE: &str = "\
loket backup copies SQLite stores only. Back a PostgreSQL store up with pg_dump,
which reads one consistent snapshot while loket runs:

    pg_dump --format=custom --file=loket.dump 'postgres://loket@db.example.org/loket'

and restore it into an empty database with:

    pg_restore --dbname='postgres://loket@db.example.org/loket' loket.dump
";

pub async fn run(file: &Path, config: &Config) -> Result<()> {
    if !config.store.url.starts_with("sqlite:") {
        eprint!("{PG_DUMP_ADVICE}");
        return Err(BackupError::Postgres.into());
    }
    let store = crate::app::open_store(&config.store).await.context("opening the store")?;
    let backup = store.backup(file).await;
    store.close().await;
    let backup = backup?;
    writeln!(
        super::terminal::stdout(),
        "backed up to {}: {} tickets, {} bytes",
        file.display(),
        backup.tickets,
        backup.bytes
    )?;
    Ok(())
}
