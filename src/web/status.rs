//! Status: what the employee's status page shows of a ticket, in the ticket's
//! language. Pure: stored facts in, a view for the page's template out. Only the
//! timeline entries listed here are shown, and only with text that the employee
//! wrote or received; everything else on the timeline stays internal.

use serde::Serialize;

use crate::clock;
use crate::domain::{DecidedBy, DepartmentId, EventKind, Language, Shown, Status, TicketRef};
pub use crate::domain::{PublicEvent, PublicTicket};

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub kind: EventKind,
    pub when: String,
    /// Machine-readable time (RFC 3339) for the `<time>` element.
    pub datetime: String,
    pub label: String,
    pub text: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Labels {
    pub heading: &'static str,
    pub reference: &'static str,
    pub subject: &'static str,
    pub department: &'static str,
    pub status: &'static str,
    pub routed: &'static str,
    pub timeline: &'static str,
    pub reply: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub lang: &'static str,
    pub reference: String,
    pub subject: String,
    pub department: String,
    /// `new`, `in_progress` or `resolved`, for styling.
    pub status: &'static str,
    pub status_label: &'static str,
    /// How the department was chosen, in a few words.
    pub routed: String,
    pub labels: Labels,
    pub timeline: Vec<Step>,
    pub desk: String,
}

fn labels(language: Language) -> Labels {
    match language {
        Language::Nl => Labels {
            heading: "Je verzoek",
            reference: "Referentie",
            subject: "Onderwerp",
            department: "Afdeling",
            status: "Status",
            routed: "Toegewezen",
            timeline: "Verloop",
            reply: "Wil je iets toevoegen? Beantwoord de e-mail van de servicedesk en laat de referentie in het onderwerp staan.",
        },
        Language::En => Labels {
            heading: "Your request",
            reference: "Reference",
            subject: "Subject",
            department: "Department",
            status: "Status",
            routed: "Routed",
            timeline: "Timeline",
            reply: "To add something, reply to the service desk's e-mail and keep the reference in the subject.",
        },
    }
}

fn status_label(status: Status, language: Language) -> &'static str {
    match (status, language) {
        (Status::New, Language::En) => "Received",
        (Status::New, Language::Nl) => "Ontvangen",
        (Status::InProgress, Language::En) => "In progress",
        (Status::InProgress, Language::Nl) => "In behandeling",
        (Status::Resolved, Language::En) => "Resolved",
        (Status::Resolved, Language::Nl) => "Opgelost",
    }
}

fn routed(decided_by: DecidedBy, confidence: Option<f64>, language: Language) -> String {
    let percent = confidence.map(|c| format!("{:.0}%", c * 100.0)).unwrap_or_default();
    match (decided_by, language) {
        (DecidedBy::Model, Language::En) => format!("by its content ({percent} sure)"),
        (DecidedBy::Model, Language::Nl) => format!("op basis van de inhoud ({percent} zeker)"),
        (DecidedBy::Rule, Language::En) => "by a rule of the service desk".into(),
        (DecidedBy::Rule, Language::Nl) => "door een regel van de servicedesk".into(),
        (DecidedBy::Mailbox, Language::En) => "by the address you wrote to".into(),
        (DecidedBy::Mailbox, Language::Nl) => "op basis van het adres waaraan je schreef".into(),
        (DecidedBy::DeskDefault, Language::En) => "by the service desk".into(),
        (DecidedBy::DeskDefault, Language::Nl) => "door de servicedesk".into(),
    }
}

/// The label of a public timeline entry, or `None` for an internal one.
fn step_label(kind: EventKind, department: &str, language: Language) -> Option<String> {
    let nl = language == Language::Nl;
    Some(match kind {
        EventKind::Received if nl => "Ontvangen".to_owned(),
        EventKind::Received => "Received".to_owned(),
        EventKind::Routed if nl => format!("Doorgestuurd naar {department}"),
        EventKind::Routed => format!("Forwarded to {department}"),
        EventKind::Rerouted if nl => format!("Doorgezet naar {department}"),
        EventKind::Rerouted => format!("Passed on to {department}"),
        EventKind::Answered if nl => "Antwoord".to_owned(),
        EventKind::Answered => "Answered".to_owned(),
        EventKind::Followup if nl => "Je schreef opnieuw".to_owned(),
        EventKind::Followup => "You wrote again".to_owned(),
        EventKind::Resolved if nl => "Opgelost".to_owned(),
        EventKind::Resolved => "Resolved".to_owned(),
        EventKind::Reopened if nl => "Heropend".to_owned(),
        EventKind::Reopened => "Reopened".to_owned(),
        _ => return None,
    })
}

/// The page's view of a ticket; `department_name` names a department id.
pub fn view(ticket: &PublicTicket, department_name: impl Fn(&DepartmentId) -> String, desk: &str) -> StatusView {
    let language = ticket.language;
    let timeline = ticket
        .events
        .iter()
        .filter_map(|event| {
            let department = match &event.shown {
                Shown::Department(id) => department_name(id),
                _ => String::new(),
            };
            let label = step_label(event.kind, &department, language)?;
            let text = match &event.shown {
                Shown::Text(text) => Some(text.clone()),
                _ => None,
            };
            Some(Step {
                kind: event.kind,
                when: clock::display(event.at),
                datetime: clock::rfc3339(event.at),
                label,
                text,
            })
        })
        .collect();
    StatusView {
        lang: language.code(),
        reference: ticket.reference.to_string(),
        subject: ticket.subject.clone(),
        department: department_name(&ticket.department),
        status: ticket.status.as_str(),
        status_label: status_label(ticket.status, language),
        routed: if ticket.events.iter().any(|e| e.kind == EventKind::Rerouted) {
            match language {
                Language::En => "passed on by a department".to_owned(),
                Language::Nl => "doorgezet door een afdeling".to_owned(),
            }
        } else {
            routed(ticket.decided_by, ticket.confidence, language)
        },
        labels: labels(language),
        timeline,
        desk: desk.to_owned(),
    }
}

