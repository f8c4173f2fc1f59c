//! End to end: a backlog in three IMAP mailboxes on a private Dovecot, drained by
//! loket into SQLite and into PostgreSQL. Prints messages per second and the
//! process's peak memory. `cargo bench --bench ingest_e2e` runs the full size;
//! under `cargo test` it runs a small smoke size.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::TestMailbox;
use support::dovecot::Dovecot;

const USERS: [&str; 3] = ["it", "hr", "facility"];

/// Writes `n` messages straight into a user's Maildir, as a delivery agent would.
fn deliver(dovecot: &Dovecot, user: &str, n: usize) {
    let maildir = dovecot.maildir(user);
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
    }
    let body = "Goedemorgen, mijn laptop start niet meer op en ik heb om elf uur een presentatie.\r\n".repeat(20);
    for i in 0..n {
        let raw = support::request(
            "Anna de Vries <anna@example.org>",
            &format!("{user}@example.org"),
            &format!("{user} request {i}"),
            &body,
            &format!("{user}-{i}@bench"),
        );
        std::fs::write(maildir.join("new").join(format!("{}.M{i}P1.bench", 1_700_000_000 + i)), raw).expect("write");
    }
    if support::is_root() {
        let home = maildir.parent().expect("home");
        let status = Command::new("chown").args(["-R", "nobody:nogroup"]).arg(home).status().expect("chown");
        assert!(status.success());
    }
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

async fn drain(store_url: &str, per_mailbox: usize) -> (f64, Duration) {
    let dovecot = Dovecot::start(&USERS);
    for user in USERS {
        deliver(&dovecot, user, per_mailbox);
    }
    let processed = "processed_folder = \"Processed\"";
    let mailboxes = [
        TestMailbox { extra: processed, ..TestMailbox::new("it-old", "it", "it") },
        TestMailbox { extra: processed, ..TestMailbox::new("hr-old", "hr", "hr") },
        TestMailbox { extra: processed, ..TestMailbox::new("facility-old", "facility", "facility") },
    ];
    let config = support::config(store_url, dovecot.port, &mailboxes, "");
    let store = loket::store::Store::connect(store_url, 2).await.expect("store");
    store.migrate().await.expect("migrate");
    let total = (per_mailbox * USERS.len()) as i64;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let start = Instant::now();
    let daemon = tokio::spawn(loket::app::run(Arc::new(config), shutdown.clone()));
    while store.count_tickets().await.expect("count") < total {
        assert!(start.elapsed() < Duration::from_secs(600), "the backlog did not drain in 10 minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed();
    shutdown.cancel();
    daemon.await.expect("join").expect("daemon");
    (total as f64 / elapsed.as_secs_f64(), elapsed)
}

fn main() {
    support::init_tracing();
    let full = std::env::args().any(|a| a == "--bench");
    let per_mailbox = if full { 5_000 } else { 50 };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let sqlite = support::sqlite_url(dir.path());
        let (rate, took) = drain(&sqlite, per_mailbox).await;
        println!(
            "ingest_e2e sqlite: {} messages in 3 mailboxes drained in {:.1} s: {rate:.0} messages/s, peak RSS {:.0} MiB",
            per_mailbox * 3,
            took.as_secs_f64(),
            peak_rss_mib()
        );
        let postgres = support::postgres::Postgres::start();
        let url = postgres.database("bench").await;
        let (rate, took) = drain(&url, per_mailbox).await;
        println!(
            "ingest_e2e postgres: {} messages in 3 mailboxes drained in {:.1} s: {rate:.0} messages/s, peak RSS {:.0} MiB",
            per_mailbox * 3,
            took.as_secs_f64(),
            peak_rss_mib()
        );
    });
}
