//! The ingest step for a group of planned messages: look up in the store what the
//! desk needs, ask the desk, and write what it decided, in one transaction. Each
//! message is stored completely or not at all; the mailbox cursor moves once, to
//! the last message whose source has nothing left to do on the server.
//!
//! The new requests, most of a group, are answered before the transaction opens
//! (`open`), so that composing their mails does not hold the store's writer; the
//! transaction checks that what they were answered on still holds.

use std::collections::{HashMap, HashSet};

use super::candidate::{Candidate, Case, IngestOutcome, candidates};
use super::open;
use crate::desk::{self, Joining, Responder, Turn};
use crate::domain::Incoming;
use crate::domain::TicketState;
use crate::inbound::guard::{AutoKind, Verdict};
use crate::pipeline::plan::Plan;
use crate::store::{CopyKey, IngestTx, KeyedTable, NewMessage, Quarantined, Store, StoreError, TicketChange};

/// Stores several whole messages, in source order, in one transaction (a group
/// commit). A failure stores none of the group, so the source acknowledges none
/// and fetches them again.
pub async fn store_group(
    store: &Store,
    items: &[(&Incoming, &Plan)],
    ticket_prefix: &str,
    desk: &dyn Responder,
    now: i64,
) -> Result<Vec<IngestOutcome>, StoreError> {
    let mut outcomes = vec![IngestOutcome::Duplicate; items.len()];
    let mut candidates = candidates(items, &mut outcomes);
    let prepared = open::prepare(store, &candidates, ticket_prefix, desk, now).await?;
    let hashes: Vec<Option<String>> = items
        .iter()
        .map(|(incoming, plan)| {
            matches!(plan, Plan::Quarantine { .. }).then(|| crate::inbound::intake::sha256_hex(&incoming.raw))
        })
        .collect();
    let mut tx = store.begin_ingest().await?;
    let quarantine_keys = distinct_keys(&mut tx, KeyedTable::Quarantine, items, &hashes).await?;
    let quarantined: Vec<Quarantined<'_>> = items
        .iter()
        .zip(hashes.iter().zip(&quarantine_keys))
        .filter_map(|((incoming, plan), (hash, key))| match (plan, hash) {
            (Plan::Quarantine { reason }, Some(sha256)) => Some(Quarantined {
                mailbox: &incoming.mailbox,
                source_key: key,
                reason,
                sha256,
                size: incoming.size,
                truncated: incoming.truncated,
                raw: &incoming.raw,
            }),
            _ => None,
        })
        .collect();
    tx.quarantine(&quarantined, now).await?;
    let keys: Vec<String> =
        candidates.iter().filter_map(Candidate::copy_key).map(|(id, from)| format!("{id}\n{from}")).collect();
    tx.lock_copy_keys(&keys).await?;
    find_cases(&mut tx, &mut candidates, desk, now).await?;
    let candidate_hashes: Vec<Option<String>> = candidates.iter().map(|c| Some(c.message.sha256.clone())).collect();
    let candidate_items: Vec<(&Incoming, &Plan)> = candidates.iter().map(|c| items[c.index]).collect();
    let keys = distinct_keys(&mut tx, KeyedTable::Messages, &candidate_items, &candidate_hashes).await?;
    for (c, key) in candidates.iter_mut().zip(keys) {
        c.source_key = key;
    }
    let rows: Vec<NewMessage<'_>> = candidates.iter().map(Candidate::row).collect();
    let inserted = tx.insert_messages(&rows, now).await?;
    let stored = |c: &&Candidate<'_>| inserted.contains(&c.message_row);
    let mut entries = Vec::new();
    for c in candidates.iter().filter(stored) {
        match &c.case {
            Case::Copy => entries.push((c, desk::copy_entry(&c.incoming.mailbox))),
            Case::Bounce(bounced) => {
                tx.record_bounce(&bounced.outbox_id, &c.message.subject).await?;
                let entry = desk::bounce_entry(bounced.kind, &bounced.recipient, &c.message.subject, &c.message.from);
                entries.push((c, entry));
                outcomes[c.index] = IngestOutcome::Bounced(bounced.reference.clone());
            }
            Case::Joined(..) | Case::New => {}
        }
    }
    let entries: Vec<(&str, Option<&str>, &crate::domain::Entry)> =
        entries.iter().map(|(c, e)| (c.ticket_id.as_str(), Some(c.message_row.as_str()), e)).collect();
    tx.record(&entries, now).await?;
    converse(&mut tx, &candidates, &inserted, desk, &mut outcomes, now).await?;
    let new: Vec<&Candidate<'_>> = candidates.iter().filter(stored).filter(|c| matches!(c.case, Case::New)).collect();
    if !new.is_empty() {
        open::open_tickets(&mut tx, &new, prepared, ticket_prefix, desk, &mut outcomes, now).await?;
    }
    if let Some((incoming, _)) = items.iter().rev().find(|(i, _)| i.imap.is_some_and(|p| p.advance_cursor))
        && let Some(position) = incoming.imap
    {
        tx.advance_cursor(incoming.mailbox.as_str(), position.uidvalidity, position.uid, position.lease, now).await?;
    }
    tx.commit().await?;
    for q in &quarantined {
        tracing::warn!(mailbox = %q.mailbox, key = %q.source_key, reason = q.reason, "message quarantined");
    }
    Ok(outcomes)
}

