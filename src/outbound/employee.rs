//! Mails to the employee, from the desk and in the employee's language: the
//! acknowledgement, a department's answer relayed, and the notice that another
//! department took the request over.

use chrono::NaiveDate;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox as LettreMailbox, MultiPart};

use super::{
    Composer, Desk, MailKind, OutboundError, Outgoing, TicketFacts, angle, automatic, outgoing, parse_address,
    reply_subject, tagged_subject,
};
use crate::domain::{Mailbox, TicketRef};
use crate::inbound::intake::{AttachmentData, one_line};
use crate::inbound::language::Language;
use crate::outbound::render::{AckView, RelayView};

/// What the mails to the employee about a stored ticket say.
#[derive(Debug, Clone)]
pub struct Conversation<'a> {
    pub reference: &'a TicketRef,
    pub token: &'a str,
    pub language: Language,
    pub requester: &'a Mailbox,
    /// The ticket's subject, as the employee wrote it.
    pub subject: &'a str,
    /// The name of the department that handles the ticket.
    pub department: &'a str,
    /// The Message-ID of the employee's first message, to thread under.
    pub opening_message_id: Option<&'a str>,
}

/// What the acknowledgement says about the old address the employee wrote to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AddressNote {
    #[default]
    Nothing,
    /// The desk's address reaches every department and this one will close,
    /// after the day when one is set.
    Nudge { closes_after: Option<NaiveDate> },
    /// This address closed after the day: use the desk's.
    Closed { after: NaiveDate },
}

/// A day as the employee reads it: `31 December 2026`, `31 december 2026`.
pub fn long_day(day: NaiveDate, language: Language) -> String {
    const MAANDEN: [&str; 12] = [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ];
    match language {
        Language::En => day.format("%-d %B %Y").to_string(),
        Language::Nl => {
            use chrono::Datelike;
            let month = MAANDEN.get(day.month0() as usize).copied().unwrap_or_default();
            format!("{} {month} {}", day.day(), day.year())
        }
    }
}

fn recipient(requester: &Mailbox) -> Result<LettreMailbox, OutboundError> {
    Ok(LettreMailbox::new(requester.name.as_deref().map(one_line), parse_address(&requester.address)?))
}

fn greeting_name(requester: &Mailbox) -> String {
    requester.name.as_deref().map(one_line).unwrap_or_else(|| requester.address.clone())
}

/// What a mail in the ticket's thread carries: its kind (which names its
/// templates), the template values and any attachments.
struct Letter<'a> {
    kind: MailKind,
    view: RelayView,
    attachments: &'a [AttachmentData],
}

fn view(desk: &Desk<'_>, about: &Conversation<'_>, text: &str) -> RelayView {
    RelayView {
        name: greeting_name(about.requester),
        reference: about.reference.to_string(),
        department: about.department.to_owned(),
        link: desk.tracking_link(about.reference, about.token),
        desk: desk.name.to_owned(),
        text: text.to_owned(),
    }
}

