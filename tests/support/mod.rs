//! The test harness: real servers on loopback, each in its own temp dir on its
//! own port, stopped when the handle is dropped.

#![allow(dead_code)]

pub mod browser;
pub mod daemon;
pub mod desk;
pub mod dovecot;
pub mod http;
pub mod imap;
pub mod oauth;
pub mod postgres;
pub mod smtp;
pub mod tls;

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A port that was free a moment ago, and that no other call in this test
/// process has handed out: the kernel may give a just-closed port again, and
/// two servers of one test must not be told the same one.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free port on loopback");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// The unprivileged account servers run as when the tests run as root.
pub fn service_user() -> (u32, u32, String) {
    let id = |flag: &str, user: &str| -> u32 {
        let out = Command::new("id").args([flag, user]).output().expect("id");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("numeric id")
    };
    if is_root() {
        (id("-u", "nobody"), id("-g", "nobody"), "nobody".to_owned())
    } else {
        let user = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
        (id("-u", &user), id("-g", &user), user)
    }
}

/// Makes `path` usable by the service user (temp dirs are private to root).
pub fn hand_over(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    if is_root() {
        let (uid, gid, _) = service_user();
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    }
}

/// Stops a server with `signal`, then kills it if it has not gone within five seconds.
pub fn stop(child: &mut std::process::Child, signal: &str) {
    let _ = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
    for _ in 0..250 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits until `ready` is true, failing with `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The async form of [`wait_until`].
pub async fn eventually<F, Fut>(what: &str, limit: Duration, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !ready().await {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A request e-mail with a unique Message-ID, sent now: mail a mailbox already
/// holds at loket's first connection counts as recent backlog, not history.
pub fn request(from: &str, to: &str, subject: &str, body: &str, id: &str) -> Vec<u8> {
    let date = chrono::Utc::now().to_rfc2822();
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Quiet logs unless `LOKET_LOG` asks for them.
pub fn init_tracing() {
    if std::env::var_os("LOKET_LOG").is_some() {
        loket::telemetry::init(loket::telemetry::LogFormat::Text);
    }
}

/// One watched IMAP mailbox in a test config.
pub struct TestMailbox<'a> {
    pub name: &'a str,
    pub department: Option<&'a str>,
    pub user: &'a str,
    pub folder: &'a str,
    /// Extra TOML lines for this mailbox.
    pub extra: &'a str,
}

impl<'a> TestMailbox<'a> {
    pub fn new(name: &'a str, department: &'a str, user: &'a str) -> Self {
        Self { name, department: Some(department), user, folder: "INBOX", extra: "" }
    }
}

/// A loket config with the three usual departments, watching `mailboxes` on Dovecot's plain port.
pub fn config_text(store_url: &str, port: u16, mailboxes: &[TestMailbox<'_>], extra: &str) -> String {
    let smtp = if extra.contains("[smtp]") { "" } else { "[smtp]\nhost = \"127.0.0.1\"\nport = 2525\ntls = \"none\"" };
    // Every daemon a test starts serves its web pages on a port of its own.
    let web_port = free_port();
    let web = if extra.contains("[web]") {
        String::new()
    } else {
        format!("[web]\nlisten = \"127.0.0.1:{web_port}\"\nops_listen = \"127.0.0.1:{}\"", free_port())
    };
    let mut text = format!(
        r#"
[store]
url = "{store_url}"

[desk]
name = "Service Desk"
address = "servicedesk@example.org"
base_url = "http://127.0.0.1:{web_port}"

{smtp}

{web}

{extra}

[[departments]]
id = "it"
name = "IT"
queue_address = "it-queue@example.org"
staff = ["bob@example.org"]

[[departments]]
id = "hr"
name = "HR"
queue_address = "hr-queue@example.org"

[[departments]]
id = "facility"
name = "Facility"
queue_address = "facility-queue@example.org"
staff = ["carol@example.org"]
"#
    );
    for m in mailboxes {
        let department = m.department.map(|d| format!("department = \"{d}\"\n")).unwrap_or_default();
        text.push_str(&format!(
            "\n[[mailboxes]]\nname = \"{}\"\n{department}host = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nusername = \"{}\"\npassword = \"{}\"\nfolder = \"{}\"\npoll_interval_secs = 1\ncommand_timeout_secs = 10\n{}\n",
            m.name, m.user, dovecot::PASSWORD, m.folder, m.extra
        ));
    }
    text
}

pub fn config(store_url: &str, port: u16, mailboxes: &[TestMailbox<'_>], extra: &str) -> loket::config::Config {
    loket::config::load_str(&config_text(store_url, port, mailboxes, extra)).expect("test config is valid")
}

/// A SQLite store URL in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("loket.db").display())
}

/// Runs the `loket` binary in `dir` and returns what it printed; it must succeed.
pub fn loket(args: &[&str], dir: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(args)
        .current_dir(dir)
        .env("LOKET_LOG", "warn")
        .env_remove("LOKET_CONFIG")
        .output()
        .expect("run loket");
    assert!(output.status.success(), "loket {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Loads `text` as the config, opens its store and takes in what the first
/// mailbox (a Maildir) holds, once; returns the store and how many tickets it made.
pub async fn take_in_maildir(text: &str) -> (loket::store::Store, usize) {
    let config = std::sync::Arc::new(loket::config::load_str(text).unwrap());
    let store = loket::app::open_store(&config.store).await.unwrap();
    let pipeline = loket::app::pipeline(config.clone(), store.clone()).await.unwrap();
    let never = tokio_util::sync::CancellationToken::new();
    let outcome = loket::source::maildir::poll(&pipeline, &config.mailboxes[0], &never).await.unwrap();
    (store, outcome.created)
}
