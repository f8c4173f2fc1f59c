//! `loket demo`: the whole pipeline with no server. The sample Maildirs shipped
//! in `demo/maildir` are copied into a working folder, taken in into SQLite, the
//! mails written as files and the resulting tickets printed; then loket keeps
//! running on that folder with the status page on localhost, until Ctrl-C.

use std::net::SocketAddr;
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

/// IT's answer to the first request, dropped into the desk's inbox once the
/// forward it replies to exists: a department speaks only by answering the mail
/// loket sent it.
const DESK_ANSWER: (&str, &str, &[u8]) =
    ("desk", "1793631600.M8P1.demo", include_bytes!("../../demo/maildir/desk/new/1793631600.M8P1.demo"));

/// Runs the demo in `dir` with the status page on `listen`; with `once`, stops
/// after the samples instead of running on.
pub async fn run(dir: &Path, listen: SocketAddr, once: bool) -> Result<()> {
    prepare(dir)?;
    let text = demo_config_for(dir, listen);
    let config = Arc::new(config::load_str(&text).context("the demo config")?);
    // Bound first: a taken port stops the demo before it does anything.
    let listeners = if once { None } else { Some(crate::web::bind(&config.web).await?) };
    let store = crate::app::open_store(&config.store).await?;
    let pipeline = crate::app::pipeline(config.clone(), store.clone()).await?;
    let never = CancellationToken::new();
    let transport =
        crate::outbound::outbox::Transport::from_config(&config.outbox, config.smtp.as_ref(), &config.oauth)?
            .context("the demo writes mail to files")?;
    let sending = crate::outbound::outbox::Sending::from_config(&config);
    let mut sent = 0;
    for round in 0..2 {
        if round == 1 {
            answer_first_forward(dir, &store).await?;
        }
        for mailbox in &config.mailboxes {
            let outcome = crate::source::maildir::poll(&pipeline, mailbox, &never).await?;
            if outcome.created + outcome.joined + outcome.quarantined > 0 {
                println!(
                    "{}: {} new tickets, {} joined a ticket, {} quarantined",
                    mailbox.name, outcome.created, outcome.joined, outcome.quarantined
                );
            }
        }
        sent += crate::outbound::outbox::drain(&store, &transport, sending).await?.sent;
    }
    println!();
    let tickets = store.list_tickets(100).await?;
    for t in &tickets {
        let note = t.automatic.map(|k| format!("  [{k}: stored, no reply]")).unwrap_or_default();
        let line = format!("{}  {:<8}  {:<28}  {}{note}", t.reference, t.department, t.requester, t.subject);
        println!("{}", super::inert(&line));
    }
    println!("\n{} tickets in {}", tickets.len(), config.store.url);
    println!("{} mails (acknowledgements, forwards and answers) written to {}", sent, dir.join("outbox").display());
    // Paths in a config file are relative to its folder: the demo folder itself.
    let saved = DEMO_CONFIG.replace("loket-demo/", "").replace("127.0.0.1:8080", &listen.to_string());
    std::fs::write(dir.join("loket.toml"), saved).context("writing the demo config")?;
    let Some(first) = tickets.last() else { return Ok(()) };
    println!("see one whole: loket tickets show {} --config {}", first.reference, dir.join("loket.toml").display());
    let reference = first.reference.clone();
    let generation = store.link_generation(reference.as_str()).await?.unwrap_or(crate::sign::FIRST_LINK);
    let token = pipeline.signer().tracking_token(&reference, generation);
    let link = format!("{}/t/{reference}?k={token}", config.desk.base_url);
    store.close().await;
    let Some(listeners) = listeners else {
        println!("its status page (while loket runs): {link}");
        return Ok(());
    };
    println!("\nopen its status page: {link}");
    println!("loket keeps running on {} (Ctrl-C stops it)", dir.display());
    let shutdown = CancellationToken::new();
    crate::app::cancel_on_signal(shutdown.clone());
    crate::app::run_on(config, listeners, shutdown).await?;
    Ok(())
}

/// Writes IT's sample answer into the desk's inbox as a reply to the forward of
/// the first ticket, as a department member's mail program would.
async fn answer_first_forward(dir: &Path, store: &crate::store::Store) -> Result<()> {
    let (folder, name, bytes) = DESK_ANSWER;
    let first = store.ticket("SD-00001").await.context("the first demo ticket")?;
    let forward = first
        .outbox
        .iter()
        .find(|o| o.kind == crate::domain::MailKind::Forward)
        .context("the first ticket's forward")?;
    let threading = format!("In-Reply-To: <{0}>\r\nReferences: <{0}>\r\n", forward.message_id);
    let maildir = dir.join("maildir").join(folder);
    std::fs::write(maildir.join("new").join(name), [threading.as_bytes(), bytes].concat())?;
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
    for (folder, name, bytes) in SAMPLES.iter().chain([&DESK_ANSWER]) {
        let maildir = dir.join("maildir").join(folder);
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).with_context(|| format!("creating {}", maildir.display()))?;
        }
        if *folder != DESK_ANSWER.0 {
            std::fs::write(maildir.join("new").join(name), bytes)?;
        }
    }
    std::fs::write(dir.join(MARKER), "made by loket demo\n")?;
    Ok(())
}

/// The demo config with the working folder's paths (so that `loket tickets` can
/// read it) and the status page's address.
fn demo_config_for(dir: &Path, listen: SocketAddr) -> String {
    DEMO_CONFIG.replace("loket-demo/", &format!("{}/", dir.display())).replace("127.0.0.1:8080", &listen.to_string())
}
