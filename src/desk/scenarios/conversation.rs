//! Messages that continue a ticket, as scenarios: the employee writing again, a
//! department answering with commands, strangers and loops.

use super::{Desk, arrive, body, desk, desk_with, events, kinds, mail};
use crate::desk::{Joining, Reply, Responder, Turn, participants};
use crate::domain::{
    DepartmentId, Event, EventKind, Language, MailKind, Mailbox, MailboxName, Refusal, Status, TicketRef, TicketState,
    Withheld,
};
use crate::inbound::thread::{Doubt, Role};
use crate::pipeline::plan::Plan;

fn ticket() -> TicketState {
    TicketState {
        id: "t1".into(),
        reference: TicketRef::new("SD", 1),
        requester_address: "anna@example.org".into(),
        requester_name: Some("Anna".into()),
        opening_from: "anna@example.org".into(),
        subject: "Laptop".into(),
        department: DepartmentId::parse("it").unwrap(),
        status: Status::New,
        language: Language::En,
        origin_mailbox: MailboxName::parse("it-old").expect("a name"),
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
    let turn = Turn { ticket, hint, role, incoming: &incoming, message, verdict, trust };
    (Some(role), desk.respond.converse(&turn))
}

fn has(reply: &Reply, kind: EventKind) -> bool {
    reply.entries.iter().any(|e| e.kind() == kind)
}

fn who(name: &str, address: &str) -> Mailbox {
    Mailbox { name: Some(name.into()), address: address.into() }
}

fn department(id: &str) -> DepartmentId {
    DepartmentId::parse(id).expect("a department id")
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
    assert_eq!(routed.department.as_ref().map(DepartmentId::as_str), Some("hr"));
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
fn a_follow_up_named_only_by_its_subject_reaches_the_department_with_a_warning() {
    let d = desk();
    let mut resolved = ticket();
    resolved.status = Status::Resolved;
    let by_subject = mail("Anna <anna@example.org>", "", "Re: [SD-00001] Laptop", "Please pay to NL00EVIL");
    let (role, reply) = converse(&d, &resolved, by_subject);
    assert_eq!(role, Some(Role::Requester), "an employee's own mail still joins");
    assert_eq!(kinds(&reply.mails), [MailKind::Update]);
    assert!(body(&reply.mails[0]).starts_with("*** WARNING: loket could not verify the sender of this update"));
    assert_eq!(reply.status, Some(Status::InProgress));
    // A reply to a mail loket signed carries no warning.
    let (_, reply) = converse(&d, &resolved, reply_to(&d, MailKind::Ack, "Anna <anna@example.org>", "Still broken"));
    assert!(!body(&reply.mails[0]).contains("WARNING"));
    // Nor does one the organisation's mail server vouched for.
    let checked = desk_with("[trust]\nauthserv_id = \"mx.example.org\"\n");
    let pass = "Authentication-Results: mx.example.org; dmarc=pass header.from=example.org\r\n";
    let vouched = mail("Anna <anna@example.org>", pass, "Re: [SD-00001] Laptop", "Still broken");
    let (_, reply) = converse(&checked, &resolved, vouched);
    assert_eq!(kinds(&reply.mails), [MailKind::Update]);
    assert!(!body(&reply.mails[0]).contains("WARNING"));
}

#[test]
fn a_mail_whose_sender_is_in_doubt_is_kept_unverified_and_does_nothing() {
    let d = desk_with("[trust]\nauthserv_id = \"mx.example.org\"\n");
    let t = ticket();
    let judged = "Authentication-Results: mx.example.org; dmarc=pass header.from=evil.example\r\n";
    let two = mail("m@evil.example", &format!("{judged}From: Anna <anna@example.org>\r\n"), "Re: [SD-00001] x", "Pay");
    let (role, reply) = converse(&d, &t, two);
    assert_eq!(role, Some(Role::Unverified(Doubt::SeveralSenders)));
    assert!(reply.mails.is_empty() && reply.status.is_none());
    let anna = who("Anna", "anna@example.org");
    assert_eq!(events(&reply.entries), [Event::Unverified { from: anna, doubt: Doubt::SeveralSenders }]);
    let sender = reply_to(&d, MailKind::Forward, "undisclosed:;", "#resolve");
    let sender = [b"Sender: it-queue@example.org\r\n".as_slice(), &sender].concat();
    let (role, reply) = converse(&d, &t, sender);
    assert_eq!(role, Some(Role::Unverified(Doubt::NoFrom)), "a leaked forward does not make Sender staff");
    assert!(reply.mails.is_empty() && reply.status.is_none());
    let other = "Authentication-Results: mx.example.org; dmarc=pass header.from=evil.example\r\n";
    let staff = reply_to(&d, MailKind::Forward, "IT <it-queue@example.org>", "#resolve");
    let (role, _) = converse(&d, &t, [other.as_bytes(), &staff].concat());
    assert_eq!(role, Some(Role::Unverified(Doubt::VerdictAboutAnotherDomain)));
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
    t.recent_mails = i64::from(d.settings.conversation.max_mails_per_ticket_per_hour);
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
    let p = participants(&t, d.settings.directory.staff(&crate::domain::DepartmentId::parse("it").unwrap()));
    assert_eq!(p.requester, ["anna@example.org", "anna@example.org"]);
    assert!(p.staff.is_some_and(|s| s.includes("bob@example.org")));
}

#[test]
fn commands_that_cannot_be_carried_out_are_refused_on_the_timeline_and_the_sender_is_told() {
    let d = desk();
    let t = ticket();
    let bob = who("Bob", "bob@example.org");
    let raw = reply_to(&d, MailKind::Forward, "Bob <bob@example.org>", "#route hrr\n#close\nFor HR.");
    let (_, reply) = converse(&d, &t, raw);
    assert_eq!(kinds(&reply.mails), [MailKind::Notice]);
    assert_eq!(reply.mails[0].recipient, "bob@example.org");
    let problems =
        vec![Refusal::UnknownCommand { line: "#close".into() }, Refusal::NoSuchDepartment { department: "hrr".into() }];
    assert_eq!(events(&reply.entries), [Event::Rejected { from: bob, problems }]);
    let (_, reply) = converse(&d, &t, reply_to(&d, MailKind::Forward, "Bob <bob@example.org>", "#route it\nMine."));
    let problems = vec![Refusal::AlreadyWith { department: department("it") }];
    assert_eq!(events(&reply.entries), [Event::Rejected { from: who("Bob", "bob@example.org"), problems }]);
}
