//! Who wrote a message that joins a ticket, and why a writer is not believed.

use serde::{Deserialize, Serialize};

/// Who wrote a message that joins a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The employee (or someone answering a mail the employee received).
    Requester,
    /// The department's queue or one of its staff, proven.
    Staff,
    /// Someone whose mail names the ticket but who could not prove to be who they
    /// claim: the mail is kept on the ticket and does nothing else.
    Unverified(Doubt),
}

/// Why a mail that names a ticket is not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Doubt {
    /// From a department's address, but not a reply to a mail loket sent the department.
    NotAReplyToTheDepartment,
    /// A reply to a mail loket sent the department, from outside the department's staff.
    NotDepartmentStaff,
    /// The organisation's own mail server did not confirm the sender (DMARC).
    NotConfirmedByTheMailServer,
    /// The organisation's own mail server says the sender address was forged.
    Forged,
    /// The mail names more than one sender (several From headers or addresses),
    /// so what a mail server checked may be another one than loket reads.
    SeveralSenders,
    /// The mail has no usable From: the sender was read from Sender or the
    /// return path, which DMARC does not check.
    NoFrom,
    /// The organisation's own mail server judged another domain than the sender's.
    VerdictAboutAnotherDomain,
}

impl Doubt {
    pub const ALL: [Self; 7] = [
        Self::NotAReplyToTheDepartment,
        Self::NotDepartmentStaff,
        Self::NotConfirmedByTheMailServer,
        Self::Forged,
        Self::SeveralSenders,
        Self::NoFrom,
        Self::VerdictAboutAnotherDomain,
    ];
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requester => "requester",
            Self::Staff => "staff",
            Self::Unverified(_) => "unverified",
        }
    }
}
