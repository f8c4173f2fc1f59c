//! Thread: does a message continue a ticket, and who wrote it?
//!
//! A message names a ticket in two ways. Its In-Reply-To or References hold a
//! Message-ID that loket signed (a reply to one of loket's mails); or its subject
//! holds the ticket's reference in brackets. The first is proof of having received
//! a mail about the ticket; the second is not, so it is accepted only from the
//! ticket's participants. Pure: no store, no network.

mod commands;

pub use commands::{Answer, Command, parse_answer};

use serde::Serialize;

use crate::domain::TicketRef;
use crate::intake::Normalised;
use crate::sign::{Signed, Signer};

/// The kinds of signed mail that went to the employee: a reply to one comes from their side.
const EMPLOYEE_SIDE: &[&str] = &["ack", "ans", "moved"];

/// How a message names a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Clue {
    /// It answers a mail of loket's whose Message-ID verified.
    Signed { kind: String },
    /// Only its subject carries the reference.
    Subject,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hint {
    pub reference: TicketRef,
    pub clue: Clue,
}

/// Who wrote a message that joins a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The employee (or someone answering a mail the employee received).
    Requester,
    /// The department's queue or one of its staff.
    Staff,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requester => "requester",
            Self::Staff => "staff",
        }
    }
}

/// Who may write on a ticket by naming it in the subject alone.
#[derive(Debug, Clone, Default)]
pub struct Participants<'a> {
    /// The requester, and the From address of the mail that opened the ticket.
    pub requester: Vec<&'a str>,
    /// The queue address of the ticket's department.
    pub queue: Option<&'a str>,
    /// Addresses that answered the ticket as staff before.
    pub staff: &'a [String],
}

/// The ticket a message names, if any: a signed Message-ID it replies to (the most
/// recent first), else a `[PREFIX-n]` reference in its subject.
pub fn hint(message: &Normalised, signer: &Signer, prefix: &str) -> Option<Hint> {
    let replied = message.in_reply_to.iter().chain(message.references.iter().rev());
    if let Some(Signed { reference, kind }) = replied.filter_map(|id| signer.verify(id)).next() {
        return Some(Hint { reference, clue: Clue::Signed { kind } });
    }
    subject_reference(&message.subject, prefix).map(|reference| Hint { reference, clue: Clue::Subject })
}

/// The first `[PREFIX-123]` in a subject, padded as loket writes references.
pub fn subject_reference(subject: &str, prefix: &str) -> Option<TicketRef> {
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        let inside = after[..close].trim();
        if let Some((p, number)) = inside.rsplit_once('-')
            && p.eq_ignore_ascii_case(prefix)
            && !number.is_empty()
            && number.len() <= 18
            && number.bytes().all(|b| b.is_ascii_digit())
            && let Ok(number) = number.parse::<i64>()
        {
            return Some(TicketRef::new(prefix, number));
        }
        rest = &after[close..];
    }
    None
}

