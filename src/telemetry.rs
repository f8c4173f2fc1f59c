//! Logs: human-readable by default, JSON lines with `--log-format json`; colour
//! only when standard error is a terminal (and `NO_COLOR` is unset).
//! The level comes from `LOKET_LOG` (or `RUST_LOG`), `info` when neither is set.
//!
//! Some libraries log protocol lines that carry credentials: async-imap traces
//! every command it encodes (the `LOGIN` with its password among them), and
//! lettre, when built with tracing, writes SMTP `AUTH` lines at debug. Those
//! targets are capped below the levels that carry such lines whatever `LOKET_LOG`
//! asks for, so passwords never reach a log.

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

pub fn init(format: LogFormat) {
    let filter = std::env::var("LOKET_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|spec| EnvFilter::try_new(spec).ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn"));
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
}
