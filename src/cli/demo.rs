//! `loket demo`: the whole pipeline with no server. The sample Maildirs shipped
//! in `demo/maildir` are copied into a working folder, taken in into SQLite, and
//! the resulting tickets are printed.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;

use crate::config;

const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");
const MARKER: &str = ".loket-demo";

/// (mailbox folder, file name, bytes) of every sample message.
const SAMPLES: &[(&str, &str, &[u8])] = &[
    ("facility", "1793624400.M6P1.demo", include_bytes!("../../demo/maildir/facility/new/1793624400.M6P1.demo")),
    ("facility", "1793628000.M7P1.demo", include_bytes!("../../demo/maildir/facility/new/1793628000.M7P1.demo")),
    ("hr", "1793613600.M3P1.demo", include_bytes!("../../demo/maildir/hr/new/1793613600.M3P1.demo")),
    ("hr", "1793617200.M4P1.demo", include_bytes!("../../demo/maildir/hr/new/1793617200.M4P1.demo")),
    ("hr", "1793620800.M5P1.demo", include_bytes!("../../demo/maildir/hr/new/1793620800.M5P1.demo")),
    ("it", "1793606400.M1P1.demo", include_bytes!("../../demo/maildir/it/new/1793606400.M1P1.demo")),
    ("it", "1793610000.M2P1.demo", include_bytes!("../../demo/maildir/it/new/1793610000.M2P1.demo")),
];

pub async fn run(dir: &Path) -> Result<()> {
    prepare(dir)?;
    let mut config = config::load_str(DEMO_CONFIG).context("the demo config")?;
    config.store.url = format!("sqlite://{}", dir.join("loket.db").display());
    config.outbox.file_dir = Some(dir.join("outbox"));
    for mailbox in &mut config.mailboxes {
        let folder = mailbox.name.as_str().trim_end_matches("-old").to_owned();
        mailbox.maildir = Some(dir.join("maildir").join(folder));
    }
    let config = Arc::new(config);
    let store = crate::app::open_store(&config).await?;
    let pipeline = crate::app::pipeline(config.clone(), store.clone()).await?;
    let never = CancellationToken::new();
    for mailbox in &config.mailboxes {
        let outcome = crate::source::maildir::poll(&pipeline, mailbox, &never).await?;
        println!("{}: {} new tickets, {} quarantined", mailbox.name, outcome.created, outcome.quarantined);
    }
    let transport = crate::outbox::Transport::from_config(&config)?.context("the demo writes mail to files")?;
    let delivery =
        crate::outbox::drain(&store, &transport, crate::outbox::RetryPolicy::from_config(&config.outbox)).await?;
    println!();
    let tickets = store.list_tickets(100).await?;
    for t in &tickets {
        let note = t.automatic.as_deref().map(|k| format!("  [{k}: stored, no reply]")).unwrap_or_default();
        println!("{}  {:<8}  {:<28}  {}{note}", t.reference, t.department, t.requester, t.subject);
    }
    println!("\n{} tickets in {}", tickets.len(), config.store.url);
    println!(
        "{} mails (acknowledgements and department forwards) written to {}",
        delivery.sent,
        dir.join("outbox").display()
    );
    if let Some(first) = tickets.last() {
        println!("see one whole: loket tickets show {} --config {}", first.reference, dir.join("loket.toml").display());
    }
    std::fs::write(dir.join("loket.toml"), demo_config_for(dir)).context("writing the demo config")?;
    store.close().await;
    Ok(())
}

/// Recreates the working folder from the samples. Only a folder that an earlier demo
/// made (it holds the marker file) is ever removed.
fn prepare(dir: &Path) -> Result<()> {
    if dir.exists() {
        anyhow::ensure!(
            dir.join(MARKER).exists(),
            "{} exists and was not made by `loket demo`; choose another folder with --dir",
            dir.display()
        );
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    for (folder, name, bytes) in SAMPLES {
        let maildir = dir.join("maildir").join(folder);
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).with_context(|| format!("creating {}", maildir.display()))?;
        }
        std::fs::write(maildir.join("new").join(name), bytes)?;
    }
    std::fs::write(dir.join(MARKER), "made by loket demo\n")?;
    Ok(())
}

/// The demo config with the working folder's paths, so that `loket tickets` can read it.
fn demo_config_for(dir: &Path) -> String {
    DEMO_CONFIG.replace("loket-demo/", &format!("{}/", dir.display()))
}
