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

/// The daemon's peak resident memory so far, in MiB (Linux).
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    kib / 1024
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
        if out.len() % 78 == 76 {
            out.push_str("\r\n");
        }
    }
    out
}

/// Mail shaped to exhaust a reader: one endless word, a 10 MB header line,
/// 10,000 parts, 200 nested attached messages.
fn hostile_mails() -> Vec<Vec<u8>> {
    let head = |id: &str, extra: &str| {
        format!(
            "From: Mallory <mallory@example.org>\r\nTo: it@example.org\r\nSubject: hostile {id}\r\nMessage-ID: <{id}@test>\r\nDate: Mon, 02 Nov 2026 09:00:00 +0100\r\nMIME-Version: 1.0\r\n{extra}"
        )
    };
    // Letters in no repeating pattern: almost every 4-gram of the word is new.
    let mut seed = 0x2545_f491_u32;
    let word: String = (0..120_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            char::from(b'a' + (seed % 26) as u8)
        })
        .collect();
    let long_word = format!(
        "{}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        head("word", ""),
        base64(word.as_bytes())
    );
    let long_header = format!(
        "{}X-Padding: {}\r\nContent-Type: text/plain\r\n\r\nhello\r\n",
        head("header", ""),
        "x".repeat(10 * 1024 * 1024)
    );
    let mut parts = head("parts", "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n");
    for i in 0..10_000 {
        parts.push_str(&format!("--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"));
    }
    parts.push_str("--b--\r\n");
    let mut nested = String::from("From: a@example.org\r\nSubject: innermost\r\n\r\nbottom\r\n");
    for _ in 0..200 {
        nested = format!("From: a@example.org\r\nSubject: wrap\r\nContent-Type: message/rfc822\r\n\r\n{nested}");
    }
    let nested = format!("{}Content-Type: message/rfc822\r\n\r\n{nested}", head("nested", ""));
    vec![long_word.into_bytes(), long_header.into_bytes(), parts.into_bytes(), nested.into_bytes()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_mail_never_kills_the_daemon_and_the_next_request_still_becomes_a_ticket() {
    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = support::sqlite_url(dir.path());
    let config_path = dir.path().join("loket.toml");
    let mailboxes = [TestMailbox::new("it-old", "it", "it")];
    std::fs::write(&config_path, support::config_text(&url, dovecot.port, &mailboxes, "")).unwrap();
    let mut messages = hostile_mails();
    let hostile = messages.len() as i64;
    messages.push(request("Anna <anna@example.org>", "it@example.org", "Laptop", "My laptop is broken", "normal@test"));
    imap::append_all(dovecot.port, "it", "INBOX", &messages).await;

    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let mut daemon = spawn_daemon(&config_path);
    let pid = daemon.id();
    let mut peak = 0;
    eventually("every message a ticket or in quarantine", Duration::from_secs(120), || {
        peak = peak.max(peak_rss_mib(pid));
        let store = store.clone();
        async move {
            let stored = store.count_messages().await.unwrap_or(0);
            let quarantined = store.list_quarantine(100).await.map(|q| q.len() as i64).unwrap_or(0);
            stored + quarantined == hostile + 1
        }
    })
    .await;
    peak = peak.max(peak_rss_mib(pid));
    assert!(daemon.try_wait().unwrap().is_none(), "the daemon is still running");
    let tickets = store.list_tickets(100).await.unwrap();
    assert!(tickets.iter().any(|t| t.subject == "Laptop"), "the ordinary request after the hostile ones is a ticket");
    assert!(peak > 0 && peak < 256, "peak RSS {peak} MiB while reading hostile mail");
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_cannot_be_stored_is_quarantined_after_its_tries_across_a_restart_and_the_rest_go_on() {
    let postgres = support::postgres::Postgres::start();
    let url = postgres.database("poison").await;
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    // A fault the database itself raises for one message, every time it is stored.
    let admin = format!("postgres://postgres@127.0.0.1:{}/poison", postgres.port);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.unwrap();
    sqlx::query(
        "CREATE FUNCTION refuse_poison() RETURNS trigger AS $$ BEGIN
           IF NEW.subject = 'poison' THEN RAISE EXCEPTION 'this message is refused'; END IF; RETURN NEW;
         END $$ LANGUAGE plpgsql",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("CREATE TRIGGER refuse_poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_poison()")
        .execute(&mut conn)
        .await
        .unwrap();

    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("loket.toml");
    let mailboxes =
        [TestMailbox { extra: "processed_folder = \"Processed\"", ..TestMailbox::new("it-old", "it", "it") }];
    let extra = "[ingest]\nbatch_size = 100\nmax_store_attempts = 3\n";
    std::fs::write(&config_path, support::config_text(&url, dovecot.port, &mailboxes, extra)).unwrap();
    let mut messages: Vec<Vec<u8>> = (0..100)
        .map(|i| {
            let subject = if i == 50 { "poison".to_owned() } else { format!("request {i}") };
            request("Anna <anna@example.org>", "it@example.org", &subject, "help", &format!("p{i}@test"))
        })
        .collect();
    // A quoted-printable NUL: PostgreSQL's text columns cannot hold it.
    messages.push(
        b"From: Bob <bob@example.org>\r\nTo: it@example.org\r\nSubject: nul\r\nMessage-ID: <nul@test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nmy printer=00 is broken\r\n"
            .to_vec(),
    );
    imap::append_all(dovecot.port, "it", "INBOX", &messages).await;

    let mut daemon = spawn_daemon(&config_path);
    let attempts = || async {
        sqlx::query_scalar::<_, i64>("SELECT COALESCE(MAX(attempts), 0) FROM ingest_failures")
            .fetch_one(&mut <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.unwrap())
            .await
            .unwrap()
    };
    eventually("a first failed try", Duration::from_secs(60), || async { attempts().await >= 1 }).await;
    daemon.kill().expect("kill -9");
    daemon.wait().unwrap();
    assert!(attempts().await < 3, "not quarantined before the restart");

    let mut daemon = spawn_daemon(&config_path);
    eventually("every other message a ticket", Duration::from_secs(120), || async {
        store.count_tickets().await.unwrap() == 100
    })
    .await;
    eventually("the poison message quarantined", Duration::from_secs(60), || async {
        !store.list_quarantine(10).await.unwrap().is_empty()
    })
    .await;
    let quarantine = store.list_quarantine(10).await.unwrap();
    assert_eq!(quarantine.len(), 1);
    assert!(
        quarantine[0].reason.contains("3 times") && quarantine[0].reason.contains("refused"),
        "{}",
        quarantine[0].reason
    );
    let tickets = store.list_tickets(200).await.unwrap();
    assert!(!tickets.iter().any(|t| t.subject == "poison"));
    let nul = tickets.iter().find(|t| t.subject == "nul").expect("the NUL message is a ticket");
    let detail = store.ticket(nul.reference.as_str()).await.unwrap();
    assert_eq!(detail.messages[0].text_body.trim(), "my printer\u{FFFD} is broken");
    eventually("an empty inbox", Duration::from_secs(30), || async {
        imap::count(dovecot.port, "it", "INBOX").await == 0
    })
    .await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_mails_arriving_in_two_mailboxes_at_once_make_one_ticket_each_on_postgresql() {
    const MAILS: usize = 50;
    let postgres = support::postgres::Postgres::start();
    let url = postgres.database("copies").await;
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let dovecot = Dovecot::start(&["it", "facility"]);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("loket.toml");
    let mailboxes = [TestMailbox::new("it-old", "it", "it"), TestMailbox::new("facility-old", "facility", "facility")];
    let extra = "[ack]\nbacklog = true\nmax_per_recipient_per_hour = 1000\n";
    std::fs::write(&config_path, support::config_text(&url, dovecot.port, &mailboxes, extra)).unwrap();
    // One mail to both old addresses: each copy carries its own delivery header.
    let copies = |user: &str| -> Vec<Vec<u8>> {
        (0..MAILS)
            .map(|i| {
                let mail = request(
                    "Anna <anna@example.org>",
                    "it@example.org, facility@example.org",
                    &format!("desk and chair {i}"),
                    "My desk and my laptop both need attention",
                    &format!("both{i}@test"),
                );
                [format!("Delivered-To: {user}@example.org\r\n").into_bytes(), mail].concat()
            })
            .collect()
    };
    imap::append_all(dovecot.port, "it", "INBOX", &copies("it")).await;
    imap::append_all(dovecot.port, "facility", "INBOX", &copies("facility")).await;

    let mut daemon = spawn_daemon(&config_path);
    eventually("both copies of every mail stored", Duration::from_secs(90), || async {
        store.count_messages().await.unwrap() == 2 * MAILS as i64
    })
    .await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert_eq!(store.count_tickets().await.unwrap(), MAILS as i64, "one ticket per mail");
    let admin = format!("postgres://postgres@127.0.0.1:{}/copies", postgres.port);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.unwrap();
    let acks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'ack'").fetch_one(&mut conn).await.unwrap();
    assert_eq!(acks, MAILS as i64, "one acknowledgement per mail");
}
