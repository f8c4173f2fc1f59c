//! The desk's rules as scenarios: a mail and the state it meets in, the
//! decision out. Pure, so each runs in milliseconds.

mod conversation;
mod retire;

use std::sync::{Arc, OnceLock};

use super::{Opened, RecentAcks, Respond, Responder, Response};
use crate::domain::{Entry, Event, History, MailKind, MailboxName, Status, TicketRef, Withheld};
use crate::outbound::render::Renderer;
use crate::pipeline::plan::{Incoming, Plan, Rules, plan_parsed};
use crate::routing::classify::Routing;
use crate::sign::Signer;

const CONFIG: &str = r#"
[desk]
name = "Service Desk"
address = "servicedesk@example.org"
base_url = "https://desk.example.org"

[ack]
max_per_recipient_per_hour = 2
max_per_domain_per_hour = 3
max_outside_per_hour = 4

[[departments]]
id = "it"
name = "IT"
queue_address = "it-queue@example.org"
staff = ["bob@example.org"]

[[departments]]
id = "hr"
name = "HR"
queue_address = "hr-queue@example.org"

[[mailboxes]]
name = "it-old"
department = "it"
maildir = "/nonexistent/it"
"#;

struct Desk {
    respond: Respond,
    rules: Rules,
    settings: crate::desk::Settings,
    signer: Signer,
}

fn desk_with(extra: &str) -> Desk {
    let config = crate::config::load_str(&format!("{CONFIG}\n{extra}")).expect("scenario config");
    let signer = Signer::new(b"scenario secret, long enough for the desk");
    static ROUTING: OnceLock<Arc<Routing>> = OnceLock::new();
    let routing = ROUTING.get_or_init(|| Arc::new(Routing::from_config(&config))).clone();
    let rules = Rules::from_config(&config, signer.clone(), routing);
    let renderer = Renderer::load(None).expect("shipped templates");
    let settings = crate::desk::Settings::from_config(&config);
    Desk { respond: Respond::new(settings.clone(), renderer, signer.clone()), rules, settings, signer }
}

fn desk() -> Desk {
    desk_with("")
}

fn mail(from: &str, headers: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\n{headers}To: it@example.org\r\nSubject: {subject}\r\nMessage-ID: <{}@x>\r\n\r\n{body}\r\n",
        subject.len() + body.len()
    )
    .into_bytes()
}

fn arrive(desk: &Desk, raw: Vec<u8>, backlog: bool) -> (Incoming, Plan) {
    arrive_in(desk, "it-old", raw, backlog)
}

/// [`arrive`] in another configured mailbox.
fn arrive_in(desk: &Desk, mailbox: &str, raw: Vec<u8>, backlog: bool) -> (Incoming, Plan) {
    let incoming = Incoming {
        mailbox: MailboxName::parse(mailbox).expect("name"),
        source_key: "1/1".into(),
        imap: None,
        size: raw.len() as u64,
        raw,
        truncated: false,
        backlog,
        received_at_ms: 0,
        seen: false,
    };
    let mailbox = desk.settings.directory.mailbox(mailbox).expect("mailbox");
    let plan = plan_parsed(&desk.rules, mailbox, &incoming, crate::inbound::intake::parse(&incoming.raw));
    (incoming, plan)
}

/// A new request: what the desk sends, given the acknowledgements already sent.
fn open(desk: &Desk, raw: Vec<u8>, recent: RecentAcks) -> Response {
    open_backlog(desk, raw, recent, false)
}

fn open_backlog(desk: &Desk, raw: Vec<u8>, recent: RecentAcks, backlog: bool) -> Response {
    open_as(desk, raw, recent, backlog, false)
}

fn open_as(desk: &Desk, raw: Vec<u8>, recent: RecentAcks, backlog: bool, seen: bool) -> Response {
    opening(desk, raw, recent, backlog, seen).0
}

/// A new request: what the desk sends, and the new ticket's timeline.
fn opening(desk: &Desk, raw: Vec<u8>, recent: RecentAcks, backlog: bool, seen: bool) -> (Response, Vec<Event>) {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 30).expect("a day");
    opening_at(desk, "it-old", raw, recent, backlog, seen, today)
}

/// [`opening`] in another configured mailbox, on `today`.
fn opening_at(
    desk: &Desk,
    mailbox: &str,
    raw: Vec<u8>,
    recent: RecentAcks,
    backlog: bool,
    seen: bool,
    today: chrono::NaiveDate,
) -> (Response, Vec<Event>) {
    let (mut incoming, plan) = arrive_in(desk, mailbox, raw, backlog);
    incoming.seen = seen;
    incoming.received_at_ms = 1_796_000_000_000;
    let Plan::Ticket { message, verdict, decision, language, trust, .. } = &plan else { panic!("quarantined") };
    let reference = TicketRef::new("SD", 1);
    let opened = Opened {
        reference: &reference,
        incoming: &incoming,
        message,
        verdict,
        decision,
        language: *language,
        trust,
        recent,
        today,
    };
    let response = desk.respond.respond(&opened);
    let timeline = events(&super::opening_entries(&opened, &response));
    (response, timeline)
}

