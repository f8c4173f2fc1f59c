//! `[form]`: the web form at `/new` on the employees' listener, the counter for
//! people who do not mail.

use serde::Deserialize;

use super::{Config, ConfigError};

/// The name under which requests from the form are stored and reported, in the
/// place of a mailbox's name.
pub const FORM_CHANNEL: &str = "web-form";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormConfig {
    /// Serve the form at `/new`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The confirmation link mailed to the requester works this many hours.
    #[serde(default = "link_hours")]
    pub link_hours: u32,
    /// An attachment larger than this is refused. Unset: 5 MiB, or half of
    /// `ingest.max_message_bytes` when that is less (see [`Config::form_attachment_limit`]).
    #[serde(default)]
    pub max_attachment_bytes: Option<usize>,
    /// Requests one address may send in an hour.
    #[serde(default = "max_per_address_per_hour")]
    pub max_per_address_per_hour: u32,
    /// Requests one client (IP address) may send in an hour.
    #[serde(default = "max_per_client_per_hour")]
    pub max_per_client_per_hour: u32,
    /// Mail domains accepted besides the organisation's own (`desk.internal_domains`).
    #[serde(default)]
    pub extra_domains: Vec<String>,
    /// Accept every address, whatever its domain.
    #[serde(default)]
    pub any_domain: bool,
}

impl Default for FormConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            link_hours: link_hours(),
            max_attachment_bytes: None,
            max_per_address_per_hour: max_per_address_per_hour(),
            max_per_client_per_hour: max_per_client_per_hour(),
            extra_domains: Vec::new(),
            any_domain: false,
        }
    }
}

impl FormConfig {
    pub fn link_lifetime_ms(&self) -> i64 {
        i64::from(self.link_hours) * 3_600_000
    }
}

impl Config {
    /// The largest attachment the form takes: as configured, or by default 5 MiB
    /// or half of `ingest.max_message_bytes`, whichever is less (the request is
    /// stored as a mail, and must stay within the mail limit).
    pub fn form_attachment_limit(&self) -> usize {
        self.form.max_attachment_bytes.unwrap_or_else(|| {
            let half = usize::try_from(self.ingest.max_message_bytes / 2).unwrap_or(usize::MAX);
            max_attachment_bytes().min(half)
        })
    }

    /// The request body the form's listener takes: the attachment and room for the text fields.
    pub fn form_max_body_bytes(&self) -> usize {
        self.form_attachment_limit().saturating_add(64 * 1024)
    }

    /// Whether the form takes requests from `address`.
    pub fn form_accepts(&self, address: &str) -> bool {
        if self.form.any_domain {
            return true;
        }
        self.desk.domains().contains(address)
            || crate::inbound::trust::Domains::new(&self.form.extra_domains).contains(address)
    }
}

fn yes() -> bool {
    true
}
fn link_hours() -> u32 {
    24
}
fn max_attachment_bytes() -> usize {
    5 * 1024 * 1024
}
fn max_per_address_per_hour() -> u32 {
    3
}
fn max_per_client_per_hour() -> u32 {
    10
}

pub(super) fn check(config: &Config) -> Result<(), ConfigError> {
    let form = &config.form;
    if form.link_hours == 0 {
        return Err(ConfigError::invalid("form.link_hours", "must be at least 1"));
    }
    for (key, value) in [
        ("form.max_per_address_per_hour", form.max_per_address_per_hour),
        ("form.max_per_client_per_hour", form.max_per_client_per_hour),
    ] {
        if value == 0 {
            return Err(ConfigError::invalid(key, "must be at least 1 (set form.enabled = false to close the form)"));
        }
    }
    let limit = config.ingest.max_message_bytes;
    if let Some(explicit) = form.max_attachment_bytes
        && u64::try_from(explicit).map_or(true, |bytes| bytes.saturating_mul(2) > limit)
    {
        return Err(ConfigError::invalid(
            "form.max_attachment_bytes",
            format!("must be at most half of ingest.max_message_bytes ({limit}): the request is stored as a mail"),
        ));
    }
    for (index, domain) in form.extra_domains.iter().enumerate() {
        let bare = domain.trim().trim_start_matches('@');
        if bare.is_empty() || bare.contains(['@', ' ']) || !bare.contains('.') {
            return Err(ConfigError::invalid(
                format!("form.extra_domains[{index}]"),
                format!("`{domain}` is not a mail domain"),
            ));
        }
    }
    if let Some(index) = config.mailboxes.iter().position(|m| m.name.as_str() == FORM_CHANNEL) {
        return Err(ConfigError::invalid(
            format!("mailboxes[{index}].name"),
            format!("`{FORM_CHANNEL}` is the web form's name in the store and the report"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::load_str;

    fn config(form: &str) -> Result<super::super::Config, String> {
        load_str(&format!(
            "[desk]\nname = \"D\"\naddress = \"d@example.org\"\nbase_url = \"https://d.example.org\"\n\
             internal_domains = [\"example.org\", \"staff.example.org\"]\n[form]\n{form}\n\
             [[departments]]\nid = \"it\"\nname = \"IT\"\nqueue_address = \"q@example.org\"\n"
        ))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn the_form_takes_the_organisations_domains_and_the_extra_ones_only() {
        let partner = config("extra_domains = [\"@partner.example.com\"]").unwrap();
        assert!(partner.form_accepts("anna@example.org"));
        assert!(partner.form_accepts("Bob@Staff.Example.org"));
        assert!(partner.form_accepts("eve@partner.example.com"));
        assert!(!partner.form_accepts("mallory@elsewhere.example.net"));
        assert!(config("any_domain = true").unwrap().form_accepts("mallory@elsewhere.example.net"));
    }

    #[test]
    fn wrong_form_settings_are_refused_with_their_keys() {
        for (line, key) in [
            ("link_hours = 0", "form.link_hours"),
            ("max_per_client_per_hour = 0", "form.max_per_client_per_hour"),
            ("max_attachment_bytes = 999999999999", "form.max_attachment_bytes"),
            ("extra_domains = [\"nodot\"]", "form.extra_domains[0]"),
        ] {
            let error = config(line).unwrap_err();
            assert!(error.contains(key), "{line}: {error}");
        }
    }
}
