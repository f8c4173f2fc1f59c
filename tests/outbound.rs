//! The mails a new ticket sends, read back with a real MIME parser, and how a
//! real SMTP server's refusals of them are taken.

use std::time::{Duration, SystemTime};

use loket::domain::{EmailAddress, Mailbox, TicketRef};
use loket::inbound::language::Language;
use loket::outbound::render::Renderer;
use loket::outbound::{Composer, Desk, TicketFacts};
use loket::sign::Signer;
use mail_parser::{MessageParser, MimeHeaders};

const ORIGINAL: &[u8] = b"From: Anna de Vries <anna@example.org>\r\nTo: facility@example.org\r\nSubject: Lamp kapot\r\nMessage-ID: <orig-1@example.org>\r\n\r\nDe lamp in zaal 2.14 is kapot.\r\n";

struct Fixture {
    address: EmailAddress,
    queue: EmailAddress,
    reference: TicketRef,
    requester: Mailbox,
    references: Vec<String>,
    renderer: Renderer,
    signer: Signer,
}

impl Fixture {
    fn new(requester_name: &str) -> Self {
        Self {
            address: EmailAddress::parse("servicedesk@example.org").unwrap(),
            queue: EmailAddress::parse("facility-queue@example.org").unwrap(),
            reference: TicketRef::new("SD", 42),
            requester: Mailbox { name: Some(requester_name.to_owned()), address: "anna@example.org".into() },
            references: vec!["older@example.org".into()],
            renderer: Renderer::load(None).unwrap(),
            signer: Signer::new(b"test secret"),
        }
    }

    fn composer(&self) -> Composer<'_> {
        Composer {
            desk: Desk { name: "Service Desk", address: &self.address, base_url: "https://desk.example.org" },
            renderer: &self.renderer,
            signer: &self.signer,
            date: date(),
            max_attachment: 20 * 1024 * 1024,
        }
    }

    fn facts<'a>(&'a self, subject: &'a str, language: Language) -> TicketFacts<'a> {
        TicketFacts {
            reference: &self.reference,
            token: "tok123",
            language,
            department: "Facility",
            queue: &self.queue,
            requester: &self.requester,
            subject,
            text: "De lamp in zaal 2.14 is kapot. <script>alert('x')</script>",
            message_id: Some("orig-1@example.org"),
            references: &self.references,
            raw: ORIGINAL,
            sent_to: "facility@example.org",
            received: "2026-11-02 09:00",
            reason: "it was sent to the old Facility mailbox (facility-old)",
            decided: "mailbox",
            why: None,
            warning: None,
        }
    }
}

fn date() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_793_606_400)
}

#[test]
fn the_acknowledgement_comes_from_the_desk_threaded_under_the_request_in_its_language() {
    let f = Fixture::new("Anna de Vries");
    let mail = f.composer().ack(&f.facts("Lamp kapot", Language::Nl)).unwrap();
    assert_eq!(mail.recipient, "anna@example.org");
    assert_eq!(mail.sender, "servicedesk@example.org");
    let parsed = MessageParser::default().parse(&mail.bytes).unwrap();
    let from = parsed.from().unwrap().first().unwrap();
    assert_eq!((from.name(), from.address()), (Some("Service Desk"), Some("servicedesk@example.org")));
    assert_eq!(parsed.to().unwrap().first().unwrap().address(), Some("anna@example.org"));
    assert_eq!(parsed.subject(), Some("[SD-00042] Lamp kapot"));
    assert_eq!(parsed.in_reply_to().as_text(), Some("orig-1@example.org"));
    assert_eq!(parsed.references().as_text_list().map(|l| l.len()), Some(2));
    assert_eq!(parsed.header_raw("Auto-Submitted").map(str::trim), Some("auto-replied"));
    assert_eq!(parsed.header_raw("X-Loket-Loop").map(str::trim), Some("servicedesk@example.org"));
    let id = parsed.message_id().unwrap();
    assert_eq!(id, mail.message_id);
    assert_eq!(f.signer.verify(id).map(|s| s.reference), Some(f.reference.clone()));
    let text = parsed.body_text(0).unwrap();
    assert!(text.contains("geregistreerd als SD-00042"), "{text}");
    assert!(text.contains("Facility"));
    assert!(text.contains("https://desk.example.org/t/SD-00042?k=tok123"));
    assert!(parsed.body_html(0).unwrap().contains("SD-00042"));

    let english = f.composer().ack(&f.facts("Lamp", Language::En)).unwrap();
    let parsed = MessageParser::default().parse(&english.bytes).unwrap();
    assert!(parsed.body_text(0).unwrap().contains("registered as SD-00042"));
    assert_ne!(english.message_id, mail.message_id);
}

