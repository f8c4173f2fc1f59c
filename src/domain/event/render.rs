//! The sentence of a timeline event, written when it is shown, in the reader's
//! language. English is also what the store keeps in `events.detail` for readers
//! that do not know the typed events.

use std::fmt;

use super::{Event, History, Refusal, Withheld};
use crate::domain::{Doubt, Language, MailKind, Role};

/// The event as a sentence in `language`.
pub fn text(event: &Event, language: Language) -> String {
    match language {
        Language::En => english(event),
        Language::Nl => dutch(event),
    }
}

/// What the timeline shows for a stored event: its sentence from the typed event,
/// or, for rows written before events were typed, the sentence stored with it.
pub fn shown(event: Option<&Event>, detail: &str, language: Language) -> String {
    event.map_or_else(|| detail.to_owned(), |event| text(event, language))
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&english(self))
    }
}

/// In English, as the timeline and the reply to the department member say it.
impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::RouteWithoutDepartment { line } => {
                write!(f, "`{line}`: #route needs a department, as in `#route it`")
            }
            Self::UnexpectedWords { line } => write!(f, "`{line}`: unexpected words after the command"),
            Self::UnknownCommand { line } => write!(f, "`{line}`: unknown command"),
            Self::ResolveAndReopen => f.write_str("#resolve and #reopen contradict each other"),
            Self::NoSuchDepartment { department } => {
                write!(f, "`#route {department}`: there is no department `{department}`")
            }
            Self::AlreadyWith { department } => {
                write!(f, "`#route {department}`: the ticket is already with {department}")
            }
        }
    }
}

fn refusal_nl(refusal: &Refusal) -> String {
    match refusal {
        Refusal::RouteWithoutDepartment { line } => {
            format!("`{line}`: #route heeft een afdeling nodig, zoals in `#route it`")
        }
        Refusal::UnexpectedWords { line } => format!("`{line}`: onverwachte woorden na de opdracht"),
        Refusal::UnknownCommand { line } => format!("`{line}`: onbekende opdracht"),
        Refusal::ResolveAndReopen => "#resolve en #reopen spreken elkaar tegen".to_owned(),
        Refusal::NoSuchDepartment { department } => {
            format!("`#route {department}`: er is geen afdeling `{department}`")
        }
        Refusal::AlreadyWith { department } => format!("`#route {department}`: het ticket ligt al bij {department}"),
    }
}

fn english(event: &Event) -> String {
    let noun = |mail: &MailKind| mail.noun();
    match event {
        Event::Received { mailbox } => format!("received in mailbox {mailbox}"),
        Event::Routed { department, reason } => format!("routed to {department}: {reason}"),
        Event::Automatic { from: None, reason } => format!("automatic mail, no reply will be sent: {reason}"),
        Event::Automatic { from: Some(from), reason } => {
            format!("automatic mail from {from} kept on the ticket, nothing sent: {reason}")
        }
        Event::Queued { mail, recipient } => format!("{} to {recipient} queued", noun(mail)),
        Event::Withheld { reason } => withheld_en(reason),
        Event::Copy { mailbox } => {
            format!("the same message arrived again, in mailbox {mailbox}; kept, nothing sent")
        }
        Event::Bounced { mail, recipient, report, reporter } => {
            format!("the {} to {recipient} could not be delivered: {report} (report from {reporter})", noun(mail))
        }
        Event::Followup { from } => format!("follow-up from {from}"),
        Event::Reopened { by: None } => "reopened: the employee wrote again".to_owned(),
        Event::Reopened { by: Some(by) } => format!("reopened by {by}"),
        Event::Answered { from } => format!("answer from {from} relayed to the employee"),
        Event::Resolved { by } => format!("resolved by {by}"),
        Event::Rerouted { from: Some(from), to, by } => format!("rerouted from {from} to {to} by {by}"),
        Event::Rerouted { from: None, to, by } => format!("rerouted to {to} by {by}"),
        Event::Note { from, text } => format!("internal note from {from}: {text}"),
        Event::EmptyAnswer { from } => format!("an empty answer from {from}: nothing relayed"),
        Event::Rejected { from, problems } => format!(
            "mail from {from} not carried out: {}",
            problems.iter().map(Refusal::to_string).collect::<Vec<_>>().join("; ")
        ),
        Event::Unverified { from, doubt } => format!(
            "mail from {from} kept on the ticket as unverified, nothing relayed or carried out: {}",
            doubt_en(*doubt)
        ),
        Event::Loop { from } => format!(
            "mail from {from} kept, nothing sent: it repeats the same text again within minutes, a mail loop (conversation.loop_repeats)"
        ),
        Event::ReplyToSetAside { reply_to, to } => format!(
            "Reply-To {reply_to} set aside: it is neither in the sender's own domain nor, with the sender, in the organisation's; mail to the employee goes to {to}"
        ),
        Event::Message { from, role } => format!("message from {from} ({})", role.as_str()),
        Event::Sent { mail, recipient } => format!("{} sent to {recipient}", noun(mail)),
        Event::Failed { mail, recipient, error } => format!("{} to {recipient} failed: {error}", noun(mail)),
        Event::Requeued { mail, recipient } => format!("{} to {recipient} queued again", noun(mail)),
        Event::History { why: History::Seen } => {
            "kept as history, nothing sent: it was already read in the mailbox when loket first connected".to_owned()
        }
        Event::History { why: History::Old { days, forward_days } } => format!(
            "kept as history, nothing sent: it was {days} days old when loket first connected (ingest.backlog_forward_days = {forward_days})"
        ),
        Event::LinkRevoked => {
            "tracking link revoked: the old link no longer opens the status page; the next mail carries a new one"
                .to_owned()
        }
    }
}

