//! Respond, end to end over a real Dovecot and a real SMTP server: every human
//! request gets one acknowledgement and one forward; automatic mail gets neither.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::support::dovecot::Dovecot;
use crate::support::smtp::{Received, SmtpSink};
use crate::support::{TestMailbox, eventually, imap, request};
use loket::domain::{Event, EventKind, MailKind, OutboxState, Withheld};
use loket::store::Store;
use mail_parser::{MessageParser, MimeHeaders};
use tokio_util::sync::CancellationToken;

fn smtp_section(sink: &SmtpSink, tls: &str, port: u16) -> String {
    format!(
        "[smtp]\nhost = \"localhost\"\nport = {port}\ntls = \"{tls}\"\nca_file = \"{}\"\ntimeout_secs = 10\n\n[outbox]\nretry_base_secs = 1\n",
        sink.ca_file.display()
    )
}

async fn run_until<F, Fut>(config: &loket::config::Config, what: &str, done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    crate::support::init_tracing();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(loket::app::run(Arc::new(config.clone()), shutdown.clone()));
    eventually(what, Duration::from_secs(60), done).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();
}

fn parse(mail: &Received) -> mail_parser::Message<'_> {
    MessageParser::default().parse(&mail.bytes).expect("a parseable mail")
}

/// One old IT mailbox on a private Dovecot, an SMTP sink, and a store whose cursor
/// is already open (so that new mail is not backlog).
struct ItDesk {
    dovecot: Dovecot,
    sink: SmtpSink,
    /// Holds the SQLite file: bind it, or the store disappears.
    store_dir: tempfile::TempDir,
    store: Store,
    config: loket::config::Config,
}

async fn it_desk(tls: &str) -> ItDesk {
    let sink = SmtpSink::start();
    let port = if tls == "implicit" { sink.tls_port } else { sink.port };
    let section = smtp_section(&sink, tls, port);
    it_desk_with(sink, &section, None).await
}

/// The IT desk sending through `sink` as `smtp_and_outbox` says, with its store
/// at `store_url` (else SQLite); the config is also written to `loket.toml` in
/// the store's folder, for the binary.
async fn it_desk_with(sink: SmtpSink, smtp_and_outbox: &str, store_url: Option<String>) -> ItDesk {
    let dovecot = Dovecot::start(&["it"]);
    let dir = tempfile::tempdir().unwrap();
    let url = store_url.unwrap_or_else(|| crate::support::sqlite_url(dir.path()));
    let mailboxes = [TestMailbox::new("it-old", "it", "it")];
    let text = crate::support::config_text(&url, dovecot.port, &mailboxes, smtp_and_outbox);
    std::fs::write(dir.path().join("loket.toml"), &text).unwrap();
    let config = loket::config::load_str(&text).expect("test config is valid");
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    store.open_cursor("it-old", imap::uidvalidity(dovecot.port, "it", "INBOX").await, 1, None).await.unwrap();
    ItDesk { dovecot, sink, store_dir: dir, store, config }
}

