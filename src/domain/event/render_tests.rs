use chrono::NaiveDate;

use super::*;
use crate::domain::{AutoSign, DepartmentId, EventKind, Mailbox, MailboxName, Outcome, RouteWhy, SentTo};

fn anna() -> Mailbox {
    Mailbox { name: Some("Anna".into()), address: "anna@example.org".into() }
}

fn it() -> DepartmentId {
    DepartmentId::parse("it").expect("an id")
}

/// Every reason a mail is withheld, once.
fn reasons() -> Vec<Withheld> {
    let mail = MailKind::Ack;
    let day = NaiveDate::from_ymd_opt(2026, 12, 31).expect("a day");
    let reasons = vec![
        Withheld::Automatic { reason: AutoSign::AutoSubmitted("auto-replied".into()) },
        Withheld::NoDepartment { mail: MailKind::Forward, department: it() },
        Withheld::Forged,
        Withheld::AcksOff,
        Withheld::Backlog,
        Withheld::RecipientCap { address: "eve@elsewhere.example".into(), count: 2 },
        Withheld::DomainCap { domain: "elsewhere.example".into(), count: 3 },
        Withheld::OutsideCap { count: 4 },
        Withheld::Closed { address: "it@example.org".into(), after: day },
        Withheld::TicketCap { mails: vec![MailKind::Update, MailKind::Relay], sent: 10 },
        Withheld::NotComposed { mail, error: "template error".into() },
    ];
    // Exhaustive: a new reason fails to compile until it is listed above.
    for reason in &reasons {
        match reason {
            Withheld::Automatic { .. }
            | Withheld::NoDepartment { .. }
            | Withheld::Forged
            | Withheld::AcksOff
            | Withheld::Backlog
            | Withheld::RecipientCap { .. }
            | Withheld::DomainCap { .. }
            | Withheld::OutsideCap { .. }
            | Withheld::Closed { .. }
            | Withheld::TicketCap { .. }
            | Withheld::NotComposed { .. } => {}
        }
    }
    reasons
}

/// Every reason a command is refused, once.
fn refusals() -> Vec<Refusal> {
    let line = || "#route it now".to_owned();
    let refusals = vec![
        Refusal::RouteWithoutDepartment { line: line() },
        Refusal::UnexpectedWords { line: line() },
        Refusal::UnknownCommand { line: line() },
        Refusal::ResolveAndReopen,
        Refusal::NoSuchDepartment { department: "hrr".into() },
        Refusal::AlreadyWith { department: it() },
    ];
    for refusal in &refusals {
        match refusal {
            Refusal::RouteWithoutDepartment { .. }
            | Refusal::UnexpectedWords { .. }
            | Refusal::UnknownCommand { .. }
            | Refusal::ResolveAndReopen
            | Refusal::NoSuchDepartment { .. }
            | Refusal::AlreadyWith { .. } => {}
        }
    }
    refusals
}

