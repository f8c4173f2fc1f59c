//! Thread: does a message continue a ticket, and who wrote it?
//!
//! A message names a ticket in two ways. Its In-Reply-To or References hold a
//! Message-ID that loket signed (a reply to one of loket's mails); or its subject
//! holds the ticket's reference in brackets. The first is proof of having received
//! a mail about the ticket; the second is not, so it is accepted only from the
//! ticket's participants. Pure: no store, no network.

mod commands;

pub use crate::domain::{Doubt, Role};
pub use commands::{Answer, Command, parse_answer};

use serde::Serialize;

use crate::domain::{MailKind, TicketRef};
use crate::inbound::intake::Normalised;
use crate::inbound::trust::{Dmarc, Staff};
use crate::sign::{Signed, Signer};

/// How a message names a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Clue {
    /// It answers a mail of loket's whose Message-ID verified.
    Signed { kind: MailKind },
    /// Only its subject carries the reference.
    Subject,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hint {
    pub reference: TicketRef,
    pub clue: Clue,
}

/// Who may write on a ticket, and how.
#[derive(Debug, Clone, Default)]
pub struct Participants<'a> {
    /// The requester, and the From address of the mail that opened the ticket:
    /// they may name the ticket in the subject alone.
    pub requester: Vec<&'a str>,
    /// The people of the ticket's department: their answers count only as
    /// replies to a mail loket sent the department.
    pub staff: Option<Staff<'a>>,
}

/// What the organisation's own mail server said about a message's sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proof {
    /// A trusted server is configured, so its DMARC verdict is required of staff.
    pub server_checks: bool,
    pub dmarc: Dmarc,
    /// Why the sender may not be the one the server judged (see `Trust::doubt`).
    pub doubt: Option<Doubt>,
}

