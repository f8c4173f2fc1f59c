use serde::Serialize;

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Received and forwarded; no answer yet.
    New,
    /// A department has answered, or the ticket was reopened.
    InProgress,
    Resolved,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::InProgress => "in_progress",
            Self::Resolved => "resolved",
        }
    }

    /// The status as stored by [`Status::as_str`]; anything unknown reads as new.
    pub fn from_stored(value: &str) -> Self {
        match value {
            "in_progress" => Self::InProgress,
            "resolved" => Self::Resolved,
            _ => Self::New,
        }
    }
}
