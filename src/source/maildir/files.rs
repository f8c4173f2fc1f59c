//! Maildir file names and files: which files are waiting, under which key, where
//! each goes once stored, and reading one without letting a bad file stop the rest.

use std::collections::HashSet;
use std::ffi::OsString;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use tokio::io::AsyncReadExt;

/// The Maildir info flag loket adds when it renames a message it has stored.
/// Mail in `cur/` without it was put there by another client and is taken in.
/// Upper-case letters other than D, F, P, R, S and T carry no meaning for
/// other Maildir readers.
pub const MARK: char = 'L';

/// How much of an oversized message is kept: enough for its headers.
const HEADER_BYTES_OF_OVERSIZED: u64 = 64 * 1024;

/// A file waiting to be taken in.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub path: PathBuf,
    /// The part of the name that stays when its flags change (odd bytes replaced).
    pub unique: String,
    /// The info flags it has now (none for mail in `new/`).
    pub flags: String,
    /// Its size when listed.
    pub size: u64,
    /// Another file already took this unique name in `cur/`: the name was reused.
    pub reused: bool,
}

impl Waiting {
    /// The key it is stored under. A reused name gets a part of the content's
    /// hash, so a different message under an old name is not taken for a copy,
    /// and the same file seen again still finds its key.
    pub fn key(&self, raw: &[u8]) -> String {
        if self.reused {
            let sha = crate::inbound::intake::sha256_hex(raw);
            format!("{}.{}", self.unique, &sha[..12.min(sha.len())])
        } else {
            self.unique.clone()
        }
    }

    /// Its name in `cur/` once stored: the key, its flags with [`MARK`] added
    /// (and seen, for mail from `new/`), never a name that exists already.
    pub fn target(&self, cur: &Path, key: &str, from_new: bool) -> PathBuf {
        let mut flags: Vec<char> = self.flags.chars().collect();
        flags.push(MARK);
        if from_new {
            flags.push('S');
        }
        flags.sort_unstable();
        flags.dedup();
        let flags: String = flags.into_iter().collect();
        let mut target = cur.join(format!("{key}:2,{flags}"));
        let mut n = 1;
        while target.exists() {
            n += 1;
            target = cur.join(format!("{key}.{n}:2,{flags}"));
        }
        target
    }
}

/// Splits a Maildir file name into its unique part and its info flags.
pub fn split_name(name: &str) -> (&str, &str) {
    match name.split_once(':') {
        Some((unique, info)) => (unique, info.strip_prefix("2,").unwrap_or("")),
        None => (name, ""),
    }
}

/// Lists the files in `dir` not starting with a dot, in name order (delivery
/// names start with a timestamp), as (file name, lossy name, size).
pub async fn list(dir: &Path) -> std::io::Result<Vec<(OsString, String, u64)>> {
    let mut names = Vec::new();
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        let file = entry.file_name();
        let name = file.to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        // A file that vanished since the listing is simply gone; anything else
        // that is not a directory is a candidate, and reading it decides.
        let size = match entry.metadata().await {
            Ok(meta) if meta.is_dir() => continue,
            Ok(meta) => meta.len(),
            Err(error) if error.kind() == ErrorKind::NotFound => continue,
            Err(_) => 0,
        };
        names.push((file, name, size));
    }
    names.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(names)
}

/// Collects the unique names of files in `cur/` that carry the mark.
pub fn marked(listing: &[(OsString, String, u64)]) -> HashSet<String> {
    listing
        .iter()
        .filter(|(_, name, _)| split_name(name).1.contains(MARK))
        .map(|(_, name, _)| split_name(name).0.to_owned())
        .collect()
}

/// What reading a waiting file gave.
#[derive(Debug)]
pub enum Read {
    /// The bytes, the full size, and whether only the header was kept (over the limit).
    Message { raw: Vec<u8>, size: u64, truncated: bool },
    /// The file is gone (another reader took it): nothing to do.
    Vanished,
    /// The file is there but cannot be read.
    Unreadable(std::io::Error),
}

/// Reads a whole message, or only its header when it is over `limit`.
pub async fn read(path: &Path, limit: u64) -> Read {
    match read_message(path, limit).await {
        Ok((raw, size, truncated)) => Read::Message { raw, size, truncated },
        Err(error) if error.kind() == ErrorKind::NotFound => Read::Vanished,
        Err(error) => Read::Unreadable(error),
    }
}

async fn read_message(path: &Path, limit: u64) -> std::io::Result<(Vec<u8>, u64, bool)> {
    let meta = tokio::fs::metadata(path).await?;
    if !meta.is_file() {
        return Err(std::io::Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_unique_part_and_flags() {
        assert_eq!(split_name("1.M1.host:2,RS"), ("1.M1.host", "RS"));
        assert_eq!(split_name("1.M1.host"), ("1.M1.host", ""));
        assert_eq!(split_name("1.M1.host:1,x"), ("1.M1.host", ""));
    }

    #[test]
    fn the_target_keeps_flags_in_order_adds_the_mark_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let waiting =
            Waiting { path: dir.path().join("x"), unique: "1.M1".into(), flags: "RS".into(), size: 1, reused: false };
        let first = waiting.target(dir.path(), "1.M1", false);
        assert_eq!(first.file_name().unwrap(), "1.M1:2,LRS");
        std::fs::write(&first, b"x").unwrap();
        assert_eq!(waiting.target(dir.path(), "1.M1", false).file_name().unwrap(), "1.M1.2:2,LRS");
        let fresh = Waiting { flags: String::new(), ..waiting };
        assert_eq!(fresh.target(dir.path(), "2.M2", true).file_name().unwrap(), "2.M2:2,LS");
    }

    #[test]
    fn a_reused_name_is_keyed_by_its_content() {
        let waiting = Waiting { path: "x".into(), unique: "1.eml".into(), flags: String::new(), size: 1, reused: true };
        let (a, b) = (waiting.key(b"one"), waiting.key(b"two"));
        assert!(a.starts_with("1.eml.") && b.starts_with("1.eml."));
        assert_ne!(a, b);
        assert_eq!(a, waiting.key(b"one"));
    }
}
