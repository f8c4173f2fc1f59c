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

    pub const ALL: [Self; 3] = [Self::New, Self::InProgress, Self::Resolved];

    /// The status as stored by [`Status::as_str`]; anything unknown reads as new.
    pub fn from_stored(value: &str) -> Self {
        match value {
            "in_progress" => Self::InProgress,
            "resolved" => Self::Resolved,
            _ => Self::New,
        }
    }
}

impl TryFrom<String> for Status {
    type Error = super::InvalidValue;

    fn try_from(stored: String) -> Result<Self, Self::Error> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == stored)
            .ok_or_else(|| super::InvalidValue(format!("`{stored}` is not a ticket status")))
    }
}
