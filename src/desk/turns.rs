//! What the desk is asked and what it answers: the mails a new ticket sends,
//! whether a message that names a ticket may join it, and what a message joining
//! a ticket does. The ingest step writes the answers in the same transaction as
//! the message, so mails are queued exactly when what caused them is stored.

use crate::domain::{DepartmentId, Incoming};
use crate::domain::{Entry, Event, Outgoing, Status, TicketRef, TicketState, Withheld};
use crate::inbound::guard::Verdict;
use crate::inbound::intake::Normalised;
use crate::inbound::language::Language;
use crate::inbound::thread::{self, Hint, Participants, Proof, Role};
use crate::inbound::trust::Staff;
use crate::inbound::trust::Trust;
use crate::routing::classify::Decision;

/// A new ticket, as the responder sees it when deciding what mail it sends.
#[derive(Debug)]
pub struct Opened<'a> {
    pub reference: &'a TicketRef,
    pub incoming: &'a Incoming,
    pub message: &'a Normalised,
    pub verdict: &'a Verdict,
    pub decision: &'a Decision,
    pub language: Language,
    pub trust: &'a Trust,
    /// Acknowledgements in the last hour, this one's group included.
    pub recent: RecentAcks,
    /// The day the desk decides on (in the organisation's time zone), as the
    /// caller's clock says: old addresses close after a day.
    pub today: chrono::NaiveDate,
}

/// Acknowledgements sent in the last hour, as the caps on automatic mail count them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecentAcks {
    /// To the requester's address (case and `+tag` ignored).
    pub recipient: i64,
    /// To the requester's domain.
    pub domain: i64,
    /// To every address outside the organisation.
    pub outside: i64,
}

/// What a new ticket sends: composed mails for the outbox, and for each mail not
/// sent, the reason, for the timeline.
#[derive(Debug, Default)]
pub struct Response {
    pub mails: Vec<Outgoing>,
    pub withheld: Vec<Withheld>,
    /// Further timeline entries: what was believed of the sender, and what not.
    pub entries: Vec<Entry>,
    /// The status the ticket opens with, when not `new` (backlog kept as history).
    pub status: Option<Status>,
}

/// A message that names a ticket, before it is let in.
#[derive(Debug)]
pub struct Joining<'a> {
    pub ticket: &'a TicketState,
    pub hint: &'a Hint,
    pub message: &'a Normalised,
    pub trust: &'a Trust,
}

/// A message that joined a ticket, as the responder sees it.
#[derive(Debug)]
pub struct Turn<'a> {
    pub ticket: &'a TicketState,
    /// How the message named the ticket.
    pub hint: &'a Hint,
    pub role: Role,
    pub incoming: &'a Incoming,
    pub message: &'a Normalised,
    pub verdict: &'a Verdict,
    pub trust: &'a Trust,
}

/// What a message joining a ticket does: mails to queue, timeline entries, and
/// changes to the ticket.
#[derive(Debug, Default)]
pub struct Reply {
    pub mails: Vec<Outgoing>,
    pub entries: Vec<Entry>,
    pub status: Option<Status>,
    /// The department the ticket moves to.
    pub department: Option<DepartmentId>,
    /// An address to remember as the ticket's staff.
    pub staff: Option<String>,
}

/// Decides and composes the mails of new tickets and of conversations.
pub trait Responder: Sync {
    fn respond(&self, opened: &Opened<'_>) -> Response;

    /// True for an address in the organisation's own domains: caps on automatic
    /// mail count only what goes outside them.
    fn is_internal(&self, _address: &str) -> bool {
        false
    }

    /// As whom the message joins the ticket it names, or `None` to open a new one.
    fn join(&self, joining: &Joining<'_>) -> Option<Role> {
        let proof = Proof { server_checks: false, dmarc: joining.trust.dmarc, doubt: joining.trust.doubt };
        thread::role(joining.hint, &joining.message.from.address, &participants(joining.ticket, None), proof)
    }

    /// What a message that joined a ticket does.
    fn converse(&self, turn: &Turn<'_>) -> Reply {
        Reply {
            entries: vec![Entry::new(Event::Message { from: turn.message.from.clone(), role: turn.role })],
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

/// Who may write on a ticket, given its department's staff.
pub fn participants<'a>(ticket: &'a TicketState, staff: Option<Staff<'a>>) -> Participants<'a> {
    Participants { requester: vec![&ticket.requester_address, &ticket.opening_from], staff }
}
