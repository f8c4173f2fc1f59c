//! Telemetry: what loket tells its operator while it runs. The mailboxes',
//! tasks' and outbox's [`health`], the Prometheus [`metrics`], and the logs.
//!
//! Logs: human-readable by default, JSON lines with `--log-format json`; colour
//! only when standard error is a terminal (and `NO_COLOR` is unset).
//! The level comes from `-v`/`-q` when given, else from `LOKET_LOG` (or
//! `RUST_LOG`), `info` when neither is set.
//!
//! Some libraries log protocol lines that carry credentials: async-imap traces
//! every command it encodes (the `LOGIN` with its password among them), and
//! lettre, when built with tracing, writes SMTP `AUTH` lines at debug. Those
//! targets are capped below the levels that carry such lines whatever `LOKET_LOG`
//! asks for, so passwords never reach a log.

pub mod health;
pub mod metrics;

use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Targets whose lower levels log credentials, and the most they may log.
const CAPPED: &[(&str, LevelFilter)] =
    &[("async_imap", LevelFilter::DEBUG), ("imap_proto", LevelFilter::DEBUG), ("lettre", LevelFilter::INFO)];

/// What no `LOKET_LOG` can open up.
fn credential_cap() -> Targets {
    Targets::new().with_default(LevelFilter::TRACE).with_targets(CAPPED.iter().copied())
}

/// The level asked for on the command line: `-q` and `-v` counted against each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Errors only (`-qq`).
    Errors,
    /// Warnings and errors (`-q`).
    Quiet,
    /// Debug lines of loket's own modules (`-v`).
    Debug,
    /// Everything, down to trace (`-vv`).
    Trace,
}

impl Verbosity {
    /// From the number of `-v` and `-q` given; `None` when they cancel out or none was given.
    pub fn from_counts(verbose: u8, quiet: u8) -> Option<Self> {
        match i16::from(verbose) - i16::from(quiet) {
            ..=-2 => Some(Self::Errors),
            -1 => Some(Self::Quiet),
            0 => None,
            1 => Some(Self::Debug),
            _ => Some(Self::Trace),
        }
    }

    fn filter(self) -> &'static str {
        match self {
            Self::Errors => "error",
            Self::Quiet => "warn",
            Self::Debug => "info,loket=debug,sqlx=warn",
            Self::Trace => "trace",
        }
    }
}

pub fn init(format: LogFormat) {
    init_with(format, None);
}

/// Starts logging; `verbosity`, when given, wins over `LOKET_LOG`.
pub fn init_with(format: LogFormat, verbosity: Option<Verbosity>) {
    let spec = match verbosity {
        Some(verbosity) => Some(verbosity.filter().to_owned()),
        None => std::env::var("LOKET_LOG").or_else(|_| std::env::var("RUST_LOG")).ok(),
    };
    let filter =
        spec.and_then(|spec| EnvFilter::try_new(spec).ok()).unwrap_or_else(|| EnvFilter::new("info,sqlx=warn"));
    // Colour only for a person at a terminal: a file or the journal gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(colour);
    let layer = match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer.json().boxed(),
    };
    let _ = tracing_subscriber::registry().with(layer.with_filter(filter).with_filter(credential_cap())).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imap_and_smtp_protocol_lines_are_capped_whatever_the_level_asked_for() {
        let cap = credential_cap();
        assert!(!cap.would_enable("async_imap::imap_stream", &tracing::Level::TRACE));
        assert!(!cap.would_enable("lettre::transport::smtp::client::async_connection", &tracing::Level::DEBUG));
        assert!(cap.would_enable("loket::source::imap", &tracing::Level::TRACE));
    }

    #[test]
    fn v_and_q_count_against_each_other() {
        assert_eq!(Verbosity::from_counts(0, 0), None);
        assert_eq!(Verbosity::from_counts(1, 1), None);
        assert_eq!(Verbosity::from_counts(0, 1), Some(Verbosity::Quiet));
        assert_eq!(Verbosity::from_counts(0, 3), Some(Verbosity::Errors));
        assert_eq!(Verbosity::from_counts(2, 0), Some(Verbosity::Trace));
    }
}
