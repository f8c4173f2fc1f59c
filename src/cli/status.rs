//! `loket status`: which instance reads which mailbox, since when and under
//! which lease number, and when each instance was last seen.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::clock::display;
use crate::config::Config;
use crate::web::status_json as json;

pub async fn run(json_output: bool, config: &Config) -> Result<()> {
    let store = crate::app::open_store(&config.store)
        .await
        .with_context(|| format!("opening the store {}", config.store.url))?;
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
