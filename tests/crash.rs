//! `kill -9` in the middle of a backlog, then a restart: every message exactly once.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::dovecot::Dovecot;
use crate::support::{TestMailbox, eventually, imap, request};
use loket::store::Store;

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
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes =
        [TestMailbox { extra: "processed_folder = \"Processed\"", ..TestMailbox::new("it-old", "it", "it") }];
    let config_path = dir.path().join("loket.toml");
    std::fs::write(
        &config_path,
        crate::support::config_text(&url, dovecot.port, &mailboxes, "[ingest]\nbatch_size = 100\n"),
    )
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
    let url = crate::support::sqlite_url(dir.path());
    let config_path = dir.path().join("loket.toml");
    let mailboxes = [TestMailbox::new("it-old", "it", "it")];
    std::fs::write(&config_path, crate::support::config_text(&url, dovecot.port, &mailboxes, "")).unwrap();
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
    let postgres = crate::support::postgres::Postgres::start();
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
    std::fs::write(&config_path, crate::support::config_text(&url, dovecot.port, &mailboxes, extra)).unwrap();
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

/// A database that is only busy (here: a deadlock it reports for one message,
/// for a while) counts far less against the message: past
/// `ingest.max_store_attempts` tries the message is not quarantined, and it
/// becomes a ticket once the database can store it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_the_database_is_too_busy_to_store_is_not_quarantined_after_its_usual_tries() {
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("busy").await;
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let admin = format!("postgres://postgres@127.0.0.1:{}/busy", postgres.port);
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.unwrap();
    for statement in [
        "CREATE TABLE busy (on_now boolean NOT NULL)",
        "INSERT INTO busy VALUES (true)",
        // A sequence counts the tries: it is not rolled back with them.
        "CREATE SEQUENCE busy_tries",
        "CREATE FUNCTION deadlock_busy() RETURNS trigger AS $$ BEGIN
           IF NEW.subject = 'busy' AND (SELECT on_now FROM busy) THEN
             PERFORM nextval('busy_tries');
             RAISE EXCEPTION 'deadlock detected' USING ERRCODE = '40P01';
           END IF;
           RETURN NEW;
         END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER deadlock_busy BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION deadlock_busy()",
    ] {
        sqlx::query(statement).execute(&mut conn).await.unwrap();
    }
    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("loket.toml");
    let mailboxes =
        [TestMailbox { extra: "processed_folder = \"Processed\"", ..TestMailbox::new("it-old", "it", "it") }];
    let extra = "[ingest]\nmax_store_attempts = 2\n";
    std::fs::write(&config_path, crate::support::config_text(&url, dovecot.port, &mailboxes, extra)).unwrap();
    let messages = vec![
        request("Anna <anna@example.org>", "it@example.org", "busy", "my laptop", "busy@test"),
        request("Bob <bob@example.org>", "it@example.org", "printer", "out of toner", "printer@test"),
    ];
    imap::append_all(dovecot.port, "it", "INBOX", &messages).await;
    let mut daemon = spawn_daemon(&config_path);
    let tries = || async {
        sqlx::query_scalar::<_, i64>("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM busy_tries")
            .fetch_one(&mut <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.unwrap())
            .await
            .unwrap()
    };
    eventually("more tries than ingest.max_store_attempts, or a quarantine", Duration::from_secs(90), || async {
        tries().await >= 5 || !store.list_quarantine(10).await.unwrap().is_empty()
    })
    .await;
    assert!(store.list_quarantine(10).await.unwrap().is_empty(), "a busy database is not the message's fault");
    sqlx::query("UPDATE busy SET on_now = false").execute(&mut conn).await.unwrap();
    eventually("both messages tickets", Duration::from_secs(90), || async {
        store.count_tickets().await.unwrap() == 2
    })
    .await;
    assert!(store.list_quarantine(10).await.unwrap().is_empty());
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_mails_arriving_in_two_mailboxes_at_once_make_one_ticket_each_on_postgresql() {
    const MAILS: usize = 50;
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("copies").await;
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let dovecot = Dovecot::start(&["it", "facility"]);
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("loket.toml");
    let mailboxes = [TestMailbox::new("it-old", "it", "it"), TestMailbox::new("facility-old", "facility", "facility")];
    // Backlog acknowledged and forwarded, however old the samples are.
    let extra = "[ack]\nbacklog = true\nmax_per_recipient_per_hour = 1000\n[ingest]\nbacklog_forward_days = 100000\n";
    std::fs::write(&config_path, crate::support::config_text(&url, dovecot.port, &mailboxes, extra)).unwrap();
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

/// A loket config with one Maildir mailbox in `dir/it`, on `store_url`, with `extra` TOML.
fn maildir_config(dir: &std::path::Path, store_url: &str, extra: &str) -> std::path::PathBuf {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join("it").join(sub)).unwrap();
    }
    let text = format!(
        "[store]\nurl = \"{store_url}\"\n[desk]\nname = \"D\"\naddress = \"d@example.org\"\nbase_url = \"http://127.0.0.1\"\n\
         [web]\nlisten = \"127.0.0.1:{}\"\n{extra}\n\
         [[departments]]\nid = \"it\"\nname = \"IT\"\nqueue_address = \"q@example.org\"\n\
         [[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nmaildir = \"{}\"\npoll_interval_secs = 1\n",
        crate::support::free_port(),
        dir.join("it").display()
    );
    let path = dir.join("loket.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn deliver(dir: &std::path::Path, name: &str, id: &str) {
    let mail = request("Anna <anna@example.org>", "it@example.org", "VPN", "The VPN drops every hour.", id);
    std::fs::write(dir.join("it/tmp").join(name), &mail).unwrap();
    std::fs::rename(dir.join("it/tmp").join(name), dir.join("it/new").join(name)).unwrap();
}

