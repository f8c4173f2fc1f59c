//! The warnings at the top of a department's mail: why not to trust who a mail
//! says it is from. Department mails are in English, as their templates are.

use crate::domain::timeline::doubt_en;
use crate::inbound::thread::{Clue, Hint};
use crate::inbound::trust::{Dmarc, Trust};

/// For the forward of a new ticket: a forged sender, a sender in doubt, a
/// Reply-To set aside. `None` when nothing is amiss.
pub(super) fn opening(trust: &Trust) -> Option<String> {
    let mut said = Vec::new();
    if trust.spoofed {
        said.push(
            "The organisation's mail server says this sender address is forged (DMARC failed). \
             The requester did not get an acknowledgement; do not trust the sender's name."
                .to_owned(),
        );
    } else if let Some(doubt) = trust.doubt {
        said.push(format!(
            "loket cannot tell who sent this mail: {}. The requester shown may not have written it; \
             do not trust the sender's name.",
            doubt_en(doubt)
        ));
    }
    if let Some(reply_to) = &trust.ignored_reply_to {
        said.push(format!(
            "The mail asked for answers to go to {} (Reply-To), which is outside the sender's own domain; \
             loket set it aside and answers the sender only.",
            reply_to.address
        ));
    }
    (!said.is_empty()).then(|| said.join(" "))
}

/// For the update of a follow-up that names its ticket in the subject alone,
/// from a sender the organisation's mail server did not vouch for: anyone can
/// write a ticket's reference and an employee's address.
pub(super) fn follow_up(hint: &Hint, trust: &Trust) -> Option<String> {
    (hint.clue == Clue::Subject && trust.dmarc != Dmarc::Pass).then(|| {
        "loket could not verify the sender of this update: it names the ticket only in its subject, \
         it is not a reply to a mail of loket's, and the organisation's mail server did not confirm \
         the sender (DMARC). Check with the employee another way before acting on what it asks \
         (payments, passwords, access)."
            .to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Doubt, MailKind, Mailbox, TicketRef};

    fn trust(dmarc: Dmarc) -> Trust {
        Trust { dmarc, spoofed: false, doubt: None, ignored_reply_to: None }
    }

    #[test]
    fn a_new_ticket_is_warned_of_a_forged_or_doubtful_sender_and_a_reply_to_set_aside() {
        assert_eq!(opening(&trust(Dmarc::Pass)), None);
        let forged = Trust { spoofed: true, ..trust(Dmarc::Fail) };
        assert!(opening(&forged).is_some_and(|w| w.contains("forged")));
        let doubt = Trust { doubt: Some(Doubt::SeveralSenders), ..trust(Dmarc::Unknown) };
        assert!(opening(&doubt).is_some_and(|w| w.contains("more than one sender")));
        let outsider = Mailbox { name: Some("CEO".into()), address: "ceo@example.org".into() };
        let reply_to = Trust { ignored_reply_to: Some(outsider), ..trust(Dmarc::Pass) };
        assert!(opening(&reply_to).is_some_and(|w| w.contains("ceo@example.org")));
    }

    #[test]
    fn a_follow_up_named_by_its_subject_alone_is_vouched_for_only_by_the_mail_server() {
        let subject = Hint { reference: TicketRef::new("SD", 3), clue: Clue::Subject };
        let signed = Hint { reference: TicketRef::new("SD", 3), clue: Clue::Signed { kind: MailKind::Ack } };
        assert!(follow_up(&subject, &trust(Dmarc::Unknown)).is_some_and(|w| w.contains("could not verify")));
        assert_eq!(follow_up(&subject, &trust(Dmarc::Pass)), None);
        assert_eq!(follow_up(&signed, &trust(Dmarc::Unknown)), None);
    }
}
