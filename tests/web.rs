//! The web server as operators, employees and attackers see it: operators'
//! pages only on the operators' listener, the employees' listener holding
//! against idle connections and saying nothing internal on an error, and
//! tracking links that can be taken back and that end after a ticket is resolved.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::support::http;
use mail_parser::MessageParser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

/// A desk over one Maildir (`it`), writing its mail to `outbox/`, with the
/// employees' listener on `port` and the operators' on `ops`; `web` adds keys to `[web]`.
fn config_text(dir: &Path, port: u16, ops: u16, web: &str) -> String {
    format!(
        "[store]\nurl = \"{}\"\n[desk]\nname = \"D\"\naddress = \"d@example.org\"\nbase_url = \"http://127.0.0.1:{port}\"\n\
         [web]\nlisten = \"127.0.0.1:{port}\"\nops_listen = \"127.0.0.1:{ops}\"\n{web}\n\
         [outbox]\nfile_dir = \"{}\"\nretry_base_secs = 1\n\
         [[departments]]\nid = \"it\"\nname = \"IT\"\nqueue_address = \"q@example.org\"\n\
         [[mailboxes]]\nname = \"it-old\"\ndepartment = \"it\"\nmaildir = \"{}\"\npoll_interval_secs = 1\n",
        crate::support::sqlite_url(dir),
        dir.join("outbox").display(),
        dir.join("it").display()
    )
}

fn make_maildir(dir: &Path) {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join("it").join(sub)).unwrap();
    }
}

fn deliver(dir: &Path, name: &str, raw: &[u8]) {
    std::fs::write(dir.join("it/tmp").join(name), raw).unwrap();
    std::fs::rename(dir.join("it/tmp").join(name), dir.join("it/new").join(name)).unwrap();
}

/// A mail loket wrote to its outbox folder.
#[derive(Debug, Clone)]
struct Mail {
    to: String,
    kind: String,
    message_id: String,
    subject: String,
    text: String,
}

impl Mail {
    fn link(&self) -> String {
        self.text.split_whitespace().find(|w| w.contains("/t/SD-")).expect("a tracking link").to_owned()
    }
}

fn outbox(dir: &Path) -> Vec<Mail> {
    let Ok(entries) = std::fs::read_dir(dir.join("outbox")) else { return Vec::new() };
    let mut mails = Vec::new();
    for entry in entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "eml")) {
        let Ok(bytes) = std::fs::read(entry.path()) else { continue };
        let Some(parsed) = MessageParser::default().parse(&bytes) else { continue };
        let to = parsed.to().and_then(|a| a.first()).and_then(|a| a.address()).unwrap_or_default().to_owned();
        let message_id = parsed.message_id().unwrap_or_default().to_owned();
        let kind = message_id.split('.').nth(2).unwrap_or_default().to_owned();
        let subject = parsed.subject().unwrap_or_default().to_owned();
        let text = parsed.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
        mails.push(Mail { to, kind, message_id, subject, text });
    }
    mails
}

/// Waits for a mail of `kind` (`ack`, `fwd`, `ans`, …) to `to` whose subject holds `about`.
async fn mail(dir: &Path, to: &str, kind: &str, about: &str) -> Mail {
    let find = || outbox(dir).into_iter().find(|m| m.to == to && m.kind == kind && m.subject.contains(about));
    crate::support::eventually(&format!("a mail `{kind}` to {to}"), Duration::from_secs(60), || async {
        find().is_some()
    })
    .await;
    find().unwrap()
}

/// Sends `request` as it is over a new connection; the status code and body.
async fn raw(port: u16, request: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default())
}

/// The daemon in this process, on a config written to `loket.toml` (for the CLI).
struct Desk {
    dir: tempfile::TempDir,
    port: u16,
    config_file: PathBuf,
    shutdown: CancellationToken,
    daemon: tokio::task::JoinHandle<Result<(), loket::app::AppError>>,
}