fn withheld_en(reason: &Withheld) -> String {
    match reason {
        Withheld::Automatic { reason } => format!("no acknowledgement and no forward: automatic mail ({reason})"),
        Withheld::NoDepartment { mail, department } => {
            format!("no {}: department {department} is not configured", mail.noun())
        }
        Withheld::Forged => {
            "no acknowledgement: the organisation's mail server says the sender address is forged (DMARC failed)"
                .to_owned()
        }
        Withheld::AcksOff => "no acknowledgement: acknowledgements are switched off (ack.enabled)".to_owned(),
        Withheld::Backlog => {
            "no acknowledgement: the message was already in the mailbox when loket first connected (ack.backlog)"
                .to_owned()
        }
        Withheld::RecipientCap { address, count } => format!(
            "no acknowledgement: {address} already had {count} automatic mails in the last hour (ack.max_per_recipient_per_hour)"
        ),
        Withheld::DomainCap { domain, count } => format!(
            "no acknowledgement: {count} acknowledgements went to {domain} in the last hour (ack.max_per_domain_per_hour)"
        ),
        Withheld::OutsideCap { count } => format!(
            "no acknowledgement: {count} acknowledgements went outside the organisation in the last hour (ack.max_outside_per_hour)"
        ),
        Withheld::Closed { address, after } => format!(
            "no acknowledgement: {address} closed after {after} (retire_after, retire_mode = redirect); the employee gets only the notice that it closed"
        ),
        Withheld::TicketCap { mails, sent } => format!(
            "not sent ({}): the ticket already sent {sent} mails in the last hour (conversation.max_mails_per_ticket_per_hour)",
            mails.iter().map(|m| m.noun()).collect::<Vec<_>>().join(", ")
        ),
        Withheld::NotComposed { mail, error } => format!("no {}: {error}", mail.noun()),
    }
}

/// Why a writer is not believed, in English (the departments' mails use it too).
pub fn doubt_en(doubt: Doubt) -> &'static str {
    match doubt {
        Doubt::NotAReplyToTheDepartment => {
            "it comes from a department address but does not answer a mail loket sent to the department"
        }
        Doubt::NotDepartmentStaff => "it answers the department's mail but does not come from the department's staff",
        Doubt::NotConfirmedByTheMailServer => "the organisation's mail server did not confirm the sender (DMARC)",
        Doubt::Forged => "the organisation's mail server says the sender address is forged (DMARC failed)",
        Doubt::SeveralSenders => {
            "it names more than one sender (From), so the organisation's mail server may have checked another one"
        }
        Doubt::NoFrom => {
            "it has no usable From; the sender was read from Sender or Return-Path, which DMARC does not check"
        }
        Doubt::VerdictAboutAnotherDomain => {
            "the organisation's mail server judged another domain than the sender's (DMARC header.from)"
        }
    }
}

