//! A message that continues a ticket: the employee's follow-up goes to the
//! department as an update; a department's answer goes to the employee from the
//! desk, after the commands at its top are carried out.

use super::Respond;
use super::{Reply, Turn};
use crate::clock;
use crate::domain::{DepartmentId, Entry, Event, MailKind, Refusal, TicketState, Withheld};
use crate::domain::{Mailbox, Status};
use crate::inbound::guard::Verdict;
use crate::inbound::intake;
use crate::inbound::quote;
use crate::inbound::thread::{Command, Role, parse_answer};
use crate::outbound::{self, CommandProblem, Conversation, TicketFacts};

impl Respond {
    pub(super) fn conversation(&self, turn: &Turn<'_>) -> Reply {
        if let Verdict::Automatic { reason, .. } = turn.verdict {
            let event = Event::Automatic { from: Some(turn.message.from.clone()), reason: reason.clone() };
            return Reply { entries: vec![Entry::new(event)], ..Reply::default() };
        }
        let from = &turn.message.from;
        let mut reply = match turn.role {
            Role::Unverified(doubt) => {
                let event = Event::Unverified { from: from.clone(), doubt };
                return Reply { entries: vec![Entry::new(event)], ..Reply::default() };
            }
            _ if self.repeats(turn) => {
                return Reply { entries: vec![Entry::new(Event::Loop { from: from.clone() })], ..Reply::default() };
            }
            Role::Requester => self.follow_up(turn),
            Role::Staff => self.answer(turn),
        };
        let cap = i64::from(self.settings.conversation.max_mails_per_ticket_per_hour);
        let wanted = i64::try_from(reply.mails.len()).unwrap_or(i64::MAX);
        if wanted > 0 && turn.ticket.recent_mails + wanted > cap {
            let mails: Vec<MailKind> = reply.mails.drain(..).map(|m| m.kind).collect();
            let reason = Withheld::TicketCap { mails, sent: turn.ticket.recent_mails };
            reply.entries.push(Entry::new(Event::Withheld { reason }));
        }
        reply
    }

    /// True when the sender already wrote the same text on this ticket often
    /// enough in the last minutes that this one makes a loop: two auto-responders
    /// that ignore RFC 3834 answering each other through the desk.
    fn repeats(&self, turn: &Turn<'_>) -> bool {
        let gist = |text: &str| -> String {
            let own = quote::new_text(crate::domain::prefix(text, 2_000));
            let letters: String =
                own.chars().map(|c| if c.is_alphabetic() { c.to_ascii_lowercase() } else { ' ' }).collect();
            letters.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(500).collect()
        };
        let this = gist(&turn.message.text);
        let sender = &turn.message.from.address;
        let before = turn
            .ticket
            .recent_messages
            .iter()
            .filter(|(from, text)| from.eq_ignore_ascii_case(sender) && gist(text) == this)
            .count();
        before + 1 >= self.settings.conversation.loop_repeats as usize
    }

    fn requester(ticket: &TicketState) -> Mailbox {
        Mailbox { name: ticket.requester_name.clone(), address: ticket.requester_address.clone() }
    }

    /// The ticket, for a mail to its department (`department`) with `raw` attached.
    fn to_department(
        &self,
        turn: &Turn<'_>,
        department: &DepartmentId,
        text: &str,
        raw: &[u8],
        reason: &str,
        update: bool,
    ) -> Result<outbound::Outgoing, Withheld> {
        let ticket = turn.ticket;
        let mail = if update { MailKind::Update } else { MailKind::Forward };
        let department_config = self
            .directory()
            .department(department)
            .ok_or_else(|| Withheld::NoDepartment { mail, department: department.clone() })?;
        let token = self.signer.tracking_token(&ticket.reference, ticket.link_generation);
        let requester = Self::requester(ticket);
        let sent_to = if update {
            self.directory().mailbox_address(turn.incoming.mailbox.as_str())
        } else {
            self.directory().mailbox_address(ticket.origin_mailbox.as_str())
        };
        let received = clock::display(if update { turn.incoming.received_at_ms } else { ticket.received_at });
        let facts = TicketFacts {
            reference: &ticket.reference,
            token: &token,
            language: ticket.language,
            department: &department_config.name,
            queue: &department_config.queue_address,
            requester: &requester,
            subject: &ticket.subject,
            text,
            message_id: None,
            references: &[],
            raw,
            sent_to: &sent_to,
            received: &received,
            reason,
            decided: "a department (#route)",
            why: None,
            warning: None,
        };
        let warning = if update { super::warning::follow_up(turn.hint, turn.trust) } else { None };
        let facts = TicketFacts { warning: warning.as_deref(), ..facts };
        let composer = self.composer();
        let composed = if update { composer.update(&facts) } else { composer.forward(&facts) };
        composed.map_err(|e| Withheld::NotComposed { mail, error: e.to_string() })
    }