const DSN: &str = "From: MAILER-DAEMON@mx.example.org\r\nTo: it@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mx.example.org>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; nobody@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n--b--\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_human_request_gets_one_ack_and_one_forward_and_automatic_mail_gets_neither() {
    let dovecot = Dovecot::start(&["it", "hr", "facility"]);
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let mailboxes = [
        TestMailbox::new("it-old", "it", "it"),
        TestMailbox::new("hr-old", "hr", "hr"),
        TestMailbox::new("facility-old", "facility", "facility"),
    ];
    // STARTTLS against the test CA; mail arrives after loket first connected.
    let config = crate::support::config(&url, dovecot.port, &mailboxes, &smtp_section(&sink, "starttls", sink.port));
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    for (name, _, user) in [("it-old", "", "it"), ("hr-old", "", "hr"), ("facility-old", "", "facility")] {
        store.open_cursor(name, imap::uidvalidity(dovecot.port, user, "INBOX").await, 1, None).await.unwrap();
    }

    let dutch = request(
        "Anna de Vries <anna@example.org>",
        "it@example.org",
        "Laptop start niet",
        "Sinds vanochtend start mijn laptop niet meer op. Het scherm blijft zwart. Kunnen jullie vandaag nog kijken?",
        "nl-1@example.org",
    );
    let english = request(
        "James O'Neill <james@example.org>",
        "hr@example.org",
        "Question about my payslip",
        "My payslip for October shows the wrong number of hours. Could you please check it and let me know?",
        "en-1@example.org",
    );
    let others: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            request(
                "Piet <piet@example.org>",
                "facility@example.org",
                &format!("Lamp {i} kapot"),
                "De lamp in de gang is kapot, kan iemand hem vervangen?",
                &format!("f-{i}@example.org"),
            )
        })
        .collect();
    let ooo = b"From: Sanne <sanne@example.org>\r\nTo: hr@example.org\r\nSubject: Automatisch antwoord: rooster\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo-1@example.org>\r\n\r\nIk ben afwezig.\r\n".to_vec();
    let list = b"From: News <news@example.org>\r\nTo: facility@example.org\r\nSubject: Weekly news\r\nList-Id: <news.example.org>\r\nMessage-ID: <list-1@example.org>\r\n\r\nThis week.\r\n".to_vec();
    imap::append_all(dovecot.port, "it", "INBOX", &[dutch, DSN.as_bytes().to_vec()]).await;
    imap::append_all(dovecot.port, "hr", "INBOX", &[english, ooo]).await;
    let mut facility = others;
    facility.push(list);
    imap::append_all(dovecot.port, "facility", "INBOX", &facility).await;

    run_until(&config, "12 mails at the SMTP server", || async { sink.received().len() >= 12 }).await;
    let received = sink.received();
    assert_eq!(received.len(), 12, "6 acknowledgements and 6 forwards, nothing else");
    assert_eq!(store.count_tickets().await.unwrap(), 9, "automatic mail is stored too");

    let acks: Vec<&Received> = received.iter().filter(|m| !m.rcpt_tos[0].ends_with("-queue@example.org")).collect();
    let forwards: Vec<&Received> = received.iter().filter(|m| m.rcpt_tos[0].ends_with("-queue@example.org")).collect();
    assert_eq!((acks.len(), forwards.len()), (6, 6));
    assert!(received.iter().all(|m| m.tls && m.mail_from == "servicedesk@example.org"));
    let ack_recipients: HashSet<&str> = acks.iter().map(|m| m.rcpt_tos[0].as_str()).collect();
    assert_eq!(ack_recipients, HashSet::from(["anna@example.org", "james@example.org", "piet@example.org"]));

    for mail in &acks {
        let parsed = parse(mail);
        let from = parsed.from().unwrap().first().unwrap();
        assert_eq!((from.name(), from.address()), (Some("Service Desk"), Some("servicedesk@example.org")));
        assert_eq!(parsed.header_raw("Auto-Submitted").map(str::trim), Some("auto-replied"));
        assert!(parsed.header_raw("X-Loket-Loop").is_some());
        assert!(parsed.message_id().unwrap().starts_with("loket.SD-"));
        let subject = parsed.subject().unwrap();
        assert!(subject.starts_with("[SD-"), "{subject}");
        let text = parsed.body_text(0).unwrap();
        assert!(text.contains(&format!("{}/t/SD-", config.desk.base_url)), "{text}");
        match mail.rcpt_tos[0].as_str() {
            "anna@example.org" => {
                assert!(text.contains("geregistreerd"), "Dutch for a Dutch request: {text}");
                // The link's token is the ticket's own, and no stored byte holds it.
                let link = text.split_whitespace().find(|w| w.contains("/t/SD-")).unwrap();
                let (path, token) = link.split_once("?k=").unwrap();
                let reference = path.rsplit('/').next().unwrap();
                assert!(token.len() >= 32, "at least 128 bits: {token}");
                let signer = loket::sign::Signer::new(
                    store.signing_secret(&loket::sign::new_secret()).await.unwrap().as_bytes(),
                );
                let reference = loket::domain::TicketRef::parse(reference).unwrap();
                assert!(signer.token_matches(&reference, loket::sign::FIRST_LINK, token));
                assert!(!signer.token_matches(&reference, loket::sign::FIRST_LINK, "0123456789abcdef0123456789abcdef"));
                assert!(!store.outbox_bodies_contain(token.as_bytes()).await.unwrap());
                assert!(text.contains("IT"));
                assert_eq!(parsed.in_reply_to().as_text(), Some("nl-1@example.org"));
            }
            "james@example.org" => {
                assert!(text.contains("registered as"), "English for an English request: {text}");
                assert!(text.contains("HR"));
            }
            _ => assert!(text.contains("Facility")),
        }
    }
    for mail in &forwards {
        let parsed = parse(mail);
        assert!(parsed.from().unwrap().first().unwrap().name().unwrap().ends_with(" via Service Desk"));
        assert_eq!(parsed.reply_to().unwrap().first().unwrap().address(), Some("servicedesk@example.org"));
        assert_eq!(parsed.header_raw("Auto-Submitted").map(str::trim), Some("auto-generated"));
        let attachment = parsed.attachment(0).unwrap();
        assert!(
            attachment.is_content_type("message", "rfc822"),
            "{:?} in {}",
            attachment.content_type(),
            String::from_utf8_lossy(&mail.bytes)
        );
        assert!(parsed.body_text(0).unwrap().contains("Reference:   SD-"));
    }
    // The stored tickets say why the automatic mails got no reply.
    for ticket in store.list_tickets(20).await.unwrap() {
        let detail = store.ticket(ticket.reference.as_str()).await.unwrap();
        let withheld = detail.events.iter().any(|e| e.kind == EventKind::Withheld);
        assert_eq!(withheld, ticket.automatic.is_some(), "{}", ticket.subject);
        if ticket.automatic.is_none() {
            assert_eq!(detail.outbox.iter().filter(|o| o.state == OutboxState::Sent).count(), 2, "{}", ticket.subject);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_smtp_server_down_mail_waits_and_goes_out_once_when_it_is_back() {
    let ItDesk { dovecot, mut sink, store, config, store_dir: _store_dir } = it_desk("implicit").await;
    sink.stop();
    let messages: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            request(
                "Anna <anna@example.org>",
                "it@example.org",
                &format!("Request {i}"),
                "Please help me with my screen.",
                &format!("down-{i}@example.org"),
            )
        })
        .collect();
    imap::append_all(dovecot.port, "it", "INBOX", &messages).await;

    crate::support::init_tracing();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(loket::app::run(Arc::new(config.clone()), shutdown.clone()));
    eventually("tickets with mail waiting", Duration::from_secs(30), || async {
        store.count_tickets().await.unwrap() == 3 && store.outbox_depth().await.unwrap() == 6
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sink.received().is_empty());
    sink.resume();
    eventually("six mails", Duration::from_secs(60), || async { store.outbox_depth().await.unwrap() == 0 }).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let received = sink.received();
    assert_eq!(received.len(), 6, "each mail exactly once");
    let ids: HashSet<String> = received.iter().map(|m| parse(m).message_id().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 6);
    let detail = store.ticket("SD-00001").await.unwrap();
    assert!(
        detail.outbox.iter().all(|o| o.state == OutboxState::Sent && o.attempts == 1),
        "a server that is down pauses the queue and charges no mail an attempt: {:?}",
        detail.outbox
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_start_on_a_mailbox_full_of_old_mail_sends_no_acknowledgements_for_it() {
    let dovecot = Dovecot::start(&["hr"]);
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let config = crate::support::config(
        &url,
        dovecot.port,
        &[TestMailbox::new("hr-old", "hr", "hr")],
        &smtp_section(&sink, "starttls", sink.port),
    );
    let old: Vec<Vec<u8>> = (0..5)
        .map(|i| {
            request(
                "Old <old@example.org>",
                "hr@example.org",
                &format!("Old question {i}"),
                "An old question about leave.",
                &format!("old-{i}@example.org"),
            )
        })
        .collect();
    imap::append_all(dovecot.port, "hr", "INBOX", &old).await;
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();

    crate::support::init_tracing();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(loket::app::run(Arc::new(config.clone()), shutdown.clone()));
    eventually("five forwards", Duration::from_secs(30), || async { sink.received().len() >= 5 }).await;
    let new = request(
        "New <new@example.org>",
        "hr@example.org",
        "New question",
        "A new question about my contract.",
        "new-1@example.org",
    );
    imap::append_all(dovecot.port, "hr", "INBOX", &[new]).await;
    eventually("the new request's two mails", Duration::from_secs(30), || async { sink.received().len() >= 7 }).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let received = sink.received();
    assert_eq!(received.len(), 7);
    let acks: Vec<&Received> = received.iter().filter(|m| !m.rcpt_tos[0].ends_with("-queue@example.org")).collect();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].rcpt_tos, ["new@example.org"]);
    let old_ticket = store.ticket("SD-00001").await.unwrap();
    let backlog = Event::Withheld { reason: Withheld::Backlog };
    assert!(old_ticket.events.iter().any(|e| e.data.as_ref() == Some(&backlog)), "{:?}", old_ticket.events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounce_of_loket_s_own_acknowledgement_lands_on_its_ticket() {
    let ItDesk { dovecot, sink, store, config, store_dir: _store_dir } = it_desk("starttls").await;
    let request = request(
        "Ghost <ghost@example.org>",
        "it@example.org",
        "Printer",
        "The printer on floor 2 is jammed again.",
        "ghost-1@example.org",
    );
    imap::append_all(dovecot.port, "it", "INBOX", &[request]).await;

    crate::support::init_tracing();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(loket::app::run(Arc::new(config.clone()), shutdown.clone()));
    eventually("the acknowledgement", Duration::from_secs(30), || async {
        sink.received().iter().any(|m| m.rcpt_tos == ["ghost@example.org"])
    })
    .await;
    let ack = sink.received().into_iter().find(|m| m.rcpt_tos == ["ghost@example.org"]).unwrap();
    let ack_id = parse(&ack).message_id().unwrap().to_owned();

    // The recipient's server reports that the acknowledgement could not be delivered.
    let dsn = format!(
        "From: MAILER-DAEMON@mx.example.org\r\nTo: servicedesk@example.org\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-2@mx.example.org>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nghost@example.org: user unknown\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; ghost@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: Service Desk <servicedesk@example.org>\r\nTo: ghost@example.org\r\nSubject: [SD-00001] Printer\r\nMessage-ID: <{ack_id}>\r\n\r\n--b--\r\n"
    );
    imap::append_all(dovecot.port, "it", "INBOX", &[dsn.into_bytes()]).await;
    eventually("the bounce on the ticket", Duration::from_secs(30), || async {
        store.ticket("SD-00001").await.unwrap().events.iter().any(|e| e.kind == EventKind::Bounced)
    })
    .await;
    shutdown.cancel();
    task.await.unwrap().unwrap();

    assert_eq!(store.count_tickets().await.unwrap(), 1, "a bounce opens no ticket");
    let ticket = store.ticket("SD-00001").await.unwrap();
    assert_eq!(ticket.messages.len(), 2);
    let event = ticket.events.iter().find(|e| e.kind == EventKind::Bounced).unwrap();
    assert!(
        matches!(&event.data, Some(Event::Bounced { mail: MailKind::Ack, recipient, .. }) if recipient == "ghost@example.org"),
        "{event:?}"
    );
    assert!(event.detail.contains("acknowledgement to ghost@example.org could not be delivered"), "{}", event.detail);
    assert!(ticket.outbox.iter().any(|o| o.kind == MailKind::Ack && o.state == OutboxState::Bounced));
    assert_eq!(sink.received().len(), 2, "the bounce itself gets no reply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_is_recorded_on_the_ticket_and_not_retried() {
    let ItDesk { dovecot, sink, store, config, store_dir: _store_dir } = it_desk("starttls").await;
    let request = request(
        "Nobody <nobody@nowhere.example.org>",
        "it@example.org",
        "Mouse",
        "My mouse does not work any more.",
        "nowhere-1@example.org",
    );
    imap::append_all(dovecot.port, "it", "INBOX", &[request]).await;

    run_until(&config, "the ack refused and the forward sent", || async {
        let Ok(ticket) = store.ticket("SD-00001").await else { return false };
        ticket.outbox.iter().any(|o| o.state == OutboxState::Failed)
            && ticket.outbox.iter().any(|o| o.state == OutboxState::Sent)
    })
    .await;
    let ticket = store.ticket("SD-00001").await.unwrap();
    let ack = ticket.outbox.iter().find(|o| o.kind == MailKind::Ack).unwrap();
    assert_eq!((ack.state.read(), ack.attempts), (Some(&OutboxState::Failed), 1), "a permanent refusal is not retried");
    assert!(ack.last_error.as_deref().unwrap_or_default().contains("550"), "{:?}", ack.last_error);
    let event = ticket.events.iter().find(|e| e.kind == EventKind::Failed).unwrap();
    let Some(Event::Failed { mail: MailKind::Ack, recipient, error }) = &event.data else { panic!("{event:?}") };
    assert_eq!(recipient, "nobody@nowhere.example.org");
    assert!(error.contains("550"), "{error}");
    assert_eq!(sink.received().len(), 1, "only the forward arrived");
}

/// `[smtp]` with a login, STARTTLS, and quick retries.
fn smtp_login_section(sink: &SmtpSink, password: &str, outbox: &str) -> String {
    format!(
        "[smtp]\nhost = \"localhost\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\ntimeout_secs = 10\nusername = \"desk\"\npassword = \"{password}\"\n\n[outbox]\nretry_base_secs = 1\n{outbox}\n",
        sink.port,
        sink.ca_file.display()
    )
}

fn loket_cli(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_loket"))
        .args(args)
        .arg("--config")
        .arg(dir.join("loket.toml"))
        .env("LOKET_LOG", "warn")
        .output()
        .expect("run loket")
}

fn requests(prefix: &str, senders: &[&str]) -> Vec<Vec<u8>> {
    senders
        .iter()
        .enumerate()
        .map(|(i, from)| {
            request(
                from,
                "it@example.org",
                &format!("Request {i}"),
                "Please help me with my screen.",
                &format!("{prefix}-{i}@example.org"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_smtp_password_pauses_the_queue_and_every_mail_goes_out_once_when_it_is_fixed() {
    let sink = SmtpSink::with_login("desk", "summer-2026");
    let section = smtp_login_section(&sink, "summer-2026", "");
    let ItDesk { dovecot, sink, store, config, store_dir: _store_dir } = it_desk_with(sink, &section, None).await;
    // The administrator rotates the desk's password on the server; loket still has the old one.
    sink.set_password("winter-2026");
    let senders = ["Anna <anna@example.org>", "Bram <bram@example.org>", "Chris <chris@example.org>"];
    imap::append_all(dovecot.port, "it", "INBOX", &requests("rotated", &senders)).await;

    crate::support::init_tracing();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(loket::app::run(Arc::new(config.clone()), shutdown.clone()));
    let ready = format!("http://{}/readyz", config.web.ops_address());
    eventually("the outbox paused for the login", Duration::from_secs(30), || async {
        let listening = tokio::net::TcpStream::connect(config.web.ops_address()).await.is_ok();
        listening && crate::support::http::get(&ready).await.body.contains("\"reason\":\"authentication\"")
    })
    .await;
    eventually("three tickets with six mails waiting", Duration::from_secs(30), || async {
        store.count_tickets().await.unwrap() == 3 && store.outbox_depth().await.unwrap() == 6
    })
    .await;
    // Several probes are refused meanwhile (retry_base_secs = 1); none gives a mail up.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(sink.received().is_empty());
    assert!(store.outbox_queue(true, 100).await.unwrap().is_empty(), "nothing given up");
    let queue = store.outbox_queue(false, 100).await.unwrap();
    assert!(queue.iter().all(|m| m.attempts == 0), "no attempt charged: {queue:?}");
    assert!(queue.iter().any(|m| m.last_error.as_deref().is_some_and(|e| e.contains("535"))), "{queue:?}");
    let metrics = crate::support::http::get(&format!("http://{}/metrics", config.web.ops_address())).await.body;
    assert!(metrics.contains("loket_outbox_paused{reason=\"authentication\"} 1"), "{metrics}");
    assert_eq!(crate::support::http::get(&ready).await.status, 503, "not ready while the server takes no mail");

    // The password is set back; the queue resumes by itself.
    sink.set_password("summer-2026");
    eventually("six mails sent", Duration::from_secs(60), || async { store.outbox_depth().await.unwrap() == 0 }).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let readyz = crate::support::http::get(&ready).await;
    assert_eq!(readyz.status, 200, "{}", readyz.body);
    let readyz = readyz.body;
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let received = sink.received();
    assert_eq!(received.len(), 6, "each mail exactly once");
    let ids: HashSet<String> = received.iter().map(|m| parse(m).message_id().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 6);
    for reference in ["SD-00001", "SD-00002", "SD-00003"] {
        let outbox = store.ticket(reference).await.unwrap().outbox;
        assert!(outbox.iter().all(|o| o.state == OutboxState::Sent && o.attempts == 1), "{outbox:?}");
    }
    let readyz: serde_json::Value = serde_json::from_str(&readyz).unwrap();
    assert_eq!(readyz["outbox"]["paused"], false, "{readyz}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_recipient_gives_up_only_that_mail_and_outbox_retry_sends_it_again() {
    // On PostgreSQL: the SQLite side of the outbox is what every other test here uses.
    let postgres = crate::support::postgres::Postgres::start();
    let url = postgres.database("outbox").await;
    let sink = SmtpSink::with_login("desk", "summer-2026");
    let section = smtp_login_section(&sink, "summer-2026", "");
    let ItDesk { dovecot, sink, store, config, store_dir } = it_desk_with(sink, &section, Some(url)).await;
    sink.refuse("anna@example.org");
    imap::append_all(
        dovecot.port,
        "it",
        "INBOX",
        &requests("refused", &["Anna <anna@example.org>", "Bram <bram@example.org>"]),
    )
    .await;

    run_until(&config, "Anna's acknowledgement given up and three mails sent", || async {
        sink.received().len() == 3 && store.outbox_queue(true, 10).await.unwrap().len() == 1
    })
    .await;
    let failed = store.outbox_queue(true, 10).await.unwrap();
    let anna = &failed[0];
    assert_eq!(
        (anna.kind.to_string().as_str(), anna.recipient.as_str(), anna.attempts),
        ("ack", "anna@example.org", 1)
    );
    assert!(anna.last_error.as_deref().unwrap_or_default().contains("550"), "{anna:?}");
    assert_eq!(store.outbox_depth().await.unwrap(), 0, "the other mails were not held up");

    let listed = loket_cli(&["outbox", "list", "--failed", "--json"], store_dir.path());
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8_lossy(&listed.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["id"], anna.id.as_str());
    assert_eq!(lines[0]["reference"], "SD-00001");
    assert_eq!(lines[0]["can_retry"], true);

    // The mailbox exists again; the operator sends the mail once more.
    sink.refuse_nobody();
    let retried = loket_cli(&["outbox", "retry", &anna.id], store_dir.path());
    assert!(retried.status.success(), "{}", String::from_utf8_lossy(&retried.stderr));
    let again = loket_cli(&["outbox", "retry", &anna.id], store_dir.path());
    assert!(!again.status.success(), "only given-up mail is put back");
    assert!(String::from_utf8_lossy(&again.stderr).contains("pending, not given up"), "{again:?}");

    run_until(&config, "Anna's acknowledgement", || async {
        sink.received().iter().any(|m| m.rcpt_tos == ["anna@example.org"])
    })
    .await;
    assert_eq!(sink.received().len(), 4, "only the retried mail went out again");
    let ticket = store.ticket("SD-00001").await.unwrap();
    let ack = ticket.outbox.iter().find(|o| o.kind == MailKind::Ack).unwrap();
    assert_eq!(ack.state, OutboxState::Sent);
    assert!(ticket.events.iter().any(|e| e.kind == EventKind::Requeued), "{:?}", ticket.events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_of_an_original_larger_than_the_limit_links_to_the_ticket_instead_of_attaching_it() {
    let sink = SmtpSink::start();
    let section = format!("{}max_attachment_bytes = 4096\n", smtp_section(&sink, "starttls", sink.port));
    let ItDesk { dovecot, sink, store: _store, config, store_dir: _store_dir } =
        it_desk_with(sink, &section, None).await;
    let long = "My screen flickers. ".repeat(400);
    let large = request("Anna <anna@example.org>", "it@example.org", "Large", &long, "large-1@example.org");
    let small =
        request("Bram <bram@example.org>", "it@example.org", "Small", "My mouse is broken.", "small-1@example.org");
    imap::append_all(dovecot.port, "it", "INBOX", &[large, small]).await;

    run_until(&config, "two forwards", || async {
        sink.received().iter().filter(|m| m.rcpt_tos == ["it-queue@example.org"]).count() == 2
    })
    .await;
    let received = sink.received();
    let forwards: Vec<&Received> = received.iter().filter(|m| m.rcpt_tos == ["it-queue@example.org"]).collect();
    let large = forwards.iter().map(|m| parse(m)).find(|p| p.subject().unwrap().contains("Large")).unwrap();
    let small = forwards.iter().map(|m| parse(m)).find(|p| p.subject().unwrap().contains("Small")).unwrap();
    assert_eq!(large.attachment_count(), 0, "the large original is not attached");
    let text = large.body_text(0).unwrap();
    assert!(text.contains("is not attached"), "{text}");
    assert!(text.contains(&format!("{}/t/SD-00001?k=", config.desk.base_url)), "{text}");
    assert_eq!(small.attachment_count(), 1, "a small original is still attached");
}

/// The outbox signs in with XOAUTH2; when the provider revokes the token, the
/// next session fetches one new token and every mail goes out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_sends_with_xoauth2_and_replaces_a_revoked_token_once() {
    let server =
        crate::support::oauth::TokenServer::start(&[("desk-app", "desk-secret", "desk")], Duration::from_secs(600))
            .await;
    let sink = SmtpSink::with_oauth(&server.introspection_url());
    let section = format!(
        "[smtp]\nhost = \"localhost\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\ntimeout_secs = 10\nusername = \"desk\"\nauth = \"xoauth2\"\noauth = \"desk-idp\"\n\n[outbox]\nretry_base_secs = 1\n\n[[oauth]]\nname = \"desk-idp\"\ngrant = \"client_credentials\"\ntoken_url = \"{}\"\nclient_id = \"desk-app\"\nclient_secret = \"desk-secret\"\nscope = \"https://outlook.office365.com/.default\"\n",
        sink.port,
        sink.ca_file.display(),
        server.token_url()
    );
    let ItDesk { dovecot, mut sink, store, config, store_dir: _store_dir } = it_desk_with(sink, &section, None).await;
    imap::append_all(dovecot.port, "it", "INBOX", &requests("oauth", &["Anna <anna@example.org>"])).await;
    crate::support::init_tracing();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(loket::app::run(Arc::new(config.clone()), shutdown.clone()));
    eventually("the acknowledgement and the forward sent", Duration::from_secs(30), || async {
        store.count_tickets().await.unwrap() == 1 && store.outbox_depth().await.unwrap() == 0
    })
    .await;
    assert_eq!(sink.received().len(), 2);
    assert_eq!(server.requests("client_credentials"), 1);

    server.revoke_all();
    sink.stop();
    sink.resume();
    imap::append_all(dovecot.port, "it", "INBOX", &requests("oauth-late", &["Bram <bram@example.org>"])).await;
    eventually("the second request's mails sent", Duration::from_secs(30), || async {
        store.count_tickets().await.unwrap() == 2 && store.outbox_depth().await.unwrap() == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(sink.received().len(), 4, "each mail exactly once");
    assert_eq!(server.requests("client_credentials"), 2, "one new token after the refusal");
}

/// The provider says its tokens last ten minutes but they expire after three
/// seconds: the mail server refuses the old token, loket fetches one new token,
/// signs in with it and sends each mail once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_smtp_token_is_refreshed_once_and_each_mail_is_sent_once() {
    let server =
        crate::support::oauth::TokenServer::start(&[("desk-app", "desk-secret", "desk")], Duration::from_secs(3)).await;
    server.announce_lifetime(Duration::from_secs(600));
    let sink = SmtpSink::with_oauth(&server.introspection_url());
    let section = format!(
        "[smtp]\nhost = \"localhost\"\nport = {}\ntls = \"starttls\"\nca_file = \"{}\"\ntimeout_secs = 10\nusername = \"desk\"\nauth = \"xoauth2\"\noauth = \"desk-idp\"\n\n[outbox]\nretry_base_secs = 1\n\n[[oauth]]\nname = \"desk-idp\"\ngrant = \"client_credentials\"\ntoken_url = \"{}\"\nclient_id = \"desk-app\"\nclient_secret = \"desk-secret\"\nscope = \"https://outlook.office365.com/.default\"\n",
        sink.port,
        sink.ca_file.display(),
        server.token_url()
    );
    let ItDesk { dovecot, mut sink, store, config, store_dir: _store_dir } = it_desk_with(sink, &section, None).await;
    imap::append_all(dovecot.port, "it", "INBOX", &requests("fresh", &["Anna <anna@example.org>"])).await;
    crate::support::init_tracing();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(loket::app::run(Arc::new(config.clone()), shutdown.clone()));
    eventually("the acknowledgement and the forward sent", Duration::from_secs(30), || async {
        store.count_tickets().await.unwrap() == 1 && store.outbox_depth().await.unwrap() == 0
    })
    .await;
    assert_eq!(server.refusals(), 0);

    tokio::time::sleep(Duration::from_secs(4)).await;
    sink.stop();
    sink.resume();
    imap::append_all(dovecot.port, "it", "INBOX", &requests("expired", &["Bram <bram@example.org>"])).await;
    eventually("the second request's mails sent", Duration::from_secs(30), || async {
        store.count_tickets().await.unwrap() == 2 && store.outbox_depth().await.unwrap() == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(sink.received().len(), 4, "each mail exactly once");
    // The two mails may go out over two sessions at once, each offering the
    // cached token before either learns it expired.
    let refusals = server.refusals();
    assert!((1..=2).contains(&refusals), "the server refused the expired token once per session: {refusals}");
    assert_eq!(server.requests("client_credentials"), 2, "one new token after the refusal");
}

/// An old address that nudges, with a closing day ahead, adds the line about
/// the desk address to its Dutch acknowledgement; one that closed yesterday in
/// `redirect` mode sends the English closed-address notice instead of the
/// acknowledgement, and the request is forwarded all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nudging_address_says_so_in_its_acknowledgement_and_a_closed_one_sends_only_its_notice() {
    let dovecot = Dovecot::start(&["it", "facility"]);
    let sink = SmtpSink::start();
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let yesterday = (chrono::Local::now().date_naive() - chrono::Days::new(1)).format("%Y-%m-%d").to_string();
    let nudging = "address = \"it@example.org\"\nnudge = true\nretire_after = \"2099-12-31\"".to_owned();
    let closed =
        format!("address = \"facility@example.org\"\nretire_after = \"{yesterday}\"\nretire_mode = \"redirect\"");
    let mailboxes = [
        TestMailbox { extra: &nudging, ..TestMailbox::new("it-old", "it", "it") },
        TestMailbox { extra: &closed, ..TestMailbox::new("facility-old", "facility", "facility") },
    ];
    let config = crate::support::config(&url, dovecot.port, &mailboxes, &smtp_section(&sink, "starttls", sink.port));
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    for (name, user) in [("it-old", "it"), ("facility-old", "facility")] {
        store.open_cursor(name, imap::uidvalidity(dovecot.port, user, "INBOX").await, 1, None).await.unwrap();
    }
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(loket::app::run(Arc::new(config.clone()), shutdown.clone()));
    let dutch = request(
        "Anna de Vries <anna@example.org>",
        "it@example.org",
        "Laptop start niet",
        "Sinds vanochtend start mijn laptop niet meer op. Kunnen jullie vandaag nog kijken?",
        "nudge-nl@example.org",
    );
    let english = request(
        "Bram Jansen <bram@example.org>",
        "facility@example.org",
        "Broken chair",
        "The chair at my desk on the third floor is broken. Could someone replace it this week?",
        "closed-en@example.org",
    );
    imap::append_all(dovecot.port, "it", "INBOX", &[dutch]).await;
    imap::append_all(dovecot.port, "facility", "INBOX", &[english]).await;
    let to = |address: &str| sink.received().into_iter().filter(|m| m.rcpt_tos.iter().any(|r| r == address)).count();
    eventually("the mails to both employees and both queues", Duration::from_secs(60), || async {
        to("anna@example.org") >= 1
            && to("bram@example.org") >= 1
            && sink.received().iter().filter(|m| m.rcpt_tos.iter().any(|r| r.ends_with("-queue@example.org"))).count()
                >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let text_to = |address: &str| -> Vec<String> {
        sink.received()
            .iter()
            .filter(|m| m.rcpt_tos.iter().any(|r| r == address))
            .map(|m| {
                let parsed = MessageParser::default().parse(&m.bytes).unwrap();
                parsed.body_text(0).map(|t| t.into_owned()).unwrap_or_default()
            })
            .collect()
    };
    let anna = text_to("anna@example.org");
    assert_eq!(anna.len(), 1, "one acknowledgement: {anna:?}");
    assert!(
        anna[0].contains("servicedesk@example.org bereikt alle afdelingen")
            && anna[0].contains("it@example.org verdwijnt na")
            && anna[0].contains("2099"),
        "the Dutch nudge with the closing day: {}",
        anna[0]
    );
    let bram = text_to("bram@example.org");
    assert_eq!(bram.len(), 1, "only the closed-address notice: {bram:?}");
    assert!(
        bram[0].contains("The address facility@example.org closed after")
            && bram[0].contains("please write to servicedesk@example.org"),
        "the English closed-address notice: {}",
        bram[0]
    );
    assert!(!bram[0].contains("http"), "the notice carries no tracking link: {}", bram[0]);
    let forwards =
        sink.received().iter().filter(|m| m.rcpt_tos.iter().any(|r| r.ends_with("-queue@example.org"))).count();
    assert_eq!(forwards, 2, "both requests forwarded");
}
