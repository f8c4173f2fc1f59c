//! A message that continues a ticket: the employee's follow-up goes to the
//! department as an update; a department's answer goes to the employee from the
//! desk, after the commands at its top are carried out.

use super::Respond;
use super::{Reply, Turn};
use crate::clock;
use crate::domain::{Entry, EventKind, TicketState};
use crate::domain::{Mailbox, Status};
use crate::inbound::guard::Verdict;
use crate::inbound::intake;
use crate::inbound::quote;
use crate::inbound::thread::{Command, Role, parse_answer};
use crate::outbound::{self, CommandProblem, Conversation, TicketFacts};

impl Respond {
    pub(super) fn conversation(&self, turn: &Turn<'_>) -> Reply {
        if let Verdict::Automatic { reason, .. } = turn.verdict {
            let detail =
                format!("automatic mail from {} kept on the ticket, nothing sent: {reason}", turn.message.from);
            return Reply { entries: vec![Entry::new(EventKind::Automatic, detail)], ..Reply::default() };
        }
        let from = &turn.message.from;
        let mut reply = match turn.role {
            Role::Unverified(doubt) => {
                let detail = format!(
                    "mail from {from} kept on the ticket as unverified, nothing relayed or carried out: {}",
                    doubt.explain()
                );
                return Reply { entries: vec![Entry::new(EventKind::Unverified, detail)], ..Reply::default() };
            }
            _ if self.repeats(turn) => {
                let detail = format!(
                    "mail from {from} kept, nothing sent: it repeats the same text again within minutes, a mail loop (conversation.loop_repeats)"
                );
                return Reply { entries: vec![Entry::new(EventKind::Loop, detail)], ..Reply::default() };
            }
            Role::Requester => self.follow_up(turn),
            Role::Staff => self.answer(turn),
        };
        let cap = i64::from(self.config.conversation.max_mails_per_ticket_per_hour);
        let wanted = i64::try_from(reply.mails.len()).unwrap_or(i64::MAX);
        if wanted > 0 && turn.ticket.recent_mails + wanted > cap {
            let nouns: Vec<&str> = reply.mails.iter().map(|m| m.kind.noun()).collect();
            reply.mails.clear();
            reply.entries.push(Entry::new(EventKind::Withheld,
                format!(
                    "not sent ({}): the ticket already sent {} mails in the last hour (conversation.max_mails_per_ticket_per_hour)",
                    nouns.join(", "),
                    turn.ticket.recent_mails
                ),
            ));
        }
        reply
    }

    /// True when the sender already wrote the same text on this ticket often
    /// enough in the last minutes that this one makes a loop: two auto-responders
    /// that ignore RFC 3834 answering each other through the desk.
    fn repeats(&self, turn: &Turn<'_>) -> bool {
        let gist = |text: &str| -> String {
            let own = quote::new_text(crate::routing::classify::text::cut(text, 2_000));
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
        before + 1 >= self.config.conversation.loop_repeats as usize
    }

    fn requester(ticket: &TicketState) -> Mailbox {
        Mailbox { name: ticket.requester_name.clone(), address: ticket.requester_address.clone() }
    }

    /// The ticket, for a mail to its department (`department`) with `raw` attached.
    fn to_department(
        &self,
        turn: &Turn<'_>,
        department: &str,
        text: &str,
        raw: &[u8],
        reason: &str,
        update: bool,
    ) -> Result<outbound::Outgoing, String> {
        let ticket = turn.ticket;
        let config =
            self.config.department_by_id(department).ok_or(format!("department {department} is not configured"))?;
        let token = self.signer.tracking_token(&ticket.reference, ticket.link_generation);
        let requester = Self::requester(ticket);
        let sent_to = if update {
            self.config.mailbox_address(turn.incoming.mailbox.as_str())
        } else {
            self.config.mailbox_address(&ticket.origin_mailbox)
        };
        let received = clock::display(if update { turn.incoming.received_at_ms } else { ticket.received_at });
        let facts = TicketFacts {
            reference: &ticket.reference,
            token: &token,
            language: ticket.language,
            department: &config.name,
            queue: &config.queue_address,
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
        let composer = self.composer();
        let composed = if update { composer.update(&facts) } else { composer.forward(&facts) };
        composed.map_err(|e| e.to_string())
    }

    fn conversation_facts<'a>(
        &'a self,
        ticket: &'a TicketState,
        requester: &'a Mailbox,
        token: &'a str,
        department: &'a str,
    ) -> Conversation<'a> {
        Conversation {
            reference: &ticket.reference,
            token,
            language: ticket.language,
            requester,
            subject: &ticket.subject,
            department: self.config.department_name(department),
            opening_message_id: ticket.opening_message_id.as_deref(),
        }
    }