impl Composer<'_> {
    /// The acknowledgement to the employee, in their language.
    pub fn ack(&self, facts: &TicketFacts<'_>) -> Result<Outgoing, OutboundError> {
        self.ack_noting(facts, AddressNote::Nothing)
    }

    /// The acknowledgement, saying `note` about the old address the employee wrote to.
    pub fn ack_noting(&self, facts: &TicketFacts<'_>, note: AddressNote) -> Result<Outgoing, OutboundError> {
        self.to_requester(facts, "ack", note)
    }

    /// Instead of the acknowledgement, when the old address closed after `after`
    /// and its mail is redirected: only that it closed, which address to use, and
    /// that the request was passed on all the same. It threads as the
    /// acknowledgement does, so a reply to it joins the ticket.
    pub fn closed(&self, facts: &TicketFacts<'_>, after: NaiveDate) -> Result<Outgoing, OutboundError> {
        self.to_requester(facts, "closed", AddressNote::Closed { after })
    }

    fn to_requester(
        &self,
        facts: &TicketFacts<'_>,
        template: &str,
        note: AddressNote,
    ) -> Result<Outgoing, OutboundError> {
        let (desk, renderer, signer, date) = (&self.desk, self.renderer, self.signer, self.date);
        let day = |d: NaiveDate| long_day(d, facts.language);
        let view = AckView {
            name: greeting_name(facts.requester),
            reference: facts.reference.to_string(),
            department: facts.department.to_owned(),
            link: desk.tracking_link(facts.reference, facts.token),
            desk: desk.name.to_owned(),
            why: facts.why.map(str::to_owned),
            desk_address: desk.address.to_string(),
            old_address: facts.sent_to.to_owned(),
            nudge: matches!(note, AddressNote::Nudge { .. }),
            closes_after: match note {
                AddressNote::Nudge { closes_after } => closes_after.map(day),
                _ => None,
            },
            closed_after: match note {
                AddressNote::Closed { after } => Some(day(after)),
                _ => None,
            },
        };
        let language = facts.language.code();
        let text = renderer.render(&format!("{template}.{language}.txt"), &view)?;
        let html = renderer.render(&format!("{template}.{language}.html"), &view)?;
        let message_id = signer.message_id(facts.reference, MailKind::Ack.id_kind(), desk.domain());
        let subject = tagged_subject(facts.reference, facts.subject);
        let mut builder =
            automatic(desk, desk.name, subject, &message_id, date, "auto-replied")?.to(recipient(facts.requester)?);
        if let Some(original) = facts.message_id {
            let mut references: Vec<String> = facts.references.iter().map(|id| angle(id)).collect();
            references.push(angle(original));
            builder = builder.in_reply_to(angle(original)).references(references.join(" "));
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| OutboundError::Build(e.to_string()))?;
        Ok(outgoing(MailKind::Ack, desk, &facts.requester.address, message_id, &message))
    }

    /// A mail to the employee in the ticket's thread, from its templates in both forms.
    fn in_thread(&self, about: &Conversation<'_>, letter: Letter<'_>) -> Result<Outgoing, OutboundError> {
        let (desk, renderer, signer, date) = (&self.desk, self.renderer, self.signer, self.date);
        let Letter { kind, view, attachments } = letter;
        let view = &view;
        // A relayed answer was written by a person; the rerouting notice was not.
        let auto_submitted = if kind == MailKind::Relay { "no" } else { "auto-generated" };
        let language = about.language.code();
        let template = kind.as_str();
        let text = renderer.render(&format!("{template}.{language}.txt"), view)?;
        let html = renderer.render(&format!("{template}.{language}.html"), view)?;
        let message_id = signer.message_id(about.reference, kind.id_kind(), desk.domain());
        let subject = reply_subject(about.reference, about.subject);
        let mut builder =
            automatic(desk, desk.name, subject, &message_id, date, auto_submitted)?.to(recipient(about.requester)?);
        if let Some(original) = about.opening_message_id {
            builder = builder.in_reply_to(angle(original)).references(angle(original));
        }
        let body = MultiPart::alternative_plain_html(text, html);
        let body = if attachments.is_empty() {
            body
        } else {
            attachments.iter().fold(MultiPart::mixed().multipart(body), |mixed, a| {
                let content_type = ContentType::parse(&a.content_type).unwrap_or_else(|_| {
                    ContentType::parse("application/octet-stream").unwrap_or(ContentType::TEXT_PLAIN)
                });
                let name = a.name.clone().unwrap_or_else(|| "attachment".into());
                mixed.singlepart(Attachment::new(name).body(a.bytes.clone(), content_type))
            })
        };
        let message = builder.multipart(body).map_err(|e| OutboundError::Build(e.to_string()))?;
        Ok(outgoing(kind, desk, &about.requester.address, message_id, &message))
    }

    /// A department's answer, passed on to the employee from the desk and threaded
    /// under the employee's first message, with the answer's attachments. A person
    /// wrote it, so it is not marked as automatic; the loop header still marks it as loket's.
    pub fn relay(
        &self,
        about: &Conversation<'_>,
        text: &str,
        attachments: &[AttachmentData],
    ) -> Result<Outgoing, OutboundError> {
        let letter = Letter { kind: MailKind::Relay, view: view(&self.desk, about, text), attachments };
        self.in_thread(about, letter)
    }

    /// Tells the employee that `about.department` handles the request from now on.
    pub fn moved(&self, about: &Conversation<'_>) -> Result<Outgoing, OutboundError> {
        let letter = Letter { kind: MailKind::Moved, view: view(&self.desk, about, ""), attachments: &[] };
        self.in_thread(about, letter)
    }
}
