//! The command line: `run`, `migrate`, `check`, `tickets`, `quarantine`, `outbox`, `demo`,
//! `classify`, `eval`, `train`, `report`, `status`, `forget`, `export`, `purge`, `backup`.
//! This is the binary's edge, where errors become messages for people.

mod backup;
mod check;
mod demo;
pub mod exit;
mod oauth;
mod outbox;
mod privacy;
mod quarantine;
mod report;
mod routing;
mod show;
pub mod status;
mod terminal;
mod tickets;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config};
use crate::telemetry::LogFormat;
pub use terminal::inert;

#[derive(Debug, Parser)]
#[command(
    name = "loket",
    version,
    about = "One front desk for every department mailbox",
    after_help = "Exit codes: 0 done; 1 failed; 64 not possible on this store (loket backup on \
                  PostgreSQL); 69 a server (store, mailbox, SMTP) cannot be reached or a \
                  listen address is taken; 78 the config, or a template or file it names, is wrong \
                  (restarting will not help)."
)]
pub struct Cli {
    /// The config file.
    #[arg(long, global = true, env = "LOKET_CONFIG", default_value = "loket.toml")]
    pub config: PathBuf,
    /// Log lines as text or JSON.
    #[arg(long, global = true, env = "LOKET_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// More log lines: -v for loket's debug lines, -vv for everything (wins over LOKET_LOG).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Fewer log lines: -q for warnings and errors only, -qq for errors only (wins over LOKET_LOG).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch every configured mailbox and turn each message into a ticket.
    Run,
    /// Apply the store's migrations and exit.
    Migrate,
    /// Try everything `run` needs: the config, the store, the templates, the listen
    /// addresses, every mailbox and the SMTP server (connect, TLS, login).
    Check,
    /// List or show tickets.
    #[command(subcommand)]
    Tickets(tickets::TicketsCommand),
    /// List, export, take in again or delete quarantined messages.
    #[command(subcommand)]
    Quarantine(tickets::QuarantineCommand),
    /// List the mails waiting to go out or given up, or send given-up mail again.
    #[command(subcommand)]
    Outbox(outbox::OutboxCommand),
    /// OAuth clients: obtain a token without showing it, or sign a delegated account in.
    #[command(subcommand)]
    Oauth(oauth::OAuthCommand),
    /// Run the embedded default with no server: sample Maildirs in, SQLite, mails
    /// written as files, and the status page on localhost.
    Demo {
        /// Working folder for the demo's Maildir and database (recreated on each run).
        #[arg(long, default_value = "loket-demo")]
        dir: PathBuf,
        /// Where the status page listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Take in the samples and stop, instead of running on.
        #[arg(long)]
        once: bool,
    },
    /// Erase everything about one person (their tickets, their messages, mails to
    /// them, their participant records, their quarantined mail, and the routing
    /// models that learnt from their tickets); `--dry-run` lists it first.
    Forget {
        address: String,
        #[arg(long)]
        dry_run: bool,
    },
    /// Everything loket holds about one person, as JSON on standard output, or with
    /// `--dir` as a new folder: `data.json` and the original messages as `.eml`
    /// files (`messages/`, `sent/`, `quarantine/`).
    Export {
        address: String,
        /// The folder to write (it must not exist yet).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Apply `[retention]` now: remove raw mail of long-resolved tickets, anonymise
    /// older ones, drop old quarantine; `--dry-run` only counts.
    Purge {
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy the SQLite store, consistent at one moment, to FILE (a new file) while
    /// loket runs; on PostgreSQL print how to use pg_dump and exit 64.
    Backup { file: PathBuf },
    /// Print the documented example config.
    ExampleConfig,
    /// Show which department a message would go to and why; touches nothing.
    Classify(routing::ClassifyArgs),
    /// Measure routing on labelled examples: accuracy, macro-F1, per department, confusion.
    Eval(routing::EvalArgs),
    /// Train the routing model from the shipped and the operator's examples and the
    /// departments' corrections, and store it for every instance.
    Train,
    /// Which instance reads which mailbox (since when, lease number) and when
    /// each instance was last seen.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Who still uses which old address: requests per week per mailbox, from people or
    /// automatic, rerouted, the people who use it most, and the desk address's share.
    Report(report::ReportArgs),
}

impl Cli {
    /// The log level `-v` and `-q` ask for, if any.
    pub fn verbosity(&self) -> Option<crate::telemetry::Verbosity> {
        crate::telemetry::Verbosity::from_counts(self.verbose, self.quiet)
    }
}

pub async fn execute(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo { dir, listen, once } => demo::run(&dir, listen, once).await,
        Command::ExampleConfig => {
            print!("{}", config::EXAMPLE);
            Ok(())
        }
        command => {
            let config = config::load(&cli.config)?;
            dispatch(command, Arc::new(config)).await
        }
    }
}

async fn dispatch(command: Command, config: Arc<Config>) -> Result<()> {
    match command {
        Command::Run => {
            let shutdown = CancellationToken::new();
            crate::app::cancel_on_signal(shutdown.clone());
            crate::app::run(config, shutdown).await.context("loket stopped")
        }
        Command::Migrate => {
            crate::app::open_store(&config.store).await.context("migrating the store")?;
            println!("store is up to date");
            Ok(())
        }
        Command::Check => check::run(&config).await,
        Command::Tickets(command) => tickets::tickets(command, &config).await,
        Command::Quarantine(command) => tickets::quarantine(command, config.clone()).await,
        Command::Outbox(command) => outbox::outbox(command, &config).await,
        Command::Oauth(command) => oauth::oauth(command, &config).await,
        Command::Classify(args) => routing::classify(args, config).await,
        Command::Eval(args) => routing::evaluate(args, config).await,
        Command::Train => routing::train(config).await,
        Command::Forget { address, dry_run } => privacy::forget(&address, dry_run, &config).await,
        Command::Export { address, dir } => privacy::export(&address, dir.as_deref(), &config).await,
        Command::Purge { dry_run } => privacy::purge(dry_run, &config).await,
        Command::Report(args) => report::run(args, &config).await,
        Command::Status { json } => status::run(json, &config).await,
        Command::Backup { file } => backup::run(&file, &config).await,
        Command::Demo { .. } | Command::ExampleConfig => Ok(()),
    }
}
