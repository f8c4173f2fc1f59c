//! Respond: which mails a new ticket sends, and why not when it sends none.
//! Automatic mail gets neither an acknowledgement nor a forward (RFC 3834);
//! backlog, a switched-off `[ack]` and the per-recipient cap withhold only the
//! acknowledgement. `conversation` answers messages that continue a ticket.

mod conversation;

use std::sync::Arc;
use std::time::SystemTime;

use crate::classify::{DecidedBy, Decision};
use crate::clock;
use crate::config::Config;
use crate::guard::Verdict;
use crate::language::Language;
use crate::outbound::{Composer, Desk, TicketFacts};
use crate::render::Renderer;
use crate::sign::Signer;
use crate::store::{Joining, Opened, Reply, Responder, Response, Turn};
use crate::thread::Role;

#[derive(Debug)]
pub struct Respond {
    config: Arc<Config>,
    renderer: Renderer,
    signer: Signer,
}

impl Respond {
    pub fn new(config: Arc<Config>, renderer: Renderer, signer: Signer) -> Self {
        Self { config, renderer, signer }
    }

    fn desk(&self) -> Desk<'_> {
        let desk = &self.config.desk;
        Desk { name: &desk.name, address: &desk.address, base_url: &desk.base_url }
    }

    /// Composes mails dated now.
    fn composer(&self) -> Composer<'_> {
        Composer { desk: self.desk(), renderer: &self.renderer, signer: &self.signer, date: SystemTime::now() }
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
fn why(config: &Config, decision: &Decision, language: Language) -> Option<String> {
    if !decision.reroute {
        return None;
    }
    let old = config.department_name(decision.mailbox_department.as_ref()?.as_str());
    let new = config.department_name(decision.department.as_str());
    let category = decision.category.as_ref().and_then(|c| {
        config.department(&decision.department)?.categories.iter().find(|k| &k.id == c).map(|k| k.name.to_lowercase())
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
        if let Verdict::Automatic { reason, .. } = opened.verdict {
            response.withheld.push(format!("no acknowledgement and no forward: automatic mail ({reason})"));
            return response;
        }
        let config = &self.config;
        let Some(department) = config.department(&opened.decision.department) else {
            response.withheld.push(format!("no forward: department {} is not configured", opened.decision.department));
            return response;
        };
        let sent_to = config.mailbox_address(opened.incoming.mailbox.as_str());
        let received = clock::display(opened.incoming.received_at_ms);
        let token = self.signer.tracking_token(opened.reference, crate::sign::FIRST_LINK);
        let decided_by = decided(opened.decision);
        let why = why(config, opened.decision, opened.language);
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
        };
        let composer = self.composer();
        let ack = &config.ack;
        let cap = i64::from(ack.max_per_recipient_per_hour);
        if !ack.enabled {
            response.withheld.push("no acknowledgement: acknowledgements are switched off (ack.enabled)".into());
        } else if opened.incoming.backlog && !ack.backlog {
            response.withheld.push(
                "no acknowledgement: the message was already in the mailbox when loket first connected (ack.backlog)"
                    .into(),
            );
        } else if opened.recent_acks >= cap {
            response.withheld.push(format!(
                "no acknowledgement: {} already had {} automatic mails in the last hour (ack.max_per_recipient_per_hour)",
                facts.requester.address, opened.recent_acks
            ));
        } else {
            match composer.ack(&facts) {
                Ok(mail) => response.mails.push(mail),
                Err(error) => response.withheld.push(format!("no acknowledgement: {error}")),
            }
        }
        match composer.forward(&facts) {
            Ok(mail) => response.mails.push(mail),
            Err(error) => response.withheld.push(format!("no forward: {error}")),
        }
        response
    }

    fn join(&self, joining: &Joining<'_>) -> Option<Role> {
        let queue = self.config.department_by_id(&joining.ticket.department).map(|d| d.queue_address.as_str());
        crate::thread::role(joining.hint, &joining.message.from.address, &joining.ticket.participants(queue))
    }

    fn converse(&self, turn: &Turn<'_>) -> Reply {
        self.conversation(turn)
    }
}
