//! New requests: the desk answers them before the group's write transaction opens,
//! on what the store holds at that moment (the copies already stored, the
//! acknowledgements their requesters already had) and with references taken for
//! them; the transaction reads the same again and keeps those answers when
//! nothing changed, or asks the desk again when something did. Composing mail is
//! most of a new request's cost, and this way it does not hold the writer that
//! the other mailboxes and the outbox wait for.

use std::collections::{HashMap, HashSet};

use super::candidate::{Candidate, IngestOutcome};
use crate::desk::{self, Opened, RecentAcks, Responder};
use crate::domain::{Entry, MailKind, Outgoing, Status, TicketRef, rate_key};
use crate::inbound::guard::{AutoKind, Verdict};
use crate::store::{AckCounts, CopyKey, IngestTx, NewAttachment, NewTicket, Store, StoreError};

/// How far back the caps on acknowledgements count.
const HOUR_MS: i64 = 3_600_000;

/// A new request answered by the desk: the mails it sends, its timeline and the
/// status it opens with.
pub(super) struct Answer {
    mails: Vec<Outgoing>,
    entries: Vec<Entry>,
    status: Option<Status>,
}

/// The answers prepared before the transaction, and what they were based on.
pub(super) struct Prepared {
    /// The candidates answered, by index, in order.
    order: Vec<usize>,
    references: Vec<TicketRef>,
    counts: AckCounts,
    answers: Vec<Answer>,
}

/// Answers the messages that look like new requests (no ticket named, not a
/// delivery report, no stored copy, the first of their copies in the group).
pub(super) async fn prepare(
    store: &Store,
    candidates: &[Candidate<'_>],
    prefix: &str,
    desk: &dyn Responder,
    now: i64,
) -> Result<Prepared, StoreError> {
    let keys: Vec<CopyKey> = candidates.iter().filter_map(Candidate::copy_key).collect();
    let stored = store.copies(&keys).await?;
    let mut seen: HashSet<CopyKey> = HashSet::new();
    let likely: Vec<&Candidate<'_>> = candidates
        .iter()
        .filter(|c| c.hint.is_none() && !matches!(c.verdict, Verdict::Automatic { kind: AutoKind::Bounce, .. }))
        .filter(|c| c.copy_key().is_none_or(|key| !stored.contains_key(&key) && seen.insert(key)))
        .collect();
    let (recipients, outside) = asked(&likely, desk);
    let counts = store.ack_counts(&recipients, outside, now - HOUR_MS).await?;
    let references = store.reserve_references(prefix, likely.len()).await?;
    let answers = answer(&likely, &references, &counts, desk, now);
    Ok(Prepared { order: likely.iter().map(|c| c.index).collect(), references, counts, answers })
}

/// The rate keys of the requesters, and whether any of them is outside the organisation.
fn asked(new: &[&Candidate<'_>], desk: &dyn Responder) -> (Vec<String>, bool) {
    let addresses = new.iter().map(|c| &c.message.requester().address);
    let outside = addresses.clone().any(|a| !desk.is_internal(a));
    (addresses.map(|a| rate_key(a)).collect(), outside)
}

/// The desk's answer to each new request in order, counting the acknowledgements
/// each one's requester had before the group and the ones the group queues itself.
fn answer(
    new: &[&Candidate<'_>],
    references: &[TicketRef],
    counts: &AckCounts,
    desk: &dyn Responder,
    now: i64,
) -> Vec<Answer> {
    let mut recipients: HashMap<String, i64> = counts.recipients.clone();
    let mut domains: HashMap<String, i64> = counts.domains.clone().unwrap_or_default();
    new.iter()
        .zip(references)
        .map(|(c, reference)| {
            let address = &c.message.requester().address;
            let mut recent = RecentAcks {
                recipient: recipients.get(&rate_key(address)).copied().unwrap_or(0),
                ..Default::default()
            };
            if !desk.is_internal(address) {
                recent.domain = domains.get(&crate::domain::domain_of(address)).copied().unwrap_or(0);
                recent.outside =
                    domains.iter().filter(|(d, _)| !desk.is_internal(&format!("postmaster@{d}"))).map(|(_, n)| n).sum();
            }
            let opened = Opened {
                reference,
                incoming: c.incoming,
                message: c.message,
                verdict: c.verdict,
                decision: c.decision,
                language: c.language,
                trust: c.trust,
                recent,
                today: crate::clock::local_day(now),
            };
            let response = desk.respond(&opened);
            for mail in response.mails.iter().filter(|m| m.kind == MailKind::Ack) {
                *recipients.entry(rate_key(&mail.recipient)).or_default() += 1;
                *domains.entry(crate::domain::domain_of(&mail.recipient)).or_default() += 1;
            }
            let entries = desk::opening_entries(&opened, &response);
            Answer { entries, status: response.status, mails: response.mails }
        })
        .collect()
}

/// Opens the group's new tickets: the prepared answers when the requests and the
/// counts they were answered on are still the same, else the desk asked again.
pub(super) async fn open_tickets(
    tx: &mut IngestTx,
    new: &[&Candidate<'_>],
    prepared: Prepared,
    prefix: &str,
    desk: &dyn Responder,
    outcomes: &mut [IngestOutcome],
    now: i64,
) -> Result<(), StoreError> {
    let (recipients, outside) = asked(new, desk);
    let counts = tx.ack_counts(&recipients, outside, now - HOUR_MS).await?;
    let same_requests = prepared.order.iter().copied().eq(new.iter().map(|c| c.index));
    let references = if same_requests { prepared.references } else { tx.next_references(prefix, new.len()).await? };
    let answers = if same_requests && prepared.counts == counts {
        prepared.answers
    } else {
        tracing::debug!(tickets = new.len(), "the store changed while the group was prepared; answering again");
        answer(new, &references, &counts, desk, now)
    };
    let tickets: Vec<NewTicket<'_>> = new
        .iter()
        .zip(&references)
        .zip(&answers)
        .map(|((c, reference), answer)| c.ticket(reference, answer.status.unwrap_or(Status::New)))
        .collect();
    tx.insert_tickets(&tickets, now).await?;
    let attachments: Vec<NewAttachment<'_>> = new
        .iter()
        .flat_map(|c| {
            c.message.attachments.iter().enumerate().map(|(position, a)| NewAttachment {
                message_row: &c.message_row,
                position,
                filename: a.name.as_deref(),
                content_type: &a.content_type,
                size: a.size,
            })
        })
        .collect();
    tx.insert_attachments(&attachments).await?;
    let mails: Vec<(&str, &Outgoing)> = new
        .iter()
        .zip(&answers)
        .flat_map(|(c, answer)| answer.mails.iter().map(|m| (c.ticket_id.as_str(), m)))
        .collect();
    tx.queue(&mails, now).await?;
    let entries: Vec<(&str, Option<&str>, &Entry)> = new
        .iter()
        .zip(&answers)
        .flat_map(|(c, answer)| answer.entries.iter().map(|e| (c.ticket_id.as_str(), Some(c.message_row.as_str()), e)))
        .collect();
    tx.record(&entries, now).await?;
    for (c, reference) in new.iter().zip(references) {
        outcomes[c.index] = IngestOutcome::Created(reference);
    }
    Ok(())
}
