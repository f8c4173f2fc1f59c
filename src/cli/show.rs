//! `loket tickets show`: one ticket for people, its timeline in the reader's language.

use std::io::Write;

use crate::clock;
use crate::domain::{Language, timeline};
use crate::store::TicketDetail;

pub(super) fn print_ticket(out: &mut impl Write, ticket: &TicketDetail, language: Language) -> std::io::Result<()> {
    let t = &ticket.summary;
    writeln!(out, "{}  {}", t.reference, t.subject)?;
    writeln!(
        out,
        "  requester:   {}",
        t.requester_name.as_ref().map_or(t.requester.clone(), |n| format!("{n} <{}>", t.requester))
    )?;
    writeln!(out, "  department:  {} (decided by {}: {})", t.department, t.decided_by, t.route_reason)?;
    writeln!(out, "  status:      {}", t.status)?;
    writeln!(out, "  mailbox:     {}", t.mailbox)?;
    writeln!(out, "  received:    {}", clock::display(t.created_at))?;
    if let Some(kind) = &t.automatic {
        writeln!(out, "  automatic:   {kind}")?;
    }
    for (index, m) in ticket.messages.iter().enumerate() {
        writeln!(out, "\nmessage {} ({}, {} bytes)", index + 1, m.direction, m.size)?;
        writeln!(
            out,
            "  from:        {}",
            m.from_name.as_ref().map_or(m.from_address.clone(), |n| format!("{n} <{}>", m.from_address))
        )?;
        writeln!(out, "  subject:     {}", m.subject)?;
        writeln!(out, "  message-id:  {}", m.message_id.as_deref().unwrap_or("(none)"))?;
        if let Some(sent) = m.sent_at {
            writeln!(out, "  date:        {}", clock::display(sent))?;
        }
        for a in &m.attachments {
            writeln!(
                out,
                "  attachment:  {} ({}, {} bytes)",
                a.filename.as_deref().unwrap_or("(unnamed)"),
                a.content_type,
                a.size
            )?;
        }
        writeln!(out)?;
        for line in m.text_body.lines().take(40) {
            writeln!(out, "  | {line}")?;
        }
    }
    if !ticket.outbox.is_empty() {
        writeln!(out, "\nmails")?;
        for o in &ticket.outbox {
            let when = o.sent_at.map(clock::display).unwrap_or_else(|| "-".into());
            let error = o.last_error.as_deref().map(|e| format!("  ({e})")).unwrap_or_default();
            writeln!(
                out,
                "  {:<9} {:<8} {}  to {}  attempts {}{error}",
                o.kind, o.state, when, o.recipient, o.attempts
            )?;
        }
    }
    writeln!(out, "\ntimeline")?;
    for e in &ticket.events {
        let text = timeline::shown(e.data.as_ref(), &e.detail, language);
        writeln!(out, "  {}  {:<10} {text}", clock::display(e.at), e.kind)?;
    }
    Ok(())
}
