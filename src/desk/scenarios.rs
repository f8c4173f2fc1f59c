//! The desk's rules as scenarios: a mail and the state it meets in, the
//! decision out. Pure, so each runs in milliseconds.

mod retire;

use std::sync::{Arc, OnceLock};

use super::{Joining, Opened, RecentAcks, Reply, Respond, Responder, Response, Turn, participants};
use crate::config::Config;
use crate::domain::{
    DepartmentId, Entry, Event, EventKind, History, Language, MailKind, Mailbox, MailboxName, Status, TicketRef,
    TicketState, Withheld,
};
use crate::inbound::thread::{Doubt, Role};
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
    config: Arc<Config>,
    signer: Signer,
}

fn desk_with(extra: &str) -> Desk {
    let config = Arc::new(crate::config::load_str(&format!("{CONFIG}\n{extra}")).expect("scenario config"));
    let signer = Signer::new(b"scenario secret, long enough for the desk");
    static ROUTING: OnceLock<Arc<Routing>> = OnceLock::new();
    let routing = ROUTING.get_or_init(|| Arc::new(Routing::from_config(Arc::new(config.as_ref().clone())))).clone();
    let rules = Rules::from_config(&config, signer.clone(), routing);
    let renderer = Renderer::load(None).expect("shipped templates");
    Desk { respond: Respond::new(config.clone(), renderer, signer.clone()), rules, config, signer }
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
    let incoming = Incoming {
        mailbox: MailboxName::parse("it-old").expect("name"),
        source_key: "1/1".into(),
        imap: None,
        size: raw.len() as u64,
        raw,
        truncated: false,
        backlog,
        received_at_ms: 0,
        seen: false,
    };
    let mailbox = desk.config.mailbox("it-old").expect("mailbox");
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
    let (mut incoming, plan) = arrive(desk, raw, backlog);
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
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 30).expect("a day"),
    };
    let response = desk.respond.respond(&opened);
    let timeline = events(&super::opening_entries(&opened, &response));
    (response, timeline)
}

fn ticket() -> TicketState {
    TicketState {
        id: "t1".into(),
        reference: TicketRef::new("SD", 1),
        requester_address: "anna@example.org".into(),
        requester_name: Some("Anna".into()),
        opening_from: "anna@example.org".into(),
        subject: "Laptop".into(),
        department: "it".into(),
        status: Status::New,
        language: Language::En,
        origin_mailbox: "it-old".into(),
        opening_message_id: Some("a-1@x".into()),
        opening_text: "My laptop is broken".into(),
        opening_raw: b"From: anna@example.org\r\nSubject: Laptop\r\n\r\nMy laptop is broken\r\n".to_vec(),
        received_at: 0,
        staff: Vec::new(),
        link_generation: 0,
        recent_mails: 0,
        recent_messages: Vec::new(),
    }
}

/// A mail that answers one of the ticket's mails of `kind`.
fn reply_to(desk: &Desk, kind: MailKind, from: &str, body: &str) -> Vec<u8> {
    let id = desk.signer.message_id(&TicketRef::new("SD", 1), kind.id_kind(), "example.org");
    mail(from, &format!("In-Reply-To: <{id}>\r\n"), "Re: [SD-00001] Laptop", body)
}

/// A message on the ticket: who wrote it, and what it does.
fn converse(desk: &Desk, ticket: &TicketState, raw: Vec<u8>) -> (Option<Role>, Reply) {
    let (incoming, plan) = arrive(desk, raw, false);
    let Plan::Ticket { message, verdict, thread, trust, .. } = &plan else { panic!("quarantined") };
    let hint = thread.as_ref().expect("the mail names the ticket");
    let role = desk.respond.join(&Joining { ticket, hint, message, trust });
    let Some(role) = role else { return (None, Reply::default()) };
    let turn = Turn { ticket, role, incoming: &incoming, message, verdict, trust };
    (Some(role), desk.respond.converse(&turn))
}

fn kinds(mails: &[crate::domain::Outgoing]) -> Vec<MailKind> {
    mails.iter().map(|m| m.kind).collect()
}

fn has(reply: &Reply, kind: EventKind) -> bool {
    reply.entries.iter().any(|e| e.kind() == kind)
}

fn events(entries: &[Entry]) -> Vec<Event> {
    entries.iter().map(|e| e.event.clone()).collect()
}

fn who(name: &str, address: &str) -> Mailbox {
    Mailbox { name: Some(name.into()), address: address.into() }
}

