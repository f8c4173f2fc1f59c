//! How long each old address has gone without a request from a person, and
//! whether it looks safe to switch off: quiet for at least `[report] quiet_days`.
//! A mailbox that never had one counts from when loket first read it. The desk's
//! own address is never one to switch off.

use crate::domain::MailboxName;
use crate::store::QuietFacts;

use super::MailboxReport;

const DAY_MS: i64 = 86_400_000;

/// Whole days from `since_ms` to `as_of_ms`.
fn days_between(since_ms: i64, as_of_ms: i64) -> i64 {
    (as_of_ms - since_ms).max(0) / DAY_MS
}

/// Sets each mailbox's quiet days as of `as_of_ms`, and marks the ones quiet for
/// at least `threshold` days as safe to switch off.
pub(super) fn mark(mailboxes: &mut [MailboxReport], facts: &QuietFacts, as_of_ms: i64, threshold: u32) {
    let find = |list: &[(MailboxName, i64)], name: &str| list.iter().find(|(m, _)| m == name).map(|(_, at)| *at);
    for mailbox in mailboxes {
        let since = find(&facts.last_request, &mailbox.name)
            .or_else(|| find(&facts.watched_since, &mailbox.name))
            .filter(|at| *at <= as_of_ms);
        mailbox.quiet_days = since.map(|at| days_between(at, as_of_ms));
        // The desk's own address and the web form are the counters that stay.
        mailbox.safe_to_switch_off = !mailbox.desk
            && mailbox.channel == super::Channel::Mail
            && mailbox.quiet_days.is_some_and(|d| d >= i64::from(threshold));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(name: &str) -> MailboxName {
        MailboxName::parse(name).unwrap()
    }

    fn mailbox(name: &str, desk: bool) -> MailboxReport {
        MailboxReport {
            name: name.into(),
            address: format!("{name}@example.org"),
            department: (!desk).then(|| "it".into()),
            desk,
            channel: super::super::Channel::Mail,
            requests: 0,
            automatic: 0,
            rerouted: 0,
            senders: 0,
            last_request_at: None,
            top_senders: Vec::new(),
            weeks: Vec::new(),
            quiet_days: None,
            safe_to_switch_off: false,
        }
    }

    #[test]
    fn an_address_quiet_for_the_threshold_looks_safe_to_switch_off_and_the_desk_never_does() {
        let now = 1_800_000_000_000;
        let facts = QuietFacts {
            last_request: vec![
                (name("it"), now - 30 * DAY_MS),
                (name("hr"), now - 29 * DAY_MS - 1),
                (name("desk"), now - 90 * DAY_MS),
            ],
            watched_since: vec![(name("facility"), now - 45 * DAY_MS), (name("it"), now - 400 * DAY_MS)],
        };
        let mut boxes =
            vec![mailbox("it", false), mailbox("hr", false), mailbox("facility", false), mailbox("new", false)];
        boxes.push(mailbox("desk", true));
        mark(&mut boxes, &facts, now, 30);
        let seen: Vec<(Option<i64>, bool)> = boxes.iter().map(|m| (m.quiet_days, m.safe_to_switch_off)).collect();
        assert_eq!(
            seen,
            [(Some(30), true), (Some(29), false), (Some(45), true), (None, false), (Some(90), false)],
            "it: 30 days; hr: one millisecond short of 30; facility: never a person, watched 45 days; \
             new: never read; the desk: never"
        );
    }
}
