//! `loket status`: which instance reads which mailbox, since when and under
//! which lease number, and when each instance was last seen.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::clock::{display, rfc3339};
use crate::config::Config;
use crate::store::{InstanceStatus, MailboxStatus};

/// The status as one JSON document, as `loket status --json` and the operators' `/status` give it.
pub fn json(mailboxes: &[MailboxStatus], instances: &[InstanceStatus]) -> serde_json::Value {
    let mailboxes: Vec<_> = mailboxes
        .iter()
        .map(|m| {
            serde_json::json!({
                "mailbox": m.mailbox,
                "holder": m.holder,
                "since": m.since.map(rfc3339),
                "until": m.until.map(rfc3339),
                "lease": m.lease,
            })
        })
        .collect();
    let instances: Vec<_> = instances
        .iter()
        .map(|i| {
            serde_json::json!({
                "instance": i.instance,
                "started_at": rfc3339(i.started_at),
                "last_seen": rfc3339(i.last_seen),
                "live": i.live,
            })
        })
        .collect();
    serde_json::json!({ "mailboxes": mailboxes, "instances": instances })
}

pub async fn run(json_output: bool, config: &Config) -> Result<()> {
    let store =
        crate::app::open_store(config).await.with_context(|| format!("opening the store {}", config.store.url))?;
    let lease = Duration::from_secs(config.store.mailbox_lease_secs);
    let (mailboxes, instances) = store.status(lease).await.context("reading the leases")?;
    store.close().await;
    if json_output {
        println!("{}", serde_json::to_string_pretty(&json(&mailboxes, &instances))?);
        return Ok(());
    }
    println!("{:<20} {:<48} {:<17} {:>6}", "MAILBOX", "HOLDER", "SINCE", "LEASE");
    for m in &mailboxes {
        let holder = m.holder.as_deref().unwrap_or("-");
        let since = m.since.map_or_else(|| "-".to_owned(), display);
        println!("{:<20} {:<48} {:<17} {:>6}", m.mailbox, holder, since, m.lease);
    }
    println!("\n{:<48} {:<17} {:<17} STATE", "INSTANCE", "STARTED", "LAST SEEN");
    for i in &instances {
        let state = if i.live { "live" } else { "gone" };
        println!("{:<48} {:<17} {:<17} {state}", i.instance, display(i.started_at), display(i.last_seen));
    }
    Ok(())
}