    /// The employee wrote again: the department gets it as an update, and a
    /// resolved ticket opens again.
    fn follow_up(&self, turn: &Turn<'_>) -> Reply {
        let ticket = turn.ticket;
        let mut reply = Reply::default();
        let text = quote::new_text(&turn.message.text);
        reply
            .entries
            .push(Entry::new(EventKind::Followup, format!("follow-up from {}", turn.message.from)).public(&text));
        if ticket.status == Status::Resolved {
            reply.status = Some(Status::InProgress);
            reply.entries.push(Entry::new(EventKind::Reopened, "reopened: the employee wrote again"));
        }
        let shown = if text.is_empty() { turn.message.text.as_str() } else { text.as_str() };
        match self.to_department(turn, &ticket.department, shown, &turn.incoming.raw, "", true) {
            Ok(mail) => reply.mails.push(mail),
            Err(error) => {
                reply.entries.push(Entry::new(EventKind::Withheld, format!("no update to the department: {error}")))
            }
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
                if self.config.department_by_id(target).is_none() {
                    parsed.rejected.push(format!("`#route {target}`: there is no department `{target}`"));
                } else if *target == ticket.department {
                    parsed.rejected.push(format!("`#route {target}`: the ticket is already with {target}"));
                }
            }
        }
        let mut reply = Reply::default();
        if !parsed.rejected.is_empty() {
            let departments: Vec<String> = self.config.departments.iter().map(|d| d.id.to_string()).collect();
            let problem = CommandProblem {
                reference: &ticket.reference,
                subject: &ticket.subject,
                to: &from.address,
                problems: &parsed.rejected,
                departments: &departments,
            };
            reply.entries.push(Entry::new(
                EventKind::Rejected,
                format!("mail from {from} not carried out: {}", parsed.rejected.join("; ")),
            ));
            match self.composer().notice(&problem) {
                Ok(mail) => reply.mails.push(mail),
                Err(error) => reply.entries.push(Entry::new(EventKind::Withheld, format!("no command reply: {error}"))),
            }
            return reply;
        }
        reply.staff = Some(from.address.clone());
        let requester = Self::requester(ticket);
        let token = self.signer.tracking_token(&ticket.reference, ticket.link_generation);
        let route = parsed.commands.iter().find_map(|c| match c {
            Command::Route(target) => Some(target.clone()),
            _ => None,
        });
        if let Some(target) = &route {
            self.reroute(turn, target, &parsed.text, &requester, &token, &mut reply);
        }
        if parsed.has(&Command::Note) {
            reply.entries.push(Entry::new(EventKind::Note, format!("internal note from {from}: {}", parsed.text)));
        } else if route.is_some() {
            // The text under #route is a note for the new department, sent with the forward.
        } else if parsed.text.is_empty() {
            if parsed.commands.is_empty() {
                reply
                    .entries
                    .push(Entry::new(EventKind::Note, format!("an empty answer from {from}: nothing relayed")));
            }
        } else {
            let about = self.conversation_facts(ticket, &requester, &token, &ticket.department);
            let attachments = intake::attachment_data(&turn.incoming.raw);
            match self.composer().relay(&about, &parsed.text, &attachments) {
                Ok(mail) => {
                    reply.mails.push(mail);
                    reply.entries.push(
                        Entry::new(EventKind::Answered, format!("answer from {from} relayed to the employee"))
                            .public(&parsed.text),
                    );
                    if reply.status.is_none() {
                        reply.status = Some(Status::InProgress);
                    }
                }
                Err(error) => {
                    reply.entries.push(Entry::new(EventKind::Withheld, format!("answer not relayed: {error}")))
                }
            }
        }
        // After the answer, so that the timeline reads "answered, resolved".
        if parsed.has(&Command::Resolve) {
            reply.status = Some(Status::Resolved);
            reply.entries.push(Entry::new(EventKind::Resolved, format!("resolved by {from}")));
        } else if parsed.has(&Command::Reopen) {
            reply.status = Some(Status::InProgress);
            reply.entries.push(Entry::new(EventKind::Reopened, format!("reopened by {from}")));
        }
        reply
    }

    /// `#route`: the new department gets the ticket, the employee hears where it went.
    fn reroute(&self, turn: &Turn<'_>, target: &str, note: &str, requester: &Mailbox, token: &str, reply: &mut Reply) {
        let ticket = turn.ticket;
        let from = &turn.message.from;
        let old = self.config.department_name(&ticket.department);
        reply.department = Some(target.to_owned());
        reply.status = Some(Status::New);
        reply.entries.push(
            Entry::new(EventKind::Rerouted, format!("rerouted from {} to {target} by {from}", ticket.department))
                .public(target),
        );
        let reason = if note.is_empty() {
            format!("passed on by {old} ({})", from.address)
        } else {
            format!("passed on by {old} ({}): {}", from.address, quote::one_paragraph(note))
        };
        match self.to_department(turn, target, &ticket.opening_text, &ticket.opening_raw, &reason, false) {
            Ok(mail) => reply.mails.push(mail),
            Err(error) => {
                reply.entries.push(Entry::new(EventKind::Withheld, format!("no forward to {target}: {error}")))
            }
        }
        let about = self.conversation_facts(ticket, requester, token, target);
        match self.composer().moved(&about) {
            Ok(mail) => reply.mails.push(mail),
            Err(error) => reply.entries.push(Entry::new(EventKind::Withheld, format!("no rerouting notice: {error}"))),
        }
    }
}
