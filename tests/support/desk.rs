//! The desk as a test sees it: old IT and Facility mailboxes and the desk's own
//! inbox on a real Dovecot, a real SMTP server catching what loket sends, and the
//! daemon running over them; with helpers to write replies and read mails.

use std::sync::Arc;
use std::time::Duration;

use loket::store::Store;
use mail_parser::MessageParser;
use tokio_util::sync::CancellationToken;

use super::dovecot::Dovecot;
use super::http;
use super::smtp::{Received, SmtpSink};
use super::{TestMailbox, eventually, imap};

pub const ANNA: &str = "anna@example.org";

/// Old IT and Facility mailboxes, the desk's own inbox (a mailbox without a
/// department), an SMTP sink and the daemon running over them.
pub struct Desk {
    pub dovecot: Dovecot,
    pub sink: SmtpSink,
    pub _store_dir: tempfile::TempDir,
    pub _postgres: Option<super::postgres::Postgres>,
    pub store: Store,
    pub config: loket::config::Config,
    /// The config as a file, for the `loket` binary.
    pub config_file: std::path::PathBuf,
    pub shutdown: CancellationToken,
    pub daemon: tokio::task::JoinHandle<Result<(), loket::app::AppError>>,
}

impl Desk {
    /// On SQLite, or on a private PostgreSQL with `postgres`.
    pub async fn start(postgres: bool) -> Self {
        Self::start_with(postgres, "").await
    }

    /// With `extra` config lines.
    pub async fn start_with(postgres: bool, extra: &str) -> Self {
        super::init_tracing();
        let dovecot = Dovecot::start(&["it", "facility", "desk"]);
        let sink = SmtpSink::start();
        let dir = tempfile::tempdir().unwrap();
        let (url, postgres) = if postgres {
            let server = super::postgres::Postgres::start();
            (server.database("conversation").await, Some(server))
        } else {
            (super::sqlite_url(dir.path()), None)
        };
        let mut desk_inbox = TestMailbox::new("desk", "", "desk");
        desk_inbox.department = None;
        let mailboxes = [
            TestMailbox::new("it-old", "it", "it"),
            TestMailbox::new("facility-old", "facility", "facility"),
            desk_inbox,
        ];
        let smtp = format!(
            "[smtp]\nhost = \"localhost\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\ntimeout_secs = 10\n\n[outbox]\nretry_base_secs = 1\n\n[routing]\nmodel_check_secs = 1\n",
            sink.port,
            sink.ca_file.display()
        ) + extra;
        let text = super::config_text(&url, dovecot.port, &mailboxes, &smtp);
        let config = loket::config::load_str(&text).unwrap();
        let config_file = dir.path().join("loket.toml");
        std::fs::write(&config_file, &text).unwrap();
        let store = Store::connect(&url, 2).await.unwrap();
        store.migrate().await.unwrap();
        for (name, user) in [("it-old", "it"), ("facility-old", "facility"), ("desk", "desk")] {
            store.open_cursor(name, imap::uidvalidity(dovecot.port, user, "INBOX").await, 1, None).await.unwrap();
        }
        let shutdown = CancellationToken::new();
        let daemon = tokio::spawn(loket::app::run(Arc::new(config.clone()), shutdown.clone()));
        Self { dovecot, sink, _store_dir: dir, _postgres: postgres, store, config, config_file, shutdown, daemon }
    }

    pub async fn deliver(&self, user: &str, raw: Vec<u8>) {
        imap::append_all(self.dovecot.port, user, "INBOX", &[raw]).await;
    }

    /// Waits for the `n`th mail (counting from 1) to `recipient` whose Message-ID
    /// has the kind `kind` (`ack`, `fwd`, `ans`, `upd`, `moved`, `cmd`).
    pub async fn mail(&self, recipient: &str, kind: &str, n: usize) -> Received {
        let pick = || {
            self.sink
                .received()
                .into_iter()
                .filter(|m| m.rcpt_tos.iter().any(|r| r == recipient) && message_id(m).contains(&format!(".{kind}.")))
                .nth(n - 1)
        };
        eventually(&format!("{kind} mail #{n} to {recipient}"), Duration::from_secs(60), || async { pick().is_some() })
            .await;
        pick().unwrap()
    }

    pub fn count(&self, recipient: &str) -> usize {
        self.sink.received().iter().filter(|m| m.rcpt_tos.iter().any(|r| r == recipient)).count()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.daemon.await.unwrap().unwrap();
    }
}

pub fn message_id(mail: &Received) -> String {
    MessageParser::default().parse(&mail.bytes).and_then(|m| m.message_id().map(str::to_owned)).unwrap_or_default()
}

pub fn text(mail: &Received) -> String {
    let parsed = MessageParser::default().parse(&mail.bytes).unwrap();
    parsed.body_text(0).unwrap().into_owned()
}

pub fn header(mail: &Received, name: &str) -> String {
    let parsed = MessageParser::default().parse(&mail.bytes).unwrap();
    parsed.header_raw(name).map(|v| v.trim().to_owned()).unwrap_or_default()
}

/// A reply: `From`, `To`, subject, body, and the Message-ID it answers.
pub fn reply(from: &str, to: &str, subject: &str, body: &str, id: &str, in_reply_to: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 02 Nov 2026 10:00:00 +0100\r\nMessage-ID: <{id}>\r\nIn-Reply-To: <{in_reply_to}>\r\nReferences: <{in_reply_to}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A reply with an attached PDF and an inline logo (as signatures carry).
pub fn reply_with_attachment(from: &str, subject: &str, body: &str, id: &str, in_reply_to: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: servicedesk@example.org\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nIn-Reply-To: <{in_reply_to}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--b1\r\nContent-Type: image/png\r\nContent-Disposition: inline; filename=\"logo.png\"\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b1\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"socket-report.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOfCg==\r\n--b1--\r\n"
    )
    .into_bytes()
}

pub fn link_in(text: &str) -> String {
    text.split_whitespace().find(|w| w.contains("/t/SD-")).expect("a tracking link").to_owned()
}

pub async fn page(url: &str) -> http::Answer {
    let answer = http::get(url).await;
    assert_eq!(answer.headers.get("cache-control").map(String::as_str), Some("no-store"));
    assert_eq!(answer.headers.get("referrer-policy").map(String::as_str), Some("no-referrer"));
    let csp = answer.headers.get("content-security-policy").expect("a CSP");
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe"), "{csp}");
    assert!(answer.headers.get("x-robots-tag").is_some_and(|v| v.contains("noindex")));
    answer
}

pub async fn page_shows(url: &str, what: &[&str]) -> http::Answer {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = page(url).await;
        if answer.status == 200 && what.iter().all(|w| answer.body.contains(w)) {
            return answer;
        }
        assert!(std::time::Instant::now() < deadline, "the page never showed {what:?}:\n{}", answer.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
