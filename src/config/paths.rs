//! Relative paths in a config file mean "beside the config file", whatever the
//! working directory: `loket run --config /etc/loket/loket.toml` under systemd
//! and `loket tickets list` from a shell find the same files.

use std::path::{Path, PathBuf};

use super::Config;

/// Makes every relative path in `config` (files, folders and a SQLite store's
/// file) relative to `base`, the config file's folder.
pub(super) fn resolve(config: &mut Config, base: &Path) {
    let fix = |path: &mut Option<PathBuf>| {
        if let Some(path) = path {
            *path = against(base, path);
        }
    };
    fix(&mut config.desk.secret_file);
    if let Some(smtp) = &mut config.smtp {
        fix(&mut smtp.password_file);
        fix(&mut smtp.ca_file);
    }
    fix(&mut config.outbox.file_dir);
    fix(&mut config.templates.dir);
    fix(&mut config.routing.examples_file);
    for mailbox in &mut config.mailboxes {
        fix(&mut mailbox.maildir);
        fix(&mut mailbox.ca_file);
        fix(&mut mailbox.password_file);
    }
    if let Some(url) = sqlite(config.store.url.expose(), base) {
        config.store.url = url.into();
    }
}

fn against(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() || base.as_os_str().is_empty() { path.to_owned() } else { base.join(path) }
}

/// `sqlite://loket.db?mode=rwc` beside the config, as `sqlite://BASE/loket.db?mode=rwc`.
fn sqlite(url: &str, base: &Path) -> Option<String> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty() || path.starts_with(':') || Path::new(path).is_absolute() {
        return None;
    }
    let resolved = against(base, Path::new(path));
    Some(match query {
        Some(query) => format!("sqlite://{}?{query}", resolved.display()),
        None => format!("sqlite://{}", resolved.display()),
    })
}

#[cfg(test)]
mod tests {
    use super::sqlite;
    use std::path::Path;

    #[test]
    fn a_relative_sqlite_file_lies_beside_the_config_and_keeps_its_options() {
        let base = Path::new("/etc/loket");
        assert_eq!(sqlite("sqlite://loket.db", base).as_deref(), Some("sqlite:///etc/loket/loket.db"));
        assert_eq!(
            sqlite("sqlite:data/l.db?mode=rwc", base).as_deref(),
            Some("sqlite:///etc/loket/data/l.db?mode=rwc")
        );
        assert_eq!(sqlite("sqlite:///var/lib/loket/loket.db", base), None);
        assert_eq!(sqlite("sqlite::memory:", base), None);
        assert_eq!(sqlite("postgres://h/db", base), None);
    }
}