#[test]
fn the_forward_names_the_requester_and_carries_the_original_intact() {
    let f = Fixture::new("Anna de Vries");
    let mail = f.composer().forward(&f.facts("Lamp kapot", Language::Nl)).unwrap();
    assert_eq!(mail.recipient, "facility-queue@example.org");
    let parsed = MessageParser::default().parse(&mail.bytes).unwrap();
    let from = parsed.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("Anna de Vries via Service Desk"));
    assert_eq!(from.address(), Some("servicedesk@example.org"));
    assert_eq!(parsed.reply_to().unwrap().first().unwrap().address(), Some("servicedesk@example.org"));
    assert_eq!(parsed.subject(), Some("[SD-00042] Lamp kapot"));
    assert_eq!(parsed.header_raw("Auto-Submitted").map(str::trim), Some("auto-generated"));
    let text = parsed.body_text(0).unwrap();
    assert!(!parsed.parts.iter().any(|p| p.is_content_type("text", "html")), "the forward is plain text");
    for line in [
        "Reference:   SD-00042",
        "Requester:   Anna de Vries <anna@example.org>",
        "Sent to:     facility@example.org",
        "Department:  Facility",
        "Tracking:    https://desk.example.org/t/SD-00042?k=tok123",
        "De lamp in zaal 2.14 is kapot.",
    ] {
        assert!(text.contains(line), "{line} missing in {text}");
    }
    let attachment = parsed.attachment(0).unwrap();
    assert!(attachment.is_content_type("message", "rfc822"));
    let inner = attachment.message().unwrap();
    assert_eq!(inner.message_id(), Some("orig-1@example.org"));
    assert_eq!(inner.subject(), Some("Lamp kapot"));
}

#[test]
fn header_injection_through_the_subject_and_the_display_name_fails() {
    let f = Fixture::new("Eve\r\nBcc: victim@example.org");
    let subject = "Hello\r\nBcc: victim@example.org\r\nX-Evil: 1";
    for mail in [
        f.composer().ack(&f.facts(subject, Language::En)).unwrap(),
        f.composer().forward(&f.facts(subject, Language::En)).unwrap(),
    ] {
        let parsed = MessageParser::default().parse(&mail.bytes).unwrap();
        assert!(parsed.bcc().is_none(), "a Bcc header was injected");
        assert!(parsed.header_raw("X-Evil").is_none(), "a header was injected");
        assert_eq!(parsed.subject(), Some("[SD-00042] Hello Bcc: victim@example.org X-Evil: 1"));
        // The employee's text never reaches an HTML part unescaped.
        for part in parsed.parts.iter().filter(|p| p.is_content_type("text", "html")) {
            assert!(!part.text_contents().unwrap_or_default().contains("<script>"));
        }
        let head = String::from_utf8_lossy(&mail.bytes);
        let head = head.split("\r\n\r\n").next().unwrap();
        assert!(!head.lines().any(|l| l.starts_with("Bcc:") || l.starts_with("X-Evil:")), "{head}");
    }
}

#[test]
fn exchange_is_told_to_hold_back_out_of_office_replies_to_every_automatic_mail() {
    let f = Fixture::new("Anna de Vries");
    let facts = f.facts("Lamp kapot", Language::Nl);
    for mail in
        [f.composer().ack(&facts).unwrap(), f.composer().forward(&facts).unwrap(), f.composer().update(&facts).unwrap()]
    {
        let parsed = MessageParser::default().parse(&mail.bytes).unwrap();
        assert_eq!(parsed.header_raw("X-Auto-Response-Suppress").map(str::trim), Some("All"), "{:?}", mail.kind);
        assert!(parsed.header_raw("Auto-Submitted").is_some());
    }
}

/// An internal-only relay refuses an acknowledgement to an outside requester at
/// RCPT with `554 5.7.1 Relay access denied`: that is about this recipient, so
/// that mail fails for good (on the operator's list and the ticket's timeline),
/// and the forward queued after it goes out in the same session, no pause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_refusing_one_outside_recipient_fails_that_mail_and_the_next_mail_goes_out_at_once() {
    use loket::domain::OutboxState;
    use loket::outbound::outbox::{Sending, Transport, drain};

    crate::support::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let url = crate::support::sqlite_url(dir.path());
    let sink = crate::support::smtp::SmtpSink::start();
    sink.refuse_domain("other.org", "554 5.7.1 <anna@other.org>: Relay access denied");
    let config = crate::support::config(&url, crate::support::free_port(), &[], &sink.section());
    let (store, db, now) = crate::outbox::queue_store(&url).await;
    crate::outbox::put(&db, "m1", "ack", "anna@other.org", now).await;
    crate::outbox::put(&db, "m2", "forward", "it-queue@example.org", now).await;

    let transport = Transport::from_config(&config.outbox, config.smtp.as_ref(), &config.oauth)
        .unwrap()
        .expect("an SMTP transport");
    // One session: the forward is sent after the refusal, over the same server.
    let sending = Sending { connections: 1, ..Sending::from_config(&config) };
    let delivery = drain(&store, &transport, sending).await.unwrap();
    assert_eq!(delivery.paused, None, "{delivery:?}");
    assert_eq!((delivery.sent, delivery.given_up), (1, 1), "{delivery:?}");
    let recipients: Vec<Vec<String>> = sink.received().into_iter().map(|m| m.rcpt_tos).collect();
    assert_eq!(recipients, [["it-queue@example.org"]]);

    let failed = store.outbox_queue(true, 10).await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].id, "m1");
    assert_eq!(failed[0].state, OutboxState::Failed);
    assert!(failed[0].last_error.as_deref().is_some_and(|e| e.contains("Relay access denied")), "{failed:?}");
    let noted: Vec<String> = sqlx::query_scalar("SELECT COALESCE(data, detail) FROM events WHERE ticket_id = 't-1'")
        .fetch_all(&db)
        .await
        .unwrap();
    assert!(noted.iter().any(|d| d.contains("Relay access denied")), "the ticket says the mail failed: {noted:?}");
    assert_eq!(store.outbox_depth().await.unwrap(), 0, "nothing waits for a retry or a probe");
    db.close().await;
}
