//! What the store asks of the responder inside the ingest transaction: the mails
//! a new ticket sends, whether a message that names a ticket may join it, and what
//! a message joining a ticket does. The answers are composed there, so mails are
//! queued exactly when what caused them is stored.

use crate::classify::Decision;
use crate::domain::{Status, TicketRef};
use crate::guard::Verdict;
use crate::intake::Normalised;
use crate::language::Language;
use crate::outbound::Outgoing;
use crate::plan::Incoming;
use crate::thread::{self, Hint, Participants, Role};

/// A new ticket, as the responder sees it when deciding what mail it sends.
#[derive(Debug)]
pub struct Opened<'a> {
    pub reference: &'a TicketRef,
    pub incoming: &'a Incoming,
    pub message: &'a Normalised,
    pub verdict: &'a Verdict,
    pub decision: &'a Decision,
    pub language: Language,
    /// Automatic mails to the requester in the last hour, this one's group included.
    pub recent_acks: i64,
}

/// What a new ticket sends: composed mails for the outbox, and for each mail not
/// sent, the reason, for the timeline.
#[derive(Debug, Default)]
pub struct Response {
    pub mails: Vec<Outgoing>,
    pub withheld: Vec<String>,
}

/// A stored ticket, as a message joining it finds it.
#[derive(Debug, Clone)]
pub struct TicketState {
    pub id: String,
    pub reference: TicketRef,
    pub requester_address: String,
    pub requester_name: Option<String>,
    /// The From address of the message that opened the ticket.
    pub opening_from: String,
    pub subject: String,
    pub department: String,
    pub status: Status,
    pub language: Language,
    pub origin_mailbox: String,
    pub opening_message_id: Option<String>,
    pub opening_text: String,
    pub opening_raw: Vec<u8>,
    pub received_at: i64,
    /// Addresses that answered as staff before.
    pub staff: Vec<String>,
    /// Mixed into the tracking token of the link its mails carry.
    pub link_generation: i64,
}

impl TicketState {
    /// Who may name this ticket in a subject, given its department's queue address.
    pub fn participants<'a>(&'a self, queue: Option<&'a str>) -> Participants<'a> {
        Participants { requester: vec![&self.requester_address, &self.opening_from], queue, staff: &self.staff }
    }
}

/// A message that names a ticket, before it is let in.
#[derive(Debug)]
pub struct Joining<'a> {
    pub ticket: &'a TicketState,
    pub hint: &'a Hint,
    pub message: &'a Normalised,
}

/// A message that joined a ticket, as the responder sees it.
#[derive(Debug)]
pub struct Turn<'a> {
    pub ticket: &'a TicketState,
    pub role: Role,
    pub incoming: &'a Incoming,
    pub message: &'a Normalised,
    pub verdict: &'a Verdict,
}

/// One entry for a ticket's timeline. `public` is what the status page may show
/// with it (text the employee wrote or received, or a department id); `None` for
/// entries the page shows by their kind alone, or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: &'static str,
    pub detail: String,
    pub public: Option<String>,
}

impl Entry {
    pub fn new(kind: &'static str, detail: impl Into<String>) -> Self {
        Self { kind, detail: detail.into(), public: None }
    }

    pub fn public(mut self, text: impl Into<String>) -> Self {
        self.public = Some(text.into());
        self
    }
}

/// What a message joining a ticket does: mails to queue, timeline entries, and
/// changes to the ticket.
#[derive(Debug, Default)]
pub struct Reply {
    pub mails: Vec<Outgoing>,
    pub entries: Vec<Entry>,
    pub status: Option<Status>,
    /// The department the ticket moves to.
    pub department: Option<String>,
    /// An address to remember as the ticket's staff.
    pub staff: Option<String>,
}

/// Decides and composes the mails of new tickets and of conversations.
pub trait Responder: Sync {
    fn respond(&self, opened: &Opened<'_>) -> Response;

    /// As whom the message joins the ticket it names, or `None` to open a new one.
    fn join(&self, joining: &Joining<'_>) -> Option<Role> {
        thread::role(joining.hint, &joining.message.from.address, &joining.ticket.participants(None))
    }

    /// What a message that joined a ticket does.
    fn converse(&self, turn: &Turn<'_>) -> Reply {
        Reply {
            entries: vec![Entry::new(
                "message",
                format!("message from {} ({})", turn.message.from, turn.role.as_str()),
            )],
            ..Reply::default()
        }
    }
}

/// Sends nothing: for tools that only store.
pub struct Silent;

impl Responder for Silent {
    fn respond(&self, _: &Opened<'_>) -> Response {
        Response::default()
    }
}
