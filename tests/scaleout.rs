//! Several instances: SQLite refuses a second one; on PostgreSQL they share the
//! mailboxes and the outbox, each mailbox read and each mail claimed by one at a
//! time, on the database's clock.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::{eventually, free_port};

fn spawn_daemon(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(["run", "--config"])
        .arg(config)
        .env("LOKET_LOG", "warn")
        .env_remove("LOKET_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start loket")
}

fn loket(args: &[&str], config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(args)
        .arg("--config")
        .arg(config)
        .env("LOKET_LOG", "warn")
        .env_remove("LOKET_CONFIG")
        .output()
        .expect("run loket")
}

/// A daemon on a SQLite file and a maildir, serving its operators' listener on `ops`.
fn sqlite_config(dir: &Path, ops: u16) -> std::path::PathBuf {
    let maildir = dir.join("it");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let extra = format!(
        "[web]\nlisten = \"127.0.0.1:{}\"\nops_listen = \"127.0.0.1:{ops}\"\n\n[outbox]\nfile_dir = \"{}\"\n",
        free_port(),
        dir.join("outbox").display()
    );
    let mut text = crate::support::config_text(&crate::support::sqlite_url(dir), 143, &[], &extra)
        .replace("[smtp]\nhost = \"127.0.0.1\"\nport = 2525\ntls = \"none\"", "");
    text.push_str(&format!(
        "\n[[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nmaildir = \"{}\"\n",
        maildir.display()
    ));
    let path = dir.join("loket.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// SQLite serves one instance: a second `loket run` on the same file refuses
/// with a message naming it, while the command line keeps working beside the daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_on_the_same_sqlite_file_refuses_to_start_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ops = free_port();
    let config = sqlite_config(dir.path(), ops);
    let mut first = spawn_daemon(&config);
    eventually("the first daemon's operators' listener", Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", ops)).await.is_ok()
    })
    .await;

    let second = loket(&["run"], &config);
    let message = String::from_utf8_lossy(&second.stderr).into_owned();
    assert!(!second.status.success(), "the second instance ran: {message}");
    assert!(message.contains(&dir.path().join("loket.db").display().to_string()), "{message}");
    assert!(message.contains("another loket instance"), "{message}");

    let listed = loket(&["tickets", "list"], &config);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    assert!(first.try_wait().unwrap().is_none(), "the first daemon still runs");

    crate::support::stop(&mut first, "TERM");
    let again = spawn_daemon(&config);
    let mut again = again;
    eventually("a new daemon once the first has stopped", Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", ops)).await.is_ok()
    })
    .await;
    assert!(again.try_wait().unwrap().is_none(), "the lock went with the stopped daemon");
    crate::support::stop(&mut again, "TERM");
}

/// A ticket with one mail queued at `created_at` and due at `due_at` (by any clock the test names).
async fn queue_mail(url: &str, id: &str, created_at: i64, due_at: i64) {
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(
        "INSERT INTO tickets (id, reference, requester_address, subject, department, status, decided_by,
            route_reason, origin_mailbox, created_at, updated_at)
         VALUES ($1, $2, 'anna@example.org', 'VPN', 'it', 'new', 'mailbox', 'mailbox', 'it-old', $3, $3)",
    )
    .bind(format!("t-{id}"))
    .bind(format!("SD-{id}"))
    .bind(created_at)
    .execute(&mut db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO outbox (id, ticket_id, kind, recipient, sender, message_id, body, state, next_attempt_at, created_at)
         VALUES ($1, $2, 'ack', 'anna@example.org', 'servicedesk@example.org', $3, $4, 'pending', $5, $6)",
    )
    .bind(id)
    .bind(format!("t-{id}"))
    .bind(format!("<{id}@loket>"))
    .bind(b"Subject: VPN\r\n\r\nThanks.\r\n".to_vec())
    .bind(due_at)
    .bind(created_at)
    .execute(&mut db)
    .await
    .unwrap();
}

async fn postgres_store(postgres: &crate::support::postgres::Postgres, name: &str) -> (String, loket::store::Store) {
    let url = postgres.database(name).await;
    let store = loket::store::Store::connect(&url, 4).await.unwrap();
    store.migrate().await.unwrap();
    (url, store)
}

