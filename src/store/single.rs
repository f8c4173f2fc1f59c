//! SQLite serves one instance: `loket run` holds an exclusive advisory lock on
//! a file next to the database for as long as it runs, so that a second daemon
//! started on the same file refuses instead of sharing it. The lock is the
//! kernel's (`flock`): it goes with the process, also when it is killed. The
//! command line (`loket tickets`, `loket outbox`, ...) takes no lock and keeps
//! working beside the daemon.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{StoreError, files};

/// Held while the daemon runs; dropping it lets another instance start.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
}

impl InstanceLock {
    /// Takes the lock for a `sqlite:` store URL; `None` for PostgreSQL and for
    /// an in-memory database, where there is nothing to share.
    pub fn take(url: &str) -> Result<Option<Self>, StoreError> {
        if !url.starts_with("sqlite:") {
            return Ok(None);
        }
        let Some(database) = files::sqlite_path(url) else { return Ok(None) };
        let path = lock_path(&database);
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            let _ = std::fs::create_dir_all(parent);
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|source| StoreError::Lock { path: path.clone(), source })?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(TryLockError::WouldBlock) => Err(StoreError::InUse { database }),
            Err(TryLockError::Error(source)) => Err(StoreError::Lock { path, source }),
        }
    }
}

/// `loket.db` is locked through `loket.db.lock` beside it.
fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_sqlite_file_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("loket.db").display());
        let first = InstanceLock::take(&url).unwrap().expect("a file database is locked");
        let refused = InstanceLock::take(&url).unwrap_err().to_string();
        assert!(refused.contains(&dir.path().join("loket.db").display().to_string()), "{refused}");
        drop(first);
        assert!(InstanceLock::take(&url).unwrap().is_some());
    }

    #[test]
    fn postgresql_and_in_memory_stores_take_no_lock() {
        assert!(InstanceLock::take("postgres://loket@localhost/loket").unwrap().is_none());
        assert!(InstanceLock::take("sqlite::memory:").unwrap().is_none());
    }
}