fn kinds(mails: &[crate::domain::Outgoing]) -> Vec<MailKind> {
    mails.iter().map(|m| m.kind).collect()
}

/// The text of a composed mail, as its reader sees it (quoted-printable undone).
fn body(mail: &crate::domain::Outgoing) -> String {
    crate::inbound::intake::parse(&mail.bytes).map(|m| m.text).unwrap_or_default()
}

fn events(entries: &[Entry]) -> Vec<Event> {
    entries.iter().map(|e| e.event.clone()).collect()
}

#[test]
fn a_new_request_is_acknowledged_and_forwarded() {
    let d = desk();
    let response =
        open(&d, mail("Anna <anna@example.org>", "", "Laptop", "My laptop is broken"), RecentAcks::default());
    assert_eq!(kinds(&response.mails), [MailKind::Ack, MailKind::Forward]);
    assert_eq!(response.mails[0].recipient, "anna@example.org");
    assert_eq!(response.mails[1].recipient, "it-queue@example.org");
}

#[test]
fn a_new_tickets_timeline_says_where_it_arrived_where_it_went_and_what_was_queued() {
    let d = desk();
    let raw = mail("Anna <anna@example.org>", "", "Laptop", "My laptop is broken");
    let (_, timeline) = opening(&d, raw, RecentAcks::default(), false, false);
    let [received, Event::Routed { department: routed, .. }, ack, forward] = &timeline[..] else {
        panic!("{timeline:?}")
    };
    assert_eq!(*received, Event::Received { mailbox: MailboxName::parse("it-old").expect("name") });
    assert_eq!(routed.as_str(), "it");
    assert_eq!(*ack, Event::Queued { mail: MailKind::Ack, recipient: "anna@example.org".into() });
    assert_eq!(*forward, Event::Queued { mail: MailKind::Forward, recipient: "it-queue@example.org".into() });
    let auto = mail("Anna <anna@example.org>", "Auto-Submitted: auto-replied\r\n", "Out of office", "Away");
    let (_, timeline) = opening(&d, auto, RecentAcks::default(), false, false);
    assert!(
        matches!(
            &timeline[2..],
            [Event::Automatic { from: None, .. }, Event::Withheld { reason: Withheld::Automatic { .. } }]
        ),
        "{timeline:?}"
    );
}

#[test]
fn automatic_mail_and_backlog_get_no_acknowledgement() {
    let d = desk();
    let auto = mail("Anna <anna@example.org>", "Auto-Submitted: auto-replied\r\n", "Out of office", "Away");
    let response = open(&d, auto, RecentAcks::default());
    assert!(response.mails.is_empty(), "no acknowledgement and no forward for automatic mail");
    let old = open_backlog(&d, mail("Anna <anna@example.org>", "", "Laptop", "Broken"), RecentAcks::default(), true);
    assert_eq!(kinds(&old.mails), [MailKind::Forward], "backlog is forwarded without an acknowledgement");
}

#[test]
fn backlog_that_was_read_or_is_old_is_history_and_sends_nothing() {
    let d = desk();
    let request = || mail("Anna <anna@example.org>", "", "Laptop", "Broken");
    let read = open_as(&d, request(), RecentAcks::default(), true, true);
    assert!(read.mails.is_empty());
    assert_eq!(read.status, Some(Status::Resolved));
    assert_eq!(events(&read.entries), [Event::History { why: History::Seen }]);
    let old = mail("Anna <anna@example.org>", "Date: Mon, 02 Nov 2020 09:00:00 +0100\r\n", "Laptop", "Broken");
    let old = open_as(&d, old, RecentAcks::default(), true, false);
    assert!(old.mails.is_empty());
    assert!(matches!(events(&old.entries)[..], [Event::History { why: History::Old { forward_days: 14, .. } }]));
    let recent = mail("Anna <anna@example.org>", "Date: Mon, 30 Nov 2026 09:00:00 +0100\r\n", "Laptop", "Broken");
    let recent = open_as(&d, recent, RecentAcks::default(), true, false);
    assert_eq!(kinds(&recent.mails), [MailKind::Forward], "unread recent backlog is forwarded as now");
    let seen_but_new = open_as(&d, request(), RecentAcks::default(), false, true);
    assert_eq!(kinds(&seen_but_new.mails), [MailKind::Ack, MailKind::Forward], "only backlog can be history");
}