/// A worker whose claim ran out while it was sending (paused, or slow) cannot
/// mark the mail sent or failed once another worker claimed it: the row is
/// left to the worker that holds it now, and the mail is marked sent once. A
/// mail nobody else claimed since is still the first worker's to mark sent, so
/// that a store away longer than a claim does not make it go out twice.
#[tokio::test]
async fn a_worker_whose_outbox_claim_ran_out_cannot_mark_the_mail_that_another_worker_holds_now() {
    let postgres = crate::support::postgres::Postgres::start();
    let (url, store) = postgres_store(&postgres, "claims").await;
    let now = chrono::Utc::now().timestamp_millis();
    queue_mail(&url, "m1", now, now).await;
    queue_mail(&url, "m2", now, now).await;

    let first = store.claim_due("first", 16, Duration::from_millis(300)).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(store.claim_due("second", 16, Duration::from_secs(60)).await.unwrap().is_empty(), "held by the first");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(!store.renew_claim(&first[0].lease_owner, Duration::from_secs(60)).await.unwrap(), "ran out");
    // Unclaimed by anyone else, the mail the first worker sent is its to mark.
    let sent = [loket::store::Sent { due: &first[0], at: now }];
    assert_eq!(store.mark_all_sent(&sent).await.unwrap(), [true]);

    let second = store.claim_due("second", 16, Duration::from_secs(60)).await.unwrap();
    assert_eq!(second.len(), 1, "the other claim that ran out is free");
    assert_eq!(second[0].id, first[1].id);
    let late = [loket::store::Sent { due: &first[1], at: now }];
    assert_eq!(store.mark_all_sent(&late).await.unwrap(), [false], "held by the second now");
    assert!(!store.give_up(&first[1], "refused", now).await.unwrap());
    assert!(!store.retry_later(&first[1], "busy", Duration::from_secs(30), now).await.unwrap());
    // The same worker claiming again holds it under a new claim, not the old one.
    assert_ne!(first[1].lease_owner, second[0].lease_owner);

    assert!(store.renew_claim(&second[0].lease_owner, Duration::from_secs(60)).await.unwrap());
    let sent = [loket::store::Sent { due: &second[0], at: now }];
    assert_eq!(store.mark_all_sent(&sent).await.unwrap(), [true]);
    assert_eq!(store.mark_all_sent(&sent).await.unwrap(), [false], "marked once");
    assert_eq!(store.outbox_depth().await.unwrap(), 0);
}

/// Claims are timed by the database's clock: a mail due for a retry in five
/// minutes is not taken before then by any worker, whatever its own clock says;
/// a freshly queued mail is due at once even when the instance that queued it
/// has a clock ten minutes fast.
#[tokio::test]
async fn outbox_claims_follow_the_database_clock_not_the_instances() {
    let postgres = crate::support::postgres::Postgres::start();
    let (url, store) = postgres_store(&postgres, "claimclock").await;
    let now = chrono::Utc::now().timestamp_millis();
    let minute = 60_000;
    // Queued by an instance whose clock runs ten minutes fast.
    queue_mail(&url, "fast", now + 10 * minute, now + 10 * minute).await;
    // A retry that the database's clock says is due in five minutes.
    queue_mail(&url, "later", now - minute, now + 5 * minute).await;
    let claimed = store.claim_due("w", 16, Duration::from_secs(60)).await.unwrap();
    let ids: Vec<&str> = claimed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["fast"]);
    // A retry is scheduled from the database's clock too.
    assert!(store.retry_later(&claimed[0], "busy", Duration::from_secs(300), now).await.unwrap());
    assert!(store.claim_due("w", 16, Duration::from_secs(60)).await.unwrap().is_empty());
}

/// A daemon in this process, on its own shutdown.
struct Instance {
    shutdown: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<Result<(), loket::app::AppError>>,
}

impl Instance {
    fn start(config: &loket::config::Config) -> Self {
        crate::support::init_tracing();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(loket::app::run(std::sync::Arc::new(config.clone()), shutdown.clone()));
        Self { shutdown, task }
    }