/// The ticket a message names, if any: a signed Message-ID it replies to (the most
/// recent first), else a `[PREFIX-n]` reference in its subject.
pub fn hint(message: &Normalised, signer: &Signer, prefix: &str) -> Option<Hint> {
    let replied = message.in_reply_to.iter().chain(message.references.iter().rev());
    let signed = replied
        .filter_map(|id| signer.verify(id))
        .find_map(|Signed { reference, kind }| MailKind::from_signed(&kind).map(|kind| (reference, kind)));
    if let Some((reference, kind)) = signed {
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
///
/// A department's authority is proven, not claimed: a reply to a mail loket
/// signed and sent to the department (a forward, an update, a command reply),
/// from the department's queue or staff, confirmed by the organisation's mail
/// server when one is configured. A department address without that proof is
/// kept on the ticket as unverified; so is anything the server calls forged, and
/// a mail whose sender is in doubt (several From, none, or a verdict about
/// another domain), whoever it names.
pub fn role(hint: &Hint, sender: &str, participants: &Participants<'_>, proof: Proof) -> Option<Role> {
    let is = |address: &str| address.eq_ignore_ascii_case(sender);
    let is_staff = participants.staff.is_some_and(|s| s.includes(sender));
    let to_department = matches!(hint.clue, Clue::Signed { kind } if !kind.to_employee());
    let named = participants.requester.iter().any(|a| is(a)) || is_staff || matches!(hint.clue, Clue::Signed { .. });
    if !named {
        return None;
    }
    if proof.dmarc == Dmarc::Fail {
        return Some(Role::Unverified(Doubt::Forged));
    }
    if let Some(doubt) = proof.doubt {
        return Some(Role::Unverified(doubt));
    }
    if to_department && is_staff {
        return Some(if proof.server_checks && proof.dmarc != Dmarc::Pass {
            Role::Unverified(Doubt::NotConfirmedByTheMailServer)
        } else {
            Role::Staff
        });
    }
    if participants.requester.iter().any(|a| is(a)) {
        return Some(Role::Requester);
    }
    Some(Role::Unverified(if is_staff {
        Doubt::NotAReplyToTheDepartment
    } else if to_department {
        Doubt::NotDepartmentStaff
    } else {
        // Someone the employee passed one of loket's mails on to answers it.
        return Some(Role::Requester);
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(subject: &str, in_reply_to: &[String], references: &[String]) -> Normalised {
        let raw = format!("From: someone@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n");
        let mut message = crate::inbound::intake::parse(raw.as_bytes()).unwrap();
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
        assert_eq!(hint, Hint { reference: TicketRef::new("SD", 8), clue: Clue::Signed { kind: MailKind::Forward } });
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

    const UNCHECKED: Proof = Proof { server_checks: false, dmarc: Dmarc::Unknown, doubt: None };

    fn signed(kind: &str) -> Hint {
        let kind = MailKind::from_signed(kind).expect("a kind loket signs");
        Hint { reference: TicketRef::new("SD", 1), clue: Clue::Signed { kind } }
    }

    #[test]
    fn a_subject_reference_files_a_participants_mail_but_grants_no_authority() {
        let hint = Hint { reference: TicketRef::new("SD", 1), clue: Clue::Subject };
        let members = vec!["bob@example.org".to_owned()];
        let staff = Staff { queue: "it@example.org", members: &members };
        let p = Participants { requester: vec!["anna@example.org"], staff: Some(staff) };
        assert_eq!(role(&hint, "Anna@Example.org", &p, UNCHECKED), Some(Role::Requester));
        // The attack: the queue's address and the ticket's reference in the subject.
        assert_eq!(
            role(&hint, "it@example.org", &p, UNCHECKED),
            Some(Role::Unverified(Doubt::NotAReplyToTheDepartment))
        );
        assert_eq!(
            role(&hint, "bob@example.org", &p, UNCHECKED),
            Some(Role::Unverified(Doubt::NotAReplyToTheDepartment))
        );
        assert_eq!(role(&hint, "mallory@example.org", &p, UNCHECKED), None);
    }

    #[test]
    fn only_the_departments_staff_answering_its_mail_speak_for_it() {
        let members = vec!["@it.example.org".to_owned()];
        let p = Participants {
            requester: vec!["anna@example.org"],
            staff: Some(Staff { queue: "it@example.org", members: &members }),
        };
        assert_eq!(role(&signed("fwd"), "it@example.org", &p, UNCHECKED), Some(Role::Staff));
        assert_eq!(role(&signed("upd"), "carol@it.example.org", &p, UNCHECKED), Some(Role::Staff));
        assert_eq!(role(&signed("cmd"), "carol@it.example.org", &p, UNCHECKED), Some(Role::Staff));
        // A real forward's Message-ID in the hands of someone else.
        assert_eq!(
            role(&signed("fwd"), "mallory@example.net", &p, UNCHECKED),
            Some(Role::Unverified(Doubt::NotDepartmentStaff))
        );
        // Replies to the employee's mail are the employee's side, whoever writes them.
        assert_eq!(role(&signed("ack"), "colleague@example.org", &p, UNCHECKED), Some(Role::Requester));
        assert_eq!(role(&signed("fwd"), "anna@example.org", &p, UNCHECKED), Some(Role::Requester));
        // Staff who file their own ticket follow it up as its requester.
        let own = Participants { requester: vec!["it@example.org"], ..p.clone() };
        assert_eq!(role(&signed("ack"), "it@example.org", &own, UNCHECKED), Some(Role::Requester));
    }

    #[test]
    fn with_a_trusted_mail_server_staff_must_pass_dmarc_and_a_forgery_counts_for_nothing() {
        let p = Participants {
            requester: vec!["anna@example.org"],
            staff: Some(Staff { queue: "it@example.org", members: &[] }),
        };
        let pass = Proof { server_checks: true, dmarc: Dmarc::Pass, doubt: None };
        let unknown = Proof { server_checks: true, dmarc: Dmarc::Unknown, doubt: None };
        let fail = Proof { server_checks: true, dmarc: Dmarc::Fail, doubt: None };
        assert_eq!(role(&signed("fwd"), "it@example.org", &p, pass), Some(Role::Staff));
        assert_eq!(
            role(&signed("fwd"), "it@example.org", &p, unknown),
            Some(Role::Unverified(Doubt::NotConfirmedByTheMailServer))
        );
        assert_eq!(role(&signed("fwd"), "it@example.org", &p, fail), Some(Role::Unverified(Doubt::Forged)));
        assert_eq!(role(&signed("ack"), "anna@example.org", &p, fail), Some(Role::Unverified(Doubt::Forged)));
    }

    #[test]
    fn a_sender_in_doubt_joins_as_neither_requester_nor_staff() {
        let p = Participants {
            requester: vec!["anna@example.org"],
            staff: Some(Staff { queue: "it@example.org", members: &[] }),
        };
        let subject = Hint { reference: TicketRef::new("SD", 1), clue: Clue::Subject };
        for doubt in [Doubt::SeveralSenders, Doubt::NoFrom, Doubt::VerdictAboutAnotherDomain] {
            for server_checks in [false, true] {
                let proof = Proof { server_checks, dmarc: Dmarc::Unknown, doubt: Some(doubt) };
                let unverified = Some(Role::Unverified(doubt));
                assert_eq!(role(&subject, "anna@example.org", &p, proof), unverified, "{doubt:?}");
                assert_eq!(role(&signed("fwd"), "it@example.org", &p, proof), unverified, "{doubt:?}");
                assert_eq!(role(&signed("ack"), "colleague@example.org", &p, proof), unverified, "{doubt:?}");
                // A stranger naming the ticket by its subject alone still opens a ticket of its own.
                assert_eq!(role(&subject, "mallory@example.org", &p, proof), None);
            }
        }
    }
}
