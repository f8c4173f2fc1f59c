//! Values that can only hold what is valid: they are parsed once, at the edge,
//! and carried through the pipeline without further checks.

mod address;
mod ids;
mod status;

pub use address::{EmailAddress, Mailbox};
pub use ids::{DepartmentId, MailboxName, TicketRef};
pub use status::Status;

use thiserror::Error;

/// Why a value was not accepted.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct InvalidValue(pub String);
