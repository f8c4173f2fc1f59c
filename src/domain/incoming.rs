//! A message as a source hands it over: its bytes and where it came from.

use super::MailboxName;

/// Where a message came from, precisely enough to never take it twice.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub mailbox: MailboxName,
    /// Unique within the mailbox: `uidvalidity/uid` for IMAP, the file's unique name for a Maildir.
    pub source_key: String,
    pub imap: Option<ImapPosition>,
    pub raw: Vec<u8>,
    /// True when only a leading part of the message was fetched (it was over the size limit).
    pub truncated: bool,
    /// The message's full size as the source reported it.
    pub size: u64,
    /// It was already in the mailbox when loket first connected: backlog gets no
    /// acknowledgement unless `ack.backlog` asks for one.
    pub backlog: bool,
    /// The mailbox already had it as read (IMAP `\Seen`, Maildir `S`).
    pub seen: bool,
    pub received_at_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImapPosition {
    pub uidvalidity: u32,
    pub uid: u32,
    /// Advance the mailbox cursor in the ingest transaction. False when the source
    /// still has to move or flag the message after the commit: then the cursor follows
    /// that step, so a crash in between means a re-fetch that the duplicate keys absorb,
    /// and the message is still moved.
    pub advance_cursor: bool,
    /// The mailbox lease the message was read under; the cursor write checks it.
    pub lease: Option<i64>,
}
