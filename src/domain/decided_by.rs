//! Who or what chose a ticket's department, with its one spelling in the store.

use serde::Serialize;

/// Who or what chose the department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// The old mailbox's own department (the model was unsure or agreed too weakly).
    Mailbox,
    /// The desk's inbox has no department of its own; the desk's default took it.
    DeskDefault,
    /// One of the operator's rules.
    Rule,
    /// The model, confident enough.
    Model,
}

impl DecidedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mailbox => "mailbox",
            Self::DeskDefault => "desk_default",
            Self::Rule => "rule",
            Self::Model => "model",
        }
    }

    pub fn from_stored(value: &str) -> Self {
        match value {
            "desk_default" => Self::DeskDefault,
            "rule" => Self::Rule,
            "model" => Self::Model,
            _ => Self::Mailbox,
        }
    }
}
