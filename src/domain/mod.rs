//! Values that can only hold what is valid: they are parsed once, at the edge,
//! and carried through the pipeline without further checks.

mod address;
mod auto;
mod decided_by;
mod event;
mod ids;
mod incoming;
mod language;
mod mail;
mod role;
mod route;
mod status;
mod ticket;

pub use address::{EmailAddress, Mailbox, domain_of, rate_key};
pub use auto::{AutoKind, AutoSign};
pub use decided_by::DecidedBy;
pub use event::{Entry, Event, EventKind, History, Refusal, Withheld, render as timeline};
pub use ids::{DepartmentId, MailboxName, TicketRef};
pub use incoming::{ImapPosition, Incoming};
pub use language::Language;
pub use mail::{MailKind, OutboxState, Outgoing, PauseReason};
pub use role::{Doubt, Role};
pub use route::{Outcome, Reading, RouteWhy, SentTo, percent};
pub use status::Status;
pub use ticket::{PublicEvent, PublicTicket, Shown, TicketState};

use thiserror::Error;

/// Why a value was not accepted.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidValue(pub String);