    /// Ends it as a crash would: nothing is handed back.
    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(30), self.task).await;
    }
}

/// How many mailboxes each instance holds now, most first.
async fn holdings(store: &loket::store::Store) -> Vec<usize> {
    let (mailboxes, _) = store.status(Duration::from_secs(3)).await.unwrap();
    let mut counts = std::collections::HashMap::<String, usize>::new();
    for holder in mailboxes.into_iter().filter_map(|m| m.holder) {
        *counts.entry(holder).or_default() += 1;
    }
    let mut counts: Vec<usize> = counts.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    counts
}

/// Three instances on six mailboxes end with two each, handing mailboxes over
/// one at a time; when one dies, the other two take its mailboxes over within
/// about a lease and end with three each; every request is one ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_six_mailboxes_and_the_survivors_take_over_a_dead_ones_share() {
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("spread").await;
    let users = ["m1", "m2", "m3", "m4", "m5", "m6"];
    let dovecot = crate::support::dovecot::Dovecot::start(&users);
    let mailboxes: Vec<_> = users.iter().map(|u| crate::support::TestMailbox::new(u, "it", u)).collect::<Vec<_>>();
    let config = || {
        let text = crate::support::config_text(&url, dovecot.port, &mailboxes, "")
            .replace("[store]\n", "[store]\nmailbox_lease_secs = 3\n");
        loket::config::load_str(&text).unwrap()
    };
    let store = loket::store::Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();

    let configs: Vec<_> = (0..3).map(|_| config()).collect();
    let mut instances: Vec<Instance> = configs.iter().map(Instance::start).collect();
    eventually("two mailboxes for each of three instances", Duration::from_secs(45), || async {
        holdings(&store).await == [2, 2, 2]
    })
    .await;
    let (_, seen) = store.status(Duration::from_secs(3)).await.unwrap();
    assert_eq!(seen.iter().filter(|i| i.live).count(), 3, "{seen:?}");
    // Dovecot's side: one IMAP session per mailbox, from one instance.
    let one_session_each = |when: &str| {
        let sessions = dovecot.sessions();
        assert!(users.iter().all(|u| sessions.get(*u).copied().unwrap_or(0) <= 1), "{when}: {sessions:?}");
        assert!(sessions.values().sum::<usize>() >= 1, "{when}: doveadm who shows loket's sessions: {sessions:?}");
    };
    one_session_each("shared out");
    // Operators see the same on any instance's listener.
    let ops = |i: usize| format!("http://{}", configs[i].web.ops_address());
    let status = crate::support::http::get(&format!("{}/status", ops(2))).await;
    assert_eq!(status.status, 200, "{}", status.body);
    let status: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    let shown = status["mailboxes"].as_array().unwrap();
    assert_eq!(shown.len(), 6, "{status}");
    assert!(shown.iter().all(|m| m["holder"].is_string() && m["since"].is_string() && m["lease"].as_i64() >= Some(1)));
    assert_eq!(status["instances"].as_array().unwrap().len(), 3, "{status}");

    for (i, user) in users.iter().enumerate() {
        let mail = crate::support::request(
            "Anna <anna@example.org>",
            "it@example.org",
            &format!("request {i}"),
            "Please help.",
            &format!("spread-{i}@test"),
        );
        crate::support::imap::append_all(dovecot.port, user, "INBOX", &[mail]).await;
    }
    eventually("six tickets", Duration::from_secs(30), || async { store.count_tickets().await.unwrap() >= 6 }).await;

    let died = std::time::Instant::now();
    instances.remove(0).kill().await;
    eventually("three mailboxes for each of the two left", Duration::from_secs(30), || async {
        holdings(&store).await == [3, 3]
    })
    .await;
    // The dead instance's leases ran out after at most a lease; its share was taken within about another.
    assert!(died.elapsed() < Duration::from_secs(12), "taken over after {:?}", died.elapsed());
    let mut takeovers = 0.0;
    for i in [1, 2] {
        let metrics = crate::support::http::get(&format!("{}/metrics", ops(i))).await.body;
        takeovers += metrics
            .lines()
            .filter(|l| l.starts_with("loket_mailbox_lease_takeovers_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>();
    }
    // At least the dead instance's two; on a loaded machine a 3 s lease of a
    // survivor may lapse once too and be taken over by the other.
    assert!(takeovers >= 2.0, "the dead instance's two mailboxes were taken over: {takeovers}");
    // The killed instance's sessions end with it (an aborted task drops its connections).
    eventually("one session per mailbox after the takeover", Duration::from_secs(15), || async {
        let sessions = dovecot.sessions();
        users.iter().all(|u| sessions.get(*u).copied().unwrap_or(0) <= 1)
    })
    .await;
    one_session_each("taken over");
    for instance in instances {
        instance.stop().await;
    }
    assert_eq!(store.count_tickets().await.unwrap(), 6);
    assert!(holdings(&store).await.is_empty(), "a clean stop hands every lease back");
}

/// A config file `name` in `dir` with a 3 s mailbox lease; its path and the
/// address of its operators' listener.
fn lease_config(
    dir: &Path,
    name: &str,
    url: &str,
    port: u16,
    mailboxes: &[crate::support::TestMailbox<'_>],
) -> (std::path::PathBuf, String) {
    let text =
        crate::support::config_text(url, port, mailboxes, "").replace("[store]\n", "[store]\nmailbox_lease_secs = 3\n");
    let config = loket::config::load_str(&text).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    (path, format!("http://{}", config.web.ops_address()))
}

/// The instance holding the (only) mailbox now, if any.
async fn holder_of(store: &loket::store::Store) -> Option<String> {
    let (mailboxes, _) = store.status(Duration::from_secs(3)).await.unwrap();
    mailboxes.into_iter().find_map(|m| m.holder)
}

/// An instance paused (SIGSTOP) past its lease: another takes its mailbox over
/// and goes on; when the paused one resumes it notices that it lost the lease,
/// stops reading, and nothing it had in hand doubles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_paused_past_its_lease_loses_the_mailbox_and_doubles_nothing_when_it_resumes() {
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("paused").await;
    let dovecot = crate::support::dovecot::Dovecot::start(&["it"]);
    let mailboxes = [crate::support::TestMailbox {
        extra: "processed_folder = \"Processed\"",
        ..crate::support::TestMailbox::new("it-old", "it", "it")
    }];
    let dir = tempfile::tempdir().unwrap();
    let write_config = |name: &str| lease_config(dir.path(), name, &url, dovecot.port, &mailboxes);
    let store = loket::store::Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let holder = || holder_of(&store);
    let port = dovecot.port;
    let deliver = |from: usize, to: usize| async move {
        let mails: Vec<Vec<u8>> = (from..to)
            .map(|i| {
                crate::support::request(
                    &format!("Employee {i} <employee{i}@example.org>"),
                    "it@example.org",
                    &format!("request {i}"),
                    "Please help.",
                    &format!("paused-{i}@test"),
                )
            })
            .collect();
        crate::support::imap::append_all(port, "it", "INBOX", &mails).await;
    };

    let (first_config, first_ops) = write_config("first.toml");
    let mut first = spawn_daemon(&first_config);
    eventually("the first instance holding the mailbox", Duration::from_secs(30), || async {
        holder().await.is_some()
    })
    .await;
    let first_holder = holder().await;
    deliver(0, 5).await;
    eventually("five tickets", Duration::from_secs(30), || async { store.count_tickets().await.unwrap() >= 5 }).await;
    let (second_config, _) = write_config("second.toml");
    let mut second = spawn_daemon(&second_config);

    let signal = |name: &str, pid: u32| {
        let status = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().unwrap();
        assert!(status.success(), "kill -{name}");
    };
    signal("STOP", first.id());
    eventually("the second instance holding the mailbox", Duration::from_secs(30), || async {
        holder().await.is_some_and(|h| Some(&h) != first_holder.as_ref())
    })
    .await;
    deliver(5, 10).await;
    eventually("ten tickets", Duration::from_secs(30), || async { store.count_tickets().await.unwrap() >= 10 }).await;

    signal("CONT", first.id());
    eventually("the resumed instance counting the lost lease", Duration::from_secs(30), || async {
        let metrics = crate::support::http::get(&format!("{first_ops}/metrics")).await.body;
        metrics
            .lines()
            .filter(|l| l.starts_with("loket_mailbox_lease_losses_total"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
            >= 1.0
    })
    .await;
    deliver(10, 15).await;
    eventually("fifteen tickets", Duration::from_secs(30), || async { store.count_tickets().await.unwrap() >= 15 })
        .await;
    assert!(
        holder().await.is_some_and(|h| Some(&h) != first_holder.as_ref()),
        "the resumed instance took nothing back"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    for child in [&mut first, &mut second] {
        signal("TERM", child.id());
        child.wait().unwrap();
    }
    assert_eq!(store.count_tickets().await.unwrap(), 15, "one ticket per request");
    assert_eq!(store.count_messages().await.unwrap(), 15, "no message stored twice");
    assert_eq!(crate::support::imap::count(dovecot.port, "it", "Processed").await, 15, "each message moved once");
}

/// An instance whose clock runs ten minutes fast (libfaketime) takes no lease
/// early: leases are timed by the database's clock, so the other instance's
/// lease, renewed in time, holds; once that one stops, the fast one takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_whose_clock_runs_ten_minutes_fast_takes_no_lease_early() {
    let faketime = ["/usr/bin/faketime", "/usr/local/bin/faketime"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("faketime is missing: scripts/test installs Debian's faketime package");
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("skew").await;
    let dovecot = crate::support::dovecot::Dovecot::start(&["it"]);
    let mailboxes = [crate::support::TestMailbox::new("it-old", "it", "it")];
    let dir = tempfile::tempdir().unwrap();
    let write_config = |name: &str| lease_config(dir.path(), name, &url, dovecot.port, &mailboxes);
    let store = loket::store::Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let holder = || holder_of(&store);
    let (first_config, _) = write_config("first.toml");
    let mut first = spawn_daemon(&first_config);
    eventually("the first instance holding the mailbox", Duration::from_secs(30), || async {
        holder().await.is_some()
    })
    .await;
    let first_holder = holder().await;

    let (fast_config, fast_ops) = write_config("fast.toml");
    let mut fast = Command::new(faketime)
        .args(["-f", "+10m", env!("CARGO_BIN_EXE_loket"), "run", "--config"])
        .arg(&fast_config)
        .env("LOKET_LOG", "warn")
        .env_remove("LOKET_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start loket under faketime");
    let fast_address = fast_ops.trim_start_matches("http://").to_owned();
    eventually("the fast instance serving", Duration::from_secs(30), || async {
        std::net::TcpStream::connect(&fast_address).is_ok()
    })
    .await;
    // Three leases long: a lease judged by the fast clock would have run out at once.
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(holder().await, first_holder, "the fast instance took the lease early");
    }
    let metrics = crate::support::http::get(&format!("{fast_ops}/metrics")).await.body;
    assert!(
        !metrics.lines().any(|l| l.starts_with("loket_mailbox_lease_takeovers_total") && !l.ends_with(" 0")),
        "{metrics}"
    );
    let status = Command::new("kill").arg("-TERM").arg(first.id().to_string()).status().unwrap();
    assert!(status.success());
    first.wait().unwrap();
    eventually("the fast instance taking the mailbox once it is free", Duration::from_secs(30), || async {
        holder().await.is_some_and(|h| Some(&h) != first_holder.as_ref())
    })
    .await;
    let mail =
        crate::support::request("Anna <anna@example.org>", "it@example.org", "skew", "Please help.", "skew@test");
    crate::support::imap::append_all(dovecot.port, "it", "INBOX", &[mail]).await;
    eventually("a ticket from the fast instance", Duration::from_secs(30), || async {
        store.count_tickets().await.unwrap() >= 1
    })
    .await;
    let status = Command::new("kill").arg("-TERM").arg(fast.id().to_string()).status().unwrap();
    assert!(status.success());
    fast.wait().unwrap();
}

/// Three instances as three processes on one PostgreSQL, three mailboxes and
/// 1,020 requests with their mails; one instance is killed with `kill -9` in the
/// middle of the drain. Its mailbox is taken over within about a lease, and in
/// the end every request is one ticket with one forward and an acknowledgement,
/// with at most a mail per outbox session of the killed instance sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_drain_together_and_one_killed_mid_drain_loses_and_doubles_nothing() {
    const PER_MAILBOX: usize = 340;
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("drain").await;
    let users = ["it", "facility", "hr"];
    let dovecot = crate::support::dovecot::Dovecot::start(&users);
    let sink = crate::support::smtp::SmtpSink::start();
    let mailboxes: Vec<_> = users.iter().map(|u| crate::support::TestMailbox::new(u, "it", u)).collect();
    let smtp = format!(
        "[smtp]\nhost = \"localhost\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\ntimeout_secs = 10\n\n[outbox]\nretry_base_secs = 1\n\n[ack]\nbacklog = true\n",
        sink.port,
        sink.ca_file.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let configs: Vec<std::path::PathBuf> = (0..3)
        .map(|i| {
            let text = crate::support::config_text(&url, dovecot.port, &mailboxes, &smtp)
                .replace("[store]\n", "[store]\nmailbox_lease_secs = 3\n");
            let path = dir.path().join(format!("loket{i}.toml"));
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect();
    for (n, user) in users.iter().enumerate() {
        let mails: Vec<Vec<u8>> = (n * PER_MAILBOX..(n + 1) * PER_MAILBOX)
            .map(|i| {
                crate::support::request(
                    &format!("Employee {i} <employee{i}@example.org>"),
                    &format!("{user}@example.org"),
                    &format!("request {i}"),
                    "Mijn laptop start niet meer op.",
                    &format!("drain-{i}@test"),
                )
            })
            .collect();
        crate::support::imap::append_all(dovecot.port, user, "INBOX", &mails).await;
    }
    let store = loket::store::Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    let mut instances: Vec<Child> = configs.iter().map(|c| spawn_daemon(c)).collect();
    let total = (3 * PER_MAILBOX) as i64;
    eventually("the drain under way", Duration::from_secs(60), || async {
        store.count_tickets().await.unwrap_or(0) >= 50
    })
    .await;
    let mut killed = instances.remove(0);
    killed.kill().expect("kill -9");
    killed.wait().unwrap();
    let at_kill = store.count_tickets().await.unwrap();
    let worst = std::sync::atomic::AtomicUsize::new(0);
    let mails = || {
        let mut per: std::collections::HashMap<(String, String), usize> = Default::default();
        for mail in sink.received() {
            let id = crate::support::desk::message_id(&mail);
            let kind = if id.contains(".ack.") {
                "ack"
            } else if id.contains(".fwd.") {
                "fwd"
            } else {
                continue;
            };
            let key = if kind == "ack" { mail.rcpt_tos.join(",") } else { id };
            *per.entry((kind.to_owned(), key)).or_default() += 1;
        }
        per
    };
    eventually("every request a ticket", Duration::from_secs(120), || async {
        let most = dovecot.sessions().values().copied().max().unwrap_or(0);
        worst.fetch_max(most, std::sync::atomic::Ordering::Relaxed);
        store.count_tickets().await.unwrap_or(0) >= total
    })
    .await;
    eventually("every acknowledgement and forward sent", Duration::from_secs(120), || async {
        let per = mails();
        per.keys().filter(|(k, _)| k == "ack").count() as i64 >= total
            && per.keys().filter(|(k, _)| k == "fwd").count() as i64 >= total
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    for child in &mut instances {
        let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
        assert!(status.success());
        child.wait().unwrap();
    }
    assert!(at_kill < total, "the kill must land mid-drain to test anything ({at_kill} tickets)");
    let worst = worst.into_inner();
    assert!(worst <= 1, "at most one IMAP session per mailbox at any moment: {worst}");
    assert_eq!(store.count_tickets().await.unwrap(), total, "one ticket per request");
    let per = mails();
    let twice: usize = per.values().map(|n| n - 1).sum();
    let outbox_sessions = 4;
    assert!(twice <= outbox_sessions, "at most a mail per session of the killed instance sent again: {twice}");
}
