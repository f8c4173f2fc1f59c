//! Operating loket: backups while it runs, quarantine retried after a limit is
//! raised, quieter logs, and `check` on a listen address that is taken.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::support::{http, request};

fn loket(args: &[&str], dir: &Path, log: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(args)
        .current_dir(dir)
        .env("LOKET_LOG", log)
        .env_remove("LOKET_CONFIG")
        .output()
        .expect("run loket")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A daemon stopped when the test ends, whatever happens.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The outbox writing mail as files to `out/`.
const FILES: &str = "[outbox]\nfile_dir = \"out\"\n";

/// A Maildir `it` in `dir` and a config `loket.toml` watching it, with `extra` TOML.
fn maildir_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let maildir = dir.join("it");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let extra = format!(
        "{extra}\n[[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nmaildir = \"{}\"\npoll_interval_secs = 1\n",
        maildir.display()
    );
    let text = crate::support::config_text(&crate::support::sqlite_url(dir), 143, &[], &extra);
    std::fs::write(dir.join("loket.toml"), text).unwrap();
    maildir
}

/// Delivers a request into the Maildir's `new/` as a mail server would (via `tmp/`).
fn deliver(maildir: &Path, n: usize) {
    let raw = request(
        &format!("Person {n} <p{n}@example.org>"),
        "it@example.org",
        &format!("Laptop {n}"),
        "It is slow.",
        &format!("b{n}@t"),
    );
    let name = format!("{}.M{n}.host", 1_700_000_000 + n);
    std::fs::write(maildir.join("tmp").join(&name), raw).unwrap();
    std::fs::rename(maildir.join("tmp").join(&name), maildir.join("new").join(&name)).unwrap();
}

