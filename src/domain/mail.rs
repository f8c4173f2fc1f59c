//! The mails loket sends: their kinds, each with its one spelling in the store
//! and in signed Message-IDs, and a composed mail ready for the outbox.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// The acknowledgement to the employee.
    Ack,
    /// The normalised ticket to the department's queue.
    Forward,
    /// A department's answer, relayed to the employee from the desk.
    Relay,
    /// The employee's follow-up, forwarded to the department.
    Update,
    /// The employee is told that another department took the ticket over.
    Moved,
    /// A department member is told why their mail's commands were not carried out.
    Notice,
    /// Someone who filled in the web form is asked to confirm their address.
    Confirm,
}

impl MailKind {
    pub const ALL: [Self; 7] =
        [Self::Ack, Self::Forward, Self::Relay, Self::Update, Self::Moved, Self::Notice, Self::Confirm];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ack => "ack",
            Self::Forward => "forward",
            Self::Relay => "relay",
            Self::Update => "update",
            Self::Moved => "moved",
            Self::Notice => "notice",
            Self::Confirm => "confirm",
        }
    }

    /// The kind in the signed Message-ID; a reply to it tells which side wrote.
    pub fn id_kind(self) -> &'static str {
        match self {
            Self::Ack => "ack",
            Self::Forward => "fwd",
            Self::Relay => "ans",
            Self::Update => "upd",
            Self::Moved => "moved",
            Self::Notice => "cmd",
            Self::Confirm => "form",
        }
    }

    /// The kind a signed Message-ID names, when it is one of loket's.
    pub fn from_signed(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.id_kind() == kind)
    }

    /// True for the mails that go to the employee: a reply to one comes from the
    /// employee's side, whoever writes it.
    pub fn to_employee(self) -> bool {
        matches!(self, Self::Ack | Self::Relay | Self::Moved)
    }

    /// What the timeline calls a mail of this kind.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Ack => "acknowledgement",
            Self::Forward => "forward",
            Self::Relay => "answer",
            Self::Update => "update",
            Self::Moved => "rerouting notice",
            Self::Notice => "command reply",
            Self::Confirm => "confirmation request",
        }
    }
}

spelt_once!(MailKind, "a mail kind");

/// Where a mail in the outbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be sent, or being sent.
    Pending,
    /// The server accepted it.
    Sent,
    /// Given up: refused for good, or still failing after the retry period.
    Failed,
    /// Sent, and later a bounce said it could not be delivered.
    Bounced,
}

impl OutboxState {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Sent, Self::Failed, Self::Bounced];

    /// The spelling in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Bounced => "bounced",
        }
    }

    pub fn from_stored(state: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == state)
    }
}

spelt_once!(OutboxState, "an outbox state");

/// A composed mail, ready for the outbox.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub kind: MailKind,
    /// The envelope sender (the desk's address).
    pub sender: String,
    pub recipient: String,
    /// Without angle brackets.
    pub message_id: String,
    pub bytes: Vec<u8>,
}

/// Why the server takes no mail at all just now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PauseReason {
    /// No connection, or no greeting in time.
    Connection,
    /// The TLS handshake failed, or STARTTLS is not offered.
    Tls,
    /// The login was refused (a rotated password, a locked account).
    Authentication,
    /// The desk's address may not send through this server (MAIL FROM refused, send-as rights).
    Sender,
    /// The server refused the session itself (554 greeting, EHLO refused).
    Refused,
}

impl PauseReason {
    pub const ALL: [Self; 5] = [Self::Connection, Self::Tls, Self::Authentication, Self::Sender, Self::Refused];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connection => "connection",
            Self::Tls => "tls",
            Self::Authentication => "authentication",
            Self::Sender => "sender",
            Self::Refused => "refused",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MailKind, OutboxState};

    #[test]
    fn every_outbox_state_reads_back_as_itself_and_nothing_else_does() {
        for state in OutboxState::ALL {
            assert_eq!(OutboxState::try_from(state.as_str().to_owned()), Ok(state));
        }
        assert!(OutboxState::try_from("queued".to_owned()).is_err());
    }

    #[test]
    fn every_mail_kind_reads_back_from_the_store_and_from_its_signed_id() {
        for kind in MailKind::ALL {
            assert_eq!(MailKind::from_signed(kind.id_kind()), Some(kind));
            assert_eq!(MailKind::try_from(kind.as_str().to_owned()), Ok(kind));
        }
        assert!(MailKind::try_from("bogus".to_owned()).is_err());
        assert!(MailKind::try_from("fwd".to_owned()).is_err(), "the signed spelling is not the stored one");
    }
}