/// As whom `sender` joins the ticket the hint names, or `None` when the message
/// may not join it (and so opens a ticket of its own).
pub fn role(hint: &Hint, sender: &str, participants: &Participants<'_>) -> Option<Role> {
    let is = |address: &str| address.eq_ignore_ascii_case(sender);
    if participants.requester.iter().any(|a| is(a)) {
        return Some(Role::Requester);
    }
    if participants.queue.is_some_and(is) || participants.staff.iter().any(|a| is(a)) {
        return Some(Role::Staff);
    }
    match &hint.clue {
        Clue::Signed { kind } if EMPLOYEE_SIDE.contains(&kind.as_str()) => Some(Role::Requester),
        Clue::Signed { .. } => Some(Role::Staff),
        Clue::Subject => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(subject: &str, in_reply_to: &[String], references: &[String]) -> Normalised {
        let raw = format!("From: someone@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n");
        let mut message = crate::intake::parse(raw.as_bytes()).unwrap();
        message.in_reply_to = in_reply_to.to_vec();
        message.references = references.to_vec();
        message
    }

    #[test]
    fn a_signed_reply_names_its_ticket_and_the_kind_it_answers() {
        let signer = Signer::new(b"k");
        let ack = signer.message_id(&TicketRef::new("SD", 7), "ack", "desk.example.org");
        let fwd = signer.message_id(&TicketRef::new("SD", 8), "fwd", "desk.example.org");
        let hint =
            super::hint(&message("Re: hello", std::slice::from_ref(&fwd), std::slice::from_ref(&ack)), &signer, "SD")
                .unwrap();
        assert_eq!(hint, Hint { reference: TicketRef::new("SD", 8), clue: Clue::Signed { kind: "fwd".into() } });
        // Without In-Reply-To, the newest signed reference counts.
        let other = signer.message_id(&TicketRef::new("SD", 9), "ans", "desk.example.org");
        let hint = super::hint(&message("Re: hello", &[], &[ack, "x@y".into(), other]), &signer, "SD").unwrap();
        assert_eq!(hint.reference, TicketRef::new("SD", 9));
    }

    #[test]
    fn a_forged_message_id_falls_back_to_the_subject_or_to_nothing() {
        let signer = Signer::new(b"k");
        let forged = Signer::new(b"guess").message_id(&TicketRef::new("SD", 7), "ack", "desk.example.org");
        assert_eq!(super::hint(&message("Re: hello", std::slice::from_ref(&forged), &[]), &signer, "SD"), None);
        let hint = super::hint(&message("Re: [sd-7] hello", &[forged], &[]), &signer, "SD").unwrap();
        assert_eq!(hint, Hint { reference: TicketRef::new("SD", 7), clue: Clue::Subject });
    }

    #[test]
    fn subject_references_need_the_desks_prefix_and_digits() {
        assert_eq!(subject_reference("Re: [SD-00042] Laptop", "SD"), Some(TicketRef::new("SD", 42)));
        assert_eq!(subject_reference("[x] [ SD-42 ]", "SD"), Some(TicketRef::new("SD", 42)));
        for subject in ["SD-00042", "[HD-42]", "[SD-]", "[SD-4x]", "[SD-42", "]["] {
            assert_eq!(subject_reference(subject, "SD"), None, "{subject}");
        }
    }

    #[test]
    fn a_subject_reference_is_accepted_only_from_participants() {
        let hint = Hint { reference: TicketRef::new("SD", 1), clue: Clue::Subject };
        let staff = vec!["bob@example.org".to_owned()];
        let p = Participants { requester: vec!["anna@example.org"], queue: Some("it@example.org"), staff: &staff };
        assert_eq!(role(&hint, "Anna@Example.org", &p), Some(Role::Requester));
        assert_eq!(role(&hint, "it@example.org", &p), Some(Role::Staff));
        assert_eq!(role(&hint, "bob@example.org", &p), Some(Role::Staff));
        assert_eq!(role(&hint, "mallory@example.org", &p), None);
    }

    #[test]
    fn a_signed_reply_from_anyone_joins_on_the_side_of_the_mail_it_answers() {
        let p = Participants { requester: vec!["anna@example.org"], queue: Some("it@example.org"), staff: &[] };
        let signed = |kind: &str| Hint { reference: TicketRef::new("SD", 1), clue: Clue::Signed { kind: kind.into() } };
        assert_eq!(role(&signed("fwd"), "carol@example.org", &p), Some(Role::Staff));
        assert_eq!(role(&signed("upd"), "carol@example.org", &p), Some(Role::Staff));
        assert_eq!(role(&signed("ack"), "colleague@example.org", &p), Some(Role::Requester));
        // The requester stays the requester whatever they reply to.
        assert_eq!(role(&signed("fwd"), "anna@example.org", &p), Some(Role::Requester));
    }
}
