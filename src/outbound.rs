//! Outbound: the two mails a new ticket sends, composed as complete MIME
//! messages. Pure: facts and templates in, bytes out, with a Message-ID that
//! loket signed, so that replies and bounces can be traced back.

use std::time::SystemTime;

use lettre::message::header::{ContentDisposition, ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox as LettreMailbox, MultiPart, SinglePart};
use serde::Serialize;

use crate::domain::{EmailAddress, Mailbox, TicketRef};
use crate::intake::{LOOP_HEADER, one_line};
use crate::language::Language;
use crate::render::{AckView, ForwardView, RenderError, Renderer};
use crate::sign::Signer;

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    #[error("`{0}` cannot be mailed to")]
    Address(String),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error("the mail cannot be built: {0}")]
    Build(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutKind {
    /// The acknowledgement to the employee.
    Ack,
    /// The normalised ticket to the department's queue.
    Forward,
}

impl OutKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ack => "ack",
            Self::Forward => "forward",
        }
    }

    /// The kind as stored by [`OutKind::as_str`]; anything else reads as a forward.
    pub fn from_stored(kind: &str) -> Self {
        if kind == Self::Ack.as_str() { Self::Ack } else { Self::Forward }
    }

    /// What the timeline calls a mail of this kind.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Ack => "acknowledgement",
            Self::Forward => "forward",
        }
    }
}

/// A composed mail, ready for the outbox.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub kind: OutKind,
    /// The envelope sender (the desk's address).
    pub sender: String,
    pub recipient: String,
    /// Without angle brackets.
    pub message_id: String,
    pub bytes: Vec<u8>,
}

/// The desk as the mails present it.
#[derive(Debug, Clone)]
pub struct Desk<'a> {
    pub name: &'a str,
    pub address: &'a EmailAddress,
    pub base_url: &'a str,
}

/// What the mails of a new ticket say.
#[derive(Debug, Clone)]
pub struct TicketFacts<'a> {
    pub reference: &'a TicketRef,
    pub token: &'a str,
    pub language: Language,
    pub department: &'a str,
    pub queue: &'a EmailAddress,
    pub requester: &'a Mailbox,
    pub subject: &'a str,
    pub text: &'a str,
    /// The Message-ID of the employee's message, and the ones it referred to.
    pub message_id: Option<&'a str>,
    pub references: &'a [String],
    pub raw: &'a [u8],
    /// The old address the message was sent to.
    pub sent_to: &'a str,
    pub received: &'a str,
    pub reason: &'a str,
}

impl Desk<'_> {
    fn domain(&self) -> &str {
        self.address.as_str().rsplit_once('@').map_or("loket.invalid", |(_, d)| d)
    }

    fn mailbox(&self, name: &str) -> Result<LettreMailbox, OutboundError> {
        let address = self.address.as_str().parse().map_err(|_| OutboundError::Address(self.address.to_string()))?;
        Ok(LettreMailbox::new(Some(one_line(name)), address))
    }

    pub fn tracking_link(&self, reference: &TicketRef, token: &str) -> String {
        format!("{}/t/{reference}?k={token}", self.base_url)
    }
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), one_line(value))
}

/// `[SD-00042] original subject`, on one line.
pub fn tagged_subject(reference: &TicketRef, subject: &str) -> String {
    let subject = one_line(subject);
    if subject.is_empty() { format!("[{reference}]") } else { format!("[{reference}] {subject}") }
}

/// True when bytes can travel in an 8bit MIME part as they are.
fn fits_8bit(raw: &[u8]) -> bool {
    !raw.contains(&0) && raw.split(|&b| b == b'\n').all(|line| line.len() <= 998)
}

/// The bytes with every line ending as CRLF, as SMTP requires.
fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 50);
    for (i, &byte) in raw.iter().enumerate() {
        if byte == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        if byte == b'\r' && raw.get(i + 1) != Some(&b'\n') {
            out.extend_from_slice(b"\r\n");
            continue;
        }
        out.push(byte);
    }
    out
}

/// The headers every automatic mail of loket's carries: the desk as sender, the
/// tagged subject, the signed Message-ID, RFC 3834's Auto-Submitted and the loop header.
fn automatic(
    desk: &Desk<'_>,
    from_name: &str,
    facts: &TicketFacts<'_>,
    message_id: &str,
    date: SystemTime,
    auto_submitted: &str,
) -> Result<lettre::message::MessageBuilder, OutboundError> {
    Ok(lettre::Message::builder()
        .from(desk.mailbox(from_name)?)
        .subject(tagged_subject(facts.reference, facts.subject))
        .message_id(Some(angle(message_id)))
        .date(date)
        .raw_header(header("Auto-Submitted", auto_submitted))
        .raw_header(header(LOOP_HEADER, desk.address.as_str())))
}

