//! A stored ticket as a message that joins it finds it: what the desk needs to
//! decide who wrote the message and what it does.

use super::{DecidedBy, DepartmentId, EventKind, Language, MailboxName, Status, TicketRef};

#[derive(Debug, Clone)]
pub struct TicketState {
    pub id: String,
    pub reference: TicketRef,
    pub requester_address: String,
    pub requester_name: Option<String>,
    /// The From address of the message that opened the ticket.
    pub opening_from: String,
    pub subject: String,
    pub department: DepartmentId,
    pub status: Status,
    pub language: Language,
    pub origin_mailbox: MailboxName,
    pub opening_message_id: Option<String>,
    pub opening_text: String,
    pub opening_raw: Vec<u8>,
    pub received_at: i64,
    /// Addresses that answered as staff before.
    pub staff: Vec<String>,
    /// Mixed into the tracking token of the link its mails carry.
    pub link_generation: i64,
    /// Mails the ticket's conversation queued in the last hour.
    pub recent_mails: i64,
    /// The latest messages on the ticket (newest first, at most a handful from the
    /// last ten minutes): sender and text, to recognise a loop.
    pub recent_messages: Vec<(String, String)>,
}

/// One stored timeline entry, as the page may read it.
#[derive(Debug, Clone)]
pub struct PublicEvent {
    pub at: i64,
    pub kind: EventKind,
    pub shown: Shown,
}

/// What the page may show of an entry besides its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    Nothing,
    /// For `routed` and `rerouted`: the department that took the request.
    Department(DepartmentId),
    /// For `answered` and `followup`: the text the employee received or wrote.
    Text(String),
}

impl PublicEvent {
    /// An entry as stored: `public_text` holds the department's id or the
    /// employee's text, as the kind says; nothing else is shown.
    pub fn from_stored(at: i64, kind: EventKind, public_text: Option<String>) -> Self {
        let shown = match (kind, public_text) {
            (EventKind::Routed | EventKind::Rerouted, Some(id)) => {
                DepartmentId::parse(&id).map_or(Shown::Nothing, Shown::Department)
            }
            (EventKind::Answered | EventKind::Followup, Some(text)) if !text.is_empty() => Shown::Text(text),
            _ => Shown::Nothing,
        };
        Self { at, kind, shown }
    }
}

/// The stored ticket, as the page may read it.
#[derive(Debug, Clone)]
pub struct PublicTicket {
    pub reference: TicketRef,
    pub subject: String,
    pub department: DepartmentId,
    pub status: Status,
    pub language: Language,
    /// Who chose the department when the ticket opened, and the model's confidence.
    pub decided_by: DecidedBy,
    pub confidence: Option<f64>,
    /// Mixed into the token of the ticket's tracking link.
    pub link_generation: i64,
    pub events: Vec<PublicEvent>,
}
