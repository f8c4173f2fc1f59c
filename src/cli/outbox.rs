//! `loket outbox`: the mails waiting to go out or given up, and sending a given-up
//! mail again.

use std::io::Write;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::json;

use crate::clock;
use crate::config::Config;
use crate::domain::OutboxState;
use crate::store::{QueuedMail, Requeue, Store};

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// The mails waiting to be sent and the ones given up, oldest first.
    List {
        /// Only the mails given up.
        #[arg(long)]
        failed: bool,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 1000)]
        limit: i64,
    },
    /// Put given-up mail back in the queue, due now (while its body is kept).
    Retry {
        /// The mail's id, as `loket outbox list` shows it.
        #[arg(required_unless_present = "failed", conflicts_with = "failed")]
        id: Option<String>,
        /// Every given-up mail whose body is still kept.
        #[arg(long)]
        failed: bool,
    },
}

pub async fn outbox(command: OutboxCommand, config: &Config) -> Result<()> {
    let store = crate::app::open_store(&config.store)
        .await
        .with_context(|| format!("opening the store {}", config.store.url))?;
    let mut out = super::terminal::stdout();
    match command {
        OutboxCommand::List { failed, json, limit } => {
            let mails = store.outbox_queue(failed, limit).await?;
            if json {
                for mail in &mails {
                    writeln!(out, "{}", mail_json(mail))?;
                }
            } else {
                print_table(&mut out, &mails)?;
            }
        }
        OutboxCommand::Retry { id: Some(id), .. } => {
            let why = match store.requeue(&id, clock::now_ms()).await? {
                Requeue::Queued => {
                    writeln!(out, "{id} queued again")?;
                    return Ok(());
                }
                Requeue::NotFound => "there is no such mail in the outbox".to_owned(),
                Requeue::NotGivenUp(state) => format!("it is {state}, not given up"),
                Requeue::BodyWiped => format!(
                    "it was given up more than outbox.keep_failed_days ({}) ago and its body is wiped",
                    config.outbox.keep_failed_days
                ),
            };
            bail!("{id} cannot be sent again: {why}");
        }
        OutboxCommand::Retry { .. } => retry_all(&store, config, &mut out).await?,
    }
    Ok(())
}

async fn retry_all(store: &Store, config: &Config, out: &mut impl Write) -> Result<()> {
    let (mut queued, mut wiped) = (0, 0);
    for id in store.given_up_ids().await? {
        match store.requeue(&id, clock::now_ms()).await? {
            Requeue::Queued => queued += 1,
            Requeue::BodyWiped => wiped += 1,
            Requeue::NotFound | Requeue::NotGivenUp(_) => {}
        }
    }
    writeln!(out, "{queued} given-up mails queued again")?;
    if wiped > 0 {
        writeln!(
            out,
            "{wiped} given up more than outbox.keep_failed_days ({}) ago have no body left and stay given up",
            config.outbox.keep_failed_days
        )?;
    }
    Ok(())
}

fn mail_json(mail: &QueuedMail) -> serde_json::Value {
    let mut value = serde_json::to_value(mail).unwrap_or_else(|_| json!({}));
    value["next_attempt"] = json!(clock::rfc3339(mail.next_attempt_at));
    value["queued"] = json!(clock::rfc3339(mail.created_at));
    value["can_retry"] = json!(mail.state == OutboxState::Failed && mail.body_bytes > 0);
    value
}

fn print_table(out: &mut impl Write, mails: &[QueuedMail]) -> std::io::Result<()> {
    if mails.is_empty() {
        return writeln!(out, "the outbox is empty");
    }
    writeln!(
        out,
        "{:<36} {:<8} {:<32} {:<10} {:<8} {:>8} {:<16} LAST ERROR",
        "ID", "KIND", "RECIPIENT", "TICKET", "STATE", "ATTEMPTS", "NEXT ATTEMPT"
    )?;
    for mail in mails {
        let next = match mail.state.read() {
            Some(OutboxState::Pending) => clock::display(mail.next_attempt_at),
            _ if mail.body_bytes > 0 => "retry possible".to_owned(),
            _ => "body wiped".to_owned(),
        };
        writeln!(
            out,
            "{:<36} {:<8} {:<32} {:<10} {:<8} {:>8} {:<16} {}",
            mail.id,
            mail.kind,
            mail.recipient,
            mail.reference,
            mail.state,
            mail.attempts,
            next,
            mail.last_error.as_deref().unwrap_or("")
        )?;
    }
    Ok(())
}
