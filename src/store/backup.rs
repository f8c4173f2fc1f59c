//! `loket backup`: a consistent copy of a SQLite store taken while the daemon
//! writes. `VACUUM INTO` reads one snapshot (WAL readers never wait for the
//! writer, nor it for them) and writes it as a fresh, compact database file.
//! The copy holds every mail, so it is made readable by loket's user alone.

use std::fs::{OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::{Backend, Store, StoreError};

/// What a backup wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backup {
    pub tickets: i64,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} exists already; loket backup never overwrites a file")]
    Exists(std::path::PathBuf),
    #[error("cannot write {path}: {source}")]
    Write { path: std::path::PathBuf, source: std::io::Error },
    #[error("loket backup copies SQLite stores only; back a PostgreSQL store up with pg_dump")]
    Postgres,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Copies the whole store, as it is at one moment, to the new file `path`.
    pub async fn backup(&self, path: &Path) -> Result<Backup, BackupError> {
        if self.backend != Backend::Sqlite {
            return Err(BackupError::Postgres);
        }
        let write = |source| BackupError::Write { path: path.to_owned(), source };
        // SQLite writes into an empty file it finds, keeping the file's mode.
        match OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(file) => file.set_permissions(Permissions::from_mode(0o600)).map_err(write)?,
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(BackupError::Exists(path.to_owned()));
            }
            Err(error) => return Err(write(error)),
        }
        let target = path.to_string_lossy().into_owned();
        let copied = sqlx::query("VACUUM INTO $1").bind(&target).execute(&self.read).await;
        if let Err(error) = copied {
            let _ = std::fs::remove_file(path);
            return Err(StoreError::from(error).into());
        }
        let tickets = count_tickets(&target).await?;
        let bytes = std::fs::metadata(path).map_err(write)?.len();
        Ok(Backup { tickets, bytes })
    }
}

/// Opens the copy read-only and counts its tickets: the copy is a working store.
async fn count_tickets(path: &str) -> Result<i64, StoreError> {
    use sqlx::Connection;
    let mut copy = sqlx::AnyConnection::connect(&format!("sqlite://{path}?mode=ro")).await?;
    let tickets = sqlx::query_scalar("SELECT COUNT(*) FROM tickets").fetch_one(&mut copy).await?;
    copy.close().await?;
    Ok(tickets)
}