async fn ticket_count(url: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let count = sqlx::query_scalar("SELECT COUNT(*) FROM tickets").fetch_one(&pool).await.unwrap_or(0);
    pool.close().await;
    count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_the_daemon_takes_mail_in_opens_and_holds_the_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = maildir_config(dir.path(), FILES);
    for n in 0..20 {
        deliver(&maildir, n);
    }
    let mut daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_loket"))
            .args(["run", "--config", "loket.toml"])
            .current_dir(dir.path())
            .env("LOKET_LOG", "warn")
            .env_remove("LOKET_CONFIG")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = crate::support::sqlite_url(dir.path());
    crate::support::eventually("the first tickets", Duration::from_secs(60), || async {
        dir.path().join("loket.db").exists() && ticket_count(&url).await > 0
    })
    .await;
    // More mail keeps arriving while the copies are taken.
    let writer = {
        let maildir = maildir.clone();
        std::thread::spawn(move || {
            for n in 20..120 {
                deliver(&maildir, n);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let mut taken = Vec::new();
    for copy in ["copy1.db", "copy2.db", "copy3.db"] {
        let output = loket(&["backup", copy, "--config", "loket.toml"], dir.path(), "warn");
        assert!(output.status.success(), "{}", text(&output.stderr));
        let printed = text(&output.stdout);
        assert!(printed.starts_with(&format!("backed up to {copy}: ")), "{printed}");
        let tickets: i64 = printed.split(": ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
        taken.push((copy, tickets));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    writer.join().unwrap();
    for (copy, tickets) in &taken {
        let pool =
            sqlx::AnyPool::connect(&format!("sqlite://{}?mode=ro", dir.path().join(copy).display())).await.unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&pool).await.unwrap();
        assert_eq!(check, "ok", "{copy}");
        let subjects: Vec<String> = sqlx::query_scalar("SELECT subject FROM tickets").fetch_all(&pool).await.unwrap();
        pool.close().await;
        assert!(
            *tickets > 0 && subjects.len() as i64 == *tickets,
            "{copy}: {tickets} printed, {} held",
            subjects.len()
        );
        assert!(subjects.iter().all(|s| s.starts_with("Laptop ")), "{subjects:?}");
        let mode =
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.path().join(copy)).unwrap().permissions());
        assert_eq!(mode & 0o077, 0, "{copy} holds every mail: loket's user alone reads it");
    }
    let again = loket(&["backup", "copy1.db", "--config", "loket.toml"], dir.path(), "warn");
    assert!(!again.status.success() && text(&again.stderr).contains("exists already"), "{}", text(&again.stderr));
    crate::support::stop(&mut daemon.0, "TERM");
    assert!(ticket_count(&url).await >= taken.last().unwrap().1);
}

#[test]
fn backup_of_a_postgres_store_shows_how_to_use_pg_dump_and_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://loket:x@127.0.0.1:{}/loket", crate::support::free_port());
    std::fs::write(dir.path().join("loket.toml"), crate::support::config_text(&url, 143, &[], "")).unwrap();
    let output = loket(&["backup", "copy.db", "--config", "loket.toml"], dir.path(), "warn");
    assert_eq!(output.status.code(), Some(64), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("pg_dump --format=custom"), "{}", text(&output.stderr));
    assert!(!dir.path().join("copy.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quarantine_retry_takes_an_oversized_message_in_once_ingest_max_message_bytes_is_raised() {
    let dir = tempfile::tempdir().unwrap();
    let maildir = maildir_config(dir.path(), &format!("{FILES}[ingest]\nmax_message_bytes = 2048\n"));
    let log = "Line of the server log that shows the failure.\n".repeat(100);
    let big = request("Anna <anna@example.org>", "it@example.org", "Server log", &log, "big@t");
    std::fs::write(maildir.join("new/1.M1.host"), &big).unwrap();
    deliver(&maildir, 2);
    let text_config = std::fs::read_to_string(dir.path().join("loket.toml")).unwrap();
    let config = std::sync::Arc::new(loket::config::load_str(&text_config).unwrap());
    let store = loket::app::open_store(&config.store).await.unwrap();
    let pipeline = loket::app::pipeline(config.clone(), store.clone()).await.unwrap();
    let never = tokio_util::sync::CancellationToken::new();
    let outcome = loket::source::maildir::poll(&pipeline, &config.mailboxes[0], &never).await.unwrap();
    assert_eq!((outcome.created, outcome.quarantined), (1, 1));
    store.close().await;

    let output = loket(&["quarantine", "retry", "--all", "--config", "loket.toml"], dir.path(), "warn");
    assert!(!output.status.success());
    assert!(
        text(&output.stdout).contains("still over the limit of 2048 (ingest.max_message_bytes)"),
        "{}",
        text(&output.stdout)
    );

    std::fs::write(
        dir.path().join("loket.toml"),
        text_config.replace("max_message_bytes = 2048", "max_message_bytes = 100000"),
    )
    .unwrap();
    let output = loket(&["quarantine", "retry", "--all", "--config", "loket.toml"], dir.path(), "warn");
    assert!(output.status.success(), "{}{}", text(&output.stdout), text(&output.stderr));
    assert!(text(&output.stdout).contains(": ticket SD-00002 opened"), "{}", text(&output.stdout));
    let listed = text(&loket(&["quarantine", "list", "--config", "loket.toml"], dir.path(), "warn").stdout);
    assert_eq!(listed.trim(), "quarantine is empty");
    let shown = text(&loket(&["tickets", "show", "SD-00002", "--config", "loket.toml"], dir.path(), "warn").stdout);
    assert!(
        shown.contains("Server log") && shown.contains(&format!("(in, {} bytes)", big.len())),
        "the whole message: {shown}"
    );
    let output = loket(&["quarantine", "retry", "--all", "--config", "loket.toml"], dir.path(), "warn");
    assert_eq!(text(&output.stdout).trim(), "quarantine is empty");
}

#[test]
fn dash_q_hides_a_commands_info_lines_whatever_loket_log_asks_for() {
    let dir = tempfile::tempdir().unwrap();
    let demo = |extra: &[&str]| {
        let port = format!("127.0.0.1:{}", crate::support::free_port());
        let mut args = extra.to_vec();
        args.extend(["demo", "--once", "--dir", "d", "--listen"]);
        args.push(&port);
        loket(&args, dir.path(), "info")
    };
    let loud = demo(&[]);
    assert!(loud.status.success(), "{}", text(&loud.stderr));
    assert!(text(&loud.stderr).contains(" INFO "), "{}", text(&loud.stderr));
    let quiet = demo(&["-q"]);
    assert!(quiet.status.success(), "{}", text(&quiet.stderr));
    assert!(!text(&quiet.stderr).contains(" INFO "), "{}", text(&quiet.stderr));
    assert_eq!(text(&quiet.stdout).matches("SD-0000").count(), text(&loud.stdout).matches("SD-0000").count());
    let help = text(&loket(&["--help"], dir.path(), "warn").stdout);
    assert!(help.contains("--quiet") && help.contains("--verbose"), "{help}");
}

#[test]
fn check_fails_when_a_listen_address_is_taken() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let extra = format!(
        "[outbox]\nfile_dir = \"out\"\n[web]\nlisten = \"127.0.0.1:{port}\"\nops_listen = \"127.0.0.1:{}\"\n",
        crate::support::free_port()
    );
    std::fs::write(dir.path().join("loket.toml"), crate::support::config_text("sqlite://loket.db", 143, &[], &extra))
        .unwrap();
    let output = loket(&["check", "--config", "loket.toml"], dir.path(), "warn");
    let printed = text(&output.stdout);
    assert_eq!(output.status.code(), Some(69), "{printed}{}", text(&output.stderr));
    assert!(printed.contains("listen: FAILED") && printed.contains(&port.to_string()), "{printed}");
    drop(taken);
    let output = loket(&["check", "--config", "loket.toml"], dir.path(), "warn");
    assert!(output.status.success(), "{}", text(&output.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_see_each_mailboxs_last_poll_and_the_version_and_loket_is_not_ready_while_its_smtp_server_is_down() {
    crate::support::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on the SMTP port: the acknowledgement cannot go out.
    let smtp = crate::support::free_port();
    let extra = format!("[smtp]\nhost = \"127.0.0.1\"\nport = {smtp}\ntls = \"none\"\n[outbox]\nretry_base_secs = 1\n");
    let maildir = maildir_config(dir.path(), &extra);
    let text = std::fs::read_to_string(dir.path().join("loket.toml")).unwrap();
    let config = std::sync::Arc::new(loket::config::load_str(&text).unwrap());
    let ops = format!("http://{}", config.web.ops_address());
    let started = loket::clock::now_ms() / 1000;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let daemon = tokio::spawn(loket::app::run(config.clone(), shutdown.clone()));
    crate::support::eventually("the operators' listener", Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(config.web.ops_address()).await.is_ok()
    })
    .await;
    crate::support::eventually("ready", Duration::from_secs(30), || async {
        http::get(&format!("{ops}/readyz")).await.status == 200
    })
    .await;

    let metrics = http::get(&format!("{ops}/metrics")).await.body;
    let build = format!(r#"loket_build_info{{version="{}"}} 1"#, env!("CARGO_PKG_VERSION"));
    assert!(metrics.contains(&build), "{build} in\n{metrics}");
    let polled: i64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(r#"loket_mailbox_last_poll_timestamp_seconds{mailbox="it-old"} "#))
        .unwrap_or_else(|| panic!("the last poll in\n{metrics}"))
        .parse()
        .unwrap();
    assert!(polled >= started && polled <= loket::clock::now_ms() / 1000, "{polled} since {started}");
    assert_eq!(http::get(&format!("{ops}/healthz")).await.body, "ok\n");
    let detail = http::get(&format!("{ops}/healthz?detail")).await;
    assert_eq!(detail.status, 200);
    let detail: serde_json::Value = serde_json::from_str(&detail.body).unwrap();
    assert_eq!(detail["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(detail["mailboxes"]["it-old"]["connected"], true, "{detail}");
    assert!(detail["mailboxes"]["it-old"]["last_poll_ms"].as_i64().unwrap() >= started * 1000, "{detail}");

    // A request comes in; its acknowledgement finds no mail server.
    deliver(&maildir, 1);
    crate::support::eventually("the outbox paused", Duration::from_secs(30), || async {
        http::get(&format!("{ops}/readyz")).await.body.contains(r#""paused":true"#)
    })
    .await;
    let ready = http::get(&format!("{ops}/readyz")).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    let body: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!(
        (body["ready"].as_bool(), body["outbox"]["reason"].as_str()),
        (Some(false), Some("connection")),
        "{body}"
    );
    assert_eq!((body["store"].as_str(), body["mailboxes"]["it-old"]["connected"].as_bool()), (Some("ok"), Some(true)));
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
}