    fn conversation_facts<'a>(
        &'a self,
        ticket: &'a TicketState,
        requester: &'a Mailbox,
        token: &'a str,
        department: &'a DepartmentId,
    ) -> Conversation<'a> {
        Conversation {
            reference: &ticket.reference,
            token,
            language: ticket.language,
            requester,
            subject: &ticket.subject,
            department: self.directory().department_name(department),
            opening_message_id: ticket.opening_message_id.as_deref(),
        }
    }

    /// The employee wrote again: the department gets it as an update, and a
    /// resolved ticket opens again.
    fn follow_up(&self, turn: &Turn<'_>) -> Reply {
        let ticket = turn.ticket;
        let mut reply = Reply::default();
        let text = quote::new_text(&turn.message.text);
        reply.entries.push(Entry::new(Event::Followup { from: turn.message.from.clone() }).public(&text));
        if ticket.status == Status::Resolved {
            reply.status = Some(Status::InProgress);
            reply.entries.push(Entry::new(Event::Reopened { by: None }));
        }
        let shown = if text.is_empty() { turn.message.text.as_str() } else { text.as_str() };
        match self.to_department(turn, &ticket.department, shown, &turn.incoming.raw, "", true) {
            Ok(mail) => reply.mails.push(mail),
            Err(reason) => reply.entries.push(Entry::new(Event::Withheld { reason })),
        }
        reply
    }

    /// A department member answered: commands first, then the text to the employee.
    fn answer(&self, turn: &Turn<'_>) -> Reply {
        let ticket = turn.ticket;
        let from = &turn.message.from;
        let mut parsed = parse_answer(&turn.message.text);
        for command in &parsed.commands {
            if let Command::Route(target) = command {
                match self.directory().department_by_id(target) {
                    None => parsed.rejected.push(Refusal::NoSuchDepartment { department: target.clone() }),
                    Some(department) if ticket.department == target.as_str() => {
                        parsed.rejected.push(Refusal::AlreadyWith { department: department.id.clone() })
                    }
                    Some(_) => {}
                }
            }
        }
        let mut reply = Reply::default();
        if !parsed.rejected.is_empty() {
            let departments: Vec<String> = self.directory().departments.iter().map(|d| d.id.to_string()).collect();
            let problem = CommandProblem {
                reference: &ticket.reference,
                subject: &ticket.subject,
                to: &from.address,
                problems: &parsed.rejected,
                departments: &departments,
            };
            reply.entries.push(Entry::new(Event::Rejected { from: from.clone(), problems: parsed.rejected.clone() }));
            match self.composer().notice(&problem) {
                Ok(mail) => reply.mails.push(mail),
                Err(error) => reply.entries.push(not_composed(MailKind::Notice, &error)),
            }
            return reply;
        }
        reply.staff = Some(from.address.clone());
        let requester = Self::requester(ticket);
        let token = self.signer.tracking_token(&ticket.reference, ticket.link_generation);
        let route = parsed.commands.iter().find_map(|c| match c {
            Command::Route(target) => self.directory().department_by_id(target).map(|d| d.id.clone()),
            _ => None,
        });
        if let Some(target) = &route {
            self.reroute(turn, target, &parsed.text, &requester, &token, &mut reply);
        }
        if parsed.has(&Command::Note) {
            reply.entries.push(Entry::new(Event::Note { from: from.clone(), text: parsed.text.clone() }));
        } else if route.is_some() {
            // The text under #route is a note for the new department, sent with the forward.
        } else if parsed.text.is_empty() {
            if parsed.commands.is_empty() {
                reply.entries.push(Entry::new(Event::EmptyAnswer { from: from.clone() }));
            }
        } else {
            let about = self.conversation_facts(ticket, &requester, &token, &ticket.department);
            let attachments = intake::attachment_data(&turn.incoming.raw);
            match self.composer().relay(&about, &parsed.text, &attachments) {
                Ok(mail) => {
                    reply.mails.push(mail);
                    reply.entries.push(Entry::new(Event::Answered { from: from.clone() }).public(&parsed.text));
                    if reply.status.is_none() {
                        reply.status = Some(Status::InProgress);
                    }
                }
                Err(error) => reply.entries.push(not_composed(MailKind::Relay, &error)),
            }
        }
        // After the answer, so that the timeline reads "answered, resolved".
        if parsed.has(&Command::Resolve) {
            reply.status = Some(Status::Resolved);
            reply.entries.push(Entry::new(Event::Resolved { by: from.clone() }));
        } else if parsed.has(&Command::Reopen) {
            reply.status = Some(Status::InProgress);
            reply.entries.push(Entry::new(Event::Reopened { by: Some(from.clone()) }));
        }
        reply
    }

    /// `#route`: the new department gets the ticket, the employee hears where it went.
    fn reroute(
        &self,
        turn: &Turn<'_>,
        target: &DepartmentId,
        note: &str,
        requester: &Mailbox,
        token: &str,
        reply: &mut Reply,
    ) {
        let ticket = turn.ticket;
        let from = &turn.message.from;
        let old = self.directory().department_name(&ticket.department);
        reply.department = Some(target.clone());
        reply.status = Some(Status::New);
        let rerouted = Event::Rerouted { from: Some(ticket.department.clone()), to: target.clone(), by: from.clone() };
        reply.entries.push(Entry::new(rerouted).public(target.as_str()));
        let reason = if note.is_empty() {
            format!("passed on by {old} ({})", from.address)
        } else {
            format!("passed on by {old} ({}): {}", from.address, quote::one_paragraph(note))
        };
        match self.to_department(turn, target, &ticket.opening_text, &ticket.opening_raw, &reason, false) {
            Ok(mail) => reply.mails.push(mail),
            Err(reason) => reply.entries.push(Entry::new(Event::Withheld { reason })),
        }
        let about = self.conversation_facts(ticket, requester, token, target);
        match self.composer().moved(&about) {
            Ok(mail) => reply.mails.push(mail),
            Err(error) => reply.entries.push(not_composed(MailKind::Moved, &error)),
        }
    }
}

/// The timeline's note that a mail of `mail`'s kind could not be composed.
fn not_composed(mail: MailKind, error: &impl std::fmt::Display) -> Entry {
    Entry::new(Event::Withheld { reason: Withheld::NotComposed { mail, error: error.to_string() } })
}
