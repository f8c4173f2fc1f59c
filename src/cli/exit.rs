//! Exit codes that tell a service manager what to do next (sysexits.h):
//! a config error will not go away by trying again, a server that cannot be
//! reached may.

use crate::config::ConfigError;
use crate::outbound::render::RenderError;
use crate::store::StoreError;
use crate::web::WebError;

/// Success.
pub const OK: u8 = 0;
/// Anything not named below.
pub const FAILURE: u8 = 1;
/// EX_USAGE: the command cannot work on this setup (`loket backup` on a
/// PostgreSQL store, which `pg_dump` backs up).
pub const USAGE: u8 = 64;
/// EX_UNAVAILABLE: a server (the store, a mailbox, the SMTP server) cannot be
/// reached, or a listen address is taken. Worth restarting later.
pub const UNAVAILABLE: u8 = 69;
/// EX_CONFIG: the config (or a template or file it names) is wrong. Restarting
/// will not help; systemd's `RestartPreventExitStatus=78` stops the loop.
pub const CONFIG: u8 = 78;

/// What `loket check` found, as an error that carries its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CheckFailed {
    #[error("{0} of the checks failed; the config or a file it names is wrong")]
    Config(usize),
    #[error("{0} of the checks failed; a server cannot be reached or refused loket")]
    Unavailable(usize),
}

/// What the error that ended a command says, with each of its causes that it
/// does not already say (an error often names its cause in its own words).
pub fn message(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// The exit code for an error that ended a command.
pub fn code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.is::<ConfigError>() || cause.is::<RenderError>() {
            return CONFIG;
        }
        if let Some(check) = cause.downcast_ref::<CheckFailed>() {
            return match check {
                CheckFailed::Config(_) => CONFIG,
                CheckFailed::Unavailable(_) => UNAVAILABLE,
            };
        }
        if let Some(backup) = cause.downcast_ref::<crate::store::BackupError>() {
            return match backup {
                crate::store::BackupError::Postgres => USAGE,
                crate::store::BackupError::Store(store) => of_store(store),
                _ => FAILURE,
            };
        }
        if let Some(store) = cause.downcast_ref::<StoreError>() {
            return of_store(store);
        }
        if let Some(web) = cause.downcast_ref::<WebError>() {
            return of_web(web);
        }
        if let Some(app) = cause.downcast_ref::<crate::app::AppError>() {
            // Its variants are transparent: the inner error is not in the chain.
            return match app {
                crate::app::AppError::Render(_) => CONFIG,
                crate::app::AppError::Store(store) => of_store(store),
                crate::app::AppError::Web(web) => of_web(web),
                _ => FAILURE,
            };
        }
    }
    FAILURE
}

fn of_store(error: &StoreError) -> u8 {
    if error.is_unreachable() { UNAVAILABLE } else { FAILURE }
}

fn of_web(error: &WebError) -> u8 {
    if matches!(error, WebError::Bind { .. }) { UNAVAILABLE } else { FAILURE }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_each_cause_once() {
        let read = ConfigError::Read {
            path: "/etc/loket.toml".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
        };
        let error = anyhow::Error::new(read).context("loading the config");
        assert_eq!(
            message(&error),
            "loading the config: cannot read config file /etc/loket.toml: No such file or directory"
        );
    }

    #[test]
    fn a_config_error_exits_78_however_deep_it_sits() {
        let error = anyhow::Error::new(ConfigError::invalid("store.url", "bad")).context("loading");
        assert_eq!(code(&error), CONFIG);
        assert_eq!(code(&anyhow::anyhow!("something else")), FAILURE);
        assert_eq!(code(&anyhow::Error::new(CheckFailed::Unavailable(1))), UNAVAILABLE);
    }
}
