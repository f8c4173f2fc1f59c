//! Marking sent mails, many at a time: the outbox sends over several sessions
//! at once, marks what the server accepted as soon as it did (the marks of the
//! sessions that finished meanwhile in one transaction), and notes them on the
//! timelines once per round.

use super::{Store, StoreError, events};
use crate::domain::Event;
use crate::store::Due;

/// A mail the server accepted, and when.
#[derive(Debug, Clone, Copy)]
pub struct Sent<'a> {
    pub due: &'a Due,
    pub at: i64,
}

impl Store {
    /// Marks mails sent, then notes them on their tickets' timelines. Only a mail
    /// its claim still holds (its token) is marked: one that another worker
    /// claimed since is that worker's now. A claim that ran out while the store
    /// was away still holds its mails until another worker claims them, since a
    /// claim writes its own token. The states are committed on their own first, so that a timeline that
    /// cannot be written never makes a mail go out again. The composed bytes are
    /// dropped: they hold the tracking link, which the store does not keep once
    /// the mail no longer needs sending. Returns, per mail, whether it was still
    /// its worker's.
    pub async fn mark_all_sent(&self, sent: &[Sent<'_>]) -> Result<Vec<bool>, StoreError> {
        let marked = self.mark_sent(sent).await?;
        let noted: Vec<Sent<'_>> = sent.iter().zip(&marked).filter(|(_, ours)| **ours).map(|(s, _)| *s).collect();
        self.note_sent(&noted).await;
        Ok(marked)
    }

    /// Marks mails sent, in one transaction, and drops their composed bytes. Only
    /// a mail its claim still holds is marked. Returns, per mail, whether it was
    /// still its worker's.
    pub async fn mark_sent(&self, sent: &[Sent<'_>]) -> Result<Vec<bool>, StoreError> {
        if sent.is_empty() {
            return Ok(Vec::new());
        }
        let sql = super::outbox::held(
            self.backend,
            "UPDATE outbox SET state = STATE_SENT, sent_at = $1, attempts = attempts + 1, last_error = NULL,
                lease_owner = NULL, lease_until = NULL, body = $3
             WHERE id = $4 AND lease_owner = $2 AND state = STATE_PENDING",
        );
        let mut marked = Vec::with_capacity(sent.len());
        let mut tx = self.write.begin().await?;
        for Sent { due, at } in sent {
            let done = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(at)
                .bind(&due.lease_owner)
                .bind(Vec::<u8>::new())
                .bind(&due.id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            marked.push(done == 1);
        }
        tx.commit().await?;
        Ok(marked)
    }

    /// Notes marked mails on their tickets' timelines, in one transaction. A
    /// timeline that cannot be written is logged: the mail is sent all the same.
    pub async fn note_sent(&self, sent: &[Sent<'_>]) {
        if sent.is_empty() {
            return;
        }
        let result: Result<(), StoreError> = async {
            let mut tx = self.write.begin().await?;
            for Sent { due, at } in sent.iter().filter(|sent| !sent.due.ticket_id.is_empty()) {
                let event = Event::Sent { mail: due.kind, recipient: due.recipient.clone() };
                events::insert(&mut tx, &due.ticket_id, *at, &event).await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(mails = sent.len(), %error, "the tickets' timelines could not note the mails sent");
        }
    }
}