/// The daemon with its log (warnings and up) written to `log`.
fn spawn_logged(config: &std::path::Path, log: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(["run", "--config"])
        .arg(config)
        .env("LOKET_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("start loket")
}

fn signal(child: &Child, name: &str) {
    Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
}

/// Waits at most `limit` for the process to exit.
fn exits_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_down_at_start_is_waited_for_and_the_mail_then_becomes_a_ticket() {
    let mut postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("waits").await;
    postgres.stop();
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let extra = format!("[outbox]\nfile_dir = \"{}\"\n", outbox.display());
    let config = maildir_config(dir.path(), &url, &extra);
    let config_text =
        std::fs::read_to_string(&config).unwrap().replace("[store]\n", "[store]\nacquire_timeout_secs = 1\n");
    std::fs::write(&config, config_text).unwrap();
    deliver(dir.path(), "1.M1.host", "waits@test");
    let log = dir.path().join("loket.log");
    let mut daemon = spawn_logged(&config, &log);

    crate::support::wait_until("loket to say it waits for the database", Duration::from_secs(30), || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("waiting for the database")
    });
    assert!(daemon.try_wait().unwrap().is_none(), "loket waits instead of exiting");

    postgres.resume();
    eventually("the mail as a ticket", Duration::from_secs(60), || async {
        match Store::connect(&url, 1).await {
            Ok(store) => store.count_tickets().await.unwrap_or(0) == 1,
            Err(_) => false,
        }
    })
    .await;
    signal(&daemon, "TERM");
    let status = exits_within(&mut daemon, Duration::from_secs(30)).expect("loket stops");
    assert!(status.success(), "{status}");
}

/// An SMTP server that accepts connections and never answers: a send hangs.
fn silent_smtp_server() -> (u16, std::sync::mpsc::Receiver<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (accepted, connections) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming().flatten() {
            open.push(stream);
            if accepted.send(()).is_err() {
                return;
            }
        }
    });
    (port, connections)
}

/// A daemon stuck in a send to [`silent_smtp_server`], with the given shutdown deadline.
fn daemon_stuck_in_a_send(dir: &std::path::Path, deadline_secs: u64) -> (Child, std::sync::mpsc::Receiver<()>) {
    let (port, connections) = silent_smtp_server();
    let extra = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout_secs = 300\n\
         [daemon]\nshutdown_timeout_secs = {deadline_secs}\n"
    );
    let config = maildir_config(dir, &crate::support::sqlite_url(dir), &extra);
    deliver(dir, "1.M1.host", "stuck@test");
    let mut daemon = spawn_logged(&config, &dir.join("loket.log"));
    if connections.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = daemon.kill();
        panic!("the outbox never connected to the SMTP server");
    }
    (daemon, connections)
}

#[test]
fn shutdown_abandons_the_work_in_hand_after_its_deadline_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, _connections) = daemon_stuck_in_a_send(dir.path(), 2);
    let asked = std::time::Instant::now();
    signal(&daemon, "TERM");
    let status = exits_within(&mut daemon, Duration::from_secs(20)).expect("loket stops after its deadline");
    assert!(status.success(), "{status}");
    assert!(asked.elapsed() >= Duration::from_secs(2), "the work in hand had its deadline: {:?}", asked.elapsed());
    let log = std::fs::read_to_string(dir.path().join("loket.log")).unwrap();
    assert!(log.contains("did not finish within daemon.shutdown_timeout_secs"), "{log}");
}

#[test]
fn a_second_signal_stops_loket_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut daemon, _connections) = daemon_stuck_in_a_send(dir.path(), 300);
    signal(&daemon, "TERM");
    std::thread::sleep(Duration::from_millis(500));
    assert!(daemon.try_wait().unwrap().is_none(), "the first signal waits for the send in hand");
    signal(&daemon, "INT");
    let status = exits_within(&mut daemon, Duration::from_secs(5)).expect("the second signal stops loket at once");
    assert!(!status.success(), "a stop that abandons work is not a clean exit: {status}");
}
