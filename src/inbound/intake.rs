//! Intake: raw bytes in, loket's own normalised message out.
//!
//! mail-parser lives behind this module only: nothing else in loket sees its
//! types, so moving to another parser (or another major version) touches only
//! this file. The raw bytes are never altered here; callers keep them.

use mail_parser::{Address, HeaderName, HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::Mailbox;

impl Normalised {
    /// The person a reply goes to: Reply-To when given, else From.
    pub fn requester(&self) -> &Mailbox {
        self.reply_to.as_ref().unwrap_or(&self.from)
    }
}

/// Why a message could not be taken in. Its raw bytes go to quarantine with this reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IntakeError {
    #[error("the message is empty")]
    Empty,
    #[error("no message headers could be read")]
    NoHeaders,
    #[error("the message has no usable sender address (From)")]
    NoSender,
}

/// A message as the rest of loket sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Normalised {
    /// Without angle brackets. `None` when the sender gave none.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from: Mailbox,
    /// Where `from` was read: only a mail with one From naming one address says
    /// plainly who sent it.
    pub sender: SenderFrom,
    pub reply_to: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    pub subject: String,
    /// The Date header as milliseconds since the epoch; senders set it as they like.
    pub date_ms: Option<i64>,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    pub markers: Markers,
    /// Hex SHA-256 of the raw bytes, part of the duplicate key.
    pub sha256: String,
}

/// Where the sender address of a message was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderFrom {
    /// The one From header, naming one address.
    From,
    /// One of several From headers, or of several addresses in From: a mail
    /// system may have judged another one than loket reads.
    OneOfSeveralFroms,
    /// No usable From: the Sender header, else the return path.
    NoFrom,
    /// A delivery report with a null sender and no From: the mail system itself.
    MailSystem,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub name: Option<String>,
    pub content_type: String,
    pub size: u64,
}

/// The headers and structure that tell automatic mail from people's mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Markers {
    pub auto_submitted: Option<String>,
    pub precedence: Option<String>,
    pub x_autoreply: bool,
    pub x_autorespond: bool,
    pub x_auto_response_suppress: Option<String>,
    pub list_id: Option<String>,
    pub list_unsubscribe: bool,
    /// `Some("")` for the null return path `<>`.
    pub return_path: Option<String>,
    /// Top-level `multipart/report` with its `report-type`.
    pub report_type: Option<String>,
    /// A vendor's own vacation marker (`X-Apple-Action: VACATION`).
    pub vendor_autoreply: Option<String>,
    /// loket's own loop header, when present.
    pub loop_marker: Option<String>,
    /// Message-IDs quoted inside a delivery report or attached message.
    pub quoted_message_ids: Vec<String>,
    /// The raw values of the `Authentication-Results` headers, topmost first; whose
    /// word counts is for the trust rules to say.
    pub authentication_results: Vec<String>,
}

/// The header loket sets on every mail it sends, and looks for on every mail it takes in.
pub const LOOP_HEADER: &str = "X-Loket-Loop";

/// Hex SHA-256 of raw bytes.
pub fn sha256_hex(raw: &[u8]) -> String {
    hex::encode(Sha256::digest(raw))
}

/// Parses and normalises one message. Never panics on input that mail-parser accepts;
/// callers still run it isolated, since the parser is third-party code.
pub fn parse(raw: &[u8]) -> Result<Normalised, IntakeError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(IntakeError::Empty);
    }
    let cr_only = cr_only_to_crlf(raw);
    let message = MessageParser::default().parse(cr_only.as_deref().unwrap_or(raw)).ok_or(IntakeError::NoHeaders)?;
    if message.headers().is_empty() {
        return Err(IntakeError::NoHeaders);
    }
    let markers = markers(&message);
    let (from, sender) = sender(&message, &markers).ok_or(IntakeError::NoSender)?;
    Ok(Normalised {
        message_id: message.message_id().map(clean_id).filter(|id| !id.is_empty()),
        in_reply_to: id_list(message.in_reply_to()),
        references: id_list(message.references()),
        from,
        sender,
        reply_to: first_mailbox(message.reply_to()),
        to: mailboxes(message.to()),
        cc: mailboxes(message.cc()),
        subject: message.subject().map(one_line).unwrap_or_default(),
        date_ms: message.date().map(|d| d.to_timestamp().saturating_mul(1000)),
        text: message.body_text(0).map(|t| without_nul(&t)).unwrap_or_default(),
        html: message.body_html(0).filter(|_| message.html_body_count() > 0).map(|h| without_nul(&h)),
        attachments: attachments(&message),
        markers,
        sha256: sha256_hex(raw),
    })
}

