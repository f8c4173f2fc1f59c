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

impl TryFrom<String> for Status {
    type Error = super::InvalidValue;

    fn try_from(stored: String) -> Result<Self, Self::Error> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == stored)
            .ok_or_else(|| super::InvalidValue(format!("`{stored}` is not a ticket status")))
    }
}

/// The store's spelling, as the command line shows it.
impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

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
