//! The desk: the service desk's rules, as pure decisions. Given a planned
//! message and the state it needs (the ticket it names, the acknowledgements its
//! sender already had), it says who wrote it, which mails it causes and what the
//! timeline records; it does no I/O, so every rule is tested in milliseconds
//! (the scenarios in `desk/scenarios.rs`).
//!
//! A new ticket: automatic mail gets neither an acknowledgement nor a forward
//! (RFC 3834); backlog, a switched-off `[ack]`, a forged sender and the caps
//! withhold only the acknowledgement. `conversation` answers messages that
//! continue a ticket.

mod conversation;
mod retire;
#[cfg(test)]
mod scenarios;
mod settings;
mod turns;
mod warning;

pub use retire::{OldAddress, old_address};
pub use settings::Settings;

pub use turns::{Joining, Opened, RecentAcks, Reply, Responder, Response, Silent, Turn, participants};

use std::time::SystemTime;

use crate::clock;
use crate::config::Directory;
use crate::domain::{Entry, Event, History, MailKind, Mailbox, MailboxName, Outgoing, Status, Withheld};
use crate::inbound::guard::Verdict;
use crate::inbound::language::Language;
use crate::inbound::thread::{Proof, Role};
use crate::inbound::trust::Domains;
use crate::outbound::render::Renderer;
use crate::outbound::{Composer, Desk, TicketFacts};
use crate::routing::classify::{DecidedBy, Decision};
use crate::sign::Signer;

#[derive(Debug)]
pub struct Respond {
    settings: Settings,
    renderer: Renderer,
    signer: Signer,
    internal: Domains,
}

impl Respond {
    pub fn new(settings: Settings, renderer: Renderer, signer: Signer) -> Self {
        let internal = settings.directory.desk.domains();
        Self { settings, renderer, signer, internal }
    }

    fn directory(&self) -> &Directory {
        &self.settings.directory
    }

    fn desk(&self) -> Desk<'_> {
        let desk = &self.directory().desk;
        Desk { name: &desk.name, address: &desk.address, base_url: &desk.base_url }
    }

    /// Composes mails dated now.
    fn composer(&self) -> Composer<'_> {
        Composer {
            desk: self.desk(),
            renderer: &self.renderer,
            signer: &self.signer,
            date: SystemTime::now(),
            max_attachment: self.settings.max_attachment,
        }
    }
}

/// Who decided, for the department: `model (92%)`, `rule "phones"`, `mailbox`.
fn decided(decision: &Decision) -> String {
    match (decision.decided_by, &decision.rule, decision.confidence) {
        (DecidedBy::Rule, Some(rule), _) => format!("rule \"{rule}\""),
        (DecidedBy::Model, _, Some(confidence)) => format!("model ({:.0}%)", confidence * 100.0),
        (DecidedBy::Mailbox, _, Some(confidence)) => {
            format!("mailbox (the model was not sure enough: {:.0}%)", confidence * 100.0)
        }
        (by, _, _) => by.as_str().replace('_', " "),
    }
}

/// For the employee, in their language: why a department other than the one they
/// wrote to handles the request. `None` when it was not rerouted.
fn why(directory: &Directory, decision: &Decision, language: Language) -> Option<String> {
    if !decision.reroute {
        return None;
    }
    let old = directory.department_name(decision.mailbox_department.as_ref()?);
    let new = directory.department_name(&decision.department);
    let category = decision.category.as_ref().and_then(|c| {
        directory
            .department(&decision.department)?
            .categories
            .iter()
            .find(|k| &k.id == c)
            .map(|k| k.name.to_lowercase())
    });
    let words: Vec<String> = decision.evidence.iter().take(2).map(|w| format!("“{w}”")).collect();
    let topic = category.or_else(|| {
        (!words.is_empty()).then(|| {
            words.join(match language {
                Language::Nl => " en ",
                Language::En => " and ",
            })
        })
    });
    Some(match (language, topic) {
        (Language::En, Some(topic)) => format!(
            "You wrote to the {old} address, but your message is about {topic}, which {new} handles, so we passed it on to {new}."
        ),
        (Language::En, None) => {
            format!(
                "You wrote to the {old} address, but requests like yours are handled by {new}, so we passed it on to {new}."
            )
        }
        (Language::Nl, Some(topic)) => format!(
            "Je schreef naar het adres van {old}, maar je bericht gaat over {topic}, en dat doet {new}. Daarom hebben we het aan {new} doorgegeven."
        ),
        (Language::Nl, None) => format!(
            "Je schreef naar het adres van {old}, maar verzoeken zoals het jouwe behandelt {new}. Daarom hebben we het aan {new} doorgegeven."
        ),
    })
}

