//! A ticket's timeline: the kinds of event, each with its one spelling in the
//! store; the typed events the desk and the outbox write; and their sentences,
//! written when the timeline is shown.

mod data;
pub mod render;

pub use data::{Event, History, Refusal, Withheld};

use serde::Serialize;

/// What happened on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The message arrived in a mailbox.
    Received,
    /// The department was chosen.
    Routed,
    /// Automatic mail (auto-reply, bounce, list, loop) kept without an answer.
    Automatic,
    /// A mail was queued.
    Queued,
    /// A mail was not sent, with the reason.
    Withheld,
    /// The same message arrived again (another old address, or delivered twice).
    Copy,
    /// A mail loket sent could not be delivered.
    Bounced,
    /// The employee wrote again.
    Followup,
    Reopened,
    /// A department's answer went to the employee.
    Answered,
    Resolved,
    /// Another department took the ticket over.
    Rerouted,
    /// An internal note.
    Note,
    /// Commands that were not carried out.
    Rejected,
    /// A mail that named the ticket without proving who wrote it.
    Unverified,
    /// A mail loop was recognised and stopped.
    Loop,
    /// What was believed of a sender, and what not.
    Trust,
    /// A message joined the ticket (for tools that only store).
    Message,
    /// A queued mail went out.
    Sent,
    /// A queued mail was given up.
    Failed,
    /// A given-up mail was put back in the queue.
    Requeued,
    /// Backlog kept as history: already dealt with before loket came.
    History,
    /// The ticket's tracking link was revoked.
    LinkRevoked,
}

impl EventKind {
    pub const ALL: [Self; 23] = [
        Self::Received,
        Self::Routed,
        Self::Automatic,
        Self::Queued,
        Self::Withheld,
        Self::Copy,
        Self::Bounced,
        Self::Followup,
        Self::Reopened,
        Self::Answered,
        Self::Resolved,
        Self::Rerouted,
        Self::Note,
        Self::Rejected,
        Self::Unverified,
        Self::Loop,
        Self::Trust,
        Self::Message,
        Self::Sent,
        Self::Failed,
        Self::Requeued,
        Self::History,
        Self::LinkRevoked,
    ];

    /// The spelling in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Routed => "routed",
            Self::Automatic => "automatic",
            Self::Queued => "queued",
            Self::Withheld => "withheld",
            Self::Copy => "copy",
            Self::Bounced => "bounced",
            Self::Followup => "followup",
            Self::Reopened => "reopened",
            Self::Answered => "answered",
            Self::Resolved => "resolved",
            Self::Rerouted => "rerouted",
            Self::Note => "note",
            Self::Rejected => "rejected",
            Self::Unverified => "unverified",
            Self::Loop => "loop",
            Self::Trust => "trust",
            Self::Message => "message",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Requeued => "requeued",
            Self::History => "history",
            Self::LinkRevoked => "link_revoked",
        }
    }

    pub fn from_stored(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == kind)
    }
}

spelt_once!(EventKind, "a timeline event");

/// At most this many characters of a mail's text are kept for the status page.
pub const PUBLIC_TEXT_CHARS: usize = 20_000;

/// One entry for a ticket's timeline: the event, and what the status page may
/// show with it (text the employee wrote or received, or a department id);
/// `None` for entries the page shows by their kind alone, or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub event: Event,
    pub public: Option<String>,
}

impl Entry {
    pub fn new(event: Event) -> Self {
        Self { event, public: None }
    }

    /// What the status page may show, cut to [`PUBLIC_TEXT_CHARS`] (and marked
    /// so): the page shows a mail's text, not the mail, which stays whole in
    /// the store.
    pub fn public(mut self, text: impl Into<String>) -> Self {
        let mut text = text.into();
        let kept = crate::domain::prefix(&text, PUBLIC_TEXT_CHARS).len();
        if kept < text.len() {
            text.truncate(kept);
            text.push_str(" […]");
        }
        self.public = Some(text);
        self
    }

    pub fn kind(&self) -> EventKind {
        self.event.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn the_text_a_status_page_may_show_is_cut_and_marked() {
        let long = "é".repeat(super::PUBLIC_TEXT_CHARS + 5);
        let entry = super::Entry::new(super::Event::Reopened { by: None }).public(long.as_str());
        let shown = entry.public.unwrap();
        assert_eq!(shown.chars().count(), super::PUBLIC_TEXT_CHARS + " […]".chars().count());
        assert!(shown.ends_with(" […]"));
        let short = super::Entry::new(super::Event::Reopened { by: None }).public("Thanks, it works.");
        assert_eq!(short.public.as_deref(), Some("Thanks, it works."));
    }

    #[test]
    fn every_kind_reads_back_as_itself() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_stored(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::from_stored("nonsense"), None);
    }
}