/// Every event, with each of its forms (every reason, every doubt, every role).
fn samples() -> Vec<Event> {
    let mailbox = MailboxName::parse("it-old").expect("a name");
    let recipient = || "anna@example.org".to_owned();
    let mut events = vec![
        Event::Received { mailbox: mailbox.clone() },
        Event::Routed {
            department: it(),
            reason: RouteWhy {
                sent_to: SentTo::OldMailbox { department: "Facility".into(), mailbox: "facility-old".into() },
                outcome: Outcome::Rule { name: "phones".into(), keyword: Some("phone".into()) },
            },
        },
        Event::Automatic { from: None, reason: AutoSign::AutoSubmitted("auto-replied".into()) },
        Event::Automatic { from: Some(anna()), reason: AutoSign::Precedence("bulk".into()) },
        Event::Copy { mailbox },
        Event::Bounced {
            mail: MailKind::Ack,
            recipient: recipient(),
            report: "Undelivered Mail".into(),
            reporter: "mailer-daemon@example.org".into(),
        },
        Event::Followup { from: anna() },
        Event::Reopened { by: None },
        Event::Reopened { by: Some(anna()) },
        Event::Answered { from: anna() },
        Event::Resolved { by: anna() },
        Event::Rerouted { from: Some(it()), to: DepartmentId::parse("hr").expect("an id"), by: anna() },
        Event::Rerouted { from: None, to: it(), by: anna() },
        Event::Note { from: anna(), text: "VIP".into() },
        Event::EmptyAnswer { from: anna() },
        Event::Rejected { from: anna(), problems: refusals() },
        Event::Loop { from: anna() },
        Event::ReplyToSetAside { reply_to: "victim@elsewhere.example".into(), to: recipient() },
        Event::Failed { mail: MailKind::Relay, recipient: recipient(), error: "550 no such user".into() },
        Event::History { why: History::Seen },
        Event::History { why: History::Old { days: 400, forward_days: 14 } },
        Event::LinkRevoked,
    ];
    for mail in MailKind::ALL {
        events.push(Event::Queued { mail, recipient: recipient() });
        events.push(Event::Sent { mail, recipient: recipient() });
        events.push(Event::Requeued { mail, recipient: recipient() });
    }
    for doubt in Doubt::ALL {
        events.push(Event::Unverified { from: anna(), doubt });
        events.push(Event::Message { from: anna(), role: Role::Unverified(doubt) });
    }
    events.push(Event::Message { from: anna(), role: Role::Requester });
    events.push(Event::Message { from: anna(), role: Role::Staff });
    events.extend(reasons().into_iter().map(|reason| Event::Withheld { reason }));
    events.extend(refusals().into_iter().map(|refusal| Event::Rejected { from: anna(), problems: vec![refusal] }));
    events
}

#[test]
fn every_event_reads_as_a_sentence_in_english_and_in_dutch_with_nothing_left_to_fill_in() {
    let events = samples();
    let kinds: std::collections::HashSet<EventKind> = events.iter().map(Event::kind).collect();
    assert_eq!(kinds.len(), EventKind::ALL.len(), "a sample for every kind");
    for event in &events {
        let english = text(event, Language::En);
        let dutch = text(event, Language::Nl);
        for sentence in [&english, &dutch] {
            assert!(sentence.len() > 10, "{event:?}: {sentence:?}");
            assert!(!sentence.contains(['{', '}']), "{event:?}: {sentence:?}");
            assert!(!sentence.contains("Some(") && !sentence.contains("None"), "{event:?}: {sentence:?}");
        }
        assert_ne!(english, dutch, "{event:?} is not translated");
        assert_eq!(event.to_string(), english, "the stored sentence is the English one");
    }
}

#[test]
fn the_sentences_carry_the_facts_of_the_event() {
    let bounced = Event::Bounced {
        mail: MailKind::Ack,
        recipient: "anna@example.org".into(),
        report: "Undelivered Mail".into(),
        reporter: "mailer-daemon@example.org".into(),
    };
    assert_eq!(
        text(&bounced, Language::En),
        "the acknowledgement to anna@example.org could not be delivered: Undelivered Mail (report from mailer-daemon@example.org)"
    );
    assert_eq!(
        text(&Event::Queued { mail: MailKind::Forward, recipient: "it-queue@example.org".into() }, Language::Nl),
        "doorgestuurde aanvraag aan it-queue@example.org klaargezet"
    );
    assert_eq!(text(&Event::Resolved { by: anna() }, Language::Nl), "opgelost door Anna <anna@example.org>");
}

#[test]
fn every_event_reads_back_from_its_json_as_itself() {
    for event in samples() {
        let json = serde_json::to_string(&event).expect("json");
        let back: Event = serde_json::from_str(&json).expect("read back");
        assert_eq!(back, event, "{json}");
    }
}

#[test]
fn a_row_without_an_event_shows_its_stored_sentence() {
    assert_eq!(shown(None, "routed to it: rule", Language::Nl), "routed to it: rule");
    assert_eq!(shown(Some(&Event::LinkRevoked), "ignored", Language::En), text(&Event::LinkRevoked, Language::En));
}
