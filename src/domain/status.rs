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
}

spelt_once!(Status, "a ticket status");

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn every_status_reads_back_from_its_stored_spelling_and_nothing_else_does() {
        for status in Status::ALL {
            assert_eq!(Status::try_from(status.as_str().to_owned()), Ok(status));
        }
        assert!(Status::try_from("closed".to_owned()).is_err(), "an unknown status is not read as new");
    }
}
