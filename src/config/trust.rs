//! The settings of what loket believes and how much automatic mail it sends.

use serde::Deserialize;

use super::{Config, ConfigError};

/// Which mail server's word loket takes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// The authserv-id in the `Authentication-Results` headers of the
    /// organisation's own receiving mail server (RFC 8601). When set, a
    /// department's answer must pass DMARC, and mail in the organisation's own
    /// domains that fails DMARC is treated as a spoof. Headers with any other id
    /// are ignored.
    pub authserv_id: Option<String>,
}

/// Limits on the mail that a ticket's conversation sends.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationConfig {
    /// Updates, relayed answers and notices one ticket may send in an hour.
    #[serde(default = "max_mails_per_ticket_per_hour")]
    pub max_mails_per_ticket_per_hour: u32,
    /// A sender whose mail on a ticket repeats the same text this many times
    /// within ten minutes is a loop: the mail is kept, nothing is sent.
    #[serde(default = "loop_repeats")]
    pub loop_repeats: u32,
}

impl Default for ConversationConfig {
    fn default() -> Self {
        Self { max_mails_per_ticket_per_hour: max_mails_per_ticket_per_hour(), loop_repeats: loop_repeats() }
    }
}

fn max_mails_per_ticket_per_hour() -> u32 {
    20
}

fn loop_repeats() -> u32 {
    3
}

pub(super) fn check(config: &Config) -> Result<(), ConfigError> {
    for (index, domain) in config.desk.internal_domains.iter().enumerate() {
        let bare = domain.trim().trim_start_matches('@');
        if bare.is_empty() || bare.contains(['@', ' ']) || !bare.contains('.') {
            return Err(ConfigError::invalid(
                format!("desk.internal_domains[{index}]"),
                format!("`{domain}` is not a mail domain"),
            ));
        }
    }
    for (index, department) in config.departments.iter().enumerate() {
        for (s, member) in department.staff.iter().enumerate() {
            let valid = match member.strip_prefix('@') {
                Some(domain) => domain.contains('.') && !domain.contains(['@', ' ']),
                None => crate::domain::EmailAddress::parse(member).is_ok(),
            };
            if !valid {
                return Err(ConfigError::invalid(
                    format!("departments[{index}].staff[{s}]"),
                    format!("`{member}` is neither an e-mail address nor `@domain`"),
                ));
            }
        }
    }
    if config.trust.authserv_id.as_deref().is_some_and(|id| id.trim().is_empty() || id.contains([';', ' '])) {
        return Err(ConfigError::invalid("trust.authserv_id", "must be the server's authserv-id, one word"));
    }
    if config.conversation.loop_repeats < 2 {
        return Err(ConfigError::invalid("conversation.loop_repeats", "must be at least 2"));
    }
    Ok(())
}
