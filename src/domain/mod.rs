//! Values that can only hold what is valid: they are parsed once, at the edge,
//! and carried through the pipeline without further checks.

/// A closed set spelt once (`as_str`, listed in `ALL`): shown as that spelling,
/// and read back from it and nothing else, the refusal saying what it is not.
macro_rules! spelt_once {
    ($name:ty, $what:literal) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl TryFrom<String> for $name {
            type Error = crate::domain::InvalidValue;

            fn try_from(stored: String) -> Result<Self, Self::Error> {
                Self::ALL
                    .into_iter()
                    .find(|value| value.as_str() == stored)
                    .ok_or_else(|| crate::domain::InvalidValue(format!(concat!("`{}` is not ", $what), stored)))
            }
        }
    };
}

mod address;
mod auto;
mod bounds;
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
pub use bounds::{Taken, TextBounds, prefix};
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
