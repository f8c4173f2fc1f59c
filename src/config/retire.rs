//! Retiring an old address: the nudge towards the desk's address, the day after
//! which the old one is closed, and what its mail gets then (keys on a
//! `[[mailboxes]]` entry), and the `[report]` threshold that says when an old
//! address looks safe to switch off.

use chrono::NaiveDate;
use serde::Deserialize;

use super::{ConfigError, MailboxConfig};

/// What mail to a closed old address gets, after `retire_after`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RetireMode {
    /// Handled as before; the acknowledgement says the address has closed and
    /// which one to use.
    #[default]
    Notice,
    /// The ticket is made and forwarded as before, but the employee gets only a
    /// short notice that the address has closed, instead of the acknowledgement.
    Redirect,
}

impl<'de> Deserialize<'de> for RetireMode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        match text.as_str() {
            "notice" => Ok(Self::Notice),
            "redirect" => Ok(Self::Redirect),
            other => Err(serde::de::Error::custom(format!("`{other}` is neither `notice` nor `redirect`"))),
        }
    }
}

/// A mailbox's closing day and mode, checked at load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retirement {
    /// The last day the address is served as before; it is closed from the next day on.
    pub after: NaiveDate,
    pub mode: RetireMode,
}

/// The `[report]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// Days without a request from a person after which an old address looks safe to switch off.
    #[serde(default = "quiet_days")]
    pub quiet_days: u32,
}

impl Default for ReportConfig {
    fn default() -> Self {
        Self { quiet_days: quiet_days() }
    }
}

fn quiet_days() -> u32 {
    30
}

pub(super) fn check_report(report: &ReportConfig) -> Result<(), ConfigError> {
    if report.quiet_days == 0 {
        return Err(ConfigError::invalid("report.quiet_days", "must be at least 1"));
    }
    Ok(())
}

/// Parses `retire_after` and refuses the retirement keys on the desk's own inbox.
pub(super) fn check_mailbox(key: &str, mailbox: &mut MailboxConfig) -> Result<(), ConfigError> {
    let desk_inbox = mailbox.department.is_none();
    let public = mailbox.address.is_some() || mailbox.username.as_deref().is_some_and(|u| u.contains('@'));
    if !desk_inbox && (mailbox.nudge || mailbox.retire_after.is_some()) && !public {
        return Err(ConfigError::invalid(
            format!("{key}.address"),
            "a mailbox that nudges or retires names its old address to people: set `address` \
             (its username is not an e-mail address)",
        ));
    }
    if desk_inbox && mailbox.nudge {
        return Err(ConfigError::invalid(
            format!("{key}.nudge"),
            "the desk's own inbox (no department) has no old address to nudge away from",
        ));
    }
    let Some(text) = mailbox.retire_after.as_deref() else {
        if mailbox.retire_mode.is_some() {
            return Err(ConfigError::invalid(
                format!("{key}.retire_mode"),
                "needs `retire_after`, the day the address closes",
            ));
        }
        return Ok(());
    };
    if desk_inbox {
        return Err(ConfigError::invalid(
            format!("{key}.retire_after"),
            "the desk's own inbox (no department) cannot be retired",
        ));
    }
    let after = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        ConfigError::invalid(format!("{key}.retire_after"), format!("`{text}` is not a day like 2026-12-31"))
    })?;
    mailbox.retirement = Some(Retirement { after, mode: mailbox.retire_mode.unwrap_or_default() });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::load_str;
    use super::*;

    use super::super::TEST_BASE as BASE;

    fn mailbox(department: &str, keys: &str) -> String {
        let address = if department.is_empty() { "" } else { "address = \"old@example.org\"\n" };
        format!("{BASE}[[mailboxes]]\nname = \"old\"\n{department}{address}maildir = \"/tmp/x\"\n{keys}\n")
    }

    #[test]
    fn a_closing_day_and_mode_are_read_from_the_mailbox() {
        let config = load_str(&mailbox(
            "department = \"it\"\n",
            "nudge = true\nretire_after = \"2027-03-31\"\nretire_mode = \"redirect\"",
        ))
        .unwrap();
        let old = &config.mailboxes[0];
        assert!(old.nudge);
        let after = NaiveDate::from_ymd_opt(2027, 3, 31).unwrap();
        assert_eq!(old.retirement, Some(Retirement { after, mode: RetireMode::Redirect }));
        let config = load_str(&mailbox("department = \"it\"\n", "retire_after = \"2027-03-31\"")).unwrap();
        assert_eq!(config.mailboxes[0].retirement.map(|r| r.mode), Some(RetireMode::Notice), "notice is the default");
        assert_eq!(config.report.quiet_days, 30);
    }

    #[test]
    fn a_wrong_day_or_mode_is_refused_with_its_key() {
        let error = |keys: &str| load_str(&mailbox("department = \"it\"\n", keys)).unwrap_err().to_string();
        let wrong_day = error("retire_after = \"31-03-2027\"");
        assert!(wrong_day.contains("mailboxes[0].retire_after") && wrong_day.contains("31-03-2027"), "{wrong_day}");
        let no_day = error("retire_after = \"2027-02-30\"");
        assert!(no_day.contains("mailboxes[0].retire_after"), "{no_day}");
        let wrong_mode = error("retire_after = \"2027-03-31\"\nretire_mode = \"bounce\"");
        assert!(wrong_mode.contains("retire_mode") && wrong_mode.contains("redirect"), "{wrong_mode}");
        let mode_alone = error("retire_mode = \"redirect\"");
        assert!(mode_alone.contains("mailboxes[0].retire_mode"), "{mode_alone}");
        let nameless =
            format!("{BASE}[[mailboxes]]\nname = \"old\"\ndepartment = \"it\"\nmaildir = \"/tmp/x\"\nnudge = true\n");
        let nameless = load_str(&nameless).unwrap_err().to_string();
        assert!(nameless.contains("mailboxes[0].address"), "a nudge needs the address people know: {nameless}");
        let quiet = load_str(&format!("{BASE}[report]\nquiet_days = 0\n")).unwrap_err().to_string();
        assert!(quiet.contains("report.quiet_days"), "{quiet}");
    }

    #[test]
    fn the_desks_own_inbox_cannot_be_nudged_or_retired() {
        let error = |keys: &str| load_str(&mailbox("", keys)).unwrap_err().to_string();
        assert!(error("nudge = true").contains("mailboxes[0].nudge"));
        assert!(error("retire_after = \"2027-03-31\"").contains("mailboxes[0].retire_after"));
    }
}