fn angle(id: &str) -> String {
    format!("<{id}>")
}

/// The acknowledgement to the employee, in their language.
pub fn ack(
    desk: &Desk<'_>,
    renderer: &Renderer,
    signer: &Signer,
    facts: &TicketFacts<'_>,
    date: SystemTime,
) -> Result<Outgoing, OutboundError> {
    let to_address =
        facts.requester.address.parse().map_err(|_| OutboundError::Address(facts.requester.address.clone()))?;
    let view = AckView {
        name: facts.requester.name.as_deref().map(one_line).unwrap_or_else(|| facts.requester.address.clone()),
        reference: facts.reference.to_string(),
        department: facts.department.to_owned(),
        link: desk.tracking_link(facts.reference, facts.token),
        desk: desk.name.to_owned(),
    };
    let language = facts.language.code();
    let text = renderer.render(&format!("ack.{language}.txt"), &view)?;
    let html = renderer.render(&format!("ack.{language}.html"), &view)?;
    let message_id = signer.message_id(facts.reference, "ack", desk.domain());
    let mut builder = automatic(desk, desk.name, facts, &message_id, date, "auto-replied")?
        .to(LettreMailbox::new(facts.requester.name.as_deref().map(one_line), to_address));
    if let Some(original) = facts.message_id {
        let mut references: Vec<String> = facts.references.iter().map(|id| angle(id)).collect();
        references.push(angle(original));
        builder = builder.in_reply_to(angle(original)).references(references.join(" "));
    }
    let message = builder
        .multipart(MultiPart::alternative_plain_html(text, html))
        .map_err(|e| OutboundError::Build(e.to_string()))?;
    Ok(Outgoing {
        kind: OutKind::Ack,
        sender: desk.address.to_string(),
        recipient: facts.requester.address.clone(),
        message_id,
        bytes: message.formatted(),
    })
}

/// The normalised ticket to the department's queue, with the original attached.
pub fn forward(
    desk: &Desk<'_>,
    renderer: &Renderer,
    signer: &Signer,
    facts: &TicketFacts<'_>,
    date: SystemTime,
) -> Result<Outgoing, OutboundError> {
    let queue = facts.queue.as_str().parse().map_err(|_| OutboundError::Address(facts.queue.to_string()))?;
    let view = ForwardView {
        reference: facts.reference.to_string(),
        requester: facts.requester.to_string(),
        sent_to: facts.sent_to.to_owned(),
        department: facts.department.to_owned(),
        received: facts.received.to_owned(),
        link: desk.tracking_link(facts.reference, facts.token),
        reason: facts.reason.to_owned(),
        desk: desk.name.to_owned(),
        text: facts.text.to_owned(),
    };
    let text = renderer.render("forward.txt", &view)?;
    let message_id = signer.message_id(facts.reference, "fwd", desk.domain());
    // RFC 2046 allows only 7bit, 8bit and binary for message/rfc822, so the original
    // goes in unchanged when 8bit can carry it (no NUL, no line over 998 bytes);
    // otherwise it travels as base64-encoded data.
    let (content_type, body) = if fits_8bit(facts.raw) {
        let encoding =
            if facts.raw.is_ascii() { ContentTransferEncoding::SevenBit } else { ContentTransferEncoding::EightBit };
        ("message/rfc822", Body::dangerous_pre_encoded(crlf(facts.raw), encoding))
    } else {
        (
            "application/octet-stream",
            Body::new_with_encoding(facts.raw.to_vec(), ContentTransferEncoding::Base64).unwrap_or_else(Body::new),
        )
    };
    let original = SinglePart::builder()
        .header(ContentType::parse(content_type).map_err(|e| OutboundError::Build(e.to_string()))?)
        .header(ContentDisposition::attachment("original.eml"))
        .body(body);
    let from_name = format!("{} via {}", facts.requester.display(), desk.name);
    let message = automatic(desk, &from_name, facts, &message_id, date, "auto-generated")?
        .reply_to(desk.mailbox(desk.name)?)
        .to(LettreMailbox::new(None, queue))
        .multipart(MultiPart::mixed().singlepart(SinglePart::plain(text)).singlepart(original))
        .map_err(|e| OutboundError::Build(e.to_string()))?;
    Ok(Outgoing {
        kind: OutKind::Forward,
        sender: desk.address.to_string(),
        recipient: facts.queue.to_string(),
        message_id,
        bytes: message.formatted(),
    })
}
