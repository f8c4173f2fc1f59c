//! How long loket keeps personal data (the `[retention]` section).

use serde::Deserialize;

use super::ConfigError;

/// Days after a ticket is resolved that its data is kept; 0 keeps it for ever.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// The raw mail (with its attachments) and HTML bodies of a resolved ticket.
    #[serde(default = "raw_days")]
    pub raw_days: u32,
    /// A resolved ticket is anonymised: addresses, names, subjects and texts removed.
    #[serde(default = "anonymise_days")]
    pub anonymise_days: u32,
    /// Quarantined messages, counted from when they were quarantined.
    #[serde(default = "quarantine_days")]
    pub quarantine_days: u32,
    /// Hours between two runs of the daemon's own purge.
    #[serde(default = "every_hours")]
    pub every_hours: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            raw_days: raw_days(),
            anonymise_days: anonymise_days(),
            quarantine_days: quarantine_days(),
            every_hours: every_hours(),
        }
    }
}

fn raw_days() -> u32 {
    90
}
fn anonymise_days() -> u32 {
    730
}
fn quarantine_days() -> u32 {
    30
}
fn every_hours() -> u32 {
    24
}

const DAY_MS: i64 = 86_400_000;

impl RetentionConfig {
    /// The cutoffs (milliseconds) at `now`: what was resolved, or quarantined, before them goes.
    pub fn cutoffs(&self, now: i64) -> crate::store::PurgeCutoffs {
        let before = |days: u32| (days > 0).then(|| now - i64::from(days) * DAY_MS);
        crate::store::PurgeCutoffs {
            raw: before(self.raw_days),
            anonymise: before(self.anonymise_days),
            quarantine: before(self.quarantine_days),
        }
    }
}

pub(super) fn check(retention: &RetentionConfig) -> Result<(), ConfigError> {
    if retention.anonymise_days > 0 && retention.raw_days > retention.anonymise_days {
        return Err(ConfigError::invalid(
            "retention.raw_days",
            "must not be longer than retention.anonymise_days (anonymising removes the raw mail too)",
        ));
    }
    if retention.every_hours == 0 {
        return Err(ConfigError::invalid("retention.every_hours", "must be at least 1"));
    }
    Ok(())
}