/// The key each message is stored under in `table`: its source's key, unless
/// that key already holds other bytes there. A server that hands out a UID again
/// under the same UIDVALIDITY (restored from a backup) gives new mail the key of
/// mail stored before: it is a new message, kept under the key with its sha256
/// added, which stays the same for it, so a repeat of it is still a duplicate.
/// The same bytes under the same key stay a duplicate. `None` hashes are not
/// stored in `table` and keep their key.
async fn distinct_keys(
    tx: &mut IngestTx,
    table: KeyedTable,
    items: &[(&Incoming, &Plan)],
    hashes: &[Option<String>],
) -> Result<Vec<String>, StoreError> {
    let mut stored: HashMap<(&str, String), String> = HashMap::new();
    let mut mailboxes: Vec<&str> = items.iter().map(|(incoming, _)| incoming.mailbox.as_str()).collect();
    mailboxes.sort_unstable();
    mailboxes.dedup();
    for mailbox in mailboxes {
        let asked: Vec<&str> = items
            .iter()
            .zip(hashes)
            .filter(|((incoming, _), hash)| hash.is_some() && incoming.mailbox.as_str() == mailbox)
            .map(|((incoming, _), _)| incoming.source_key.as_str())
            .collect();
        for (key, hash) in tx.stored_hashes(table, mailbox, &asked).await? {
            stored.insert((mailbox, key), hash);
        }
    }
    Ok(items
        .iter()
        .zip(hashes)
        .map(|((incoming, _), hash)| {
            match (stored.get(&(incoming.mailbox.as_str(), incoming.source_key.clone())), hash) {
                (Some(kept), Some(hash)) if kept != hash => format!("{}/{hash}", incoming.source_key),
                _ => incoming.source_key.clone(),
            }
        })
        .collect())
}

/// Asks the store about each message and the desk what it means: a bounce of one
/// of loket's mails, a copy, a message that joins the ticket it names, or a new request.
async fn find_cases(
    tx: &mut IngestTx,
    candidates: &mut [Candidate<'_>],
    desk: &dyn Responder,
    now: i64,
) -> Result<(), StoreError> {
    let keys: Vec<CopyKey> = candidates.iter().filter_map(Candidate::copy_key).collect();
    let stored = tx.copies(&keys).await?;
    // Copies earlier in this group that open a ticket: copy key to ticket id.
    let mut opened_here: HashMap<CopyKey, String> = HashMap::new();
    for c in candidates.iter_mut() {
        let key = c.copy_key();
        let is_bounce = matches!(c.verdict, Verdict::Automatic { kind: AutoKind::Bounce, .. });
        if is_bounce && let Some(bounced) = tx.bounced_mail(&c.message.markers.quoted_message_ids).await? {
            c.ticket_id.clone_from(&bounced.ticket_id);
            c.case = Case::Bounce(bounced);
        } else if let Some((ticket_id, _)) = key.as_ref().and_then(|k| stored.get(k)) {
            c.ticket_id.clone_from(ticket_id);
            c.case = Case::Copy;
        } else if let Some(ticket_id) = key.as_ref().and_then(|k| opened_here.get(k)) {
            c.ticket_id.clone_from(ticket_id);
            c.case = Case::Copy;
        } else if let Some(hint) = c.hint
            && let Some(ticket) = tx.ticket(&hint.reference, now).await?
            && let Some(role) = desk.join(&Joining { ticket: &ticket, hint, message: c.message, trust: c.trust })
        {
            c.ticket_id.clone_from(&ticket.id);
            c.case = Case::Joined(Box::new(ticket), role);
        } else if let Some(key) = key {
            opened_here.insert(key, c.ticket_id.clone());
        }
    }
    Ok(())
}

/// Each message that joined a ticket: the desk says what it does, the store writes it.
async fn converse(
    tx: &mut IngestTx,
    candidates: &[Candidate<'_>],
    inserted: &HashSet<String>,
    desk: &dyn Responder,
    outcomes: &mut [IngestOutcome],
    now: i64,
) -> Result<(), StoreError> {
    let mut conversed = HashSet::new();
    for c in candidates.iter().filter(|c| inserted.contains(&c.message_row)) {
        let (Case::Joined(ticket, role), Some(hint)) = (&c.case, c.hint) else { continue };
        // Read again only when an earlier message of this group changed it.
        let reloaded;
        let ticket: &TicketState = if conversed.insert(ticket.id.clone()) {
            ticket
        } else {
            reloaded = tx.ticket(&ticket.reference, now).await?.unwrap_or_else(|| (**ticket).clone());
            &reloaded
        };
        let turn = Turn {
            ticket,
            hint,
            role: *role,
            incoming: c.incoming,
            message: c.message,
            verdict: c.verdict,
            trust: c.trust,
        };
        let reply = desk.converse(&turn);
        let change = TicketChange {
            status: reply.status.unwrap_or(ticket.status),
            department: reply.department.as_ref().unwrap_or(&ticket.department),
            staff: reply.staff.as_deref(),
        };
        tx.change_ticket(&ticket.id, change, now).await?;
        let mails: Vec<(&str, &crate::domain::Outgoing)> =
            reply.mails.iter().map(|m| (ticket.id.as_str(), m)).collect();
        tx.queue(&mails, now).await?;
        let queued: Vec<crate::domain::Entry> = desk::queued(&reply.mails).collect();
        let entries: Vec<(&str, Option<&str>, &crate::domain::Entry)> = reply
            .entries
            .iter()
            .chain(&queued)
            .map(|e| (ticket.id.as_str(), Some(c.message_row.as_str()), e))
            .collect();
        tx.record(&entries, now).await?;
        outcomes[c.index] = IngestOutcome::Joined(ticket.reference.clone());
    }
    Ok(())
}