impl Desk {
    async fn start() -> Self {
        crate::support::init_tracing();
        let dir = tempfile::tempdir().unwrap();
        make_maildir(dir.path());
        let (port, ops) = (crate::support::free_port(), crate::support::free_port());
        let text = config_text(dir.path(), port, ops, "");
        let config_file = dir.path().join("loket.toml");
        std::fs::write(&config_file, &text).unwrap();
        let config = loket::config::load_str(&text).unwrap();
        let shutdown = CancellationToken::new();
        let daemon = tokio::spawn(loket::app::run(Arc::new(config), shutdown.clone()));
        Self { dir, port, config_file, shutdown, daemon }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `who` asks something; the acknowledgement with its link.
    async fn ask(&self, who: &str, subject: &str, id: &str) -> Mail {
        let from = format!("{who} <{}@example.org>", who.to_lowercase());
        deliver(self.dir.path(), id, &crate::support::request(&from, "it@example.org", subject, "Please help.", id));
        mail(self.dir.path(), &format!("{}@example.org", who.to_lowercase()), "ack", subject).await
    }

    /// IT answers the ticket whose forward is `forward`, from its queue, with `body`.
    fn answer(&self, forward: &Mail, body: &str, id: &str) {
        let raw = format!(
            "From: IT <q@example.org>\r\nTo: d@example.org\r\nSubject: Re: {}\r\nMessage-ID: <{id}>\r\nIn-Reply-To: <{}>\r\n\
             References: <{}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
            forward.subject, forward.message_id, forward.message_id
        );
        deliver(self.dir.path(), id, raw.as_bytes());
    }

    fn loket(&self, args: &[&str]) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_loket"))
            .args(args)
            .arg("--config")
            .arg(&self.config_file)
            .env("LOKET_LOG", "warn")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.daemon.await.unwrap().unwrap();
    }
}

