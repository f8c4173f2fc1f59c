//! A message that continues a ticket: the employee's follow-up goes to the
//! department as an update; a department's answer goes to the employee from the
//! desk, after the commands at its top are carried out.

use super::Respond;
use crate::clock;
use crate::domain::{Mailbox, Status};
use crate::guard::Verdict;
use crate::intake;
use crate::outbound::{self, CommandProblem, Conversation, TicketFacts};
use crate::quote;
use crate::store::{Entry, Reply, TicketState, Turn};
use crate::thread::{Command, Role, parse_answer};

impl Respond {
    pub(super) fn conversation(&self, turn: &Turn<'_>) -> Reply {
        if let Verdict::Automatic { reason, .. } = turn.verdict {
            let detail =
                format!("automatic mail from {} kept on the ticket, nothing sent: {reason}", turn.message.from);
            return Reply { entries: vec![Entry::new("automatic", detail)], ..Reply::default() };
        }
        match turn.role {
            Role::Requester => self.follow_up(turn),
            Role::Staff => self.answer(turn),
        }
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
        reply.entries.push(Entry::new("followup", format!("follow-up from {}", turn.message.from)).public(&text));
        if ticket.status == Status::Resolved {
            reply.status = Some(Status::InProgress);
            reply.entries.push(Entry::new("reopened", "reopened: the employee wrote again"));
        }
        let shown = if text.is_empty() { turn.message.text.as_str() } else { text.as_str() };
        match self.to_department(turn, &ticket.department, shown, &turn.incoming.raw, "", true) {
            Ok(mail) => reply.mails.push(mail),
            Err(error) => reply.entries.push(Entry::new("withheld", format!("no update to the department: {error}"))),
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
                "rejected",
                format!("mail from {from} not carried out: {}", parsed.rejected.join("; ")),
            ));
            match self.composer().notice(&problem) {
                Ok(mail) => reply.mails.push(mail),
                Err(error) => reply.entries.push(Entry::new("withheld", format!("no command reply: {error}"))),
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
            reply.entries.push(Entry::new("note", format!("internal note from {from}: {}", parsed.text)));
        } else if route.is_some() {
            // The text under #route is a note for the new department, sent with the forward.
        } else if parsed.text.is_empty() {
            if parsed.commands.is_empty() {
                reply.entries.push(Entry::new("note", format!("an empty answer from {from}: nothing relayed")));
            }
        } else {
            let about = self.conversation_facts(ticket, &requester, &token, &ticket.department);
            let attachments = intake::attachment_data(&turn.incoming.raw);
            match self.composer().relay(&about, &parsed.text, &attachments) {
                Ok(mail) => {
                    reply.mails.push(mail);
                    reply.entries.push(
                        Entry::new("answered", format!("answer from {from} relayed to the employee"))
                            .public(&parsed.text),
                    );
                    if reply.status.is_none() {
                        reply.status = Some(Status::InProgress);
                    }
                }
                Err(error) => reply.entries.push(Entry::new("withheld", format!("answer not relayed: {error}"))),
            }
        }
        // After the answer, so that the timeline reads "answered, resolved".
        if parsed.has(&Command::Resolve) {
            reply.status = Some(Status::Resolved);
            reply.entries.push(Entry::new("resolved", format!("resolved by {from}")));
        } else if parsed.has(&Command::Reopen) {
            reply.status = Some(Status::InProgress);
            reply.entries.push(Entry::new("reopened", format!("reopened by {from}")));
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
            Entry::new("rerouted", format!("rerouted from {} to {target} by {from}", ticket.department)).public(target),
        );
        let reason = if note.is_empty() {
            format!("passed on by {old} ({})", from.address)
        } else {
            format!("passed on by {old} ({}): {}", from.address, quote::one_paragraph(note))
        };
        match self.to_department(turn, target, &ticket.opening_text, &ticket.opening_raw, &reason, false) {
            Ok(mail) => reply.mails.push(mail),
            Err(error) => reply.entries.push(Entry::new("withheld", format!("no forward to {target}: {error}"))),
        }
        let about = self.conversation_facts(ticket, requester, token, target);
        match self.composer().moved(&about) {
            Ok(mail) => reply.mails.push(mail),
            Err(error) => reply.entries.push(Entry::new("withheld", format!("no rerouting notice: {error}"))),
        }
    }
}
