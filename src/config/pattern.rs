//! A routing rule's regular expression, compiled once when the config is read:
//! case-insensitive, and bounded in size so that no pattern can make matching
//! a mail slow or large.

use std::fmt;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer};

/// The most memory one compiled pattern may take.
const SIZE_LIMIT: usize = 1 << 20;

#[derive(Clone)]
pub struct Pattern(Regex);

impl Pattern {
    pub fn parse(source: &str) -> Result<Self, regex::Error> {
        RegexBuilder::new(source).case_insensitive(true).size_limit(SIZE_LIMIT).build().map(Self)
    }

    pub fn is_match(&self, value: &str) -> bool {
        self.0.is_match(value)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let source = String::deserialize(deserializer)?;
        Self::parse(&source).map_err(|e| serde::de::Error::custom(format!("not a valid regex: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::Pattern;

    #[test]
    fn a_pattern_matches_without_regard_to_case() {
        let pattern = Pattern::parse("^payroll@").expect("valid");
        assert!(pattern.is_match("Payroll@example.org"));
        assert!(!pattern.is_match("it@example.org"));
    }

    #[test]
    fn a_pattern_too_large_to_compile_is_refused() {
        assert!(Pattern::parse("(a|b|c|d|e|f){1000}{1000}").is_err());
        assert!(Pattern::parse("(unclosed").is_err());
    }
}
