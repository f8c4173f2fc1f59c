//! Mails to departments: the normalised ticket with the employee's original
//! attached (a forward, or an update when the employee writes again), and the
//! reply that tells a department member why their commands were not carried out.

use lettre::message::header::{ContentDisposition, ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox as LettreMailbox, MultiPart, SinglePart};

use super::{
    Composer, MailKind, OutboundError, Outgoing, TicketFacts, automatic, crlf, fits_8bit, outgoing, parse_address,
    reply_subject, tagged_subject,
};
use crate::domain::{Refusal, TicketRef};
use crate::outbound::render::{ForwardView, NoticeView};

/// Why a department member's mail was not acted on.
#[derive(Debug, Clone)]
pub struct CommandProblem<'a> {
    pub reference: &'a TicketRef,
    pub subject: &'a str,
    /// The sender, who gets the reply.
    pub to: &'a str,
    pub problems: &'a [Refusal],
    /// The department ids `#route` accepts.
    pub departments: &'a [String],
}

impl Composer<'_> {
    /// The normalised ticket to the department's queue, with the original attached.
    pub fn forward(&self, facts: &TicketFacts<'_>) -> Result<Outgoing, OutboundError> {
        self.to_department(facts, MailKind::Forward)
    }

    /// The employee's follow-up to the department's queue, with the follow-up attached.
    pub fn update(&self, facts: &TicketFacts<'_>) -> Result<Outgoing, OutboundError> {
        self.to_department(facts, MailKind::Update)
    }

    fn to_department(&self, facts: &TicketFacts<'_>, kind: MailKind) -> Result<Outgoing, OutboundError> {
        let (desk, renderer, signer, date) = (&self.desk, self.renderer, self.signer, self.date);
        let queue = parse_address(facts.queue.as_str())?;
        let view = ForwardView {
            reference: facts.reference.to_string(),
            requester: facts.requester.to_string(),
            sent_to: facts.sent_to.to_owned(),
            department: facts.department.to_owned(),
            received: facts.received.to_owned(),
            link: desk.tracking_link(facts.reference, facts.token),
            reason: facts.reason.to_owned(),
            decided: facts.decided.to_owned(),
            desk: desk.name.to_owned(),
            text: facts.text.to_owned(),
            warning: facts.warning.map(str::to_owned),
        };
        let mut text = renderer.render(&format!("{}.txt", kind.as_str()), &view)?;
        let message_id = signer.message_id(facts.reference, kind.id_kind(), desk.domain());
        let original = if facts.raw.len() > self.max_attachment {
            // Relays refuse large mails for good; the department reads the original on the ticket.
            text = format!(
                "The original message ({}) is larger than the {} a forward may carry, so it is not attached.\nRead it on the ticket: {}\n\n{text}",
                mib(facts.raw.len()),
                mib(self.max_attachment),
                view.link
            );
            None
        } else {
            Some(original_part(facts.raw)?)
        };
        let from_name = format!("{} via {}", facts.requester.display(), desk.name);
        let subject = match kind {
            MailKind::Update => reply_subject(facts.reference, facts.subject),
            _ => tagged_subject(facts.reference, facts.subject),
        };
        let message = automatic(desk, &from_name, subject, &message_id, date, "auto-generated")?
            .reply_to(desk.mailbox(desk.name)?)
            .to(LettreMailbox::new(None, queue))
            .multipart(match original {
                Some(original) => MultiPart::mixed().singlepart(SinglePart::plain(text)).singlepart(original),
                None => MultiPart::mixed().singlepart(SinglePart::plain(text)),
            })
            .map_err(|e| OutboundError::Build(e.to_string()))?;
        Ok(outgoing(kind, desk, facts.queue.as_str(), message_id, &message))
    }

    /// The short reply to a department member whose commands were not understood.
    pub fn notice(&self, problem: &CommandProblem<'_>) -> Result<Outgoing, OutboundError> {
        let (desk, renderer, signer, date) = (&self.desk, self.renderer, self.signer, self.date);
        let view = NoticeView {
            reference: problem.reference.to_string(),
            problems: problem.problems.iter().map(Refusal::to_string).collect(),
            departments: problem.departments.join(", "),
            desk: desk.name.to_owned(),
        };
        let text = renderer.render("notice.txt", &view)?;
        let message_id = signer.message_id(problem.reference, MailKind::Notice.id_kind(), desk.domain());
        let message = automatic(
            desk,
            desk.name,
            reply_subject(problem.reference, problem.subject),
            &message_id,
            date,
            "auto-replied",
        )?
        .to(LettreMailbox::new(None, parse_address(problem.to)?))
        .singlepart(SinglePart::plain(text))
        .map_err(|e| OutboundError::Build(e.to_string()))?;
        Ok(outgoing(MailKind::Notice, desk, problem.to, message_id, &message))
    }
}

/// The original as an attachment. RFC 2046 allows only 7bit, 8bit and binary for
/// message/rfc822, so it goes in unchanged when 8bit can carry it (no NUL, no line
/// over 998 bytes); otherwise it travels as base64-encoded data.
fn original_part(raw: &[u8]) -> Result<SinglePart, OutboundError> {
    let (content_type, body) = if fits_8bit(raw) {
        let encoding =
            if raw.is_ascii() { ContentTransferEncoding::SevenBit } else { ContentTransferEncoding::EightBit };
        ("message/rfc822", Body::dangerous_pre_encoded(crlf(raw), encoding))
    } else {
        (
            "application/octet-stream",
            Body::new_with_encoding(raw.to_vec(), ContentTransferEncoding::Base64).unwrap_or_else(Body::new),
        )
    };
    Ok(SinglePart::builder()
        .header(ContentType::parse(content_type).map_err(|e| OutboundError::Build(e.to_string()))?)
        .header(ContentDisposition::attachment("original.eml"))
        .body(body))
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