impl Responder for Respond {
    fn respond(&self, opened: &Opened<'_>) -> Response {
        let mut response = Response::default();
        if let Some(why) = history(opened, self.settings.backlog_forward_days) {
            response.status = Some(Status::Resolved);
            response.entries.push(Entry::new(Event::History { why }));
            return response;
        }
        if let Verdict::Automatic { reason, .. } = opened.verdict {
            response.withheld.push(Withheld::Automatic { reason: reason.clone() });
            return response;
        }
        let directory = self.directory();
        let Some(department) = directory.department(&opened.decision.department) else {
            let department = opened.decision.department.clone();
            response.withheld.push(Withheld::NoDepartment { mail: MailKind::Forward, department });
            return response;
        };
        let sent_to = directory.mailbox_address(opened.incoming.mailbox.as_str());
        let received = clock::display(opened.incoming.received_at_ms);
        let token = self.signer.tracking_token(opened.reference, crate::sign::FIRST_LINK);
        let decided_by = decided(opened.decision);
        let why = why(directory, opened.decision, opened.language);
        let facts = TicketFacts {
            reference: opened.reference,
            token: &token,
            language: opened.language,
            department: &department.name,
            queue: &department.queue_address,
            requester: opened.message.requester(),
            subject: &opened.message.subject,
            text: &opened.message.text,
            message_id: opened.message.message_id.as_deref(),
            references: &opened.message.references,
            raw: &opened.incoming.raw,
            sent_to: &sent_to,
            received: &received,
            reason: &opened.decision.reason,
            decided: &decided_by,
            why: why.as_deref(),
            warning: None,
        };
        let warning = warning::opening(opened.trust);
        let facts = TicketFacts { warning: warning.as_deref(), ..facts };
        if let Some(ignored) = &opened.trust.ignored_reply_to {
            response.entries.push(Entry::new(Event::ReplyToSetAside {
                reply_to: ignored.address.clone(),
                to: opened.message.from.address.clone(),
            }));
        }
        let composer = self.composer();
        let ack = &self.settings.ack;
        let cap = i64::from(ack.max_per_recipient_per_hour);
        let recent = opened.recent;
        let outside = !self.internal.contains(&facts.requester.address);
        if opened.trust.spoofed {
            response.withheld.push(Withheld::Forged);
        } else if !ack.enabled {
            response.withheld.push(Withheld::AcksOff);
        } else if opened.incoming.backlog && !ack.backlog {
            response.withheld.push(Withheld::Backlog);
        } else if recent.recipient >= cap {
            response
                .withheld
                .push(Withheld::RecipientCap { address: facts.requester.address.clone(), count: recent.recipient });
        } else if outside && recent.domain >= i64::from(ack.max_per_domain_per_hour) {
            let domain = crate::inbound::trust::domain_of(&facts.requester.address);
            response.withheld.push(Withheld::DomainCap { domain, count: recent.domain });
        } else if outside && recent.outside >= i64::from(ack.max_outside_per_hour) {
            response.withheld.push(Withheld::OutsideCap { count: recent.outside });
        } else {
            let mailbox = directory.mailbox(opened.incoming.mailbox.as_str());
            let old = old_address(mailbox, opened.message, directory.desk.address.as_str(), opened.today);
            match retire::ack(&composer, &facts, old) {
                (Ok(mail), instead) => {
                    response.mails.push(mail);
                    response.withheld.extend(instead);
                }
                (Err(error), _) => {
                    response.withheld.push(Withheld::NotComposed { mail: MailKind::Ack, error: error.to_string() })
                }
            }
        }
        match composer.forward(&facts) {
            Ok(mail) => response.mails.push(mail),
            Err(error) => {
                response.withheld.push(Withheld::NotComposed { mail: MailKind::Forward, error: error.to_string() })
            }
        }
        response
    }

    fn is_internal(&self, address: &str) -> bool {
        self.internal.contains(address)
    }

    fn join(&self, joining: &Joining<'_>) -> Option<Role> {
        let staff = self.directory().staff(&joining.ticket.department);
        let proof = Proof {
            server_checks: self.settings.server_checks,
            dmarc: joining.trust.dmarc,
            doubt: joining.trust.doubt,
        };
        crate::inbound::thread::role(
            joining.hint,
            &joining.message.from.address,
            &participants(joining.ticket, staff),
            proof,
        )
    }

    fn converse(&self, turn: &Turn<'_>) -> Reply {
        self.conversation(turn)
    }
}

/// Why backlog is history rather than work: it was read in the mailbox before
/// loket came, or it is older than `forward_days`. `None` for anything else.
fn history(opened: &Opened<'_>, forward_days: u32) -> Option<History> {
    if !opened.incoming.backlog {
        return None;
    }
    if opened.incoming.seen {
        return Some(History::Seen);
    }
    let sent = opened.message.date_ms?;
    let age_days = (opened.incoming.received_at_ms - sent) / 86_400_000;
    (age_days > i64::from(forward_days)).then_some(History::Old { days: age_days, forward_days })
}

/// The timeline of a new ticket: where it arrived, where it went, what it sent
/// and what it did not send, and why.
pub fn opening_entries(opened: &Opened<'_>, response: &Response) -> Vec<Entry> {
    let decision = opened.decision;
    let mut entries = vec![
        Entry::new(Event::Received { mailbox: opened.incoming.mailbox.clone() }),
        Entry::new(Event::Routed { department: decision.department.clone(), reason: decision.why.clone() })
            .public(decision.department.as_str()),
    ];
    if let Verdict::Automatic { reason, .. } = opened.verdict {
        entries.push(Entry::new(Event::Automatic { from: None, reason: reason.clone() }));
    }
    entries.extend(queued(&response.mails));
    entries.extend(response.entries.iter().cloned());
    entries.extend(response.withheld.iter().map(|reason| Entry::new(Event::Withheld { reason: reason.clone() })));
    entries
}

/// One "queued" entry per mail.
pub fn queued(mails: &[Outgoing]) -> impl Iterator<Item = Entry> + '_ {
    mails.iter().map(|mail| Entry::new(Event::Queued { mail: mail.kind, recipient: mail.recipient.clone() }))
}

/// The same message arrived again, in `mailbox`.
pub fn copy_entry(mailbox: &MailboxName) -> Entry {
    Entry::new(Event::Copy { mailbox: mailbox.clone() })
}

/// A delivery report about one of the ticket's mails.
pub fn bounce_entry(kind: MailKind, recipient: &str, report: &str, from: &Mailbox) -> Entry {
    Entry::new(Event::Bounced {
        mail: kind,
        recipient: recipient.to_owned(),
        report: report.to_owned(),
        reporter: from.address.clone(),
    })
}
