//! End to end, into SQLite and into PostgreSQL, on a private Dovecot:
//! - backlog: a backlog in three IMAP mailboxes drained by loket; prints
//!   messages per second and the process's peak memory;
//! - requests: new requests dropped into three mailboxes while loket runs, done
//!   when Postfix's `smtp-sink` has accepted both their mails (see `e2e/requests.rs`).
//!
//! `cargo bench --bench ingest_e2e` runs the full sizes; under `cargo test` it
//! runs small smoke sizes. `BENCH_SCENARIOS` picks the scenarios (`backlog`,
//! `requests`, default both), `BENCH_STORES` the stores (`sqlite`,
//! `postgres`, default both), `BENCH_REQUESTS` and `BENCH_TRICKLE`
//! the number of requests in the burst and in the trickle, `BENCH_CONNECTIONS`
//! the SMTP sessions at once (16), and `BENCH_SINK=dump` has `smtp-sink` dump
//! every mail so that each request's acknowledgement and forward are timed
//! apart (costly for `smtp-sink`; by default it counts). `scripts/bench-e2e`
//! runs it.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "e2e/requests.rs"]
mod requests;
#[path = "e2e/sink.rs"]
mod sink;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::TestMailbox;
use support::dovecot::Dovecot;

const USERS: [&str; 3] = ["it", "hr", "facility"];

/// Writes `n` messages straight into a user's Maildir, as a delivery agent would:
/// four in five already read (`cur/`, flag `S`), as in an old mailbox its
/// department has worked through, the rest unread in `new/`.
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
        let name = format!("{}.M{i}P1.bench", 1_700_000_000 + i);
        let path =
            if unread(i) { maildir.join("new").join(name) } else { maildir.join("cur").join(format!("{name}:2,S")) };
        std::fs::write(path, raw).expect("write");
    }
    if support::is_root() {
        let home = maildir.parent().expect("home");
        let status = Command::new("chown").args(["-R", "nobody:nogroup"]).arg(home).status().expect("chown");
        assert!(status.success());
    }
}

/// One in five backlog messages is unread, and so forwarded; the rest is history.
fn unread(i: usize) -> bool {
    i.is_multiple_of(5)
}

/// How long the backlog took to store, and then until its forwards were out.
struct Drained {
    stored: Duration,
    forwarded: Option<Duration>,
    forwards: usize,
}

async fn drain(store_url: &str, per_mailbox: usize) -> Drained {
    let dovecot = Dovecot::start(&USERS);
    for user in USERS {
        deliver(&dovecot, user, per_mailbox);
    }
    // With `smtp-sink` the unread part's forwards go out; without it they wait.
    let sink = sink::Sink::available().then(|| sink::Sink::start(sink::Mode::Count));
    let smtp = sink
        .as_ref()
        .map_or(String::new(), |sink| format!("[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n", sink.port));
    let processed = "processed_folder = \"Processed\"";
    let mailboxes = [
        TestMailbox { extra: processed, ..TestMailbox::new("it-old", "it", "it") },
        TestMailbox { extra: processed, ..TestMailbox::new("hr-old", "hr", "hr") },
        TestMailbox { extra: processed, ..TestMailbox::new("facility-old", "facility", "facility") },
    ];
    let config = support::config(store_url, dovecot.port, &mailboxes, &smtp);
    let store = loket::store::Store::connect(store_url, 2).await.expect("store");
    store.migrate().await.expect("migrate");
    let total = (per_mailbox * USERS.len()) as i64;
    let shutdown = tokio_util::sync::CancellationToken::new();
    requests::reset_peak_rss();
    let start = Instant::now();
    let daemon = tokio::spawn(loket::app::run(Arc::new(config), shutdown.clone()));
    let limit = Duration::from_secs(600);
    while store.count_tickets().await.expect("count") < total {
        assert!(start.elapsed() < limit, "the backlog did not drain in 10 minutes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stored = start.elapsed();
    let forwards = (0..per_mailbox).filter(|i| unread(*i)).count() * USERS.len();
    let forwarded = if sink.is_some() {
        while store.outbox_depth().await.expect("outbox depth") > 0 {
            assert!(start.elapsed() < limit, "the backlog's forwards did not go out in 10 minutes");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(start.elapsed())
    } else {
        None
    };
    shutdown.cancel();
    daemon.await.expect("join").expect("daemon");
    Drained { stored, forwarded, forwards }
}

fn wanted(variable: &str, what: &str) -> bool {
    std::env::var(variable).map_or(true, |list| list.split(',').any(|w| w.trim() == what))
}

fn size(variable: &str, default: usize) -> usize {
    std::env::var(variable).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    support::init_tracing();
    let full = std::env::args().any(|a| a == "--bench");
    let per_mailbox = if full { 5_000 } else { 50 };
    let sizes = requests::Sizes {
        burst: size("BENCH_REQUESTS", if full { 2_000 } else { 60 }),
        trickle: size("BENCH_TRICKLE", if full { 100 } else { 10 }),
        trickle_every: Duration::from_millis(200),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        for store in ["sqlite", "postgres"] {
            if !wanted("BENCH_STORES", store) {
                continue;
            }
            let dir = tempfile::tempdir().expect("temp dir");
            let postgres = (store == "postgres").then(support::postgres::Postgres::start);
            let mut database = 0;
            let mut url = async || match &postgres {
                None => {
                    database += 1;
                    format!("sqlite://{}", dir.path().join(format!("loket{database}.db")).display())
                }
                Some(postgres) => {
                    database += 1;
                    postgres.database(&format!("bench{database}")).await
                }
            };
            if wanted("BENCH_SCENARIOS", "requests") {
                if full || sink::Sink::available() {
                    requests::run(&url().await, &sizes).await.print(store);
                } else {
                    // The test command's smoke run does not install Postfix; the bench does.
                    println!("ingest_e2e {store}: requests scenario left out: smtp-sink is not installed");
                }
            }
            if wanted("BENCH_SCENARIOS", "backlog") {
                let drained = drain(&url().await, per_mailbox).await;
                let total = per_mailbox * USERS.len();
                let rate = |took: Duration| total as f64 / took.as_secs_f64();
                println!(
                    "ingest_e2e {store}: backlog of {total} messages in 3 mailboxes ({} unread, forwarded; the rest history) stored in {:.1} s: {:.0} messages/s, peak RSS {:.0} MiB",
                    drained.forwards,
                    drained.stored.as_secs_f64(),
                    rate(drained.stored),
                    requests::peak_rss_mib()
                );
                if let Some(took) = drained.forwarded {
                    println!(
                        "ingest_e2e {store}: the backlog with its {} forwards accepted by smtp-sink in {:.1} s: {:.0} messages/s",
                        drained.forwards,
                        took.as_secs_f64(),
                        rate(took)
                    );
                }
            }
        }
    });
}
