use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::InvalidValue;

fn is_identifier(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && value.starts_with(|c: char| c.is_ascii_lowercase())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(input: &str) -> Result<Self, InvalidValue> {
                if is_identifier(input) {
                    Ok(Self(input.to_owned()))
                } else {
                    Err(InvalidValue(format!(
                        "`{input}` is not a valid {}: use 1 to 64 lower-case letters, digits, `-` or `_`, starting with a letter",
                        $what
                    )))
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidValue;

            fn try_from(stored: String) -> Result<Self, Self::Error> {
                Self::parse(&stored)
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

identifier!(
    /// The short id of a department (`it`, `hr`, `facility`), as used in the config and on tickets.
    DepartmentId,
    "department id"
);
identifier!(
    /// The configured name of a watched mailbox (`it-old`), the key of its ingest state.
    MailboxName,
    "mailbox name"
);

/// The reference people see and quote: the desk's prefix, a dash and a number (`SD-01042`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TicketRef(String);

impl TicketRef {
    pub fn new(prefix: &str, number: i64) -> Self {
        Self(format!("{prefix}-{number:05}"))
    }

    /// Accepts `SD-1042` in any letter case; the number keeps its digits.
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let trimmed = input.trim();
        let invalid = || InvalidValue(format!("`{trimmed}` is not a ticket reference like SD-01042"));
        let (prefix, number) = trimmed.rsplit_once('-').ok_or_else(invalid)?;
        let prefix_ok = !prefix.is_empty() && prefix.len() <= 16 && prefix.chars().all(|c| c.is_ascii_alphanumeric());
        let number_ok = !number.is_empty() && number.len() <= 18 && number.chars().all(|c| c.is_ascii_digit());
        if prefix_ok && number_ok {
            Ok(Self(format!("{}-{number}", prefix.to_ascii_uppercase())))
        } else {
            Err(invalid())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TicketRef {
    type Error = InvalidValue;

    fn try_from(stored: String) -> Result<Self, Self::Error> {
        Self::parse(&stored)
    }
}

impl fmt::Display for TicketRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn department_ids_are_short_lower_case_words() {
        assert!(DepartmentId::parse("facility").is_ok());
        assert!(DepartmentId::parse("it-2").is_ok());
        for bad in ["", "IT", "2it", "it dept", "it;drop"] {
            assert!(DepartmentId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn ticket_references_are_padded_and_parsed_case_insensitively() {
        assert_eq!(TicketRef::new("SD", 42).as_str(), "SD-00042");
        assert_eq!(TicketRef::parse("sd-00042").unwrap().as_str(), "SD-00042");
        for bad in ["SD", "SD-", "-12", "SD-12a", "S D-12"] {
            assert!(TicketRef::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
