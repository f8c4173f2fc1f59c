//! Retiring an old address, as scenarios on either side of its closing day: the
//! nudge before it, `notice` and `redirect` after it.

use chrono::NaiveDate;
use mail_parser::MessageParser;

use super::{Desk, RecentAcks, Response, desk_with, kinds, opening_at};
use crate::domain::{MailKind, Withheld};

/// Keys for the old IT mailbox: the scenario config ends inside its table.
fn old_it(keys: &str) -> Desk {
    desk_with(&format!(
        "address = \"it@example.org\"\n{keys}\n[[mailboxes]]\nname = \"desk\"\nmaildir = \"/nonexistent/desk\"\n"
    ))
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("a day")
}

const ENGLISH: &str = "My laptop does not start any more since this morning. Could you please have a look?";
const DUTCH: &str = "Mijn laptop start sinds vanochtend niet meer op. Kunnen jullie er alsjeblieft naar kijken?";

/// A person's request sent `to` and arriving in `mailbox` on `today`.
fn request(desk: &Desk, mailbox: &str, to: &str, body: &str, today: &str) -> Response {
    let raw = format!(
        "From: Anna <anna@example.org>\r\nTo: {to}\r\nSubject: Laptop\r\nMessage-ID: <{}@x>\r\n\r\n{body}\r\n",
        body.len()
    )
    .into_bytes();
    opening_at(desk, mailbox, raw, RecentAcks::default(), false, false, day(today)).0
}

/// The text part of the mail to the employee.
fn to_employee(response: &Response) -> String {
    let mail = response.mails.iter().find(|m| m.recipient == "anna@example.org").expect("a mail to the employee");
    let parsed = MessageParser::default().parse(&mail.bytes).expect("a mail");
    parsed.body_text(0).expect("a text part").replace("\r\n", "\n")
}

#[test]
fn before_the_closing_day_the_acknowledgement_nudges_in_english_and_dutch() {
    let d = old_it("nudge = true\nretire_after = \"2026-12-31\"");
    let english = request(&d, "it-old", "it@example.org", ENGLISH, "2026-12-31");
    assert_eq!(kinds(&english.mails), [MailKind::Ack, MailKind::Forward]);
    let text = to_employee(&english);
    assert!(text.contains("servicedesk@example.org reaches every department"), "{text}");
    assert!(text.contains("it@example.org will close after 31 December 2026"), "{text}");
    assert!(text.contains("Follow your request"), "it is still the whole acknowledgement: {text}");
    let dutch = to_employee(&request(&d, "it-old", "it@example.org", DUTCH, "2026-11-30"));
    assert!(dutch.contains("servicedesk@example.org bereikt alle afdelingen"), "{dutch}");
    assert!(dutch.contains("it@example.org verdwijnt na 31 december 2026"), "{dutch}");
}

#[test]
fn a_nudge_without_a_closing_day_names_none() {
    let d = old_it("nudge = true");
    let text = to_employee(&request(&d, "it-old", "it@example.org", ENGLISH, "2026-11-30"));
    assert!(text.contains("it@example.org will close. Next time, please write to servicedesk@example.org"), "{text}");
}

#[test]
fn only_mail_that_came_to_the_old_address_alone_is_nudged() {
    let d = old_it("nudge = true");
    let at_the_desk = to_employee(&request(&d, "desk", "servicedesk@example.org", ENGLISH, "2026-11-30"));
    assert!(!at_the_desk.contains("reaches every department"), "{at_the_desk}");
    let both = to_employee(&request(&d, "it-old", "it@example.org, servicedesk@example.org", ENGLISH, "2026-11-30"));
    assert!(!both.contains("reaches every department"), "{both}");
    let unset = old_it("retire_after = \"2026-12-31\"");
    let before = to_employee(&request(&unset, "it-old", "it@example.org", ENGLISH, "2026-11-30"));
    assert!(!before.contains("every department"), "without `nudge` mail before the day is handled as now: {before}");
}

#[test]
fn after_the_closing_day_notice_acknowledges_and_says_the_address_closed() {
    let d = old_it("nudge = true\nretire_after = \"2026-12-31\"\nretire_mode = \"notice\"");
    let response = request(&d, "it-old", "it@example.org", ENGLISH, "2027-01-01");
    assert_eq!(kinds(&response.mails), [MailKind::Ack, MailKind::Forward]);
    let text = to_employee(&response);
    assert!(text.contains("it@example.org closed after 31 December 2026"), "{text}");
    assert!(text.contains("please write to servicedesk@example.org"), "{text}");
    assert!(text.contains("Follow your request") && !text.contains("will close"), "{text}");
    let dutch = to_employee(&request(&d, "it-old", "it@example.org", DUTCH, "2027-01-01"));
    assert!(dutch.contains("it@example.org is na 31 december 2026 gesloten"), "{dutch}");
}

#[test]
fn after_the_closing_day_redirect_sends_only_the_closed_notice_beside_the_forward() {
    let d = old_it("nudge = true\nretire_after = \"2026-12-31\"\nretire_mode = \"redirect\"");
    let before = to_employee(&request(&d, "it-old", "it@example.org", ENGLISH, "2026-12-31"));
    assert!(before.contains("Follow your request") && before.contains("will close after"), "{before}");

    let after = request(&d, "it-old", "it@example.org", ENGLISH, "2027-01-01");
    assert_eq!(kinds(&after.mails), [MailKind::Ack, MailKind::Forward], "one mail to the employee, one to IT");
    assert_eq!(after.mails[1].recipient, "it-queue@example.org");
    let text = to_employee(&after);
    assert!(text.contains("The address it@example.org closed after 31 December 2026"), "{text}");
    assert!(text.contains("please write to servicedesk@example.org"), "{text}");
    assert!(text.contains("passed your message on to IT all the same, as SD-00001"), "{text}");
    assert!(!text.contains("Follow your request") && !text.contains("/t/SD-"), "no acknowledgement: {text}");
    let closed = NaiveDate::from_ymd_opt(2026, 12, 31).expect("a day");
    assert_eq!(after.withheld, [Withheld::Closed { address: "it@example.org".into(), after: closed }]);
    let dutch = to_employee(&request(&d, "it-old", "it@example.org", DUTCH, "2027-01-01"));
    assert!(dutch.contains("Het adres it@example.org is na 31 december 2026 gesloten"), "{dutch}");
}