/// Whether the ticket's link has stopped working: it is resolved, and was
/// resolved `lifetime_ms` or longer before `now`. Reopening brings the link back.
pub fn link_expired(ticket: &PublicTicket, now: i64, lifetime_ms: i64) -> bool {
    if ticket.status != Status::Resolved {
        return false;
    }
    let resolved_at = ticket.events.iter().filter(|e| e.kind == EventKind::Resolved).map(|e| e.at).max();
    resolved_at.is_some_and(|at| now.saturating_sub(at) >= lifetime_ms)
}

/// Sample values, for checking the page's template at start-up.
pub fn sample() -> StatusView {
    let event = |at, kind: EventKind, text: Option<&str>| PublicEvent::from_stored(at, kind, text.map(str::to_owned));
    let it = DepartmentId::parse("it").expect("a valid department id");
    let ticket = PublicTicket {
        reference: TicketRef::new("SD", 1),
        subject: "Phone".into(),
        department: it,
        status: Status::InProgress,
        language: Language::En,
        decided_by: DecidedBy::Model,
        confidence: Some(0.92),
        link_generation: 0,
        events: vec![
            event(0, EventKind::Received, None),
            event(0, EventKind::Routed, Some("it")),
            event(1, EventKind::Answered, Some("Ready tomorrow.")),
        ],
    };
    view(&ticket, |id| id.as_str().to_uppercase(), "Service Desk")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(language: Language) -> PublicTicket {
        let event = |kind: EventKind, text: Option<&str>| {
            PublicEvent::from_stored(1_700_000_000_000, kind, text.map(str::to_owned))
        };
        PublicTicket {
            reference: TicketRef::new("SD", 42),
            subject: "Badge".into(),
            department: DepartmentId::parse("facility").unwrap(),
            status: Status::Resolved,
            language,
            decided_by: DecidedBy::Model,
            confidence: Some(0.915),
            link_generation: 0,
            events: vec![
                event(EventKind::Received, None),
                event(EventKind::Routed, Some("it")),
                event(EventKind::Queued, None),
                event(EventKind::Note, Some("internal: the requester is a VIP")),
                event(EventKind::Answered, Some("We will look at it.")),
                event(EventKind::Rerouted, Some("facility")),
                event(EventKind::Withheld, None),
                event(EventKind::Resolved, None),
            ],
        }
    }

    fn name(id: &DepartmentId) -> String {
        match id.as_str() {
            "it" => "IT".into(),
            other => format!("Dept {other}"),
        }
    }

    #[test]
    fn only_public_steps_are_shown_with_their_own_text() {
        let view = view(&ticket(Language::En), name, "Service Desk");
        let labels: Vec<&str> = view.timeline.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["Received", "Forwarded to IT", "Answered", "Passed on to Dept facility", "Resolved"]);
        assert_eq!(view.timeline[2].text.as_deref(), Some("We will look at it."));
        assert!(view.timeline.iter().all(|s| s.text.as_deref() != Some("internal: the requester is a VIP")));
        assert_eq!((view.status, view.status_label), ("resolved", "Resolved"));
        assert_eq!(view.department, "Dept facility");
        assert_eq!(view.routed, "passed on by a department", "the last word was a department's #route");
    }

    #[test]
    fn a_link_stops_working_its_lifetime_after_the_ticket_was_resolved_and_not_before() {
        const DAY: i64 = 86_400_000;
        let mut ticket = ticket(Language::En);
        let resolved = 1_700_000_000_000;
        assert!(!link_expired(&ticket, resolved + 89 * DAY, 90 * DAY));
        assert!(link_expired(&ticket, resolved + 90 * DAY, 90 * DAY));
        assert!(link_expired(&ticket, resolved, 0), "a lifetime of 0 days ends the link at once");
        ticket.status = Status::InProgress;
        assert!(!link_expired(&ticket, resolved + 400 * DAY, 90 * DAY), "an open ticket's link never expires");
    }

    #[test]
    fn the_page_speaks_the_tickets_language() {
        let view = view(&ticket(Language::Nl), name, "Servicedesk");
        assert_eq!(view.lang, "nl");
        assert_eq!(view.status_label, "Opgelost");
        assert_eq!(view.timeline[1].label, "Doorgestuurd naar IT");
        assert_eq!(view.labels.timeline, "Verloop");
    }

    #[test]
    fn the_page_says_how_the_department_was_chosen() {
        let mut ticket = ticket(Language::En);
        ticket.events.retain(|e| e.kind != EventKind::Rerouted);
        assert_eq!(view(&ticket, name, "D").routed, "by its content (92% sure)");
        ticket.decided_by = DecidedBy::Mailbox;
        assert_eq!(view(&ticket, name, "D").routed, "by the address you wrote to");
        ticket.language = Language::Nl;
        ticket.decided_by = DecidedBy::Rule;
        assert_eq!(view(&ticket, name, "D").routed, "door een regel van de servicedesk");
    }
}