/// Old Mac mail ends lines with CR alone, which the parser does not take as line
/// ends. Such a message is read as if it had CRLF; the stored bytes stay as they came.
fn cr_only_to_crlf(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.contains(&b'\n') || !raw.contains(&b'\r') {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    for &byte in raw {
        out.push(byte);
        if byte == b'\r' {
            out.push(b'\n');
        }
    }
    Some(out)
}

/// The sender: From (the last one, should there be several), else Sender, else
/// the return path. A delivery report with a null sender gets the mail system as
/// its sender, so that it is still stored.
fn sender(message: &Message<'_>, markers: &Markers) -> Option<(Mailbox, SenderFrom)> {
    if let Some(from) = first_mailbox(message.from()) {
        let addresses: usize = message.header_values(HeaderName::From).map(|v| address_count(v.as_address())).sum();
        let how = if addresses > 1 { SenderFrom::OneOfSeveralFroms } else { SenderFrom::From };
        return Some((from, how));
    }
    first_mailbox(message.sender())
        .or_else(|| {
            markers
                .return_path
                .as_ref()
                .filter(|path| path.contains('@'))
                .map(|path| Mailbox { name: None, address: path.clone() })
        })
        .map(|mailbox| (mailbox, SenderFrom::NoFrom))
        .or_else(|| {
            (markers.report_type.is_some() || markers.return_path.as_deref() == Some("")).then(|| {
                let system = Mailbox { name: Some("Mail Delivery System".into()), address: "MAILER-DAEMON".into() };
                (system, SenderFrom::MailSystem)
            })
        })
}

/// How many addresses a From header names; one that cannot be read counts as one,
/// since a mail system may read it otherwise.
fn address_count(address: Option<&Address<'_>>) -> usize {
    address.map_or(1, |a| a.iter().count().max(1))
}

/// Removes control characters (CR and LF among them) and folds runs of white space.
pub fn one_line(value: &str) -> String {
    value
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn clean_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim().chars().filter(|c| !c.is_control()).collect()
}

/// Body text without NUL characters (a quoted-printable `=00` decodes to one),
/// which no text column of PostgreSQL can hold; the raw bytes keep them.
fn without_nul(text: &str) -> String {
    if text.contains('\0') { text.replace('\0', "\u{FFFD}") } else { text.to_owned() }
}

fn id_list(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![clean_id(id)],
        HeaderValue::TextList(ids) => ids.iter().map(|id| clean_id(id)).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|id| !id.is_empty())
    .collect()
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(address) = address else { return Vec::new() };
    address
        .iter()
        .filter_map(|addr| {
            let email = addr.address()?.trim();
            (email.contains('@') && !email.chars().any(char::is_control)).then(|| Mailbox {
                name: addr.name().map(one_line).filter(|n| !n.is_empty()),
                address: email.to_owned(),
            })
        })
        .collect()
}

fn first_mailbox(address: Option<&Address<'_>>) -> Option<Mailbox> {
    mailboxes(address).into_iter().next()
}

/// An attachment with its decoded bytes, for passing it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentData {
    pub name: Option<String>,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

