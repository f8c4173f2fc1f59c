//! Checks of single values that several sections share: a secret given one way
//! only, and hosts that clear text may be sent to.

use std::net::IpAddr;

use secrecy::SecretString;

use super::ConfigError;

/// The one secret set inline (`key`), in a file (`key_file`) or in an environment
/// variable (`key_env`); setting more than one is refused.
pub(super) fn one_secret(
    key: &str,
    inline: Option<SecretString>,
    file: Option<&std::path::Path>,
    variable: Option<&str>,
) -> Result<Option<SecretString>, ConfigError> {
    if [inline.is_some(), file.is_some(), variable.is_some()].iter().filter(|set| **set).count() > 1 {
        return Err(ConfigError::invalid(key, format!("set only one of `{key}`, `{key}_file` and `{key}_env`")));
    }
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| ConfigError::invalid(format!("{key}_file"), format!("cannot read {}: {e}", file.display())))?;
        return Ok(Some(SecretString::from(text.trim_end_matches(['\r', '\n']).to_owned())));
    }
    if let Some(variable) = variable {
        let value = std::env::var(variable).map_err(|_| {
            ConfigError::invalid(format!("{key}_env"), format!("the environment variable `{variable}` is not set"))
        })?;
        return Ok(Some(SecretString::from(value)));
    }
    Ok(inline)
}

/// Hosts for which clear text never leaves the machine.
pub(super) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    #[test]
    fn loopback_hosts_are_recognised() {
        assert!(super::is_loopback("127.0.0.1"));
        assert!(super::is_loopback("[::1]"));
        assert!(super::is_loopback("localhost"));
        assert!(!super::is_loopback("imap.example.org"));
        assert!(!super::is_loopback("10.0.0.1"));
    }
}
