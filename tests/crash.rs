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
        support::free_port(),
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
    let mut postgres = support::postgres::Postgres::start();
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

    support::wait_until("loket to say it waits for the database", Duration::from_secs(30), || {
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
    let config = maildir_config(dir, &support::sqlite_url(dir), &extra);
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
