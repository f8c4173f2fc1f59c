//! The SQLite file and its `-wal` and `-shm` hold every mail loket received and,
//! unless the signing secret comes from the config, the secret: they are readable
//! by loket's own user only (0600), whatever the process's umask.
//!
//! SQLite has no setting for the mode it creates files with; it gives `-wal` and
//! `-shm` the mode of the database file. So the file is made 0600 before SQLite
//! opens it, and the other two are checked once it has.

use std::fs::{OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::StoreError;

const PRIVATE: u32 = 0o600;

/// The database file a `sqlite:` URL names; none for an in-memory database.
pub(super) fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory = path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory");
    (!memory).then(|| PathBuf::from(path))
}

/// Creates the database file 0600 when it is missing, and narrows an existing one.
pub(super) fn before_open(path: &Path) -> Result<(), StoreError> {
    match OpenOptions::new().write(true).create_new(true).mode(PRIVATE).open(path) {
        Ok(file) => file.set_permissions(Permissions::from_mode(PRIVATE)).map_err(|e| failed(path, e)),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => narrow(path),
        Err(error) => Err(failed(path, error)),
    }
}

/// Narrows `-wal` and `-shm`, which an older loket (or another tool) may have left readable.
pub(super) fn after_open(path: &Path) -> Result<(), StoreError> {
    for suffix in ["-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        narrow(Path::new(&name))?;
    }
    Ok(())
}

/// Sets 0600 on a file that others could read or write; a missing file is fine.
fn narrow(path: &Path) -> Result<(), StoreError> {
    let mode = match std::fs::metadata(path) {
        Ok(metadata) => metadata.permissions().mode(),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(failed(path, error)),
    };
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, Permissions::from_mode(PRIVATE)).map_err(|e| failed(path, e))?;
        tracing::warn!(file = %path.display(), was = format!("{:o}", mode & 0o777), "store file was readable by others; made 0600");
    }
    Ok(())
}

fn failed(path: &Path, source: io::Error) -> StoreError {
    StoreError::Private { path: path.to_owned(), source }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[tokio::test]
    async fn a_fresh_sqlite_store_and_its_wal_and_shm_are_readable_by_loket_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("loket.db");
        let store = Store::connect(&format!("sqlite://{}", db.display()), 2).await.unwrap();
        store.migrate().await.unwrap();
        store.signing_secret("a secret for the test").await.unwrap();
        for name in ["loket.db", "loket.db-wal", "loket.db-shm"] {
            assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
        }
        store.close().await;
    }

    #[tokio::test]
    async fn a_store_left_world_readable_is_narrowed_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("old.db");
        for name in ["old.db", "old.db-wal", "old.db-shm"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
            std::fs::set_permissions(dir.path().join(name), Permissions::from_mode(0o644)).unwrap();
        }
        let store = Store::connect(&format!("sqlite://{}", db.display()), 2).await.unwrap();
        store.migrate().await.unwrap();
        for name in ["old.db", "old.db-wal", "old.db-shm"] {
            assert_eq!(mode(&dir.path().join(name)), 0o600, "{name}");
        }
        store.close().await;
    }

    #[test]
    fn in_memory_databases_have_no_file() {
        assert_eq!(sqlite_path("sqlite://a/b.db?mode=rwc"), Some(PathBuf::from("a/b.db")));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite://x.db?mode=memory"), None);
    }
}
