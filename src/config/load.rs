use std::collections::HashMap;
use std::path::Path;

use config::{Environment, File, FileFormat};

use super::{Config, ConfigError, paths, validate};

/// The documented example config, as shipped in `config/default.toml`.
pub const EXAMPLE: &str = include_str!("../../config/default.toml");

/// Variables that steer the program itself and are not config keys.
const NOT_CONFIG_KEYS: &[&str] = &["LOKET_CONFIG", "LOKET_LOG", "LOKET_LOG_FORMAT"];

/// Reads `path`, lays the `LOKET_*` environment over it and checks the result.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    let base = path.parent().unwrap_or(Path::new(""));
    load_with_env(&text, &path.display().to_string(), base, std::env::vars())
}

/// Like [`load`] for config text held in memory; the environment still applies.
pub fn load_str(text: &str) -> Result<Config, ConfigError> {
    load_with_env(text, "config", Path::new(""), std::env::vars())
}

/// Relative paths resolve against `base` (the config file's folder; empty: the
/// working directory).
fn load_with_env(
    text: &str,
    origin: &str,
    base: &Path,
    env: impl Iterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let overrides: HashMap<String, String> =
        env.filter(|(key, _)| key.starts_with("LOKET_") && !NOT_CONFIG_KEYS.contains(&key.as_str())).collect();
    let raw = config::Config::builder()
        .add_source(File::from_str(text, FileFormat::Toml))
        .add_source(
            Environment::with_prefix("LOKET")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(overrides.into_iter().collect())),
        )
        .build()
        .map_err(|e| ConfigError::Parse(format!("{origin}: {e}")))?;
    let mut config: Config =
        raw.try_deserialize().map_err(|e| ConfigError::Parse(format!("{origin}: {}", dotted_keys(&e.to_string()))))?;
    paths::resolve(&mut config, base);
    validate::check(&mut config)?;
    Ok(config)
}

/// The config crate names a key inside an array without the dot before the
/// field (`routing.rules[0]subject`); the operator reads and writes it with one.
fn dotted_keys(message: &str) -> String {
    let mut out = String::with_capacity(message.len() + 4);
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ']' && chars.peek().is_some_and(|next| next.is_ascii_alphabetic() || *next == '_') {
            out.push('.');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_inside_an_array_is_named_with_its_dot() {
        assert_eq!(dotted_keys("bad for key `routing.rules[0]subject`"), "bad for key `routing.rules[0].subject`");
        assert_eq!(dotted_keys("for key `departments[1]`"), "for key `departments[1]`");
    }
    use secrecy::ExposeSecret;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn the_shipped_example_is_a_valid_config() {
        let config = load_with_env(EXAMPLE, "example", Path::new(""), env(&[("IT_IMAP_PASSWORD", "x")])).unwrap();
        assert_eq!(config.departments.len(), 3);
        assert!(config.mailboxes.len() >= 3);
    }

    #[test]
    fn environment_variables_override_scalar_keys() {
        let config = load_with_env(
            EXAMPLE,
            "example",
            Path::new(""),
            env(&[
                ("LOKET_STORE__URL", "postgres://db.example.org/loket?sslmode=verify-full"),
                ("LOKET_SMTP__PASSWORD", "12345"),
                ("LOKET_CONFIG", "/etc/loket.toml"),
                ("IT_IMAP_PASSWORD", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.store.url, "postgres://db.example.org/loket?sslmode=verify-full");
        let smtp = config.smtp.unwrap();
        assert_eq!(smtp.password.unwrap().expose_secret(), "12345");
    }

    #[test]
    fn passwords_never_show_in_debug_output() {
        let config = load_with_env(
            EXAMPLE,
            "example",
            Path::new(""),
            env(&[
                ("LOKET_SMTP__PASSWORD", "hunter2-secret"),
                ("IT_IMAP_PASSWORD", "imap-secret-77"),
                ("LOKET_STORE__URL", "postgres://loket:pg-secret-42@127.0.0.1/loket"),
            ]),
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("pg-secret-42"));
        assert!(!debug.contains("hunter2-secret"));
        assert!(!debug.contains("imap-secret-77"));
        assert!(!debug.contains("change-me"));
    }
}
