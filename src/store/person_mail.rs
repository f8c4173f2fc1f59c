//! A person's mail as bytes: the original messages, the mails sent to them and
//! their quarantined mail, for `loket export --dir` and for `loket forget`.
//!
//! Quarantined mail may not parse, so it is the person's when its header block
//! names the address (From, To, Cc, Reply-To, a Received `for`), compared
//! without case and only as a whole address.

use super::{Store, StoreError};

/// One original message, named for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonMail {
    /// `messages`, `sent` or `quarantine`.
    pub folder: &'static str,
    /// A file name without its `.eml`.
    pub name: String,
    pub raw: Vec<u8>,
}

impl Store {
    /// The ids of quarantined mail whose header names `address`.
    pub async fn quarantine_of(&self, address: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.quarantined_mail(address).await?.into_iter().map(|m| m.name).collect())
    }

    async fn quarantined_mail(&self, address: &str) -> Result<Vec<PersonMail>, StoreError> {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT id, raw FROM quarantine ORDER BY at, id").fetch_all(&self.read).await?;
        let address = address.to_lowercase();
        Ok(rows
            .into_iter()
            .filter(|(_, raw)| names(header_block(raw), &address))
            .map(|(id, raw)| PersonMail { folder: "quarantine", name: id, raw })
            .collect())
    }

    /// Every original message of `address`: the raw mail of their tickets and
    /// their messages on others', the mails sent to them, and their quarantined mail.
    pub async fn person_mail(&self, address: &str) -> Result<Vec<PersonMail>, StoreError> {
        let lower = address.to_lowercase();
        let messages: Vec<(String, Vec<u8>)> = sqlx::query_as(
            "SELECT id, raw FROM messages
             WHERE LOWER(from_address) = $1
                OR ticket_id IN (SELECT id FROM tickets WHERE LOWER(requester_address) = $1)
             ORDER BY received_at, id",
        )
        .bind(&lower)
        .fetch_all(&self.read)
        .await?;
        let sent: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT id, body FROM outbox WHERE LOWER(recipient) = $1 ORDER BY created_at, id")
                .bind(&lower)
                .fetch_all(&self.read)
                .await?;
        let numbered = |folder: &'static str, rows: Vec<(String, Vec<u8>)>| {
            rows.into_iter().filter(|(_, raw)| !raw.is_empty()).enumerate().map(move |(n, (id, raw))| PersonMail {
                folder,
                name: format!("{:04}-{id}", n + 1),
                raw,
            })
        };
        let mut mail: Vec<PersonMail> = numbered("messages", messages).chain(numbered("sent", sent)).collect();
        mail.extend(self.quarantined_mail(&lower).await?);
        Ok(mail)
    }
}

/// The header block of a raw message (all of it when no blank line ends it).
fn header_block(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .unwrap_or(raw.len());
    &raw[..end]
}

/// True when `text` holds `address` (lower case) as a whole address, not as a
/// part of a longer one.
fn names(text: &[u8], address: &str) -> bool {
    let text = text.to_ascii_lowercase();
    let needle = address.as_bytes();
    if needle.is_empty() {
        return false;
    }
    let part_of_address = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
    text.windows(needle.len()).enumerate().any(|(at, window)| {
        window == needle
            && (at == 0 || !part_of_address(text[at - 1]))
            && text.get(at + needle.len()).is_none_or(|&b| {
                !(b.is_ascii_alphanumeric()
                    || b == b'-'
                    || b == b'.' && text.get(at + needle.len() + 1).is_some_and(|c| c.is_ascii_alphanumeric()))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_found_in_a_header_only_whole() {
        let raw = b"From: Anna <Anna@Example.org>\r\nSubject: x\r\n\r\nbob@example.org in the body";
        assert!(names(header_block(raw), "anna@example.org"));
        assert!(!names(header_block(raw), "bob@example.org"), "the body does not count");
        assert!(!names(b"To: hanna@example.org", "anna@example.org"));
        assert!(!names(b"To: anna@example.org.evil", "anna@example.org"));
        assert!(names(b"To: anna@example.org.\r\n", "anna@example.org"));
    }
}
