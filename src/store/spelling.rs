//! The one spelling in the store of the system's vocabulary. SQL in the store
//! names a state, kind or role by a token (`STATE_PENDING`, `EVENT_REROUTED`,
//! `MAIL_ACK`, `ROLE_STAFF`, `STATUS_RESOLVED`), and [`spelled`] writes it as the quoted literal the type gives
//! (`'pending'`), so that no spelling is written twice.

use std::sync::LazyLock;

use crate::domain::{Doubt, EventKind, MailKind, OutboxState, Role, Status};

/// Every token and the literal it stands for, longer tokens first, so that no
/// token is cut short by another it begins with. Made once.
static TOKENS: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    let states = OutboxState::ALL.into_iter().map(|s| ("STATE_", s.as_str()));
    let events = EventKind::ALL.into_iter().map(|k| ("EVENT_", k.as_str()));
    let mails = MailKind::ALL.into_iter().map(|k| ("MAIL_", k.as_str()));
    let roles =
        [Role::Requester, Role::Staff, Role::Unverified(Doubt::Forged)].into_iter().map(|r| ("ROLE_", r.as_str()));
    let statuses = [Status::New, Status::InProgress, Status::Resolved].into_iter().map(|s| ("STATUS_", s.as_str()));
    let mut tokens: Vec<(String, String)> = states
        .chain(events)
        .chain(mails)
        .chain(roles)
        .chain(statuses)
        .map(|(prefix, word)| (format!("{prefix}{}", word.to_uppercase()), quoted(word)))
        .collect();
    tokens.sort_by_key(|(token, _)| std::cmp::Reverse(token.len()));
    tokens
});

/// `sql` with every vocabulary token replaced by its quoted spelling.
pub(super) fn spelled(sql: &str) -> String {
    TOKENS.iter().fold(sql.to_owned(), |sql, (token, literal)| {
        if sql.contains(token.as_str()) { sql.replace(token.as_str(), literal) } else { sql }
    })
}

/// A spelling as an SQL literal.
fn quoted(word: &str) -> String {
    format!("'{word}'")
}

#[cfg(test)]
mod tests {
    use super::spelled;

    #[test]
    fn every_token_becomes_its_quoted_spelling_and_the_rest_stays() {
        assert_eq!(
            spelled("UPDATE outbox SET state = STATE_SENT WHERE kind = MAIL_ACK AND state = STATE_PENDING"),
            "UPDATE outbox SET state = 'sent' WHERE kind = 'ack' AND state = 'pending'"
        );
        assert_eq!(
            spelled("SELECT 1 FROM events WHERE kind = EVENT_LINK_REVOKED"),
            "SELECT 1 FROM events WHERE kind = 'link_revoked'"
        );
        assert_eq!(spelled("INSERT INTO x VALUES ('PENDING')"), "INSERT INTO x VALUES ('PENDING')");
    }
}
