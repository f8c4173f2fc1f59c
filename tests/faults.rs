//! A server that fails in the middle of a drain: Dovecot restarted, the SMTP
//! server down for a minute, PostgreSQL restarted. Requests come in two waves,
//! the second while the server is away or just back; each time every request
//! ends as one ticket with one acknowledgement and one forward, nothing lost and
//! nothing twice.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::desk::{Desk, message_id};
use crate::support::{eventually, imap, request};

/// Requests per old mailbox in each wave.
const PER_MAILBOX: usize = 100;

/// Requests in all.
const TOTAL: usize = 4 * PER_MAILBOX;

/// A wave of requests (0 or 1), each from an employee of its own (so that no
/// per-person cap holds an acknowledgement back), in the old IT and Facility mailboxes.
async fn deliver(desk: &Desk, wave: usize) {
    let first = wave * 2 * PER_MAILBOX;
    for (user, offset) in [("it", first), ("facility", first + PER_MAILBOX)] {
        let messages: Vec<Vec<u8>> = (offset..offset + PER_MAILBOX)
            .map(|i| {
                request(
                    &format!("Employee {i} <employee{i}@example.org>"),
                    &format!("{user}@example.org"),
                    &format!("request {i}"),
                    "Mijn laptop start niet meer op, kunnen jullie helpen?",
                    &format!("drain-{i}@test"),
                )
            })
            .collect();
        imap::append_all(desk.dovecot.port, user, "INBOX", &messages).await;
    }
}

async fn tickets(desk: &Desk) -> i64 {
    desk.store.count_tickets().await.unwrap_or(0)
}

/// Waits until every request is a ticket and every acknowledgement and forward
/// has reached the SMTP server, then checks that each went exactly once.
async fn everything_once(desk: &Desk) {
    let total = TOTAL;
    eventually("every request a ticket", Duration::from_secs(180), || async { tickets(desk).await >= total as i64 })
        .await;
    let mails = || {
        let mut per_kind: HashMap<&'static str, HashMap<String, usize>> = HashMap::new();
        for mail in desk.sink.received() {
            let id = message_id(&mail);
            for kind in ["ack", "fwd"] {
                if id.contains(&format!(".{kind}.")) {
                    let key = if kind == "ack" { mail.rcpt_tos.join(",") } else { id.clone() };
                    *per_kind.entry(kind).or_default().entry(key).or_default() += 1;
                }
            }
        }
        per_kind
    };
    eventually("every acknowledgement and forward sent", Duration::from_secs(180), || async {
        let mails = mails();
        ["ack", "fwd"].iter().all(|kind| mails.get(kind).map_or(0, HashMap::len) >= total)
    })
    .await;
    // A little longer, so that a mail sent twice would have arrived.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mails = mails();
    assert_eq!(tickets(desk).await, total as i64, "one ticket per request");
    let acks = &mails["ack"];
    assert_eq!(acks.len(), total, "every employee acknowledged");
    let twice: Vec<(&String, &usize)> = acks.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "acknowledged more than once: {twice:?}");
    let forwards = &mails["fwd"];
    assert_eq!(forwards.len(), total, "every request forwarded");
    assert!(forwards.values().all(|n| *n == 1), "a forward went twice");
}