fn reference_of(link: &str) -> String {
    link.split("/t/").nth(1).and_then(|rest| rest.split('?').next()).unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_pages_live_only_on_the_operators_listener_and_follow_the_mailboxes() {
    crate::support::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (port, ops_port) = (crate::support::free_port(), crate::support::free_port());
    let config = loket::config::load_str(&config_text(dir.path(), port, ops_port, "")).unwrap();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(loket::app::run(Arc::new(config), shutdown.clone()));
    let (base, ops) = (format!("http://127.0.0.1:{port}"), format!("http://127.0.0.1:{ops_port}"));

    // Up at once; not ready while the mailbox's Maildir does not exist, and the
    // operator reads why.
    crate::support::eventually("the web server", Duration::from_secs(30), || async {
        TcpStream::connect(("127.0.0.1", ops_port)).await.is_ok()
    })
    .await;
    let health = http::get(&format!("{ops}/healthz")).await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok\n"));
    crate::support::eventually("the mailbox's failure reported", Duration::from_secs(30), || async {
        http::get(&format!("{ops}/readyz")).await.body.contains("No such file")
    })
    .await;
    let ready = http::get(&format!("{ops}/readyz")).await;
    assert_eq!(ready.status, 503, "{}", ready.body);
    let body: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!((body["store"].as_str(), body["mailboxes"]["it-old"]["connected"].as_bool()), (Some("ok"), Some(false)));

    // The Maildir appears: ready, and the ticket counted.
    make_maildir(dir.path());
    deliver(
        dir.path(),
        "1.M1.host",
        &crate::support::request("Anna <anna@example.org>", "it@example.org", "VPN", "Drops.", "v1@t"),
    );
    crate::support::eventually("ready", Duration::from_secs(30), || async {
        http::get(&format!("{ops}/readyz")).await.status == 200
    })
    .await;
    crate::support::eventually("the ticket counted", Duration::from_secs(30), || async {
        http::get(&format!("{ops}/metrics")).await.body.contains(r#"loket_tickets{department="it",status="new"} 1"#)
    })
    .await;
    let metrics = http::get(&format!("{ops}/metrics")).await;
    assert!(metrics.headers["content-type"].starts_with("application/openmetrics-text"));
    for line in [
        r#"loket_messages_ingested_total{mailbox="it-old",outcome="created"} 1"#,
        r#"loket_mailbox_connected{mailbox="it-old"} 1"#,
        "# TYPE loket_ack_latency_seconds histogram",
    ] {
        assert!(metrics.body.contains(line), "{line} in\n{}", metrics.body);
    }

    // The employees' listener has none of it: the status page's own 404, with its headers.
    let unknown = http::get(&format!("{base}/t/SD-09999?k=nope")).await;
    for path in ["/metrics", "/readyz", "/healthz", "/admin"] {
        let answer = http::get(&format!("{base}{path}")).await;
        assert_eq!((answer.status, &answer.body), (404, &unknown.body), "{path} on the employees' listener");
        assert_eq!(answer.headers["cache-control"], "no-store");
        assert!(answer.headers["content-security-policy"].starts_with("default-src 'none'"));
    }

    shutdown.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_employees_listener_says_on_an_error_holds_nothing_internal() {
    let desk = Desk::start().await;
    let ack = desk.ask("Anna", "Printer jams", "p1@t").await;
    let link = ack.link();
    assert_eq!(http::get(&link).await.status, 200);
    let unknown = http::get(&format!("{}/t/SD-09999?k=nope", desk.base())).await.body;

    // Malformed references and tokens: the same 404 as an unknown reference,
    // without the parser's words.
    for target in ["/t/%FF?k=x", "/t/SD-00001?k=%FF%FE", "/t/SD-00001?k=1&k=2"] {
        let answer = http::get(&format!("{}{target}", desk.base())).await;
        assert_eq!((answer.status, &answer.body), (404, &unknown), "{target}");
    }
    // A method it does not serve, and a body larger than allowed: fixed pages.
    let internal =
        ["Invalid", "Failed", "parse", "deserialize", "length limit", "sqlite", "no such", "tickets", "127.0.0.1"];
    let path = desk.dir.path().display().to_string();
    let port = desk.port;
    let requests = [
        "POST /t/SD-00001 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        "GET /t/SD-00001 HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\nConnection: close\r\n\r\n",
    ];
    for request in requests {
        let (status, body) = raw(port, request).await;
        assert!((400..500).contains(&status), "{status} for {request}");
        assert!(body.contains("cannot be shown") && !body.contains(&path), "{body}");
        assert!(!internal.iter().any(|word| body.contains(word)), "{body}");
    }

    // The store fails under the page: the employee reads only "try again later".
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&crate::support::sqlite_url(desk.dir.path()))
        .await
        .unwrap();
    sqlx::query("ALTER TABLE tickets RENAME TO tickets_gone").execute(&mut db).await.unwrap();
    let broken = http::get(&link).await;
    assert_eq!(broken.status, 503);
    assert!(broken.body.contains("cannot be shown") && !broken.body.contains(&path), "{}", broken.body);
    assert!(!internal.iter().any(|word| broken.body.contains(word)), "{}", broken.body);
    assert_eq!(broken.headers["cache-control"], "no-store");
    sqlx::query("ALTER TABLE tickets_gone RENAME TO tickets").execute(&mut db).await.unwrap();
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_link_answers_like_an_unknown_ticket_while_others_keep_theirs_and_the_next_mail_has_a_new_one() {
    let desk = Desk::start().await;
    let anna = desk.ask("Anna", "VPN drops", "a1@t").await;
    let bob = desk.ask("Bob", "Monitor flickers", "b1@t").await;
    let (old, reference) = (anna.link(), reference_of(&anna.link()));
    assert_eq!(http::get(&old).await.status, 200);

    // Anna's link leaked (a forwarded mail, a proxy log): the operator takes it back.
    let said = desk.loket(&["tickets", "revoke-link", &reference]);
    assert!(said.contains(&reference) && said.contains("new one"), "{said}");
    let revoked = http::get(&old).await;
    let unknown = http::get(&format!("{}/t/SD-09999?k={}", desk.base(), old.rsplit("k=").next().unwrap())).await;
    assert_eq!((revoked.status, &revoked.body), (404, &unknown.body), "indistinguishable from an unknown ticket");
    let other = http::get(&bob.link()).await;
    assert_eq!(other.status, 200, "Bob's link still works");
    assert!(other.body.contains("Monitor flickers"));
    let shown = desk.loket(&["tickets", "show", &reference]);
    assert!(shown.contains("link_revoked"), "the timeline says so: {shown}");

    // IT answers: the mail to Anna carries a link that works.
    let forward = mail(desk.dir.path(), "q@example.org", "fwd", "VPN drops").await;
    desk.answer(&forward, "Please reconnect; the VPN profile is renewed.", "it-1@t");
    let relay = mail(desk.dir.path(), "anna@example.org", "ans", "VPN drops").await;
    let new = relay.link();
    assert_ne!(new, old);
    let page = http::get(&new).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("VPN profile is renewed"), "{}", page.body);
    assert_eq!(http::get(&old).await.status, 404);
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_stops_working_when_its_ticket_has_been_resolved_longer_than_the_configured_days() {
    let desk = Desk::start().await;
    let ack = desk.ask("Anna", "Badge broken", "r1@t").await;
    let forward = mail(desk.dir.path(), "q@example.org", "fwd", "Badge broken").await;
    desk.answer(&forward, "#resolve\nA new badge is at the reception.", "it-2@t");
    mail(desk.dir.path(), "anna@example.org", "ans", "Badge broken").await;
    let link = ack.link();
    crate::support::eventually("the page shows it resolved", Duration::from_secs(30), || async {
        http::get(&link).await.body.contains("Resolved")
    })
    .await;

    // 91 days later (the default is 90), the link opens nothing.
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&crate::support::sqlite_url(desk.dir.path()))
        .await
        .unwrap();
    sqlx::query("UPDATE events SET at = at - 91 * 86400000 WHERE kind = 'resolved'").execute(&mut db).await.unwrap();
    let expired = http::get(&link).await;
    let unknown = http::get(&format!("{}/t/SD-09999?k=nope", desk.base())).await;
    assert_eq!((expired.status, &expired.body), (404, &unknown.body));
    desk.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_connections_neither_stop_mail_becoming_tickets_nor_the_status_page() {
    // The daemon as a process with few file descriptors, as under a tight limit:
    // without a connection cap, the idle sockets would take every descriptor and
    // the mailbox could no longer be read.
    let dir = tempfile::tempdir().unwrap();
    make_maildir(dir.path());
    let (port, ops) = (crate::support::free_port(), crate::support::free_port());
    let limits = "max_connections = 150\nheader_read_timeout_secs = 2";
    std::fs::write(dir.path().join("loket.toml"), config_text(dir.path(), port, ops, limits)).unwrap();
    let daemon = Running(
        Command::new("bash")
            .args(["-c", "ulimit -n 300 && exec \"$0\" run --config loket.toml", env!("CARGO_BIN_EXE_loket")])
            .current_dir(dir.path())
            .env("LOKET_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    crate::support::eventually("ready", Duration::from_secs(30), || async {
        TcpStream::connect(("127.0.0.1", ops)).await.is_ok()
            && http::get(&format!("http://127.0.0.1:{ops}/readyz")).await.status == 200
    })
    .await;

    // The attacker opens 1,000 connections to the status page's port and sends nothing.
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(TcpStream::connect(("127.0.0.1", port)).await.expect("the system queues the connection"));
    }
    // Mail still becomes a ticket, acknowledged with its link.
    deliver(
        dir.path(),
        "1.M1.host",
        &crate::support::request("Anna <anna@example.org>", "it@example.org", "VPN", "x", "i@t"),
    );
    let ack = mail(dir.path(), "anna@example.org", "ack", "VPN").await;
    // A new visitor of the status page is answered: idle connections are closed
    // after the header timeout, and the queue moves on.
    let page = tokio::time::timeout(Duration::from_secs(60), http::get(&ack.link())).await.expect("answered");
    assert_eq!(page.status, 200);
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(10), idle[0].read(&mut byte)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "an idle connection is closed by the server: {closed:?}");
    drop(daemon);
}

/// A child process that is stopped however the test ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        crate::support::stop(&mut self.0, "TERM");
    }
}

