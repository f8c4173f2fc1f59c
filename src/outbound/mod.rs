//! Outbound: the mails loket sends, composed as complete MIME messages. Pure:
//! facts and templates in, bytes out, with a Message-ID that loket signed, so
//! that replies and bounces can be traced back. `employee` holds the mails to the
//! employee (acknowledgement, relayed answer, rerouting notice), `department` the
//! mails to departments and their staff (forward, update, command reply).

mod department;
mod employee;
pub mod form;
pub mod outbox;
pub mod render;

pub use department::CommandProblem;
pub use employee::{AddressNote, Conversation, long_day};

pub use crate::domain::{MailKind, Outgoing};
use std::time::SystemTime;

use lettre::message::Mailbox as LettreMailbox;
use lettre::message::header::{HeaderName, HeaderValue};

use crate::domain::{EmailAddress, Mailbox, TicketRef};
use crate::inbound::intake::{LOOP_HEADER, one_line};
use crate::inbound::language::Language;
use crate::outbound::render::{RenderError, Renderer};
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

/// Composes loket's mails: the desk as they present it, the templates, the
/// signer of their Message-IDs, and their date.
#[derive(Debug, Clone)]
pub struct Composer<'a> {
    pub desk: Desk<'a>,
    pub renderer: &'a Renderer,
    pub signer: &'a Signer,
    pub date: SystemTime,
    /// A forwarded original larger than this is linked to instead of attached.
    pub max_attachment: usize,
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
    /// Who decided the department, for the department: `model (92%)`, `rule "phones"`, …
    pub decided: &'a str,
    /// For the employee, in their language: why another department than the one
    /// they wrote to handles it (set only when the request was rerouted).
    pub why: Option<&'a str>,
    /// For the department, at the top of the forward: why not to trust the sender.
    pub warning: Option<&'a str>,
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

/// The headers every mail of loket's carries: the desk as sender, the subject,
/// the signed Message-ID, RFC 3834's Auto-Submitted, Exchange's
/// X-Auto-Response-Suppress (out-of-office and other automatic answers held back:
/// Exchange and Outlook ignore Auto-Submitted) and the loop header.
fn automatic(
    desk: &Desk<'_>,
    from_name: &str,
    subject: String,
    message_id: &str,
    date: SystemTime,
    auto_submitted: &str,
) -> Result<lettre::message::MessageBuilder, OutboundError> {
    Ok(lettre::Message::builder()
        .from(desk.mailbox(from_name)?)
        .subject(subject)
        .message_id(Some(angle(message_id)))
        .date(date)
        .raw_header(header("Auto-Submitted", auto_submitted))
        .raw_header(header("X-Auto-Response-Suppress", "All"))
        .raw_header(header(LOOP_HEADER, desk.address.as_str())))
}

fn angle(id: &str) -> String {
    format!("<{id}>")
}

/// `Re: [SD-00042] subject`, without a second `Re:`.
fn reply_subject(reference: &TicketRef, subject: &str) -> String {
    let subject = one_line(subject);
    let mut bare = subject.as_str();
    while let Some(rest) = ["re:", "aw:", "antw:"]
        .iter()
        .find_map(|p| bare.get(..p.len()).filter(|head| head.eq_ignore_ascii_case(p)).map(|_| &bare[p.len()..]))
    {
        bare = rest.trim_start();
    }
    let tag = format!("[{reference}]");
    if bare.contains(&tag) { format!("Re: {bare}") } else { format!("Re: {}", tagged_subject(reference, bare)) }
}

fn parse_address(address: &str) -> Result<lettre::Address, OutboundError> {
    address.parse().map_err(|_| OutboundError::Address(address.to_owned()))
}

/// The outbox entry for a built message.
fn outgoing(
    kind: MailKind,
    desk: &Desk<'_>,
    recipient: &str,
    message_id: String,
    message: &lettre::Message,
) -> Outgoing {
    Outgoing {
        kind,
        sender: desk.address.to_string(),
        recipient: recipient.to_owned(),
        message_id,
        bytes: message.formatted(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_subjects_carry_one_re_and_one_reference() {
        let r = TicketRef::new("SD", 42);
        assert_eq!(reply_subject(&r, "Laptop broken"), "Re: [SD-00042] Laptop broken");
        assert_eq!(reply_subject(&r, "RE: Re: Laptop"), "Re: [SD-00042] Laptop");
        assert_eq!(reply_subject(&r, "Re: [SD-00042] Laptop"), "Re: [SD-00042] Laptop");
        assert_eq!(reply_subject(&r, ""), "Re: [SD-00042]");
    }

    #[test]
    fn every_kind_reads_back_as_itself() {
        for kind in MailKind::ALL {
            assert_eq!(MailKind::try_from(kind.as_str().to_owned()), Ok(kind));
        }
    }
}