fn department(id: &str) -> DepartmentId {
    DepartmentId::parse(id).expect("a department id")
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
    assert_eq!(*routed, department("it"));
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
fn the_employee_writing_again_updates_the_department_and_reopens() {
    let d = desk();
    let mut resolved = ticket();
    resolved.status = Status::Resolved;
    let (role, reply) = converse(&d, &resolved, reply_to(&d, MailKind::Ack, "Anna <anna@example.org>", "Still broken"));
    assert_eq!(role, Some(Role::Requester));
    assert_eq!(kinds(&reply.mails), [MailKind::Update]);
    assert_eq!(reply.status, Some(Status::InProgress));
    let anna = who("Anna", "anna@example.org");
    assert_eq!(events(&reply.entries), [Event::Followup { from: anna }, Event::Reopened { by: None }]);
}

#[test]
fn staff_answering_the_forward_are_relayed_and_their_commands_run() {
    let d = desk();
    let t = ticket();
    let (role, reply) = converse(
        &d,
        &t,
        reply_to(&d, MailKind::Forward, "Bob <bob@example.org>", "#resolve\nA new one is on your desk."),
    );
    assert_eq!(role, Some(Role::Staff));
    assert_eq!(kinds(&reply.mails), [MailKind::Relay]);
    assert_eq!(reply.status, Some(Status::Resolved));
    let bob = who("Bob", "bob@example.org");
    assert_eq!(events(&reply.entries), [Event::Answered { from: bob.clone() }, Event::Resolved { by: bob }]);
    let (_, routed) = converse(&d, &t, reply_to(&d, MailKind::Update, "it-queue@example.org", "#route hr\nFor HR."));
    assert_eq!(routed.department.as_deref(), Some("hr"));
    assert_eq!(kinds(&routed.mails), [MailKind::Forward, MailKind::Moved]);
    let queue = Mailbox { name: None, address: "it-queue@example.org".into() };
    let rerouted = Event::Rerouted { from: Some(department("it")), to: department("hr"), by: queue };
    assert_eq!(events(&routed.entries), [rerouted]);
}

#[test]
fn a_claimed_department_address_without_proof_does_nothing() {
    let d = desk();
    let t = ticket();
    let by_subject = mail("IT <it-queue@example.org>", "", "Re: [SD-00001] Laptop", "#resolve\nhttps://evil.example");
    let (role, reply) = converse(&d, &t, by_subject);
    assert_eq!(role, Some(Role::Unverified(Doubt::NotAReplyToTheDepartment)));
    assert!(reply.mails.is_empty() && reply.status.is_none());
    let it = who("IT", "it-queue@example.org");
    assert_eq!(events(&reply.entries), [Event::Unverified { from: it, doubt: Doubt::NotAReplyToTheDepartment }]);
    let stolen = reply_to(&d, MailKind::Forward, "Mallory <mallory@example.net>", "#route hr");
    let (role, reply) = converse(&d, &t, stolen);
    assert_eq!(role, Some(Role::Unverified(Doubt::NotDepartmentStaff)));
    assert!(reply.mails.is_empty() && reply.department.is_none());
}

#[test]
fn the_same_text_again_and_again_is_a_loop_and_sends_nothing() {
    let d = desk();
    let mut t = ticket();
    let text = "I am out of the office until Monday.";
    t.recent_messages = vec![("anna@example.org".into(), text.into()), ("anna@example.org".into(), text.into())];
    let (_, reply) = converse(&d, &t, reply_to(&d, MailKind::Relay, "Anna <anna@example.org>", text));
    assert!(reply.mails.is_empty() && has(&reply, EventKind::Loop));
    t.recent_messages.truncate(1);
    let (_, reply) = converse(&d, &t, reply_to(&d, MailKind::Relay, "Anna <anna@example.org>", text));
    assert_eq!(kinds(&reply.mails), [MailKind::Update], "twice is not yet a loop");
}

#[test]
fn a_ticket_sends_at_most_its_hourly_share_of_conversation_mail() {
    let d = desk();
    let mut t = ticket();
    t.recent_mails = i64::from(d.config.conversation.max_mails_per_ticket_per_hour);
    let (_, reply) = converse(&d, &t, reply_to(&d, MailKind::Ack, "Anna <anna@example.org>", "One more thing"));
    assert!(reply.mails.is_empty());
    let cap = Withheld::TicketCap { mails: vec![MailKind::Update], sent: t.recent_mails };
    assert_eq!(
        events(&reply.entries),
        [Event::Followup { from: who("Anna", "anna@example.org") }, Event::Withheld { reason: cap }]
    );
}

#[test]
fn participants_are_the_requester_and_whoever_opened_the_ticket() {
    let d = desk();
    let t = ticket();
    let p = participants(&t, d.config.staff("it"));
    assert_eq!(p.requester, ["anna@example.org", "anna@example.org"]);
    assert!(p.staff.is_some_and(|s| s.includes("bob@example.org")));
}