async fn under_way(desk: &Desk) {
    eventually("the drain under way", Duration::from_secs(60), || async { tickets(desk).await >= 20 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dovecot_restarted_mid_drain_loses_nothing_and_sends_nothing_twice() {
    let mut desk = Desk::start(false).await;
    deliver(&desk, 0).await;
    under_way(&desk).await;
    desk.dovecot.restart();
    deliver(&desk, 1).await;
    everything_once(&desk).await;
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_smtp_server_down_for_a_minute_mid_drain_delays_mail_but_sends_each_once() {
    let mut desk = Desk::start(false).await;
    deliver(&desk, 0).await;
    eventually("the first acknowledgement", Duration::from_secs(60), || async { !desk.sink.received().is_empty() })
        .await;
    desk.sink.stop();
    deliver(&desk, 1).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(tickets(&desk).await, TOTAL as i64, "requests become tickets while the SMTP server is down");
    desk.sink.resume();
    everything_once(&desk).await;
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_mid_drain_loses_nothing_and_sends_nothing_twice() {
    let mut desk = Desk::start(true).await;
    deliver(&desk, 0).await;
    under_way(&desk).await;
    let postgres = desk._postgres.as_mut().expect("a PostgreSQL desk");
    postgres.stop();
    deliver(&desk, 1).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let postgres = desk._postgres.as_mut().expect("a PostgreSQL desk");
    postgres.resume();
    everything_once(&desk).await;
    desk.stop().await;
}

/// The daemon as an operator runs it, with its logs kept quiet.
fn spawn_daemon(config: &std::path::Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(["run", "--config"])
        .arg(config)
        .env("LOKET_LOG", "error")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start loket")
}

/// Acknowledgements received per employee.
fn acks_per_employee(sink: &crate::support::smtp::SmtpSink) -> HashMap<String, usize> {
    let mut acks: HashMap<String, usize> = HashMap::new();
    for mail in sink.received() {
        if message_id(&mail).contains(".ack.") {
            *acks.entry(mail.rcpt_tos.join(",")).or_default() += 1;
        }
    }
    acks
}

/// `kill -9` at twenty random moments of a drain of 2,000 requests with their
/// acknowledgements, then a clean run: one ticket per request, every employee
/// acknowledged, and at most one acknowledgement sent again per kill. A session
/// marks each mail the server accepted before it sends the next, so a kill can
/// catch at most one accepted but unmarked mail per session; the outbox here
/// has one session (`outbox.connections = 1`), so at most one per kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_daemon_at_twenty_random_moments_of_a_drain_loses_nothing_and_acknowledges_each_request() {
    const REQUESTS: usize = 2000;
    const KILLS: usize = 20;
    crate::support::init_tracing();
    let dovecot = crate::support::dovecot::Dovecot::start(&["it", "facility"]);
    let sink = crate::support::smtp::SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes = [
        crate::support::TestMailbox::new("it-old", "it", "it"),
        crate::support::TestMailbox::new("facility-old", "facility", "facility"),
    ];
    let smtp = format!(
        "[smtp]\nhost = \"localhost\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\ntimeout_secs = 10\n\n[outbox]\nretry_base_secs = 1\nconnections = 1\n\n[ack]\nbacklog = true\n",
        sink.port,
        sink.ca_file.display()
    );
    let config = dir.path().join("loket.toml");
    std::fs::write(&config, crate::support::config_text(&url, dovecot.port, &mailboxes, &smtp)).unwrap();
    for (user, first) in [("it", 0), ("facility", REQUESTS / 2)] {
        let messages: Vec<Vec<u8>> = (first..first + REQUESTS / 2)
            .map(|i| {
                request(
                    &format!("Employee {i} <employee{i}@example.org>"),
                    &format!("{user}@example.org"),
                    &format!("request {i}"),
                    "Mijn laptop start niet meer op, kunnen jullie helpen?",
                    &format!("kill-{i}@test"),
                )
            })
            .collect();
        imap::append_all(dovecot.port, user, "INBOX", &messages).await;
    }
    let store = loket::store::Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();

    let mut mid_drain = 0;
    for _ in 0..KILLS {
        let mut daemon = spawn_daemon(&config);
        tokio::time::sleep(Duration::from_millis(rand::random_range(150..600))).await;
        daemon.kill().expect("kill -9");
        daemon.wait().unwrap();
        let acked = acks_per_employee(&sink).len();
        if store.count_tickets().await.unwrap() < REQUESTS as i64 || acked < REQUESTS {
            mid_drain += 1;
        }
    }
    assert!(mid_drain >= KILLS / 2, "most kills must land mid-drain to test anything ({mid_drain} of {KILLS})");

    let mut daemon = spawn_daemon(&config);
    eventually("every request a ticket", Duration::from_secs(180), || async {
        store.count_tickets().await.unwrap() >= REQUESTS as i64
    })
    .await;
    eventually("every employee acknowledged", Duration::from_secs(180), || async {
        acks_per_employee(&sink).len() >= REQUESTS
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    daemon.kill().expect("stop");
    daemon.wait().unwrap();

    let tickets = store.list_tickets(REQUESTS as i64 + 100).await.unwrap();
    assert_eq!(tickets.len(), REQUESTS, "exactly one ticket per request");
    let acks = acks_per_employee(&sink);
    assert_eq!(acks.len(), REQUESTS, "every employee acknowledged");
    let extra: usize = acks.values().map(|n| n - 1).sum();
    println!("{mid_drain} kills mid-drain, {extra} duplicate acknowledgements");
    assert!(extra <= KILLS, "at most one duplicate acknowledgement per kill: {extra} for {KILLS} kills");
}
