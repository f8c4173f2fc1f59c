//! `kill -9` in the middle of a backlog, then a restart: every message exactly once.

mod support;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use loket::store::Store;
use support::dovecot::Dovecot;
use support::{TestMailbox, eventually, imap, request};

const MESSAGES: usize = 3000;

fn spawn_daemon(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(["run", "--config"])
        .arg(config)
        .env("LOKET_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start loket")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_daemon_mid_batch_loses_nothing_and_duplicates_nothing() {
    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = support::sqlite_url(dir.path());
    let mailboxes =
        [TestMailbox { extra: "processed_folder = \"Processed\"", ..TestMailbox::new("it-old", "it", "it") }];
    let config_path = dir.path().join("loket.toml");
    std::fs::write(&config_path, support::config_text(&url, dovecot.port, &mailboxes, "[ingest]\nbatch_size = 100\n"))
        .unwrap();
    let messages: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|i| {
            request("Anna <anna@example.org>", "it@example.org", &format!("request {i}"), "help", &format!("m{i}@test"))
        })
        .collect();
    imap::append_all(dovecot.port, "it", "INBOX", &messages).await;

    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();

    let mut kills = 0;
    let mut seen_mid_batch = Vec::new();
    for _ in 0..2 {
        let mut daemon = spawn_daemon(&config_path);
        let before = store.count_tickets().await.unwrap();
        eventually("progress", Duration::from_secs(60), || async {
            store.count_tickets().await.unwrap() > before + 50
        })
        .await;
        daemon.kill().expect("kill -9");
        daemon.wait().unwrap();
        kills += 1;
        seen_mid_batch.push(store.count_tickets().await.unwrap());
    }
    assert_eq!(kills, 2);
    assert!(
        seen_mid_batch.iter().all(|&n| n > 0 && n < MESSAGES as i64),
        "the kills must land mid-backlog to test anything: {seen_mid_batch:?}"
    );

    let mut daemon = spawn_daemon(&config_path);
    eventually("all tickets", Duration::from_secs(120), || async {
        store.count_tickets().await.unwrap() >= MESSAGES as i64
    })
    .await;
    eventually("an empty inbox", Duration::from_secs(30), || async {
        imap::count(dovecot.port, "it", "INBOX").await == 0
    })
    .await;
    // SIGTERM: a graceful stop.
    Command::new("kill").arg("-TERM").arg(daemon.id().to_string()).status().unwrap();
    let status = daemon.wait().unwrap();
    assert!(status.success(), "a SIGTERM stop exits cleanly: {status}");

    let tickets = store.list_tickets(MESSAGES as i64 + 100).await.unwrap();
    assert_eq!(tickets.len(), MESSAGES, "exactly one ticket per message");
    let ids: HashSet<String> = tickets.iter().filter_map(|t| t.message_id.clone()).collect();
    assert_eq!(ids.len(), MESSAGES, "no message twice");
    assert_eq!(store.count_messages().await.unwrap(), MESSAGES as i64);
    assert_eq!(imap::count(dovecot.port, "it", "Processed").await, MESSAGES as u32, "every message moved once");
}