fn content_type(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type()
        .map(|ct| match &ct.c_subtype {
            Some(sub) => format!("{}/{}", ct.c_type, sub),
            None => ct.c_type.to_string(),
        })
        .unwrap_or_else(|| "application/octet-stream".into())
        .to_ascii_lowercase()
}

/// The attachments of a message with their bytes, leaving out parts shown inline
/// (signature logos and the like). Parses again: only mail that is passed on needs it.
pub fn attachment_data(raw: &[u8]) -> Vec<AttachmentData> {
    let cr_only = cr_only_to_crlf(raw);
    let Some(message) = MessageParser::default().parse(cr_only.as_deref().unwrap_or(raw)) else {
        return Vec::new();
    };
    message
        .attachments()
        .filter(|part| part.content_disposition().is_none_or(|d| !d.c_type.eq_ignore_ascii_case("inline")))
        .map(|part| AttachmentData {
            name: part.attachment_name().map(one_line),
            content_type: content_type(part),
            bytes: part.contents().to_vec(),
        })
        .collect()
}

fn attachments(message: &Message<'_>) -> Vec<Attachment> {
    message
        .attachments()
        .map(|part| Attachment {
            name: part.attachment_name().map(one_line),
            content_type: content_type(part),
            size: part.len() as u64,
        })
        .collect()
}

fn text_header(message: &Message<'_>, name: &str) -> Option<String> {
    message.header_raw(name).map(one_line).filter(|v| !v.is_empty())
}

fn markers(message: &Message<'_>) -> Markers {
    let root = message.root_part();
    let report_type = root
        .content_type()
        .filter(|ct| {
            ct.c_type.eq_ignore_ascii_case("multipart")
                && ct.c_subtype.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("report"))
        })
        .map(|ct| ct.attribute("report-type").unwrap_or("unknown").to_ascii_lowercase());
    Markers {
        auto_submitted: text_header(message, "Auto-Submitted"),
        precedence: text_header(message, "Precedence"),
        x_autoreply: message.header_raw("X-Autoreply").is_some(),
        x_autorespond: message.header_raw("X-Autorespond").is_some(),
        x_auto_response_suppress: text_header(message, "X-Auto-Response-Suppress"),
        list_id: text_header(message, "List-Id"),
        list_unsubscribe: message.header_raw("List-Unsubscribe").is_some(),
        return_path: message.header_raw("Return-Path").map(|v| clean_id(&one_line(v))),
        report_type,
        vendor_autoreply: text_header(message, "X-Apple-Action")
            .filter(|v| v.eq_ignore_ascii_case("vacation"))
            .map(|v| format!("X-Apple-Action: {v}")),
        loop_marker: text_header(message, LOOP_HEADER),
        quoted_message_ids: quoted_message_ids(message),
        authentication_results: authentication_results(message),
    }
}

/// At most this many `Authentication-Results` headers are read, each cut to 2,000 characters.
const MAX_AUTHENTICATION_RESULTS: usize = 16;

fn authentication_results(message: &Message<'_>) -> Vec<String> {
    let raw = message.raw_message();
    message
        .headers()
        .iter()
        .filter(|h| h.name.as_str().eq_ignore_ascii_case("Authentication-Results"))
        .take(MAX_AUTHENTICATION_RESULTS)
        .filter_map(|h| raw.get(h.offset_start as usize..h.offset_end as usize))
        .map(|value| one_line(&String::from_utf8_lossy(value)).chars().take(2_000).collect())
        .collect()
}

