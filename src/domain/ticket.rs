//! A stored ticket as a message that joins it finds it: what the desk needs to
//! decide who wrote the message and what it does.

use super::{Language, Status, TicketRef};

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
    /// Mails the ticket's conversation queued in the last hour.
    pub recent_mails: i64,
    /// The latest messages on the ticket (newest first, at most a handful from the
    /// last ten minutes): sender and text, to recognise a loop.
    pub recent_messages: Vec<(String, String)>,
}
