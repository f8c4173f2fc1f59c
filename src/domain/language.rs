//! The languages loket writes to employees in.

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    En,
    Nl,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Nl => "nl",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Self::En),
            "nl" => Some(Self::Nl),
            _ => None,
        }
    }
}

impl TryFrom<String> for Language {
    type Error = super::InvalidValue;

    fn try_from(stored: String) -> Result<Self, Self::Error> {
        Self::from_code(&stored).ok_or_else(|| super::InvalidValue(format!("`{stored}` is not a language")))
    }
}

/// As written in the config: `en` or `nl`.
impl<'de> Deserialize<'de> for Language {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Self::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("`{code}` is not a language: use `en` or `nl`")))
    }
}