#[test]
fn acknowledgements_stop_at_the_caps_and_say_why() {
    let d = desk();
    let outsider = || mail("Eve <eve@elsewhere.example>", "", "Prize", "Claim it");
    let person = RecentAcks { recipient: 2, ..RecentAcks::default() };
    let domain = RecentAcks { domain: 3, ..RecentAcks::default() };
    let outside = RecentAcks { outside: 4, ..RecentAcks::default() };
    let caps = [
        (person, Withheld::RecipientCap { address: "eve@elsewhere.example".into(), count: 2 }),
        (domain, Withheld::DomainCap { domain: "elsewhere.example".into(), count: 3 }),
        (outside, Withheld::OutsideCap { count: 4 }),
    ];
    for (recent, why) in caps {
        let response = open(&d, outsider(), recent);
        assert_eq!(kinds(&response.mails), [MailKind::Forward]);
        assert_eq!(response.withheld, [why]);
    }
    // Domain and outside caps hold only outside the organisation.
    let colleague = open(&d, mail("Carl <carl@example.org>", "", "Laptop", "Broken"), domain);
    assert_eq!(kinds(&colleague.mails), [MailKind::Ack, MailKind::Forward]);
}

#[test]
fn a_reply_to_outside_the_organisation_is_set_aside() {
    let d = desk();
    let raw = mail("James <james@example.org>", "Reply-To: <victim@elsewhere.example>\r\n", "Printer", "Jams");
    let response = open(&d, raw, RecentAcks::default());
    assert_eq!(response.mails[0].recipient, "james@example.org");
    let set_aside =
        Event::ReplyToSetAside { reply_to: "victim@elsewhere.example".into(), to: "james@example.org".into() };
    assert_eq!(events(&response.entries), [set_aside]);
}

#[test]
fn a_forged_colleague_gets_no_acknowledgement_and_the_department_is_warned() {
    let d = desk_with("[trust]\nauthserv_id = \"mx.example.org\"\n");
    let forged = mail(
        "Carla <carla@example.org>",
        "Authentication-Results: mx.example.org; dmarc=fail header.from=example.org\r\n",
        "Laptop password",
        "Please reset my laptop password",
    );
    let response = open(&d, forged, RecentAcks::default());
    assert_eq!(kinds(&response.mails), [MailKind::Forward]);
    assert!(String::from_utf8_lossy(&response.mails[0].bytes).contains("WARNING"));
}

#[test]
fn an_outsiders_reply_to_naming_an_employee_is_set_aside_and_the_department_told() {
    let d = desk();
    let raw = mail("m@evil.example", "Reply-To: CEO <ceo@example.org>\r\n", "Salary change", "Change my IBAN");
    let response = open(&d, raw, RecentAcks::default());
    let ack = response.mails.iter().find(|m| m.kind == MailKind::Ack).expect("an acknowledgement");
    assert_eq!(ack.recipient, "m@evil.example");
    assert!(response.mails.iter().all(|m| m.recipient != "ceo@example.org"));
    let forward = response.mails.iter().find(|m| m.kind == MailKind::Forward).expect("a forward");
    assert!(body(forward).contains("Requester:   m@evil.example"), "{}", body(forward));
    assert!(body(forward).contains("WARNING") && body(forward).contains("ceo@example.org (Reply-To)"));
    let set_aside = Event::ReplyToSetAside { reply_to: "ceo@example.org".into(), to: "m@evil.example".into() };
    assert_eq!(events(&response.entries), [set_aside]);
}

#[test]
fn a_new_request_whose_sender_is_in_doubt_warns_the_department_and_names_why() {
    let d = desk_with("[trust]\nauthserv_id = \"mx.example.org\"\n");
    let verdict = "Authentication-Results: mx.example.org; dmarc=pass header.from=evil.example\r\n";
    let two = mail("m@evil.example", &format!("{verdict}From: Anna <anna@example.org>\r\n"), "IBAN", "Pay NL00EVIL");
    let response = open(&d, two, RecentAcks::default());
    let forward = response.mails.iter().find(|m| m.kind == MailKind::Forward).expect("a forward");
    assert!(body(forward).contains("WARNING: loket cannot tell who sent this mail: it names more than one sender"));
    let sender = mail("undisclosed:;", "Sender: anna@example.org\r\n", "IBAN", "Pay NL00EVIL");
    let response = open(&d, sender, RecentAcks::default());
    let forward = response.mails.iter().find(|m| m.kind == MailKind::Forward).expect("a forward");
    assert!(body(forward).contains("it has no usable From"), "{}", body(forward));
    let plain = mail("Anna <anna@example.org>", "", "Laptop", "Broken");
    let response = open(&d, plain, RecentAcks::default());
    assert!(response.mails.iter().all(|m| !body(m).contains("WARNING")));
}
