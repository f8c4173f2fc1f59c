//! What a new request says about the old address it came through: nothing, the
//! nudge towards the desk's address, or that the address has closed. Decided on
//! the day the caller gives, so scenarios can stand before and after the date.

use chrono::NaiveDate;

use crate::config::{MailboxConfig, RetireMode};
use crate::domain::{Outgoing, Withheld};
use crate::inbound::intake::Normalised;
use crate::outbound::{AddressNote, Composer, OutboundError, TicketFacts};

/// The old address as the acknowledgement treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldAddress {
    /// The desk's own inbox, or an old address with neither nudge nor closing day yet.
    AsBefore,
    /// Before the closing day (if any): the acknowledgement adds the nudge.
    Nudge { closes_after: Option<NaiveDate> },
    /// After the closing day.
    Closed { after: NaiveDate, mode: RetireMode },
}

/// How `mailbox` treats a request that arrived in it on `today`. A request that
/// was also addressed to the desk itself is not nudged: its sender already knows
/// the address.
pub fn old_address(mailbox: Option<&MailboxConfig>, message: &Normalised, desk: &str, today: NaiveDate) -> OldAddress {
    let Some(mailbox) = mailbox.filter(|m| m.department.is_some()) else { return OldAddress::AsBefore };
    match mailbox.retirement {
        Some(retirement) if today > retirement.after => {
            OldAddress::Closed { after: retirement.after, mode: retirement.mode }
        }
        retirement if mailbox.nudge && !addressed_to(message, desk) => {
            OldAddress::Nudge { closes_after: retirement.map(|r| r.after) }
        }
        _ => OldAddress::AsBefore,
    }
}

fn addressed_to(message: &Normalised, address: &str) -> bool {
    message.to.iter().chain(&message.cc).any(|m| m.address.eq_ignore_ascii_case(address))
}

/// The mail that stands for the acknowledgement at this old address, and for a
/// redirected closed address, why the usual one was not sent.
pub(super) fn ack(
    composer: &Composer<'_>,
    facts: &TicketFacts<'_>,
    old: OldAddress,
) -> (Result<Outgoing, OutboundError>, Option<Withheld>) {
    match old {
        OldAddress::AsBefore => (composer.ack(facts), None),
        OldAddress::Nudge { closes_after } => (composer.ack_noting(facts, AddressNote::Nudge { closes_after }), None),
        OldAddress::Closed { after, mode: RetireMode::Notice } => {
            (composer.ack_noting(facts, AddressNote::Closed { after }), None)
        }
        OldAddress::Closed { after, mode: RetireMode::Redirect } => {
            (composer.closed(facts, after), Some(Withheld::Closed { address: facts.sent_to.to_owned(), after }))
        }
    }
}