/// Message-IDs of messages carried inside this one: attached `message/rfc822` parts and
/// the `text/rfc822-headers` part of a delivery report.
fn quoted_message_ids(message: &Message<'_>) -> Vec<String> {
    let mut ids = Vec::new();
    for part in message.parts.iter().skip(1) {
        let id = match &part.body {
            PartType::Message(inner) => inner.message_id().map(clean_id),
            _ if part.is_content_type("text", "rfc822-headers") => {
                let headers = part.contents();
                MessageParser::default().parse_headers(headers).and_then(|inner| inner.message_id().map(clean_id))
            }
            _ => None,
        };
        if let Some(id) = id.filter(|id| !id.is_empty() && !ids.contains(id)) {
            ids.push(id);
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIMPLE: &[u8] = b"From: Anna de Vries <anna@example.org>\r\nTo: it@example.org\r\nSubject: Nieuwe\r\n telefoon\r\nMessage-ID: <abc@example.org>\r\nDate: Mon, 2 Nov 2026 09:00:00 +0100\r\n\r\nMijn telefoon is kapot.\r\n";

    #[test]
    fn a_plain_message_is_normalised() {
        let message = parse(SIMPLE).unwrap();
        assert_eq!(message.message_id.as_deref(), Some("abc@example.org"));
        assert_eq!(message.from.address, "anna@example.org");
        assert_eq!(message.from.name.as_deref(), Some("Anna de Vries"));
        assert_eq!(message.subject, "Nieuwe telefoon");
        assert_eq!(message.to[0].address, "it@example.org");
        assert!(message.text.contains("telefoon is kapot"));
        assert_eq!(message.date_ms, Some(1_793_606_400_000));
    }

    #[test]
    fn empty_input_and_headerless_garbage_are_refused() {
        assert_eq!(parse(b"").unwrap_err(), IntakeError::Empty);
        assert_eq!(parse(b"\r\n \r\n").unwrap_err(), IntakeError::Empty);
        assert!(parse(b"\x00\x01\x02 no headers at all").is_err());
    }

    #[test]
    fn a_message_without_a_sender_is_refused() {
        assert_eq!(parse(b"Subject: hi\r\n\r\nbody\r\n").unwrap_err(), IntakeError::NoSender);
    }

    #[test]
    fn a_bounce_with_a_null_sender_is_taken_from_the_mail_system() {
        let raw = b"Return-Path: <>\r\nFrom: <>\r\nSubject: failure\r\n\r\nundeliverable\r\n";
        let message = parse(raw).unwrap();
        assert_eq!(message.from.address, "MAILER-DAEMON");
        assert_eq!(message.sender, SenderFrom::MailSystem);
    }

    #[test]
    fn the_sender_read_from_one_of_several_froms_or_without_a_from_is_marked() {
        assert_eq!(parse(SIMPLE).unwrap().sender, SenderFrom::From);
        let two = b"From: m@evil.example\r\nFrom: Anna <anna@example.org>\r\nSubject: x\r\n\r\nb\r\n";
        let message = parse(two).unwrap();
        assert_eq!(message.from.address, "anna@example.org", "the last From is read");
        assert_eq!(message.sender, SenderFrom::OneOfSeveralFroms);
        let listed = b"From: m@evil.example, Anna <anna@example.org>\r\nSubject: x\r\n\r\nb\r\n";
        assert_eq!(parse(listed).unwrap().sender, SenderFrom::OneOfSeveralFroms);
        let group = b"From: undisclosed:;\r\nSender: anna@example.org\r\nSubject: x\r\n\r\nb\r\n";
        let message = parse(group).unwrap();
        assert_eq!((message.from.address.as_str(), message.sender), ("anna@example.org", SenderFrom::NoFrom));
        let path = b"Return-Path: <anna@example.org>\r\nSubject: x\r\n\r\nb\r\n";
        assert_eq!(parse(path).unwrap().sender, SenderFrom::NoFrom);
    }

    #[test]
    fn cr_only_line_endings_are_read_as_line_ends() {
        let raw = b"From: a@example.org\rSubject: old mac\r\rbody\r";
        let message = parse(raw).unwrap();
        assert_eq!(message.subject, "old mac");
        assert_eq!(message.sha256, sha256_hex(raw));
    }

    #[test]
    fn one_line_removes_line_breaks_and_control_characters() {
        assert_eq!(one_line("a\r\nBcc: x@y.z\t\x07b"), "a Bcc: x@y.z b");
    }
}