#[tokio::test]
async fn a_taken_port_stops_loket_with_the_key_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = loket::config::load_str(&config_text(dir.path(), port, crate::support::free_port(), "")).unwrap();
    let error = loket::app::run(Arc::new(config), CancellationToken::new()).await.unwrap_err().to_string();
    assert!(error.contains("web.listen") && error.contains("127.0.0.1"), "{error}");
    let config = loket::config::load_str(&config_text(dir.path(), crate::support::free_port(), port, "")).unwrap();
    let error = loket::app::run(Arc::new(config), CancellationToken::new()).await.unwrap_err().to_string();
    assert!(error.contains("web.ops_listen"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_task_that_panics_shows_in_readiness_is_restarted_and_takes_in_mail_again() {
    crate::support::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let ops = crate::support::free_port();
    let mut config = loket::config::load_str(&config_text(dir.path(), port, ops, "")).unwrap();
    // A name of its own: the fault switch is per task name, for the whole test binary.
    config.mailboxes[0].name = loket::domain::MailboxName::parse("panicky").unwrap();
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.path().join("it").join(sub)).unwrap();
    }
    let deliver = |name: &str, id: &str| {
        let mail = crate::support::request("Anna <anna@example.org>", "it@example.org", "VPN", "It drops.", id);
        std::fs::write(dir.path().join("it/new").join(name), mail).unwrap();
    };
    deliver("1.M1.host", "before@t");
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(loket::app::run(Arc::new(config), shutdown.clone()));
    let base = format!("http://127.0.0.1:{ops}");
    let tickets = |n: usize| {
        let url = format!("{base}/metrics");
        async move { http::get(&url).await.body.contains(&format!(r#"loket_tickets{{department="it",status="new"}} {n}"#)) }
    };
    crate::support::eventually("the web server", Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;
    crate::support::eventually("the first mail as a ticket", Duration::from_secs(30), || tickets(1)).await;
    crate::support::eventually("ready", Duration::from_secs(30), || async {
        http::get(&format!("{base}/readyz")).await.status == 200
    })
    .await;

    loket::supervise::fault::panic_once("mailbox:panicky");
    crate::support::eventually("the panic shown in readiness", Duration::from_secs(30), || async {
        let ready = http::get(&format!("{base}/readyz")).await;
        ready.status == 503 && ready.body.contains("the mailbox task panicked")
    })
    .await;

    deliver("2.M2.host", "after@t");
    crate::support::eventually("the mail after the panic as a ticket", Duration::from_secs(30), || tickets(2)).await;
    crate::support::eventually("ready again", Duration::from_secs(30), || async {
        http::get(&format!("{base}/readyz")).await.status == 200
    })
    .await;
    let ready: serde_json::Value = serde_json::from_str(&http::get(&format!("{base}/readyz")).await.body).unwrap();
    let task = &ready["tasks"]["mailbox:panicky"];
    assert_eq!((task["running"].as_bool(), task["restarts"].as_u64()), (Some(true), Some(1)), "{ready}");
    assert!(task["error"].as_str().unwrap().contains("panicked"), "{ready}");
    assert_eq!(ready["tasks"]["outbox"]["running"], true, "the outbox worker is part of readiness: {ready}");
    let metrics = http::get(&format!("{base}/metrics")).await.body;
    assert!(metrics.contains(r#"loket_task_restarts_total{task="mailbox:panicky"} 1"#), "{metrics}");

    shutdown.cancel();
    daemon.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_mailbox_of_three_leaves_loket_ready_and_says_it_is_degraded() {
    crate::support::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let port = crate::support::free_port();
    let ops = crate::support::free_port();
    let mut text = format!(
        "[store]\nurl = \"{}\"\n[desk]\nname = \"D\"\naddress = \"d@example.org\"\nbase_url = \"http://127.0.0.1:{port}\"\n\
         [web]\nlisten = \"127.0.0.1:{port}\"\nops_listen = \"127.0.0.1:{ops}\"\n[outbox]\nfile_dir = \"{}\"\n\
         [[departments]]\nid = \"it\"\nname = \"IT\"\nqueue_address = \"q@example.org\"\n",
        crate::support::sqlite_url(dir.path()),
        dir.path().join("outbox").display(),
    );
    for name in ["a", "b", "c"] {
        if name != "c" {
            for sub in ["new", "cur", "tmp"] {
                std::fs::create_dir_all(dir.path().join(name).join(sub)).unwrap();
            }
        }
        text.push_str(&format!(
            "[[mailboxes]]\nname = \"{name}\"\ndepartment = \"it\"\nmaildir = \"{}\"\npoll_interval_secs = 1\n",
            dir.path().join(name).display()
        ));
    }
    let config = loket::config::load_str(&text).unwrap();
    let shutdown = CancellationToken::new();
    let daemon = tokio::spawn(loket::app::run(Arc::new(config), shutdown.clone()));
    let url = format!("http://127.0.0.1:{ops}/readyz");
    crate::support::eventually("the web server", Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
    })
    .await;
    crate::support::eventually("mailbox c's failure reported", Duration::from_secs(30), || async {
        let ready = http::get(&url).await;
        ready.body.contains("No such file") && ready.body.contains(r#""a":{"connected":true"#)
    })
    .await;
    let ready = http::get(&url).await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    let body: serde_json::Value = serde_json::from_str(&ready.body).unwrap();
    assert_eq!((body["ready"].as_bool(), body["degraded"].as_bool()), (Some(true), Some(true)), "{body}");
    assert_eq!(body["mailboxes"]["c"]["connected"], false);
    shutdown.cancel();
    daemon.await.unwrap().unwrap();
}