fn noun_nl(mail: MailKind) -> &'static str {
    match mail {
        MailKind::Ack => "ontvangstbevestiging",
        MailKind::Forward => "doorgestuurde aanvraag",
        MailKind::Relay => "antwoord",
        MailKind::Update => "vervolgbericht aan de afdeling",
        MailKind::Moved => "bericht over het doorzetten",
        MailKind::Notice => "antwoord op de opdrachten",
        MailKind::Confirm => "bevestigingsverzoek",
    }
}

fn dutch(event: &Event) -> String {
    let noun = |mail: &MailKind| noun_nl(*mail);
    match event {
        Event::Received { mailbox } => format!("ontvangen in mailbox {mailbox}"),
        Event::Routed { department, reason } => format!("naar {department} gestuurd: {}", reason.say(Language::Nl)),
        Event::Automatic { from: None, reason } => {
            format!("automatische mail, er gaat geen antwoord uit: {}", reason.say(Language::Nl))
        }
        Event::Automatic { from: Some(from), reason } => {
            format!("automatische mail van {from} bij het ticket bewaard, niets verstuurd: {}", reason.say(Language::Nl))
        }
        Event::Queued { mail, recipient } => format!("{} aan {recipient} klaargezet", noun(mail)),
        Event::Withheld { reason } => withheld_nl(reason),
        Event::Copy { mailbox } => {
            format!("hetzelfde bericht kwam opnieuw binnen, in mailbox {mailbox}; bewaard, niets verstuurd")
        }
        Event::Bounced { mail, recipient, report, reporter } => format!(
            "{} aan {recipient} kon niet worden bezorgd: {report} (melding van {reporter})",
            noun(mail)
        ),
        Event::Followup { from } => format!("vervolgbericht van {from}"),
        Event::Reopened { by: None } => "heropend: de medewerker schreef opnieuw".to_owned(),
        Event::Reopened { by: Some(by) } => format!("heropend door {by}"),
        Event::Answered { from } => format!("antwoord van {from} doorgestuurd naar de medewerker"),
        Event::Resolved { by } => format!("opgelost door {by}"),
        Event::Rerouted { from: Some(from), to, by } => format!("van {from} doorgezet naar {to} door {by}"),
        Event::Rerouted { from: None, to, by } => format!("doorgezet naar {to} door {by}"),
        Event::Note { from, text } => format!("interne notitie van {from}: {text}"),
        Event::EmptyAnswer { from } => format!("een leeg antwoord van {from}: niets doorgestuurd"),
        Event::Rejected { from, problems } => format!(
            "mail van {from} niet uitgevoerd: {}",
            problems.iter().map(refusal_nl).collect::<Vec<_>>().join("; ")
        ),
        Event::Unverified { from, doubt } => format!(
            "mail van {from} als onbevestigd bij het ticket bewaard, niets doorgestuurd of uitgevoerd: {}",
            doubt_nl(*doubt)
        ),
        Event::Loop { from } => format!(
            "mail van {from} bewaard, niets verstuurd: dezelfde tekst kwam binnen enkele minuten opnieuw, een maillus (conversation.loop_repeats)"
        ),
        Event::ReplyToSetAside { reply_to, to } => format!(
            "Reply-To {reply_to} genegeerd: het adres valt buiten het domein van de afzender, en afzender en adres zijn niet allebei van de organisatie; mail aan de medewerker gaat naar {to}"
        ),
        Event::Message { from, role } => format!("bericht van {from} ({})", role_nl(*role)),
        Event::Sent { mail, recipient } => format!("{} verstuurd aan {recipient}", noun(mail)),
        Event::Failed { mail, recipient, error } => format!("{} aan {recipient} mislukt: {error}", noun(mail)),
        Event::Requeued { mail, recipient } => format!("{} aan {recipient} opnieuw klaargezet", noun(mail)),
        Event::History { why: History::Seen } => {
            "als geschiedenis bewaard, niets verstuurd: het was al gelezen in de mailbox toen loket er voor het eerst mee verbond"
                .to_owned()
        }
        Event::History { why: History::Old { days, forward_days } } => format!(
            "als geschiedenis bewaard, niets verstuurd: het was {days} dagen oud toen loket er voor het eerst mee verbond (ingest.backlog_forward_days = {forward_days})"
        ),
        Event::LinkRevoked => {
            "volglink ingetrokken: de oude link opent de statuspagina niet meer; de volgende mail bevat een nieuwe"
                .to_owned()
        }
    }
}

