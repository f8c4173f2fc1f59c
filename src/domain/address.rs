use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::InvalidValue;

/// An e-mail address as `local@domain`, stored with its domain in lower case.
///
/// Only the forms that can appear on an SMTP envelope are accepted: no spaces,
/// no control characters, no display names, and exactly one `@` outside quotes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, InvalidValue> {
        let trimmed = input.trim();
        let invalid = |why: &str| InvalidValue(format!("`{trimmed}` is not an e-mail address: {why}"));
        if trimmed.is_empty() {
            return Err(InvalidValue("an e-mail address is empty".into()));
        }
        if trimmed.len() > 254 {
            return Err(invalid("longer than 254 characters"));
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>') {
            return Err(invalid("it contains spaces, angle brackets or control characters"));
        }
        let Some((local, domain)) = trimmed.rsplit_once('@') else {
            return Err(invalid("there is no `@`"));
        };
        if local.is_empty() || domain.is_empty() {
            return Err(invalid("the part before or after `@` is empty"));
        }
        if domain.starts_with('.') || domain.ends_with('.') || domain.contains("..") || domain.contains('@') {
            return Err(invalid("the domain is malformed"));
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address compared case-insensitively, as people expect of mail addresses.
    pub fn same_as(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other.trim())
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.0)
    }
}

impl<'de> Deserialize<'de> for EmailAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A person or role as it appears in a header: an optional display name and an address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: String,
}

impl Mailbox {
    /// The display name when there is one, else the address.
    pub fn display(&self) -> &str {
        match &self.name {
            Some(name) if !name.trim().is_empty() => name,
            _ => &self.address,
        }
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) if !name.trim().is_empty() => write!(f, "{name} <{}>", self.address),
            _ => f.write_str(&self.address),
        }
    }
}

/// The domain of an address, lower-cased (empty when there is no `@`).
pub fn domain_of(address: &str) -> String {
    address.rsplit_once('@').map(|(_, d)| d.trim().to_ascii_lowercase()).unwrap_or_default()
}

/// The address as the caps on automatic mail count it: lower case, without a
/// `+tag`, so `victim+1@` and `Victim@` are the same person.
pub fn rate_key(address: &str) -> String {
    let address = address.trim().to_ascii_lowercase();
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split_once('+').map_or(local, |(base, _)| base);
            format!("{local}@{domain}")
        }
        None => address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_address_is_accepted_with_its_domain_lowercased() {
        let address = EmailAddress::parse(" Anna.de.Vries@Example.ORG ").unwrap();
        assert_eq!(address.as_str(), "Anna.de.Vries@example.org");
    }

    #[test]
    fn addresses_with_spaces_brackets_or_no_at_sign_are_refused() {
        for bad in ["", "anna", "anna@", "@example.org", "an na@example.org", "<a@b.c>", "a@b..c", "a@b\r\nBcc: x@y.z"]
        {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
