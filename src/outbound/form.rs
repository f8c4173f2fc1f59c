//! The web form's two mails: the request itself, written as the mail the person
//! would have sent to the desk (so that it is taken in like any other), and the
//! mail that asks them to confirm their address before it is.

use std::time::SystemTime;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox as LettreMailbox, MultiPart, SinglePart};

use super::{Desk, MailKind, OutboundError, Outgoing, angle, automatic, header, parse_address};
use crate::inbound::intake::one_line;
use crate::inbound::language::Language;
pub use crate::outbound::render::ConfirmView;
use crate::outbound::render::Renderer;

/// The header that marks a mail as written on the web form.
pub const CHANNEL_HEADER: &str = "X-Loket-Channel";

/// What someone filled in on the form.
#[derive(Debug, Clone, Default)]
pub struct FormFields {
    pub name: String,
    pub address: String,
    pub subject: String,
    pub description: String,
    pub attachment: Option<FormAttachment>,
}

#[derive(Debug, Clone)]
pub struct FormAttachment {
    pub filename: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// The request as a mail from the person to the desk, with its attachment.
/// `id` becomes its Message-ID's local part, so the same request is the same mail.
pub fn request_mail(
    desk: &Desk<'_>,
    fields: &FormFields,
    id: &str,
    date: SystemTime,
) -> Result<Vec<u8>, OutboundError> {
    let from = LettreMailbox::new(Some(one_line(&fields.name)), parse_address(&fields.address)?);
    let builder = lettre::Message::builder()
        .from(from)
        .to(desk.mailbox(desk.name)?)
        .subject(one_line(&fields.subject))
        .message_id(Some(angle(&format!("form.{id}@{}", desk.domain()))))
        .date(date)
        .raw_header(header(CHANNEL_HEADER, crate::config::FORM_CHANNEL));
    let text = SinglePart::plain(fields.description.clone());
    let message =
        match &fields.attachment {
            None => builder.singlepart(text),
            Some(attachment) => {
                let content_type = ContentType::parse(&attachment.content_type)
                    .or_else(|_| ContentType::parse("application/octet-stream"))
                    .unwrap_or(ContentType::TEXT_PLAIN);
                builder.multipart(MultiPart::mixed().singlepart(text).singlepart(
                    Attachment::new(attachment.filename.clone()).body(attachment.bytes.clone(), content_type),
                ))
            }
        }
        .map_err(|e| OutboundError::Build(e.to_string()))?;
    Ok(message.formatted())
}

/// The mail that asks `to` to confirm the request by following `view.link`.
pub fn confirmation_mail(
    desk: &Desk<'_>,
    renderer: &Renderer,
    language: Language,
    to: &str,
    view: &ConfirmView,
    date: SystemTime,
) -> Result<Outgoing, OutboundError> {
    let text = renderer.render(&format!("form-confirm.{}.txt", language.code()), view)?;
    let subject = match language {
        Language::Nl => format!("Bevestig je verzoek: {}", view.subject),
        Language::En => format!("Confirm your request: {}", view.subject),
    };
    let nonce = hex::encode(rand::random::<[u8; 12]>());
    let message_id = format!("loket.form.{nonce}@{}", desk.domain());
    let recipient = LettreMailbox::new(Some(one_line(&view.name)), parse_address(to)?);
    let message = automatic(desk, desk.name, subject, &message_id, date, "auto-generated")?
        .to(recipient)
        .singlepart(SinglePart::plain(text))
        .map_err(|e| OutboundError::Build(e.to_string()))?;
    Ok(super::outgoing(MailKind::Confirm, desk, to, message_id, &message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::EmailAddress;
    use crate::inbound::intake;

    fn desk(address: &EmailAddress) -> Desk<'_> {
        Desk { name: "Service Desk", address, base_url: "https://desk.example.org" }
    }

    #[test]
    fn a_form_request_reads_back_as_the_persons_mail_with_its_attachment() {
        let address = EmailAddress::parse("servicedesk@example.org").unwrap();
        let fields = FormFields {
            name: "Anna de Vries".into(),
            address: "anna@example.org".into(),
            subject: "Laptop\r\nBcc: x@evil.example".into(),
            description: "Mijn laptop start niet meer.".into(),
            attachment: Some(FormAttachment {
                filename: "foto.png".into(),
                content_type: "image/png".into(),
                bytes: vec![0x89, b'P', b'N', b'G', 0, 1, 2],
            }),
        };
        let raw = request_mail(&desk(&address), &fields, "abc", SystemTime::UNIX_EPOCH).unwrap();
        let parsed = intake::parse(&raw).unwrap();
        assert_eq!(parsed.from.address.as_str(), "anna@example.org");
        assert_eq!(parsed.subject, "Laptop Bcc: x@evil.example", "one line, no injected header");
        assert!(parsed.text.contains("Mijn laptop start niet meer."));
        assert_eq!(parsed.attachments.len(), 1);
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("X-Loket-Channel: web-form"), "{text}");
        assert!(text.contains("form.abc@example.org"));
    }
}
