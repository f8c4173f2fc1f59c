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
    pub const ALL: [Self; 4] = [Self::Mailbox, Self::DeskDefault, Self::Rule, Self::Model];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mailbox => "mailbox",
            Self::DeskDefault => "desk_default",
            Self::Rule => "rule",
            Self::Model => "model",
        }
    }
}

spelt_once!(DecidedBy, "who chose a department");

#[cfg(test)]
mod tests {
    use super::DecidedBy;

    #[test]
    fn who_chose_reads_back_from_its_stored_spelling_and_nothing_else_does() {
        for chooser in DecidedBy::ALL {
            assert_eq!(DecidedBy::try_from(chooser.as_str().to_owned()), Ok(chooser));
        }
        assert!(DecidedBy::try_from("classifier".to_owned()).is_err());
        assert!(DecidedBy::try_from(String::new()).is_err(), "an empty value is not the mailbox");
    }
}