fn withheld_nl(reason: &Withheld) -> String {
    match reason {
        Withheld::Automatic { reason } => {
            format!("geen ontvangstbevestiging en niets doorgestuurd: automatische mail ({})", reason.say(Language::Nl))
        }
        Withheld::NoDepartment { mail, department } => {
            format!("geen {}: afdeling {department} is niet ingesteld", noun_nl(*mail))
        }
        Withheld::Forged => {
            "geen ontvangstbevestiging: de mailserver van de organisatie zegt dat het afzenderadres vervalst is (DMARC mislukt)"
                .to_owned()
        }
        Withheld::AcksOff => "geen ontvangstbevestiging: ontvangstbevestigingen staan uit (ack.enabled)".to_owned(),
        Withheld::Backlog => {
            "geen ontvangstbevestiging: het bericht stond al in de mailbox toen loket er voor het eerst mee verbond (ack.backlog)"
                .to_owned()
        }
        Withheld::RecipientCap { address, count } => format!(
            "geen ontvangstbevestiging: {address} kreeg het afgelopen uur al {count} automatische mails (ack.max_per_recipient_per_hour)"
        ),
        Withheld::DomainCap { domain, count } => format!(
            "geen ontvangstbevestiging: het afgelopen uur gingen er al {count} ontvangstbevestigingen naar {domain} (ack.max_per_domain_per_hour)"
        ),
        Withheld::OutsideCap { count } => format!(
            "geen ontvangstbevestiging: het afgelopen uur gingen er al {count} ontvangstbevestigingen buiten de organisatie (ack.max_outside_per_hour)"
        ),
        Withheld::Closed { address, after } => format!(
            "geen ontvangstbevestiging: {address} is gesloten na {after} (retire_after, retire_mode = redirect); de medewerker krijgt alleen het bericht dat het adres gesloten is"
        ),
        Withheld::TicketCap { mails, sent } => format!(
            "niet verstuurd ({}): het ticket verstuurde het afgelopen uur al {sent} mails (conversation.max_mails_per_ticket_per_hour)",
            mails.iter().map(|m| noun_nl(*m)).collect::<Vec<_>>().join(", ")
        ),
        Withheld::NotComposed { mail, error } => format!("geen {}: {error}", noun_nl(*mail)),
    }
}

fn doubt_nl(doubt: Doubt) -> &'static str {
    match doubt {
        Doubt::NotAReplyToTheDepartment => {
            "de mail komt van een afdelingsadres maar beantwoordt geen mail die loket aan de afdeling stuurde"
        }
        Doubt::NotDepartmentStaff => {
            "de mail beantwoordt de mail aan de afdeling maar komt niet van een medewerker van de afdeling"
        }
        Doubt::NotConfirmedByTheMailServer => {
            "de mailserver van de organisatie heeft de afzender niet bevestigd (DMARC)"
        }
        Doubt::Forged => "de mailserver van de organisatie zegt dat het afzenderadres vervalst is (DMARC mislukt)",
        Doubt::SeveralSenders => {
            "de mail noemt meer dan één afzender (From), dus de mailserver van de organisatie kan een andere hebben gecontroleerd"
        }
        Doubt::NoFrom => {
            "de mail heeft geen bruikbare From; de afzender komt uit Sender of Return-Path, en die controleert DMARC niet"
        }
        Doubt::VerdictAboutAnotherDomain => {
            "de mailserver van de organisatie beoordeelde een ander domein dan dat van de afzender (DMARC header.from)"
        }
    }
}

fn role_nl(role: Role) -> &'static str {
    match role {
        Role::Requester => "aanvrager",
        Role::Staff => "afdeling",
        Role::Unverified(_) => "onbevestigd",
    }
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
